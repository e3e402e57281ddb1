"""Wavelet panels: both variants on real windows, NaN, and where a sine lands."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from hms_kit import schema
from hms_kit.config import WaveletConfig
from hms_kit.data.readers import eeg_window, read_eeg
from hms_kit.inputs.wavelet import cwt_frequencies_hz, wavelet_panels

SHAPE = (len(schema.REGIONS), schema.PANEL_H, schema.PANEL_W)
VARIANTS = ["dwt_stats", "cwt"]
T = np.arange(schema.EEG_WINDOW_SAMPLES) / schema.EEG_RATE_HZ


@pytest.fixture(scope="module")
def windows(real_dir) -> list[np.ndarray]:
    """Three train EEG windows (label offsets of train.csv) and the test EEG."""
    train = pd.read_csv(real_dir / "train.csv")
    eeg = read_eeg(real_dir / "train_eegs" / "1628180742.parquet")
    wins = [eeg_window(eeg, o) for o in train.eeg_label_offset_seconds.iloc[[0, 4, 8]]]
    test = read_eeg(real_dir / "test_eegs" / "3911565283.parquet")
    return [*wins, eeg_window(test, 0)]


def cfg(variant: str, **kw) -> WaveletConfig:
    return dataclasses.replace(WaveletConfig(), variant=variant, **kw)


def noise_with(channel: str, signal: np.ndarray) -> np.ndarray:
    x = np.random.default_rng(1).standard_normal((len(T), len(schema.EEG_CHANNELS)))
    x[:, schema.CHANNEL_INDEX[channel]] += signal
    return x.astype(np.float32)


@pytest.mark.parametrize("variant", VARIANTS)
def test_real_windows_shape_finite_deterministic(windows, variant):
    for w in windows:
        a = wavelet_panels(w, cfg(variant))
        assert a.shape == SHAPE and a.dtype == np.float32 and np.isfinite(a).all()
        np.testing.assert_array_equal(a, wavelet_panels(w, cfg(variant)))
        assert a.std() > 0.5  # not a constant image


@pytest.mark.parametrize("variant", VARIANTS)
def test_nan_survives(windows, variant):
    w = windows[0].copy()
    w[:, schema.CHANNEL_INDEX["T4"]] = np.nan
    w[1000:1700, :] = np.nan
    out = wavelet_panels(w, cfg(variant))
    assert out.shape == SHAPE and np.isfinite(out).all()
    all_nan = np.full_like(w, np.nan)
    assert np.isfinite(wavelet_panels(all_nan, cfg(variant))).all()


@pytest.mark.parametrize("wavelet", ["morl", "cmor1.5-1.0"])
def test_cwt_low_and_high_sines_land_in_their_rows(wavelet):
    freqs = cwt_frequencies_hz(cfg("cwt"))
    ll = schema.REGIONS.index("LL")
    peaks = {}
    for hz in (2.0, 12.0):
        out = wavelet_panels(
            noise_with("F7", 50 * np.sin(2 * np.pi * hz * T)), cfg("cwt", cwt_wavelet=wavelet)
        )
        peaks[hz] = int(out[ll, :, 20:-20].mean(axis=1).argmax())
        assert abs(freqs[peaks[hz]] / hz - 1) < 0.12, (hz, freqs[peaks[hz]])
    assert peaks[12.0] - peaks[2.0] > 40  # rows rise with frequency


def test_cwt_frequencies_are_log_spaced_from_fmin_to_fmax():
    f = cwt_frequencies_hz(cfg("cwt", cwt_fmin=1.0, cwt_fmax=16.0))
    assert f.shape == (schema.PANEL_H,)
    np.testing.assert_allclose([f[0], f[-1]], [1.0, 16.0])
    np.testing.assert_allclose(np.diff(np.log(f)), np.log(16) / 127)


def test_dwt_stats_time_axis_follows_the_segments():
    burst = np.zeros(len(T))
    burst[len(T) // 2 :] = 200 * np.random.default_rng(2).standard_normal(len(T) // 2)
    out = wavelet_panels(noise_with("F7", burst), cfg("dwt_stats"))
    ll = out[schema.REGIONS.index("LL")]
    # the std rows of the loud second half stand out (columns 128.. map to seconds 25..50)
    assert ll[:, 140:].mean() > ll[:, :116].mean() + 0.5
    rp = out[schema.REGIONS.index("RP")]
    assert abs(rp[:, 140:].mean() - rp[:, :116].mean()) < 0.2


def test_unknown_variant_is_refused(windows):
    with pytest.raises(ValueError, match="variant"):
        wavelet_panels(windows[0], cfg("fft"))
