"""EEG spectrogram panels: real windows, batching, NaN, chain averaging, frequency rows, GPU."""

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
    eeg_panels,
    eeg_panels_batch,
    fill_nan,
    frequency_matrix,
    frequency_rows_hz,
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
    np.testing.assert_allclose(batch[0].numpy(), out, atol=1e-4)


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
