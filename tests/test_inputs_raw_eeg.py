"""The raw_eeg input: pairs, band-pass and resampling, centre crop, clipping, the cache."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.signal

from hms_kit import schema
from hms_kit.config import InputConfig, RawEegConfig
from hms_kit.data import Competition
from hms_kit.data.readers import eeg_window, read_eeg
from hms_kit.inputs.cache import build_cache
from hms_kit.inputs.raw_eeg import mirror_permutation, raw_eeg, raw_eeg_shape, raw_pairs


@pytest.fixture(scope="module")
def real_window(real_dir) -> np.ndarray:
    train = pd.read_csv(real_dir / "train.csv")
    eeg = read_eeg(real_dir / "train_eegs" / "1628180742.parquet")
    return eeg_window(eeg, float(train["eeg_label_offset_seconds"].iloc[0]))


def test_real_window_shape_dtype_and_scipy_reference(real_window):
    cfg = RawEegConfig(window_s=40, margin_s=5, rate_hz=40, clip_uv=1e6)
    out = raw_eeg(real_window, cfg)
    assert out.shape == raw_eeg_shape(cfg) == (16, 2000) and out.dtype == np.float32
    assert np.isfinite(out).all()
    # pair 0 is Fp1 - F7; a reference: scipy's zero-phase filter, then polyphase resampling
    x = np.nan_to_num(
        real_window[:, schema.CHANNEL_INDEX["Fp1"]] - real_window[:, schema.CHANNEL_INDEX["F7"]]
    )
    sos = scipy.signal.butter(4, [0.5, 20.0], btype="band", fs=200, output="sos")
    ref = scipy.signal.resample_poly(scipy.signal.sosfiltfilt(sos, x - x.mean()), 1, 5)
    # away from the ends, where the circular filter and filtfilt's start-up differ
    a, b = out[0, 200:-200], ref[200:-200]
    assert np.corrcoef(a, b)[0, 1] > 0.98
    assert np.std(a) == pytest.approx(np.std(b), rel=0.1)


def test_a_sine_keeps_its_amplitude_and_the_pairs_follow_the_chains():
    t = np.arange(schema.EEG_WINDOW_SAMPLES) / schema.EEG_RATE_HZ
    w = np.zeros((schema.EEG_WINDOW_SAMPLES, len(schema.EEG_CHANNELS)), np.float32)
    w[:, schema.CHANNEL_INDEX["T4"]] = 100 * np.sin(2 * np.pi * 5 * t)  # in RL: F8-T4, T4-T6
    w[:, schema.CHANNEL_INDEX["T3"]] = np.nan  # an empty channel becomes 0, not NaN
    out = raw_eeg(w, RawEegConfig())
    amp = np.abs(out).max(axis=1)
    pairs = raw_pairs(False)
    hot = {i for i, (_, a, b) in enumerate(pairs) if "T4" in (a, b)}
    assert hot == {5, 6}  # RL's second and third pairs
    for i in range(16):
        assert amp[i] == pytest.approx(100, rel=0.03) if i in hot else amp[i] < 1e-3
    assert np.isfinite(out).all()


def test_clipping_centre_crop_and_central_pairs(real_window):
    cfg = RawEegConfig(clip_uv=20.0, central=True, window_s=20, margin_s=2, rate_hz=50,
                       band_high=25.0)  # fmt: skip
    out = raw_eeg(real_window * 100, cfg)
    assert out.shape == (18, 24 * 50)
    assert np.abs(out).max() <= 20.0 and (np.abs(out) == 20.0).any()
    assert [p[1:] for p in raw_pairs(True)[-2:]] == [("Fz", "Cz"), ("Cz", "Pz")]
    # the crop is the centre: a 1-sample blip at the window's middle lands in the middle
    w = np.zeros((schema.EEG_WINDOW_SAMPLES, 20), np.float32)
    w[5000, schema.CHANNEL_INDEX["Fp1"]] = 1000.0
    blip = raw_eeg(w, RawEegConfig(window_s=40, margin_s=5, clip_uv=1e6))
    assert abs(int(np.abs(blip[0]).argmax()) - 1000) <= 1


def test_mirror_swaps_left_and_right_pair_by_pair():
    perm = mirror_permutation(central=True)
    pairs = raw_pairs(True)
    for i, j in enumerate(perm):
        r, a, _ = pairs[i]
        if r == "C":
            assert j == i
        else:
            assert pairs[j][0] == schema.MIRROR_REGIONS[r] and j % 4 == i % 4
    assert sorted(perm) == list(range(18)) and (perm[perm] == np.arange(18)).all()


def test_the_cache_stores_raw_eeg_windows_of_the_real_file(real_dir, tmp_path):
    comp = Competition(real_dir)
    rows = comp.read_train().head(3)
    cfg = InputConfig()
    cache = build_cache(comp, rows, cfg, tmp_path, modalities=["raw_eeg"], workers=1,
                        progress=False)  # fmt: skip
    eeg = read_eeg(real_dir / "train_eegs" / "1628180742.parquet")
    for i in range(3):
        got = cache.value("raw_eeg", i)
        assert got.shape == (16, 2000) and got.dtype == np.float16
        want = raw_eeg(
            eeg_window(eeg, float(rows["eeg_label_offset_seconds"].iloc[i])), cfg.raw_eeg
        )
        np.testing.assert_allclose(got.astype(np.float32), want, atol=0.5, rtol=2e-3)
    # a changed setting is another entry; the same settings reuse it
    again = build_cache(comp, rows, cfg, tmp_path, modalities=["raw_eeg"], workers=1,
                        progress=False)  # fmt: skip
    assert again.entries["raw_eeg"].path == cache.entries["raw_eeg"].path
    cfg2 = InputConfig(raw_eeg=RawEegConfig(central=True))
    other = build_cache(comp, rows, cfg2, tmp_path, modalities=["raw_eeg"], workers=1,
                        progress=False)  # fmt: skip
    assert other.entries["raw_eeg"].path != cache.entries["raw_eeg"].path
    assert other.value("raw_eeg", 0).shape == (18, 2000)


def test_context_reads_the_recording_around_the_window_and_mirrors_past_its_ends(real_dir):
    from hms_kit.data.readers import DataError, eeg_window_context

    eeg = read_eeg(real_dir / "train_eegs" / "1628180742.parquet")  # 90 s
    pad = 3340  # 16.7 s at 200 Hz
    inside = eeg_window_context(eeg, 18.0, 16.7)
    assert inside.shape == (10000 + 2 * pad, 20)
    np.testing.assert_array_equal(inside, eeg[3600 - pad : 3600 + 10000 + pad])
    start = eeg_window_context(eeg, 0.0, 16.7)  # nothing before the recording: mirrored
    np.testing.assert_array_equal(start[pad:], eeg[: 10000 + pad])
    np.testing.assert_array_equal(start[:pad], eeg[1 : pad + 1][::-1])
    with pytest.raises(DataError, match="1628180742"):
        eeg_window_context(eeg, 45.0, 5.0, real_dir / "train_eegs" / "1628180742.parquet")


def test_the_cache_stores_long_margins_from_the_recording_with_context(real_dir, tmp_path):
    """48 s seen, 17 s margins (the 3rd place's +-16.7 s shifts), 16.7 s of context: the
    stored margins are the recording beyond the 50-s window, the same signal a window at
    another offset of the file stores (away from both filters' ends)."""
    comp = Competition(real_dir)
    rows = comp.read_train()
    rows = rows[rows["eeg_label_offset_seconds"].isin([6.0, 18.0])].head(2)
    assert rows["eeg_label_offset_seconds"].tolist() == [6.0, 18.0]
    long = InputConfig(raw_eeg=RawEegConfig(window_s=48, margin_s=17, context_s=16.7))
    plain = InputConfig(raw_eeg=RawEegConfig(window_s=48, margin_s=1))
    c_long = build_cache(comp, rows, long, tmp_path, modalities=["raw_eeg"], workers=1,
                         progress=False)  # fmt: skip
    c_plain = build_cache(comp, rows, plain, tmp_path, modalities=["raw_eeg"], workers=1,
                          progress=False)  # fmt: skip
    a = c_long.value("raw_eeg", 1).astype(np.float32)  # offset 18: seconds 2..84 at 40 Hz
    b = c_plain.value("raw_eeg", 0).astype(np.float32)  # offset 6: seconds 6..56
    assert a.shape == (16, 82 * 40) and b.shape == (16, 50 * 40)
    # seconds 16..46 of the recording in both (a: from 2 s, b: from 6 s)
    sa, sb = a[:, (16 - 2) * 40 : (46 - 2) * 40], b[:, (16 - 6) * 40 : (46 - 6) * 40]
    # seconds 16..18 lie in a's stored margin, before its 50-s window (18..68 s)
    assert np.corrcoef(sa.ravel(), sb.ravel())[0, 1] > 0.999
    np.testing.assert_allclose(sa, sb, atol=2.0)
    assert c_long.entries["raw_eeg"].path != c_plain.entries["raw_eeg"].path
