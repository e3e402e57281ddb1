"""Kaggle spectrogram panels: the seed's log_and_Standarize on real windows, crop and pad."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hms_kit import schema
from hms_kit.config import KaggleSpecConfig
from hms_kit.data.readers import read_spectrogram, spec_window
from hms_kit.inputs.kaggle_spec import crop_rows, db_max, kaggle_panels, log_and_standardize

CFG = KaggleSpecConfig()


def real_windows(real_dir) -> list[np.ndarray]:
    """The train spectrogram at the 9 label offsets of train.csv, and the test spectrogram."""
    train = pd.read_csv(real_dir / "train.csv")
    spec = read_spectrogram(real_dir / "train_spectrograms" / "353733.parquet")
    wins = [spec_window(spec, o) for o in train.spectrogram_label_offset_seconds]
    test = read_spectrogram(real_dir / "test_spectrograms" / "853520.parquet")
    return [*wins, spec_window(test, 0)]


def formula(x: np.ndarray) -> np.ndarray:
    """The seed's formula, written out independently in float64."""
    x = np.log(np.clip(x.astype(np.float64), np.exp(-4.0), np.exp(8.0)))
    out = (x - np.nanmean(x)) / (np.nanstd(x) + 1e-6)
    return np.where(np.isnan(out), 0.0, out)


def test_log_and_standardize_matches_formula_on_real_windows(real_dir):
    wins = real_windows(real_dir)
    assert len(wins) == 10
    for w in wins:
        got = log_and_standardize(w, CFG)
        assert got.shape == w.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, formula(w), rtol=1e-4, atol=1e-4)


def test_kaggle_panels_are_the_cropped_padded_regions(real_dir):
    for w in real_windows(real_dir)[::3]:
        panels = kaggle_panels(w, CFG)
        assert panels.shape == (4, schema.PANEL_H, schema.PANEL_W)
        assert panels.dtype == np.float32 and np.isfinite(panels).all()
        ref = formula(w)
        for r, region in enumerate(schema.REGIONS):
            cols = [schema.SPEC_COLUMNS.index(f"{region}_{f:g}") for f in schema.SPEC_FREQS_HZ]
            # frequency rises from row 14 (0.59 Hz) to row 113; time rows 22..277
            np.testing.assert_allclose(panels[r, 14:114], ref[22:278, cols].T, atol=1e-4)
            assert not panels[r, :14].any() and not panels[r, 114:].any()


def test_nan_runs_become_zero_and_the_rest_follows_nan_statistics(real_dir):
    w = real_windows(real_dir)[0].copy()
    w[40:70, :] = np.nan  # a run of rows in every region
    w[:, 123] = np.nan  # one frequency of RL throughout
    w[200:205, 300:350] = np.nan
    got = log_and_standardize(w, CFG)
    nan = np.isnan(w)
    assert np.isfinite(got).all()
    assert not got[nan].any()
    np.testing.assert_allclose(got[~nan], formula(w)[~nan], rtol=1e-4, atol=1e-4)
    # the statistics come from the non-NaN values only
    assert abs(got[~nan].mean()) < 1e-3 and abs(got[~nan].std() - 1) < 1e-3
    assert np.isfinite(kaggle_panels(w, CFG)).all()


def test_all_nan_window_gives_zeros():
    w = np.full((300, 400), np.nan, dtype=np.float32)
    assert not kaggle_panels(w, CFG).any()


def test_clip_bounds_follow_the_config():
    x = np.array([[1e-9, 1.0, 1e9]], dtype=np.float32)
    got = log_and_standardize(x, KaggleSpecConfig(clip_low=-1.0, clip_high=1.0))
    logs = np.array([-1.0, 0.0, 1.0])
    np.testing.assert_allclose(got[0], (logs - logs.mean()) / (logs.std() + 1e-6), atol=1e-5)


def test_wrong_window_shape_is_refused():
    with pytest.raises(ValueError, match="300, 400"):
        kaggle_panels(np.zeros((256, 400), dtype=np.float32), CFG)


# ---- issue 20: the central crop and the dB scale (the 4th place's Kaggle input)
def test_crop_keeps_the_central_seconds_stretched_over_the_columns():
    """Each window row holds its own index: the 200-s crop's columns run from row 100 (first
    column) to row 199 (last), rising, and no other row shows."""
    ramp = np.repeat(np.exp(np.arange(300) / 100.0)[:, None], 400, axis=1).astype(np.float32)
    assert crop_rows(200.0) == slice(100, 200) and crop_rows(600.0) == slice(0, 300)
    cfg = KaggleSpecConfig(clip_high=10.0, crop_s=200.0)
    panels = kaggle_panels(ramp, cfg)
    img = log_and_standardize(ramp, cfg)[:, 0]  # one value per window row
    assert panels.shape == (4, schema.PANEL_H, schema.PANEL_W)
    for r in range(4):
        band = panels[r, 14:114]
        np.testing.assert_array_equal(band, np.broadcast_to(band[0], band.shape))
        t = band[0]
        assert t[0] == pytest.approx(img[100], abs=1e-6)
        assert t[-1] == pytest.approx(img[199], abs=1e-6)
        assert (np.diff(t) >= -1e-7).all() and np.diff(t).max() > 0
    # the default keeps rows 22..277, one a column
    np.testing.assert_allclose(kaggle_panels(ramp, KaggleSpecConfig(clip_high=10.0))[0, 14],
                               img[22:278], atol=1e-6)  # fmt: skip
    with pytest.raises(ValueError, match="crop_s"):
        crop_rows(700.0)


def test_db_max_scale_of_real_windows(real_dir):
    for w in real_windows(real_dir)[::4]:
        got = db_max(w)
        assert got.shape == w.shape and got.dtype == np.float32
        ref = 10 * np.log10(np.maximum(np.where(np.isnan(w), np.nanmean(w), w), 1e-10))
        ref = (np.maximum(ref - ref.max(), -80.0) + 40.0) / 40.0
        np.testing.assert_allclose(got, ref, atol=1e-5)
        panels = kaggle_panels(w, KaggleSpecConfig(scale="db_max", crop_s=200.0))
        assert np.isfinite(panels).all() and -1.0 <= panels.min() and panels.max() <= 1.0
    assert not db_max(np.full((300, 400), np.nan, np.float32)).any()
