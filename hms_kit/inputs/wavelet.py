"""Wavelet images of the EEG window, two variants picked by ``WaveletConfig.variant``.

- ``dwt_stats`` (the seed's method): PyWavelets ``wavedec`` (db1, level 5) of each bipolar pair
  signal over consecutive 1-s segments (``dwt_segment_s``; 50 segments across the 50-s
  window). Per segment and level (the approximation and the 5 details), log|mean| and
  log(std) of the coefficients: 12 features x 50 segments per pair, averaged over the chain's
  four pairs, standardised over the whole window, resized (bilinear) to 128 x 256. The time
  axis is the segment index.
- ``cwt`` (what top solutions found more informative): a continuous-wavelet scalogram
  (``pywt.cwt``, Morlet) of each bipolar pair, on the signal decimated to 50 Hz, at 128
  log-spaced frequencies from cwt_fmin to cwt_fmax Hz; power averaged over the chain's pairs,
  averaged in time to 256 columns, log10, standardised over the whole window.

Both fill NaN and build pairs with the EEG spectrogram's own helpers.
"""

from __future__ import annotations

import functools

import numpy as np
import pywt
import torch
import torch.nn.functional as F

from hms_kit import schema
from hms_kit.config import WaveletConfig
from hms_kit.inputs.eeg_spec import PAIRS_PER_CHAIN, bipolar, fill_nan

CWT_RATE_HZ = 50


def _pairs(window: np.ndarray) -> np.ndarray:
    """``(10000, 20)`` -> ``(16, 10000) float64`` NaN-free bipolar pair signals."""
    x = torch.from_numpy(np.ascontiguousarray(window, dtype=np.float32))[None]
    return bipolar(fill_nan(x))[0].double().numpy()


def _standardize(x: np.ndarray) -> np.ndarray:
    return ((x - x.mean()) / (x.std() + 1e-6)).astype(np.float32)


def _resize(img: np.ndarray) -> np.ndarray:
    """``(4, h, w)`` -> ``(4, 128, 256)`` bilinear."""
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None]
    return F.interpolate(
        t, size=(schema.PANEL_H, schema.PANEL_W), mode="bilinear", align_corners=False
    )[0].numpy()


def _chain_mean(per_pair: np.ndarray) -> np.ndarray:
    """``(16, ...)`` in eeg_spec.PAIRS order -> ``(4, ...)`` chain means."""
    return per_pair.reshape(len(schema.REGIONS), PAIRS_PER_CHAIN, *per_pair.shape[1:]).mean(axis=1)


def dwt_stats_panels(window: np.ndarray, cfg: WaveletConfig) -> np.ndarray:
    """The seed's db1 level-5 statistics image, ``(4, 128, 256) float32`` (see module docstring)."""
    sig = _pairs(window)
    seg = int(round(cfg.dwt_segment_s * schema.EEG_RATE_HZ))
    n_seg = sig.shape[1] // seg
    segments = sig[:, : n_seg * seg].reshape(sig.shape[0], n_seg, seg)
    coeffs = pywt.wavedec(segments, cfg.wavelet, level=cfg.level, axis=-1)
    feats = []
    for c in coeffs:  # approximation, then details from coarse to fine
        feats.append(np.log(np.abs(c.mean(axis=-1)) + 1e-3))
        feats.append(np.log(c.std(axis=-1) + 1e-3))
    img = _chain_mean(np.stack(feats, axis=1))  # (4, 2 * (level + 1), n_seg)
    return _resize(_standardize(img))


@functools.lru_cache(maxsize=8)
def cwt_scales(wavelet: str, fmin: float, fmax: float, n: int = schema.PANEL_H) -> np.ndarray:
    """Scales giving n log-spaced frequencies from fmin to fmax Hz at CWT_RATE_HZ."""
    freqs = np.geomspace(fmin, fmax, n)
    return pywt.frequency2scale(wavelet, freqs / CWT_RATE_HZ)


def cwt_panels(window: np.ndarray, cfg: WaveletConfig) -> np.ndarray:
    """Morlet scalogram of each chain, ``(4, 128, 256) float32`` (see module docstring)."""
    from scipy.signal import decimate

    sig = decimate(_pairs(window), schema.EEG_RATE_HZ // CWT_RATE_HZ, axis=-1, zero_phase=True)
    scales = cwt_scales(cfg.cwt_wavelet, cfg.cwt_fmin, cfg.cwt_fmax)
    coef, _ = pywt.cwt(sig, scales, cfg.cwt_wavelet, axis=-1, method="fft")  # (128, 16, T)
    power = _chain_mean(np.abs(coef.transpose(1, 0, 2)) ** 2)  # (4, 128, T)
    t = power.shape[-1]
    cols = np.linspace(0, t, schema.PANEL_W + 1).astype(int)
    pooled = np.add.reduceat(power, cols[:-1], axis=-1) / np.diff(cols)
    return _standardize(np.log10(pooled + 1e-6))


def wavelet_panels(window: np.ndarray, cfg: WaveletConfig | None = None) -> np.ndarray:
    """A ``(10000, 20)`` EEG window -> ``(4, 128, 256) float32`` wavelet panels."""
    cfg = cfg or WaveletConfig()
    if window.shape != (schema.EEG_WINDOW_SAMPLES, len(schema.EEG_CHANNELS)):
        raise ValueError(f"EEG window must be (10000, 20), got {window.shape}")
    if cfg.variant == "dwt_stats":
        return dwt_stats_panels(window, cfg)
    if cfg.variant == "cwt":
        return cwt_panels(window, cfg)
    raise ValueError(f"wavelet variant must be dwt_stats or cwt, got {cfg.variant!r}")
