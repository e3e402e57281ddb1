"""EEG spectrograms from the raw 50-s window, as batched torch operations.

One code path serves a batch on the GPU and a single window on the CPU:

1. NaN filled per channel with the channel's mean over the window (an all-NaN channel
   becomes 0), so no NaN reaches the model.
2. The 16 bipolar pairs of the double banana (schema.CHAINS): e.g. LL = Fp1-F7, F7-T3,
   T3-T5, T5-O1.
3. Optional zero-phase Butterworth band-pass (0.5-20 Hz, order 4), applied as the filter's
   squared magnitude response in the FFT domain (what filtfilt does, without edge effects),
   then clipping to +-clip_uv microvolts (artifacts).
4. One power spectrogram per pair (torch.stft, Hann window), then a mel filter bank
   (``kind='mel'``, n_mels bands between fmin and fmax) or the STFT bins between fmin and
   fmax resampled to 128 rows (``kind='stft'``).
5. The four pair spectrograms of a chain averaged (power), log10, then standardised over the
   whole window (all four chains together, so a louder hemisphere stays louder).

Output ``(B, 4, 128, 256) float32``: chain r = schema.REGIONS[r], frequency rising along
axis 2, time along axis 3.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from hms_kit import schema
from hms_kit.config import EegSpecConfig

PAIRS: tuple[tuple[str, str, str], ...] = tuple(
    (region, chain[i], chain[i + 1])
    for region, chain in schema.CHAINS.items()
    for i in range(len(chain) - 1)
)
PAIR_A = [schema.CHANNEL_INDEX[a] for _, a, _ in PAIRS]
PAIR_B = [schema.CHANNEL_INDEX[b] for _, _, b in PAIRS]
PAIRS_PER_CHAIN = len(PAIRS) // len(schema.REGIONS)


def fill_nan(x: torch.Tensor) -> torch.Tensor:
    """``(B, samples, channels)``: NaN -> the channel's mean over the window; all-NaN -> 0."""
    mean = torch.nanmean(x, dim=1, keepdim=True).nan_to_num(0.0)
    return torch.where(torch.isnan(x), mean.expand_as(x), x)


def bipolar(x: torch.Tensor) -> torch.Tensor:
    """``(B, samples, 20)`` -> ``(B, 16, samples)`` pair signals in PAIRS order (microvolts)."""
    return (x[..., PAIR_A] - x[..., PAIR_B]).transpose(1, 2)


def hop_length(cfg: EegSpecConfig) -> int:
    """STFT hop in samples: as configured, or (0) the largest giving >= 256 frames."""
    return cfg.hop or schema.EEG_WINDOW_SAMPLES // schema.PANEL_W


@functools.lru_cache(maxsize=16)
def _bandpass_gain(n: int, low: float, high: float, order: int) -> torch.Tensor:
    from scipy.signal import butter, sosfreqz

    sos = butter(order, [low, high], btype="band", fs=schema.EEG_RATE_HZ, output="sos")
    _, h = sosfreqz(sos, worN=np.fft.rfftfreq(n, 1 / schema.EEG_RATE_HZ), fs=schema.EEG_RATE_HZ)
    return torch.from_numpy((np.abs(h) ** 2).astype(np.float32))


def bandpass(sig: torch.Tensor, cfg: EegSpecConfig) -> torch.Tensor:
    """Zero-phase Butterworth band-pass of ``(..., samples)`` signals."""
    n = sig.shape[-1]
    gain = _bandpass_gain(n, cfg.band_low, cfg.band_high, cfg.band_order).to(sig.device)
    return torch.fft.irfft(torch.fft.rfft(sig, dim=-1) * gain, n=n, dim=-1)


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)


