"""Wavelet images of the EEG window, two variants picked by ``WaveletConfig.variant``.

Both start like the EEG spectrogram: ``eeg_spec.fill_nan`` (channel mean, all-NaN channel 0),
then the 16 bipolar pair signals of ``eeg_spec.bipolar`` (no band-pass, no clipping), and
both end with ``eeg_spec.standardize`` over the whole window (all four chains together).

- ``dwt_stats`` (the seed's method): the 50-s window of each pair cut into consecutive,
  non-overlapping segments of ``dwt_segment_s`` seconds (1 s: 50 segments of 200 samples;
  a remainder at the end is dropped). Each segment goes through ``pywt.wavedec``
  (``wavelet`` db1, ``level`` 5), giving level + 1 coefficient arrays (the approximation,
  then the details from coarse to fine). Features per segment and array: log(|mean| + 1e-3)
  and log(std + 1e-3), in that order: rows [A5 mean, A5 std, D5 mean, D5 std, ..., D1 mean,
  D1 std] (12 rows at level 5), one column per segment. The four pairs of a chain are
  averaged, the (4, 12, 50) image standardised, then resized bilinearly to 128 x 256
  (``eeg_spec.resize_panels``).
- ``cwt`` (what top solutions found more informative): each pair decimated to 50 Hz
  (``scipy.signal.decimate``, zero-phase order-8 Chebyshev anti-alias filter), then
  ``pywt.cwt`` (``cwt_wavelet``: 'morl', or a complex Morlet such as 'cmor1.5-1.0', whose
  power is a smooth envelope instead of oscillating at twice the frequency) at 128 scales
  whose centre frequencies are log-spaced from cwt_fmin (row 0) to cwt_fmax (row 127) Hz
  (``cwt_frequencies_hz``). Power |coef|^2 is averaged over the chain's four pairs, then
  over consecutive runs of ~9.8 samples to 256 time columns, then log10(power + 1e-6).

Output of both: ``(4, 128, 256) float32``, chains in schema.REGIONS order; for ``cwt`` row 0
is the lowest frequency, as in the other modalities.
"""

from __future__ import annotations

import functools

import numpy as np
import pywt
import torch

from hms_kit import schema
from hms_kit.config import WaveletConfig
from hms_kit.inputs.eeg_spec import (
    LOG_EPS,
    PAIRS_PER_CHAIN,
    bipolar,
    fill_nan,
    resize_panels,
    standardize,
)

CWT_RATE_HZ = 50
DWT_EPS = 1e-3  # microvolts: keeps log finite on flat (NaN-filled) segments


def _pairs(window: np.ndarray) -> np.ndarray:
    """``(10000, 20)`` -> ``(16, 10000) float32`` NaN-free bipolar pair signals (microvolts)."""
    x = torch.from_numpy(np.ascontiguousarray(window, dtype=np.float32))[None]
    return bipolar(fill_nan(x))[0].numpy()


def _chain_mean(per_pair: np.ndarray) -> np.ndarray:
    """``(16, ...)`` in eeg_spec.PAIRS order -> ``(4, ...)`` chain means."""
    return per_pair.reshape(len(schema.REGIONS), PAIRS_PER_CHAIN, *per_pair.shape[1:]).mean(axis=1)


def _finish(img: np.ndarray) -> np.ndarray:
    """``(4, h, w)`` -> resized to ``(4, 128, 256)`` and standardised, float32."""
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None]
    return standardize(resize_panels(t))[0].numpy()


def dwt_stats_panels(window: np.ndarray, cfg: WaveletConfig) -> np.ndarray:
    """The seed's db1 level-5 statistics image, ``(4, 128, 256) float32`` (module docstring)."""
    sig = _pairs(window).astype(np.float64)
    seg = int(round(cfg.dwt_segment_s * schema.EEG_RATE_HZ))
    n_seg = sig.shape[1] // seg
    if n_seg < 1:
        raise ValueError(f"dwt_segment_s {cfg.dwt_segment_s} is longer than the window")
    segments = sig[:, : n_seg * seg].reshape(sig.shape[0], n_seg, seg)
    coeffs = pywt.wavedec(segments, cfg.wavelet, level=cfg.level, axis=-1)
    feats = []
    for c in coeffs:
        feats.append(np.log(np.abs(c.mean(axis=-1)) + DWT_EPS))
        feats.append(np.log(c.std(axis=-1) + DWT_EPS))
    return _finish(_chain_mean(np.stack(feats, axis=1)))  # (4, 2 * (level + 1), n_seg)


def cwt_frequencies_hz(cfg: WaveletConfig) -> np.ndarray:
    """``(128,) float64``: each scalogram row's frequency (Hz), log-spaced, row 0 lowest."""
    return np.geomspace(cfg.cwt_fmin, cfg.cwt_fmax, schema.PANEL_H)


@functools.lru_cache(maxsize=8)
def _cwt_scales(wavelet: str, fmin: float, fmax: float) -> np.ndarray:
    freqs = np.geomspace(fmin, fmax, schema.PANEL_H)
    return pywt.frequency2scale(wavelet, freqs / CWT_RATE_HZ)


def cwt_panels(window: np.ndarray, cfg: WaveletConfig) -> np.ndarray:
    """Morlet scalogram of each chain, ``(4, 128, 256) float32`` (see the module docstring)."""
    from scipy.signal import decimate

    if cfg.cwt_fmax >= CWT_RATE_HZ / 2:
        raise ValueError(f"cwt_fmax must be below {CWT_RATE_HZ / 2} Hz, got {cfg.cwt_fmax}")
    sig = decimate(_pairs(window), schema.EEG_RATE_HZ // CWT_RATE_HZ, axis=-1, zero_phase=True)
    scales = _cwt_scales(cfg.cwt_wavelet, float(cfg.cwt_fmin), float(cfg.cwt_fmax))
    # float32 input keeps pywt in single precision: twice as fast, ample for a log image
    coef, _ = pywt.cwt(sig.astype(np.float32), scales, cfg.cwt_wavelet, axis=-1, method="fft")
    power = np.abs(coef) ** 2  # (128, 16, T)
    power = _chain_mean(power.transpose(1, 0, 2))  # (4, 128, T)
    cols = np.linspace(0, power.shape[-1], schema.PANEL_W + 1).astype(int)
    pooled = np.add.reduceat(power, cols[:-1], axis=-1) / np.diff(cols)
    return _finish(np.log10(pooled + LOG_EPS))


def wavelet_panels(window: np.ndarray, cfg: WaveletConfig | None = None) -> np.ndarray:
    """An EEG window -> its wavelet panels.

    Parameters
    ----------
    window : np.ndarray ``(10000, 20)``, microvolts at 200 Hz, NaN allowed.
    cfg : WaveletConfig, ``variant`` ``dwt_stats`` or ``cwt``.

    Returns
    -------
    np.ndarray ``(4, 128, 256) float32``, standardised per window (see the module docstring).
    """
    cfg = cfg or WaveletConfig()
    if window.shape != (schema.EEG_WINDOW_SAMPLES, len(schema.EEG_CHANNELS)):
        raise ValueError(f"EEG window must be (10000, 20), got {window.shape}")
    if cfg.variant == "dwt_stats":
        return dwt_stats_panels(window, cfg)
    if cfg.variant == "cwt":
        return cwt_panels(window, cfg)
    raise ValueError(f"wavelet variant must be dwt_stats or cwt, got {cfg.variant!r}")
