"""The ``raw_eeg`` input: band-passed bipolar waveforms of the EEG window's centre.

From a 50-s window ``(10000, 20)`` (microvolts, 200 Hz):

1. NaN filled per channel (``eeg_spec.fill_nan``);
2. the 16 double-banana pairs of ``eeg_spec.PAIRS`` (schema.CHAINS, regions LL, RL, LP, RP,
   four pairs each), then with ``central`` the two midline pairs of schema.CENTRAL_CHAIN
   (Fz-Cz, Cz-Pz);
3. zero-phase Butterworth band-pass and band-limited resampling to ``rate_hz`` in one FFT
   (``eeg_spec.bandpass_resample``);
4. the centre ``window_s + 2 * margin_s`` seconds kept (the model sees the centre
   ``window_s``; the margins let a training shift move the window for free; with
   ``context_s`` the window arrives with that much of the recording each side, so the
   margins may reach past the 50 s);
5. clipped to +-``clip_uv`` microvolts, stored as float16 (exact to 0.5 uV at 1024 uV).

Output ``(n_pairs, samples) float32`` (the cache stores float16), microvolts; axis 1 is
time at ``rate_hz``.
"""

from __future__ import annotations

import numpy as np
import torch

from hms_kit import schema
from hms_kit.config import RawEegConfig
from hms_kit.inputs.eeg_spec import PAIRS, bandpass_resample, fill_nan

CENTRAL_PAIRS: tuple[tuple[str, str, str], ...] = tuple(
    ("C", a, b) for a, b in zip(schema.CENTRAL_CHAIN[:-1], schema.CENTRAL_CHAIN[1:])
)
"""The midline pairs as (region, electrode a, electrode b); region ``C`` is not a Kaggle one."""


def raw_pairs(central: bool) -> tuple[tuple[str, str, str], ...]:
    """The pairs of the raw_eeg input, in channel order: PAIRS, then CENTRAL_PAIRS."""
    return PAIRS + (CENTRAL_PAIRS if central else ())


def mirror_permutation(central: bool) -> np.ndarray:
    """``(n_pairs,) int``: channel order with left and right swapped (pair i of LL <-> pair i
    of RL, LP <-> RP; midline pairs stay)."""
    pairs = raw_pairs(central)
    where = {(r, i % 4): i for i, (r, _, _) in enumerate(pairs) if r in schema.MIRROR_REGIONS}
    out = []
    for i, (r, _, _) in enumerate(pairs):
        out.append(where[(schema.MIRROR_REGIONS[r], i % 4)] if r in schema.MIRROR_REGIONS else i)
    return np.asarray(out)


def chain_channels(central: bool) -> np.ndarray:
    """``(4, 4) int``: the channel of pair j of chain i (chains in schema.REGIONS order,
    pairs front to back along schema.CHAINS); the midline pairs belong to no chain."""
    where = {pair: k for k, pair in enumerate(raw_pairs(central))}
    rows = []
    for region in schema.REGIONS:
        chain = schema.CHAINS[region]
        rows.append([where[(region, a, b)] for a, b in zip(chain[:-1], chain[1:])])
    return np.asarray(rows, dtype=np.int64)


def stored_samples(cfg: RawEegConfig) -> int:
    """Samples stored per pair: ``(window_s + 2 * margin_s) * rate_hz``."""
    return int(round((cfg.window_s + 2 * cfg.margin_s) * cfg.rate_hz))


def raw_eeg_shape(cfg: RawEegConfig) -> tuple[int, int]:
    """``(n_pairs, stored samples)`` of one window."""
    return (len(raw_pairs(cfg.central)), stored_samples(cfg))


def raw_eeg_batch(x: torch.Tensor, cfg: RawEegConfig | None = None) -> torch.Tensor:
    """Steps 1-5 of the module docstring for a batch, on x's device.

    Parameters
    ----------
    x : torch.Tensor ``(B, 10000, 20)``, microvolts at 200 Hz, schema.EEG_CHANNELS order,
        NaN allowed.

    Returns
    -------
    torch.Tensor ``(B, n_pairs, (window_s + 2 * margin_s) * rate_hz) float32``, microvolts.
    """
    cfg = cfg or RawEegConfig()
    if x.dim() != 3 or x.shape[-1] != len(schema.EEG_CHANNELS):
        raise ValueError(f"EEG batch must be (B, samples, 20), got {tuple(x.shape)}")
    eeg = fill_nan(x.float())
    idx = schema.CHANNEL_INDEX
    pairs = raw_pairs(cfg.central)
    a = torch.tensor([idx[p] for _, p, _ in pairs], device=x.device)
    b = torch.tensor([idx[q] for _, _, q in pairs], device=x.device)
    sig = (eeg[..., a] - eeg[..., b]).transpose(1, 2)  # (B, P, 10000)
    n_out = int(round(x.shape[1] * cfg.rate_hz / schema.EEG_RATE_HZ))
    sig = bandpass_resample(sig, cfg.band_low, cfg.band_high, cfg.band_order, n_out)
    keep = stored_samples(cfg)
    start = (n_out - keep) // 2
    return sig[..., start : start + keep].clamp(-cfg.clip_uv, cfg.clip_uv)


def raw_eeg(window: np.ndarray, cfg: RawEegConfig | None = None) -> np.ndarray:
    """One 50-s EEG window ``(10000, 20)`` (with ``cfg.context_s``: the window and its
    context, ``data.readers.eeg_window_context``) -> ``(n_pairs, samples) float32`` (see
    ``raw_eeg_batch``)."""
    cfg = cfg or RawEegConfig()
    n = schema.EEG_WINDOW_SAMPLES + 2 * int(round(cfg.context_s * schema.EEG_RATE_HZ))
    if window.shape != (n, len(schema.EEG_CHANNELS)):
        raise ValueError(
            f"EEG window must be ({n}, 20) (50 s and context_s {cfg.context_s:g} s each side), "
            f"got {window.shape}"
        )
    x = torch.from_numpy(np.ascontiguousarray(window, dtype=np.float32))[None]
    with torch.no_grad():
        return raw_eeg_batch(x, cfg)[0].numpy()
