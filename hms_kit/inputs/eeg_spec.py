"""EEG spectrograms from the raw 50-s window, as batched torch operations.

One code path serves a batch on the GPU and a single window on the CPU:

1. ``fill_nan``: NaN filled per channel with the channel's mean over the window (an all-NaN
   channel becomes 0), so no NaN reaches the model. A filled run is flat, so it shows as
   low power rather than as an artefact.
2. ``bipolar``: the 16 bipolar pairs of the double banana (schema.CHAINS, in region order
   LL, RL, LP, RP, four consecutive pairs each: LL = Fp1-F7, F7-T3, T3-T5, T5-O1, ...).
3. Optional zero-phase Butterworth band-pass (``band_low``..``band_high`` Hz, ``band_order``):
   the filter's squared magnitude response (what ``filtfilt`` applies) multiplied in the FFT
   domain of the whole 50-s window, so the filter is circular (the window's ends meet)
   instead of having filtfilt's start-up transients. Then clipping to +-``clip_uv``
   microvolts, so one artefact cannot dominate the window.
4. One power spectrogram per pair: Hann window of ``win_length`` samples, ``hop`` samples
   apart (0: 10000 // 256 = 39), frames centred on ``t * hop`` with reflect padding (torch.stft's
   ``center=True``), DFT on ``n_fft`` points (zero-padded window). Only the bins between
   fmin and fmax are computed, as one strided convolution with a cos/sin basis, which gives exactly the
   power of ``torch.stft`` at those bins for a fraction of the cost.
5. The four pair spectrograms of a chain averaged (power; the chain waveforms are never
   subtracted), then mapped to 128 frequency rows: a triangular mel filter bank
   (``kind='mel'``, ``n_mels`` bands evenly spaced in mel between fmin and fmax, each band
   the weighted mean of its bins) or linear interpolation of the STFT bins at 128 frequencies
   evenly spaced from fmin to fmax (``kind='stft'``). The central 256 frames are kept
   (hop 39 gives 257); any other size is resized bilinearly by ``resize_panels``.
   ``chain_power_batch`` returns the result of steps 1-5.
6. log10(power + 1e-6), then standardised over the whole window (all four chains together, so
   a louder hemisphere stays louder): ``(x - mean) / (std + 1e-6)``.

Output ``(B, 4, 128, 256) float32``: axis 1 is the chain (schema.REGIONS order), axis 2 the
frequency, row 0 the LOWEST (fmin) and row 127 the highest (fmax), as in the Kaggle panels
(draw with ``origin='lower'``); axis 3 time, 50 s / 256 per column (0.195 s at hop 39).
``frequency_rows_hz`` gives each row's centre frequency.

Per-pair panels (``per_pair``, the 4th place's canvas of every channel, yu4u/kaggle-hms-4th):
step 5 keeps the 16 pairs apart (``pair_power_batch``); each pair's image is resized to
``(64, 128)`` and a chain's panel is the 2 x 2 grid of its pairs (``pair_grid``), so the
output keeps its ``(B, 4, 128, 256)`` shape and its cache its bytes per row. Tiled
(``inputs.layout=tile``, hms_kit.inputs.merge), the EEG column is one canvas ``(1, 512, 256)``
of 16 pair cells (repeated to 3 channels), beside the Kaggle column: ``(3, 512, 512)``.
``scale='db_max'`` replaces step 6 by dB relative to the window's maximum over all pairs
(``db_relative_to_max``, before the resize).
"""

from __future__ import annotations

import functools
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from hms_kit import schema
from hms_kit.config import EegSpecConfig

