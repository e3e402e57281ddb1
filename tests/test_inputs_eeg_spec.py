"""EEG spectrogram panels: real windows, batching, NaN, chain averaging, frequency rows, GPU,
per-pair panels and the dB scale."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from hms_kit import schema
from hms_kit.config import EegSpecConfig
from hms_kit.data.readers import eeg_window, read_eeg
from hms_kit.inputs.eeg_spec import (
    chain_power_batch,
    db_relative_to_max,
    eeg_panels,
    eeg_panels_batch,
    fill_nan,
    frequency_matrix,
    frequency_rows_hz,
    pair_grid,
    pair_power_batch,
)

CFG = EegSpecConfig()
SHAPE = (len(schema.REGIONS), schema.PANEL_H, schema.PANEL_W)
T = np.arange(schema.EEG_WINDOW_SAMPLES) / schema.EEG_RATE_HZ


@pytest.fixture(scope="module")
def windows(real_dir) -> list[np.ndarray]:
    """The train EEG at the 9 label offsets of train.csv, and the test EEG."""
    train = pd.read_csv(real_dir / "train.csv")
    eeg = read_eeg(real_dir / "train_eegs" / "1628180742.parquet")
    wins = [eeg_window(eeg, o) for o in train.eeg_label_offset_seconds]
    test = read_eeg(real_dir / "test_eegs" / "3911565283.parquet")
    return [*wins, eeg_window(test, 0)]


def sine_in(channels: list[str], hz: float, amp: float = 50.0, noise: float = 1.0) -> np.ndarray:
    """A (10000, 20) window of small noise with a sine added to the named electrodes."""
    rng = np.random.default_rng(0)
    x = noise * rng.standard_normal((schema.EEG_WINDOW_SAMPLES, len(schema.EEG_CHANNELS)))
    for ch in channels:
        x[:, schema.CHANNEL_INDEX[ch]] += amp * np.sin(2 * np.pi * hz * T)
    return x.astype(np.float32)


def test_real_windows_shape_dtype_finite_deterministic(windows):
    assert len(windows) == 10
    for w in windows:
        a = eeg_panels(w, CFG)
        assert a.shape == SHAPE and a.dtype == np.float32 and np.isfinite(a).all()
        np.testing.assert_array_equal(a, eeg_panels(w, CFG))
        assert abs(a.mean()) < 1e-3 and abs(a.std() - 1) < 1e-3  # standardised per window


@pytest.mark.parametrize("kind", ["mel", "stft"])
def test_batch_equals_single(windows, kind):
    cfg = dataclasses.replace(CFG, kind=kind)
    batch = eeg_panels_batch(torch.from_numpy(np.stack(windows[:3])), cfg).numpy()
    assert batch.shape == (3, *SHAPE) and batch.dtype == np.float32
    for i in range(3):
        np.testing.assert_allclose(batch[i], eeg_panels(windows[i], cfg), atol=1e-4)


def test_chain_power_is_the_mean_of_pair_stft_power(windows):
    """Independent reference: torch.stft of each named pair, rows, mean over the chain."""
    cfg = dataclasses.replace(CFG, bandpass=False, clip_uv=1e9)
    w = windows[0]
    fm = torch.from_numpy(frequency_matrix("mel", cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax))
    ref = []
    for chain in schema.CHAINS.values():
        pair_power = []
        for a, b in zip(chain[:-1], chain[1:]):
            sig = torch.from_numpy(
                w[:, schema.CHANNEL_INDEX[a]].astype(np.float64)
                - w[:, schema.CHANNEL_INDEX[b]].astype(np.float64)
            )
            spec = torch.stft(
                sig,
                n_fft=cfg.n_fft,
                hop_length=39,
                win_length=cfg.win_length,
                window=torch.hann_window(cfg.win_length, dtype=torch.float64),
                center=True,
                return_complex=True,
            )
            pair_power.append(fm @ spec.abs().square())
        ref.append(torch.stack(pair_power).mean(dim=0)[:, :256])
    ref = torch.stack(ref).numpy()
    got = chain_power_batch(torch.from_numpy(w)[None], cfg)[0].numpy()
    assert got.shape == ref.shape == SHAPE
    np.testing.assert_allclose(got, ref, rtol=2e-3, atol=1e-3 * ref.max())


def test_nan_channel_and_nan_runs_give_finite_output(windows):
    w = windows[1].copy()
    w[:, schema.CHANNEL_INDEX["F7"]] = np.nan  # a dead electrode
    w[3000:3400, :] = np.nan  # a gap in every channel
    w[9990:, :] = np.nan  # and one at the very end
    out = eeg_panels(w, CFG)
    assert out.shape == SHAPE and np.isfinite(out).all()
    batch = eeg_panels_batch(torch.from_numpy(np.stack([w, windows[2]])), CFG)
    assert torch.isfinite(batch).all()
    # relative: the filled gap's near-zero power, in log, magnifies float32 rounding, which
    # differs between CPUs' FFT kernels (8.7e-4 relative at most on an Intel Xeon, 1.1 % of
    # the values past an absolute 1e-4); a batching bug moves values by O(1)
    np.testing.assert_allclose(batch[0].numpy(), out, rtol=2e-3, atol=1e-4)


def test_fill_nan_uses_channel_mean_and_zero_for_empty_channels():
    x = np.array([[1.0, np.nan, 5.0], [np.nan, np.nan, 7.0], [3.0, np.nan, np.nan]], np.float32)
    got = fill_nan(x)
    np.testing.assert_array_equal(got, [[1, 0, 5], [2, 0, 7], [3, 0, 6]])
    assert np.isnan(x).sum() == 5  # the input is left as it was
    t = torch.from_numpy(np.stack([x, x]))
    np.testing.assert_array_equal(fill_nan(t).numpy(), np.stack([got, got]))


def test_sine_in_one_left_chain_shows_in_ll_only():
    # F7 sits only in LL's Fp1-F7 and F7-T3 pairs
    out = eeg_panels(sine_in(["F7"], 10.0), CFG)
    row = int(np.abs(frequency_rows_hz(CFG) - 10.0).argmin())
    level = out[:, row - 2 : row + 3].mean(axis=(1, 2))
    ll, rl, lp, rp = (level[schema.REGIONS.index(r)] for r in ("LL", "RL", "LP", "RP"))
    assert ll > rp + 2 and ll > rl + 2 and ll > lp + 2
    assert abs(rp - rl) < 0.5 and abs(rp - lp) < 0.5


def test_chain_average_weights_each_pair_by_a_quarter():
    cfg = dataclasses.replace(CFG, bandpass=False)
    row = int(np.abs(frequency_rows_hz(cfg) - 10.0).argmin())
    # Fp1 enters one LL pair (Fp1-F7) and one LP pair (Fp1-F3); F7 enters two LL pairs
    one = chain_power_batch(torch.from_numpy(sine_in(["Fp1"], 10.0, noise=0.0))[None], cfg)[0]
    two = chain_power_batch(torch.from_numpy(sine_in(["F7"], 10.0, noise=0.0))[None], cfg)[0]
    ll, lp, rp = (schema.REGIONS.index(r) for r in ("LL", "LP", "RP"))
    peak_one = one[ll, row, 10:-10].mean()
    assert peak_one > 100
    assert torch.isclose(one[lp, row, 10:-10].mean(), peak_one, rtol=1e-4)
    assert torch.isclose(two[ll, row, 10:-10].mean(), 2 * peak_one, rtol=1e-4)
    assert one[rp].max() < 1e-6 * peak_one


@pytest.mark.parametrize("kind", ["mel", "stft"])
@pytest.mark.parametrize("hz", [3.0, 10.0, 16.0])
def test_sine_peaks_at_its_frequency_row(kind, hz):
    cfg = dataclasses.replace(CFG, kind=kind)
    out = eeg_panels(sine_in(["F7"], hz), cfg)
    profile = out[schema.REGIONS.index("LL")].mean(axis=1)
    expected = int(np.abs(frequency_rows_hz(cfg) - hz).argmin())
    assert abs(int(profile.argmax()) - expected) <= 1


def test_frequency_rows_rise_from_fmin_to_fmax():
    for kind in ("mel", "stft"):
        f = frequency_rows_hz(dataclasses.replace(CFG, kind=kind))
        assert f.shape == (schema.PANEL_H,) and np.all(np.diff(f) > 0)
        assert CFG.fmin <= f[0] < 1.0 and 19.0 < f[-1] <= CFG.fmax


def test_other_hop_and_row_counts_are_resized():
    cfg = dataclasses.replace(CFG, hop=100, n_mels=64)
    out = eeg_panels(sine_in(["F7"], 10.0), cfg)
    assert out.shape == SHAPE and np.isfinite(out).all()


def test_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="10000, 20"):
        eeg_panels(np.zeros((5000, 20), np.float32), CFG)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_matches_cpu(windows):
    x = torch.from_numpy(np.stack(windows[:4]))
    x[0, 100:900, 3] = float("nan")
    for kind in ("mel", "stft"):
        cfg = dataclasses.replace(CFG, kind=kind)
        cpu = eeg_panels_batch(x, cfg)
        gpu = eeg_panels_batch(x.cuda(), cfg)
        assert gpu.device.type == "cuda"
        np.testing.assert_allclose(gpu.cpu().numpy(), cpu.numpy(), atol=2e-3)


# ---- per-pair panels (issue 20: the 4th place's canvas of every pair)
PER_PAIR = dataclasses.replace(
    CFG, per_pair=True, n_fft=1024, win_length=1024, hop=64, bandpass=False, clip_uv=1e6,
    scale="db_max",
)  # fmt: skip


def test_pair_power_keeps_each_pair_and_its_chain_mean_is_the_chain_power(windows):
    x = torch.from_numpy(np.stack(windows[:2]))
    pairs = pair_power_batch(x, PER_PAIR)
    chains = chain_power_batch(x, PER_PAIR)
    assert pairs.shape == (2, 16, 128, 157)  # hop 64: 1 + 10000 // 64 frames
    np.testing.assert_allclose(
        pairs.reshape(2, 4, 4, 128, 157).mean(dim=2).numpy(), chains.numpy(), rtol=1e-4,
        atol=1e-6 * float(chains.max()),
    )  # fmt: skip
    # a pair is not its chain's mean: the chain average hid how the pairs differ
    for p in range(16):
        assert not np.allclose(pairs[0, p].numpy(), chains[0, p // 4].numpy(), rtol=0.1)


def test_per_pair_panels_place_each_pair_in_its_cell_of_the_chain_grid():
    """A sine on F7 enters LL's Fp1-F7 (pair 0) and F7-T3 (pair 1) only: their cells (grid row
    0) show it, the cells of T3-T5 and T5-O1 (grid row 1) and the other chains do not."""
    out = eeg_panels(sine_in(["F7"], 10.0), PER_PAIR)
    assert out.shape == SHAPE and out.dtype == np.float32
    assert -1.0 <= out.min() and out.max() <= 1.0
    freqs = frequency_rows_hz(PER_PAIR)  # 128 mel rows, resized to each cell's 64
    row = int(np.abs(freqs - 10.0).argmin()) // 2
    cell = {  # (chain, pair) -> that cell's level at 10 Hz
        (c, k): out[c, 64 * (k // 2) + row - 1 : 64 * (k // 2) + row + 2,
                    128 * (k % 2) : 128 * (k % 2 + 1)].mean()
        for c in range(4) for k in range(4)
    }  # fmt: skip
    ll = schema.REGIONS.index("LL")
    quiet = [v for (c, k), v in cell.items() if (c, k) not in ((ll, 0), (ll, 1))]
    assert min(cell[ll, 0], cell[ll, 1]) > max(quiet) + 0.3  # 0.3: 12 dB on the [-1, 1] scale


def test_per_pair_panels_on_real_eeg_are_the_grid_of_the_pairs(windows):
    w = windows[3]
    out = eeg_panels(w, PER_PAIR)
    assert out.shape == SHAPE and np.isfinite(out).all()
    db = db_relative_to_max(pair_power_batch(torch.from_numpy(w)[None], PER_PAIR), 80.0)
    assert float(db.max()) == 1.0 and float(db.min()) >= -1.0
    cells = torch.nn.functional.interpolate(db, size=(64, 128), mode="bilinear")[0].numpy()
    for p in range(16):
        c, k = divmod(p, 4)
        got = out[c, 64 * (k // 2) : 64 * (k // 2 + 1), 128 * (k % 2) : 128 * (k % 2 + 1)]
        np.testing.assert_allclose(got, cells[p], atol=1e-6)
    # the chain-averaged panels at the same settings are another image
    mean = eeg_panels(w, dataclasses.replace(PER_PAIR, per_pair=False))
    assert mean.shape == SHAPE and not np.allclose(mean, out, atol=0.05)


def test_db_max_maps_the_window_maximum_to_one_and_floors_top_db_below():
    power = torch.tensor([[[1.0, 10.0, 1e-3, 1e-12]], [[4.0, 4.0, 0.4, 4e-8]]])
    got = db_relative_to_max(power, top_db=40.0)
    # dB below the max: 0, 10 -> 20 (floored), 40 -> 40, far below -> 40
    np.testing.assert_allclose(
        got.numpy(), [[[0.5, 1.0, -1.0, -1.0]], [[1.0, 1.0, 0.5, -1.0]]], atol=1e-6
    )
    with pytest.raises(ValueError, match="16 pairs"):
        pair_grid(torch.zeros(1, 4, 64, 128))


def test_bipolar_pairs_are_the_double_banana_in_region_order(windows):
    """schema.BIPOLAR_PAIRS, the one list the spectrogram panels, the synthetic Kaggle
    spectrogram and the baseline's features index the EEG with: four consecutive electrodes
    of each chain in REGIONS order, PAIR_A - PAIR_B being the pair's signal."""
    from hms_kit import baseline
    from hms_kit.data.synth import spectrogram as synth_spec
    from hms_kit.inputs import eeg_spec

    pairs = schema.BIPOLAR_PAIRS
    assert [r for r, _, _ in pairs] == [r for r in schema.REGIONS for _ in range(4)]
    for k, (region, a, b) in enumerate(pairs):
        chain = schema.CHAINS[region]
        assert (a, b) == chain[k % 4 : k % 4 + 2]
        assert schema.EEG_CHANNELS[schema.PAIR_A[k]] == a
        assert schema.EEG_CHANNELS[schema.PAIR_B[k]] == b
    assert eeg_spec.PAIRS is pairs and schema.PAIRS_PER_CHAIN == 4
    # the columns every cache, synthetic file and model input was made with, pinned
    assert schema.PAIR_A == (0, 4, 5, 6, 11, 15, 16, 17, 0, 1, 2, 3, 11, 12, 13, 14)
    assert schema.PAIR_B == (4, 5, 6, 7, 15, 16, 17, 18, 1, 2, 3, 7, 12, 13, 14, 18)
    window = windows[0]
    _, signals = baseline._bipolar(window)
    fp1_f7 = np.nan_to_num(window[:, schema.CHANNEL_INDEX["Fp1"]].astype(np.float64))
    fp1_f7 -= np.nan_to_num(window[:, schema.CHANNEL_INDEX["F7"]].astype(np.float64))
    assert np.array_equal(signals[:, 0], fp1_f7)  # LL's first pair
    assert synth_spec._PAIR_A == eeg_spec.PAIR_A and synth_spec._PAIR_B == eeg_spec.PAIR_B
