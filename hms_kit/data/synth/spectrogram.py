"""Kaggle-style spectrograms of a synthetic recording, computed from its own signal."""

from __future__ import annotations

import numpy as np
import scipy.fft

from hms_kit import schema

N_FFT = 1024  # schema.SPEC_FREQ_STEP_HZ is EEG_RATE_HZ / 1024
HOP = schema.SPEC_ROW_S * schema.EEG_RATE_HZ  # one row per 2 s
FIRST_BIN = round(schema.SPEC_FREQS_HZ[0] / schema.SPEC_FREQ_STEP_HZ)  # 3 (0.59 Hz)
BINS = slice(FIRST_BIN, FIRST_BIN + len(schema.SPEC_FREQS_HZ))  # bins 3..102
# Power scale, calibrated on the two real EEG/spectrogram pairs of tests/data/real (train
# 1628180742 / 353733, test 3911565283 / 853520; spectrogram time = EEG time + 275 s): the
# median log ratio of the real rows to these rows, computed from the real EEGs, is ~0 there.
POWER_SCALE = 1.3e-5
# Each row averages the periodograms of three frames 2 s apart (9.1 s of signal), weighted
# 1:2:1, as smooth over time as the real files' rows (lag-1 autocorrelation of row power
# 0.6-0.9, median |delta ln| between adjacent rows 0.2-0.3).
SMOOTH_WEIGHTS = (0.25, 0.5, 0.25)
SMOOTH_ROWS = len(SMOOTH_WEIGHTS)

# schema.BIPOLAR_PAIRS' electrodes, four consecutive pairs per region: a - b
_PAIR_A = list(schema.PAIR_A)
_PAIR_B = list(schema.PAIR_B)


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
    (LL, RL, LP, RP) the power of each of its chain's four bipolar pairs, averaged over the
    four pairs, at the 100 bins 0.59..19.92 Hz; the power of a row is the mean periodogram
    (1024-point FFT of a Hann-windowed 5.12 s frame) of ``SMOOTH_ROWS`` frames centred on
    the row's centre and its neighbours' (weights ``SMOOTH_WEIGHTS``, reflect-padded at the
    ends), times ``POWER_SCALE``.
    """
    pairs = signal[:, _PAIR_A] - signal[:, _PAIR_B]  # (samples, 16)
    n_rows = signal.shape[0] // HOP
    extra = SMOOTH_ROWS // 2  # frames beyond the first and last row
    pad = N_FFT // 2 + extra * HOP
    padded = np.pad(pairs, ((pad, pad), (0, 0)), mode="reflect")
    # frame j spans [(j - extra)*HOP + HOP/2 - 512, +512) of the signal: centred on row j-extra
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT, axis=0)
    n_frames = n_rows + 2 * extra
    frames = frames[HOP // 2 : HOP // 2 + n_frames * HOP : HOP]  # (frames, 16, 1024), a view
    window = np.hanning(N_FFT).astype(np.float32)
    spec = scipy.fft.rfft(frames * window, axis=-1)[..., BINS]  # (frames, 16, 100)
    power = spec.real**2 + spec.imag**2
    power = power.reshape(n_frames, len(schema.REGIONS), 4, -1).mean(axis=2)  # (frames, 4, 100)
    rows = sum(np.float32(w) * power[k : k + n_rows] for k, w in enumerate(SMOOTH_WEIGHTS))
    rows *= np.float32(POWER_SCALE)
    return rows.reshape(n_rows, -1).astype(np.float32)