PAIRS = schema.BIPOLAR_PAIRS  # the 16 pairs (region, a, b), region-major; the signal is a - b
PAIR_A = list(schema.PAIR_A)  # column of each pair's first electrode
PAIR_B = list(schema.PAIR_B)  # and of its second (subtracted)
PAIRS_PER_CHAIN = schema.PAIRS_PER_CHAIN
LOG_EPS = 1e-6
STD_EPS = 1e-6
DB_AMIN = 1e-10  # power floor before dB (librosa's amin)
PAIR_CELL = (schema.PANEL_H // 2, schema.PANEL_W // 2)  # one pair's (rows, columns), per_pair

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def fill_nan(eeg: ArrayT) -> ArrayT:
    """Replace NaN by the channel's mean over the window; an all-NaN channel becomes 0.

    Parameters
    ----------
    eeg : np.ndarray or torch.Tensor, ``(..., samples, channels)``
        EEG in microvolts (``(10000, 20)`` or a batch ``(B, 10000, 20)``).

    Returns
    -------
    Same type, shape and dtype, NaN-free (the input itself when it holds no NaN).
    """
    if isinstance(eeg, np.ndarray):
        return fill_nan(torch.from_numpy(eeg)).numpy()
    nan = torch.isnan(eeg)
    if not bool(nan.any()):
        return eeg
    mean = torch.nanmean(eeg, dim=-2, keepdim=True).nan_to_num(0.0)
    return torch.where(nan, mean.expand_as(eeg), eeg)


@functools.lru_cache(maxsize=8)
def _pair_matrix(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    m = torch.zeros(len(schema.EEG_CHANNELS), len(PAIRS), dtype=dtype)
    cols = torch.arange(len(PAIRS))
    m[PAIR_A, cols] = 1.0
    m[PAIR_B, cols] = -1.0
    return m.to(device)


def bipolar(eeg: torch.Tensor) -> torch.Tensor:
    """The 16 bipolar pair signals of ``PAIRS``.

    Parameters
    ----------
    eeg : torch.Tensor ``(B, samples, 20)``, microvolts, NaN-free, schema.EEG_CHANNELS order.

    Returns
    -------
    torch.Tensor ``(B, 16, samples)``, microvolts, eeg's dtype and device.
    """
    # a +-1 matmul is several times faster than gathering columns and transposing
    return torch.matmul(eeg, _pair_matrix(eeg.device, eeg.dtype)).transpose(1, 2)


def resize_panels(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, h, w)`` -> ``(B, C, 128, 256)``: bilinear (align_corners=False) unless already
    that size. The one resize used by the EEG and wavelet modalities."""
    if x.shape[-2:] == (schema.PANEL_H, schema.PANEL_W):
        return x
    return F.interpolate(
        x, size=(schema.PANEL_H, schema.PANEL_W), mode="bilinear", align_corners=False
    )


def standardize(x: torch.Tensor) -> torch.Tensor:
    """Standardise each sample of ``(B, ...)`` over all its other axes: (x - mean) / (std + 1e-6)."""
    dims = tuple(range(1, x.dim()))
    mean = x.mean(dim=dims, keepdim=True)
    std = x.std(dim=dims, keepdim=True, unbiased=False)
    return (x - mean) / (std + STD_EPS)


def hop_length(cfg: EegSpecConfig) -> int:
    """STFT hop in samples: as configured, or (0) the largest giving >= 256 frames (39)."""
    return cfg.hop or schema.EEG_WINDOW_SAMPLES // schema.PANEL_W


def _n_rows(cfg: EegSpecConfig) -> int:
    return cfg.n_mels if cfg.kind == "mel" else schema.PANEL_H


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)


def frequency_rows_hz(cfg: EegSpecConfig) -> np.ndarray:
    """``(n_rows,) float64``: the centre frequency (Hz) of each output row, row 0 lowest."""
    n = _n_rows(cfg)
    if cfg.kind == "mel":
        return _mel_to_hz(np.linspace(_hz_to_mel(cfg.fmin), _hz_to_mel(cfg.fmax), n + 2))[1:-1]
    return np.linspace(cfg.fmin, cfg.fmax, n)


@functools.lru_cache(maxsize=16)
def frequency_matrix(
    kind: str,
    n_fft: int,
    n_rows: int,
    fmin: float,
    fmax: float,
    rate_hz: float = schema.EEG_RATE_HZ,
) -> np.ndarray:
    """``(n_rows, n_fft // 2 + 1) float64`` weights from STFT bins (of a signal sampled at
    ``rate_hz``) to output rows.

    mel: triangular filters with centres evenly spaced in mel between fmin and fmax;
    stft: linear interpolation of the bins at n_rows frequencies from fmin to fmax.
    Each row sums to 1 (a weighted mean of bins), so rows of different widths are comparable.
    """
    bins = np.fft.rfftfreq(n_fft, 1 / rate_hz)
    if kind == "mel":
        edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_rows + 2))
        lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
        w = np.maximum(0.0, np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)))
        # a band narrower than the bin spacing may fall between bins: give it its nearest bin
        empty = w.sum(axis=1) == 0
        w[empty, np.abs(bins[None, :] - mid[empty]).argmin(axis=1)] = 1.0
    elif kind == "stft":
        pos = np.interp(np.linspace(fmin, fmax, n_rows), bins, np.arange(len(bins)))
        left = np.floor(pos).astype(int)
        frac = pos - left
        w = np.zeros((n_rows, len(bins)))
        w[np.arange(n_rows), left] = 1 - frac
        w[np.arange(n_rows), np.minimum(left + 1, len(bins) - 1)] += frac
    else:
        raise ValueError(f"EEG spectrogram kind must be mel or stft, got {kind!r}")
    return w / w.sum(axis=1, keepdims=True)


@functools.lru_cache(maxsize=16)
def _bandpass_gain(
    n: int, low: float, high: float, order: int, device: torch.device
) -> torch.Tensor:
    from scipy.signal import butter, sosfreqz

    sos = butter(order, [low, high], btype="band", fs=schema.EEG_RATE_HZ, output="sos")
    freqs = np.fft.rfftfreq(n, 1 / schema.EEG_RATE_HZ)
    _, h = sosfreqz(sos, worN=freqs, fs=schema.EEG_RATE_HZ)
    return torch.from_numpy((np.abs(h) ** 2).astype(np.float32)).to(device)


def bandpass(sig: torch.Tensor, cfg: EegSpecConfig) -> torch.Tensor:
    """Zero-phase Butterworth band-pass of ``(..., samples)`` float32 signals (see step 3)."""
    return bandpass_resample(sig, cfg.band_low, cfg.band_high, cfg.band_order)


def bandpass_resample(
    sig: torch.Tensor, low: float, high: float, order: int, n_out: int | None = None
) -> torch.Tensor:
    """Zero-phase (circular) Butterworth band-pass of ``(..., n)`` float32 signals at 200 Hz,
    optionally resampled to ``n_out`` samples over the same span.

    The resampling keeps the DFT bins below the new Nyquist frequency (exact band-limited
    resampling of the circular signal), so with ``high`` at or below the new Nyquist no
    aliasing is added. Returns ``(..., n_out or n)`` float32 in the input's units.
    """
    n = sig.shape[-1]
    gain = _bandpass_gain(n, low, high, order, sig.device)
    spec = torch.fft.rfft(sig, dim=-1) * gain
    if n_out is None or n_out == n:
        return torch.fft.irfft(spec, n=n, dim=-1)
    if n_out > n:
        raise ValueError(f"bandpass_resample only downsamples: {n} -> {n_out} samples")
    return torch.fft.irfft(spec[..., : n_out // 2 + 1], n=n_out, dim=-1) * (n_out / n)


@functools.lru_cache(maxsize=16)
def _spectral_ops(
    kind: str,
    n_fft: int,
    win_length: int,
    n_rows: int,
    fmin: float,
    fmax: float,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cached per (cfg, device): the windowed cos/sin DFT basis as conv1d weights
    ``(2 * nb, 1, win_length)`` for the nb bins the row matrix uses, and the row matrix
    ``(n_rows, nb)``."""
    if win_length > n_fft:
        raise ValueError(f"win_length {win_length} must not exceed n_fft {n_fft}")
    fm = frequency_matrix(kind, n_fft, n_rows, fmin, fmax)
    used = np.flatnonzero(fm.sum(axis=0) > 0)
    k = np.arange(used[0], used[-1] + 1)
    # the window's phase reference does not matter for power: index from the window's start
    n = np.arange(win_length)
    window = torch.hann_window(win_length, dtype=torch.float64).numpy()
    angle = 2 * np.pi * np.outer(n, k) / n_fft
    basis = np.concatenate([np.cos(angle), -np.sin(angle)], axis=1) * window[:, None]
    return (
        torch.from_numpy(np.ascontiguousarray(basis.T[:, None, :], dtype=np.float32)).to(device),
        torch.from_numpy(np.ascontiguousarray(fm[:, k], dtype=np.float32)).to(device),
    )


def _pair_bin_power(x: torch.Tensor, cfg: EegSpecConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Steps 1-4 for every pair: ``(power (B * 16, nb, n_frames), rows (n_rows, nb))``, the
    power at the nb STFT bins the row matrix uses and that matrix."""
    if x.dim() != 3 or x.shape[-1] != len(schema.EEG_CHANNELS):
        raise ValueError(f"EEG batch must be (B, samples, 20), got {tuple(x.shape)}")
    sig = bipolar(fill_nan(x.float()))  # (B, 16, T)
    if cfg.bandpass:
        sig = bandpass(sig, cfg)
    sig = sig.clamp(-cfg.clip_uv, cfg.clip_uv)
    b, p, t = sig.shape
    basis, rows = _spectral_ops(
        cfg.kind,
        cfg.n_fft,
        cfg.win_length,
        _n_rows(cfg),
        float(cfg.fmin),
        float(cfg.fmax),
        x.device,
    )
    half = cfg.win_length // 2
    padded = F.pad(sig.reshape(b * p, 1, t), (half, half), mode="reflect")
    # the DFT of every frame as one strided convolution (faster than unfold + matmul)
    spec = F.conv1d(padded, basis, stride=hop_length(cfg))  # (B*16, 2 * nb, n_frames)
    n_frames = spec.shape[-1]
    if n_frames > schema.PANEL_W:  # keep the central frames (257 -> 256 at the default hop)
        start = (n_frames - schema.PANEL_W) // 2
        spec = spec[..., start : start + schema.PANEL_W]
    nb = basis.shape[0] // 2
    return spec[:, :nb].square() + spec[:, nb:].square(), rows


def chain_power_batch(x: torch.Tensor, cfg: EegSpecConfig | None = None) -> torch.Tensor:
    """Steps 1-5 of the module docstring: each chain's mean pair power, before log and resize.

    Parameters
    ----------
    x : torch.Tensor ``(B, 10000, 20)``, microvolts at 200 Hz, schema.EEG_CHANNELS order,
        NaN allowed.
    cfg : EegSpecConfig

    Returns
    -------
    torch.Tensor ``(B, 4, n_rows, n_frames) float32``, power in uV^2 (per STFT bin, summed
    over the Hann window, averaged over the row's bins); n_rows = n_mels (mel) or 128 (stft),
    n_frames = min(256, 1 + 10000 // hop), on x's device.
    """
    cfg = cfg or EegSpecConfig()
    power, rows = _pair_bin_power(x, cfg)
    b, nb = len(x), power.shape[1]
    # rows are linear in power, so averaging the chain first is the same and 4x cheaper
    power = power.reshape(b, len(schema.REGIONS), PAIRS_PER_CHAIN, nb, -1).mean(dim=2)
    return torch.matmul(rows, power)  # (B, 4, n_rows, frames)


def pair_power_batch(x: torch.Tensor, cfg: EegSpecConfig | None = None) -> torch.Tensor:
    """Steps 1-4 and the row mapping of step 5 for every pair, without the chain average.

    Parameters and units as ``chain_power_batch``; returns ``(B, 16, n_rows, n_frames)
    float32``, pairs in ``PAIRS`` order (chain-major: pair 4r + k is pair k of chain r).
    """
    cfg = cfg or EegSpecConfig()
    power, rows = _pair_bin_power(x, cfg)
    return torch.matmul(rows, power.reshape(len(x), len(PAIRS), *power.shape[1:]))


def db_relative_to_max(power: torch.Tensor, top_db: float) -> torch.Tensor:
    """Power ``(B, ...)`` -> dB relative to each sample's maximum, floored ``top_db`` below
    it, mapped linearly from [-top_db, 0] dB to [-1, 1] (``(db + top_db / 2) / (top_db / 2)``).

    The scale of the 4th place's inputs (librosa's ``power_to_db(ref=np.max)``, top_db 80,
    then ``(x + 40) / 40``): one absolute range for every window, with the loudest point at 1.
    """
    dims = tuple(range(1, power.dim()))
    db = 10.0 * torch.log10(power.clamp_min(DB_AMIN))
    db = db - db.amax(dim=dims, keepdim=True)
    half = top_db / 2.0
    return (db.clamp_min(-top_db) + half) / half


def pair_grid(x: torch.Tensor) -> torch.Tensor:
    """Per-pair images ``(B, 16, h, w)`` -> chain panels ``(B, 4, 128, 256)``: each pair
    resized (bilinear, align_corners=False) to ``PAIR_CELL`` = (64, 128), the four pairs of
    a chain in a 2 x 2 grid: pair k of the chain at grid row k // 2 (0: rows 0..63, the
    lower half drawn with origin='lower'), grid column k % 2 (0: columns 0..127)."""
    b, p, h, w = x.shape
    if p != len(PAIRS):
        raise ValueError(f"pair_grid needs the {len(PAIRS)} pairs, got {p}")
    if (h, w) != PAIR_CELL:
        x = F.interpolate(x, size=PAIR_CELL, mode="bilinear", align_corners=False)
    n = len(schema.REGIONS)
    cells = x.reshape(b, n, 2, 2, *PAIR_CELL).permute(0, 1, 2, 4, 3, 5)
    return cells.reshape(b, n, schema.PANEL_H, schema.PANEL_W)


def time_cells(cfg: EegSpecConfig) -> int:
    """Panels side by side along a panel's time axis: 2 with ``per_pair`` (the grid's
    columns), else 1. A time reversal reverses each in place (``merge.flip_time``)."""
    return 2 if cfg.per_pair else 1


def eeg_panels_batch(x: torch.Tensor, cfg: EegSpecConfig | None = None) -> torch.Tensor:
    """EEG spectrogram panels of a batch of windows, on x's device (see the module docstring).

    Parameters
    ----------
    x : torch.Tensor ``(B, 10000, 20)``, microvolts at 200 Hz, schema.EEG_CHANNELS order,
        NaN allowed.
    cfg : EegSpecConfig

    Returns
    -------
    torch.Tensor ``(B, 4, 128, 256) float32``: chains LL, RL, LP, RP; frequency rows from
    fmin (row 0) to fmax (row 127); 256 time columns; standardised per window. With
    ``per_pair``: each chain panel a 2 x 2 grid of its pairs (``pair_grid``), each pair
    ``(64, 128)``, frequency fmin..fmax over its 64 rows, the 50 s over its 128 columns.
    ``scale='db_max'``: values in [-1, 1] (``db_relative_to_max`` over the whole window,
    before the resize) instead of standardised.
    """
    cfg = cfg or EegSpecConfig()
    if cfg.per_pair:
        power = pair_power_batch(x, cfg)
        resize = pair_grid
    else:
        power = chain_power_batch(x, cfg)
        resize = resize_panels
    if cfg.scale == "db_max":
        return resize(db_relative_to_max(power, cfg.top_db)).float()
    return standardize(resize(torch.log10(power + LOG_EPS))).float()


def eeg_panels(window: np.ndarray, cfg: EegSpecConfig | None = None) -> np.ndarray:
    """One EEG window -> its spectrogram panels, on the CPU (``eeg_panels_batch`` with B = 1).

    Parameters
    ----------
    window : np.ndarray ``(10000, 20)``, microvolts at 200 Hz, NaN allowed.

    Returns
    -------
    np.ndarray ``(4, 128, 256) float32`` (see ``eeg_panels_batch``).
    """
    if window.shape != (schema.EEG_WINDOW_SAMPLES, len(schema.EEG_CHANNELS)):
        raise ValueError(f"EEG window must be (10000, 20), got {window.shape}")
    x = torch.from_numpy(np.ascontiguousarray(window, dtype=np.float32))[None]
    with torch.no_grad():
        return eeg_panels_batch(x, cfg)[0].numpy()