@functools.lru_cache(maxsize=16)
def frequency_matrix(kind: str, n_fft: int, n_rows: int, fmin: float, fmax: float) -> torch.Tensor:
    """``(n_rows, n_fft // 2 + 1)`` weights from STFT bins to output rows.

    mel: triangular filters with centres evenly spaced in mel between fmin and fmax;
    stft: linear interpolation of the bins between fmin and fmax onto n_rows frequencies.
    """
    bins = np.fft.rfftfreq(n_fft, 1 / schema.EEG_RATE_HZ)
    if kind == "mel":
        edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_rows + 2))
        lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
        w = np.maximum(0.0, np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)))
    elif kind == "stft":
        target = np.linspace(fmin, fmax, n_rows)
        w = np.zeros((n_rows, len(bins)))
        pos = np.interp(target, bins, np.arange(len(bins)))
        left = np.floor(pos).astype(int)
        frac = pos - left
        w[np.arange(n_rows), left] = 1 - frac
        w[np.arange(n_rows), np.minimum(left + 1, len(bins) - 1)] += frac
    else:
        raise ValueError(f"EEG spectrogram kind must be mel or stft, got {kind!r}")
    w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)  # each row an average of bins
    return torch.from_numpy(w.astype(np.float32))


@functools.lru_cache(maxsize=16)
def _window(win_length: int) -> torch.Tensor:
    return torch.hann_window(win_length)


def eeg_panels_batch(x: torch.Tensor, cfg: EegSpecConfig | None = None) -> torch.Tensor:
    """``(B, 10000, 20) float32`` EEG windows (microvolts, NaN allowed) -> ``(B, 4, 128, 256)``.

    Runs on x's device; see the module docstring for the steps.
    """
    cfg = cfg or EegSpecConfig()
    x = fill_nan(x.float())
    sig = bipolar(x)  # (B, 16, T)
    if cfg.bandpass:
        sig = bandpass(sig, cfg)
    sig = sig.clamp(-cfg.clip_uv, cfg.clip_uv)
    b, p, t = sig.shape
    n_rows = cfg.n_mels if cfg.kind == "mel" else schema.PANEL_H
    fm = frequency_matrix(cfg.kind, cfg.n_fft, n_rows, cfg.fmin, cfg.fmax).to(sig.device)
    used = int(torch.nonzero(fm.sum(dim=0)).max()) + 1  # bins above fmax carry no weight
    spec = torch.stft(
        sig.reshape(b * p, t),
        n_fft=cfg.n_fft,
        hop_length=hop_length(cfg),
        win_length=cfg.win_length,
        window=_window(cfg.win_length).to(sig.device),
        center=True,
        return_complex=True,
    )[:, :used]
    power = spec.real.square() + spec.imag.square()
    spec = torch.matmul(fm[:, :used], power)  # (B*16, rows, frames)
    spec = spec.reshape(b, len(schema.REGIONS), PAIRS_PER_CHAIN, n_rows, -1).mean(dim=2)
    frames = spec.shape[-1]
    if n_rows != schema.PANEL_H or frames < schema.PANEL_W:
        spec = F.interpolate(
            spec, size=(schema.PANEL_H, schema.PANEL_W), mode="bilinear", align_corners=False
        )
    else:
        start = (frames - schema.PANEL_W) // 2
        spec = spec[..., start : start + schema.PANEL_W]
    spec = torch.log10(spec + 1e-6)
    mean = spec.mean(dim=(1, 2, 3), keepdim=True)
    std = spec.std(dim=(1, 2, 3), keepdim=True)
    return ((spec - mean) / (std + 1e-6)).float()


def eeg_panels(window: np.ndarray, cfg: EegSpecConfig | None = None) -> np.ndarray:
    """One ``(10000, 20)`` EEG window -> ``(4, 128, 256) float32`` on the CPU (same code path)."""
    if window.shape != (schema.EEG_WINDOW_SAMPLES, len(schema.EEG_CHANNELS)):
        raise ValueError(f"EEG window must be (10000, 20), got {window.shape}")
    with torch.no_grad():
        return eeg_panels_batch(torch.from_numpy(np.ascontiguousarray(window))[None], cfg)[
            0
        ].numpy()
