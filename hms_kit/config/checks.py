"""Checking a config: values no stage could use raise ``ConfigError`` naming the key."""

from __future__ import annotations

from hms_kit import schema
from hms_kit.config.sections import (
    AVERAGES,
    CHAIN_POOLS,
    EEG1D_TOPOLOGIES,
    POOLS,
    SAMPLERS,
    SPEC2D_CHANNELS,
    SPEC2D_ZOOMS,
    SPEC_SCALES,
    TARGET_POPULATIONS,
    Config,
    ConfigError,
)


def validate(cfg: Config) -> None:
    """Raise ConfigError for values no stage could use."""
    mods = cfg.inputs.modalities
    if not mods or any(m not in schema.MODALITIES for m in mods) or len(set(mods)) != len(mods):
        raise ConfigError(
            f"inputs.modalities must be a non-empty subset of {list(schema.MODALITIES)}, got {mods}"
        )
    if cfg.inputs.layout not in ("tile", "stack"):
        raise ConfigError(f"inputs.layout must be 'tile' or 'stack', got {cfg.inputs.layout!r}")
    from hms_kit.models.registry import family_names

    if cfg.model.family not in family_names():
        raise ConfigError(
            f"model.family must be one of {list(family_names())}, got {cfg.model.family!r}"
        )
    raw = cfg.inputs.raw_eeg
    span = schema.EEG_WINDOW_S + 2 * raw.context_s
    if (
        raw.window_s <= 0
        or raw.margin_s < 0
        or raw.context_s < 0
        or raw.context_s > schema.EEG_WINDOW_S
        or raw.window_s + 2 * raw.margin_s > span
    ):
        raise ConfigError(
            f"inputs.raw_eeg: window_s + 2 * margin_s must be in (0, {schema.EEG_WINDOW_S} + "
            f"2 * context_s] s with context_s in [0, {schema.EEG_WINDOW_S}], got "
            f"{raw.window_s} + 2 * {raw.margin_s} and context_s {raw.context_s}"
        )
    if not 0 < raw.band_low < raw.band_high <= raw.rate_hz / 2:
        raise ConfigError(
            f"inputs.raw_eeg: need 0 < band_low < band_high <= rate_hz / 2, got "
            f"{raw.band_low}, {raw.band_high}, {raw.rate_hz}"
        )
    if cfg.augment.wave.shift_s > raw.margin_s:
        raise ConfigError(
            f"augment.wave.shift_s = {cfg.augment.wave.shift_s} exceeds inputs.raw_eeg.margin_s "
            f"= {raw.margin_s}: the shifted window would leave the stored waveform"
        )
    w = cfg.augment.wave
    if w.p_bandpass > 0 and not (
        0 < w.bandpass_low_max < w.bandpass_high_min <= w.bandpass_high_max <= raw.rate_hz / 2
        and w.bandpass_max_pairs >= 1
        and w.bandpass_order >= 1
    ):
        raise ConfigError(
            "augment.wave: the random band-pass needs 0 < bandpass_low_max < bandpass_high_min "
            "<= bandpass_high_max <= inputs.raw_eeg.rate_hz / 2 and bandpass_max_pairs, "
            f"bandpass_order >= 1, got {w.bandpass_low_max}, {w.bandpass_high_min}, "
            f"{w.bandpass_high_max}, {raw.rate_hz}, {w.bandpass_max_pairs}, {w.bandpass_order}"
        )
    if cfg.model.family == "baseline" and cfg.model.name not in ("logreg", "hgb"):
        raise ConfigError(f"a baseline's model.name is logreg or hgb, got {cfg.model.name!r}")
    if cfg.data.row_mode not in ("all", "per_eeg", "dedup"):
        raise ConfigError(f"data.row_mode must be all, per_eeg or dedup, got {cfg.data.row_mode!r}")
    if cfg.inputs.eeg.kind not in ("mel", "stft"):
        raise ConfigError(f"inputs.eeg.kind must be mel or stft, got {cfg.inputs.eeg.kind!r}")
    fit_hop = schema.EEG_WINDOW_SAMPLES // schema.PANEL_W
    if cfg.inputs.eeg.hop < 0 or 0 < cfg.inputs.eeg.hop < fit_hop:
        # the panel keeps the central 256 frames: hop * 256 samples, less than the window
        # at a shorter hop
        raise ConfigError(
            f"inputs.eeg.hop must be 0 (fit {schema.PANEL_W} frames) or >= {fit_hop} samples "
            f"(a shorter hop would cut the {schema.EEG_WINDOW_S} s window), got "
            f"{cfg.inputs.eeg.hop}"
        )
    for part in ("eeg", "kaggle"):
        spec = getattr(cfg.inputs, part)
        if spec.scale not in SPEC_SCALES:
            raise ConfigError(
                f"inputs.{part}.scale must be one of {list(SPEC_SCALES)}, got {spec.scale!r}"
            )
        if spec.top_db <= 0:
            raise ConfigError(f"inputs.{part}.top_db must be > 0, got {spec.top_db}")
    crop = cfg.inputs.kaggle.crop_s
    if crop and not 2 * schema.SPEC_ROW_S <= crop <= schema.SPEC_WINDOW_S:
        raise ConfigError(
            f"inputs.kaggle.crop_s must be 0 or in [{2 * schema.SPEC_ROW_S}, "
            f"{schema.SPEC_WINDOW_S}] s, got {crop}"
        )
    if cfg.inputs.wavelet.variant not in ("dwt_stats", "cwt"):
        raise ConfigError(
            f"inputs.wavelet.variant must be dwt_stats or cwt, got {cfg.inputs.wavelet.variant!r}"
        )
    if cfg.train.checkpoint not in ("best", "last"):
        raise ConfigError(f"train.checkpoint must be best or last, got {cfg.train.checkpoint!r}")
    if not 0 <= cfg.train.ema_decay < 1:
        raise ConfigError(f"train.ema_decay must be in [0, 1), got {cfg.train.ema_decay}")
    if cfg.train.sampler not in SAMPLERS:
        raise ConfigError(
            f"train.sampler must be one of {list(SAMPLERS)}, got {cfg.train.sampler!r}"
        )
    if cfg.train.grad_accum < 1:
        raise ConfigError(f"train.grad_accum must be >= 1, got {cfg.train.grad_accum}")
    sp = cfg.model.spec2d
    for key, value, allowed in (
        ("channels", sp.channels, SPEC2D_CHANNELS),
        ("zoom", sp.zoom, SPEC2D_ZOOMS),
        ("pool", sp.pool, POOLS),
    ):
        if value not in allowed:
            raise ConfigError(f"model.spec2d.{key} must be one of {list(allowed)}, got {value!r}")
    if sp.scale_uv <= 0 or sp.top_db < 0 or not 0 <= sp.zoom_cut < 0.5:
        raise ConfigError(
            "model.spec2d: need scale_uv > 0, top_db >= 0 and 0 <= zoom_cut < 0.5, got "
            f"{sp.scale_uv}, {sp.top_db}, {sp.zoom_cut}"
        )
    e = cfg.model.eeg1d
    if e.topology not in EEG1D_TOPOLOGIES:
        raise ConfigError(
            f"model.eeg1d.topology must be one of {list(EEG1D_TOPOLOGIES)}, got {e.topology!r}"
        )
    ch = e.chain
    if not ch.widths or len(ch.kernels) != len(ch.widths):
        raise ConfigError(
            "model.eeg1d.chain.kernels needs one kernel per entry of model.eeg1d.chain.widths "
            f"(at least one), got {ch.kernels} and {ch.widths}"
        )
    if ch.width_mult <= 0 or ch.depth < 1 or ch.expand < 1:
        raise ConfigError(
            "model.eeg1d.chain: width_mult must be > 0, depth and expand >= 1, got "
            f"{ch.width_mult}, {ch.depth}, {ch.expand}"
        )
    if ch.stem_stride not in (1, 2):
        raise ConfigError(f"model.eeg1d.chain.stem_stride must be 1 or 2, got {ch.stem_stride}")
    if ch.pool not in CHAIN_POOLS:
        raise ConfigError(
            f"model.eeg1d.chain.pool must be one of {list(CHAIN_POOLS)}, got {ch.pool!r}"
        )
    if cfg.train.amp not in ("auto", "fp16", "bf16", "off"):
        raise ConfigError(f"train.amp must be auto, fp16, bf16 or off, got {cfg.train.amp!r}")
    if cfg.target.population not in TARGET_POPULATIONS:
        raise ConfigError(
            f"target.population must be one of {list(TARGET_POPULATIONS)}, "
            f"got {cfg.target.population!r}"
        )
    if cfg.predict.average not in AVERAGES:
        raise ConfigError(
            f"predict.average must be one of {list(AVERAGES)}, got {cfg.predict.average!r}"
        )
    if cfg.predict.stride_s <= 0 or cfg.predict.max_windows < 0:
        raise ConfigError(
            f"predict.stride_s must be > 0 and predict.max_windows >= 0, got "
            f"{cfg.predict.stride_s} and {cfg.predict.max_windows}"
        )
    if cfg.train.n_folds < 2:
        raise ConfigError(f"train.n_folds must be at least 2, got {cfg.train.n_folds}")
    if not cfg.train.grad_clip > 0:  # 0 would zero every gradient, a negative one reverse it
        raise ConfigError(
            f"train.grad_clip must be > 0 (the largest gradient norm kept; a large value such "
            f"as 1e9 leaves gradients as they are), got {cfg.train.grad_clip}"
        )
    if cfg.data.high_vote_threshold < schema.MIN_HIGH_VOTE_THRESHOLD:
        raise ConfigError(
            f"data.high_vote_threshold must be at least {schema.MIN_HIGH_VOTE_THRESHOLD} votes "
            f"(the 4..threshold-1 population would be empty), got {cfg.data.high_vote_threshold}"
        )
