"""Kaggle-style spectrograms of a synthetic recording, computed from its own signal."""

from __future__ import annotations

import numpy as np
import scipy.fft

from hms_kit import schema

N_FFT = 1024  # schema.SPEC_FREQ_STEP_HZ is EEG_RATE_HZ / 1024
HOP = schema.SPEC_ROW_S * schema.EEG_RATE_HZ  # one row per 2 s
FIRST_BIN = round(schema.SPEC_FREQS_HZ[0] / schema.SPEC_FREQ_STEP_HZ)  # 3 (0.59 Hz)
BINS = slice(FIRST_BIN, FIRST_BIN + len(schema.SPEC_FREQS_HZ))  # bins 3..102
# Power scale: brings a synthetic background into the range of the real files (median ~0.4,
# delta ~5-50, values above 15 Hz ~0.1-0.5, see tests/data/real/train_spectrograms).
POWER_SCALE = 1.6e-6

# Bipolar derivations in schema.REGIONS order, four consecutive pairs per chain: a - b.
_PAIRS = [
    (chain[i], chain[i + 1])
    for chain in (schema.CHAINS[r] for r in schema.REGIONS)
    for i in range(len(chain) - 1)
]
_PAIR_A = [schema.CHANNEL_INDEX[a] for a, _ in _PAIRS]
_PAIR_B = [schema.CHANNEL_INDEX[b] for _, b in _PAIRS]


def kaggle_spectrogram(signal: np.ndarray) -> np.ndarray:
    """Kaggle-style spectrogram of a whole recording.

    Parameters
    ----------
    signal : ``(samples, 20)`` float32, microvolts at 200 Hz, ``schema.EEG_CHANNELS`` order.
        NaN is allowed; a row whose analysis window touches a NaN is NaN in that region.

    Returns
    -------
    ``(samples // 400, 400) float32``: one row per 2 s, row k centred at ``2k + 1`` s (the
    files' ``time`` column); columns in ``schema.SPEC_COLUMNS`` order. For each region
    (LL, RL, LP, RP) the power of each of its chain's four bipolar pairs (1024-point FFT of a
    Hann-windowed 5.12 s frame around the row's centre, reflect-padded at the ends), averaged
    over the four pairs, at the 100 bins 0.59..19.92 Hz.
    """
    pairs = signal[:, _PAIR_A] - signal[:, _PAIR_B]  # (samples, 16)
    n_rows = signal.shape[0] // HOP
    half = N_FFT // 2
    padded = np.pad(pairs, ((half, half), (0, 0)), mode="reflect")
    # frame k spans samples [k*HOP + HOP/2 - 512, +512) of the signal: centred on 2k + 1 s
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT, axis=0)
    frames = frames[HOP // 2 : HOP // 2 + n_rows * HOP : HOP]  # (rows, 16, 1024), a view
    window = np.hanning(N_FFT).astype(np.float32)
    spec = scipy.fft.rfft(frames * window, axis=-1)[..., BINS]  # (rows, 16, 100)
    power = (spec.real**2 + spec.imag**2) * np.float32(POWER_SCALE)
    regions = power.reshape(n_rows, len(schema.REGIONS), 4, -1).mean(axis=2)  # (rows, 4, 100)
    return regions.reshape(n_rows, -1).astype(np.float32)
