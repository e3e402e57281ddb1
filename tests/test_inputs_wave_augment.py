"""Waveform batch augmentation: each transform alone, seeding, and what it leaves alone."""

from __future__ import annotations

import torch

from hms_kit.config import RawEegConfig, WaveAugmentConfig
from hms_kit.inputs.raw_eeg import mirror_permutation
from hms_kit.inputs.wave_augment import WaveAugment, build_wave_augment

OFF = dict(p_reverse=0.0, p_swap=0.0, shift_s=0.0, p_channel_drop=0.0, p_mixup=0.0)
RAW = RawEegConfig(window_s=40, margin_s=5, rate_hz=40)


def batch(b: int = 4, seed: int = 0) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 16, 2000, generator=g)
    panels = torch.randn(b, 4, 8, 8, generator=g)
    y = torch.softmax(torch.randn(b, 6, generator=g), 1)
    return {"raw_eeg": x, "kaggle": panels}, y


def run(**kw):
    aug = WaveAugment(WaveAugmentConfig(**{**OFF, **kw}), RAW)
    x, y = batch()
    out, y2 = aug(x, y, torch.Generator().manual_seed(1))
    return x, y, out, y2


def test_everything_off_is_no_augmenter():
    assert build_wave_augment(WaveAugmentConfig(**OFF), RAW) is None


def test_reversal_and_swap_at_probability_one():
    x, y, out, y2 = run(p_reverse=1.0)
    torch.testing.assert_close(out["raw_eeg"], x["raw_eeg"].flip(-1))
    x, y, out, _ = run(p_swap=1.0)
    torch.testing.assert_close(out["raw_eeg"], x["raw_eeg"][:, mirror_permutation(False)])
    # panel inputs and targets are not waveforms: untouched
    assert out["kaggle"] is x["kaggle"] and torch.equal(y2, y)


def test_shift_moves_each_row_within_the_margin_and_keeps_the_centre_real():
    x, _, out, _ = run(shift_s=5.0)
    a, b = x["raw_eeg"], out["raw_eeg"]
    for i in range(len(a)):
        shifts = [s for s in range(-200, 201) if torch.equal(torch.roll(a[i], s, -1), b[i])]
        assert len(shifts) == 1 and abs(shifts[0]) <= 200
    # the model's centre 40 s (samples 200..1800) only ever sees stored samples, no wrap
    for i in range(len(a)):
        s = next(s for s in range(-200, 201) if torch.equal(torch.roll(a[i], s, -1), b[i]))
        torch.testing.assert_close(b[i, :, 200:1800], a[i, :, 200 - s : 1800 - s])


def test_channel_dropout_zeroes_whole_pairs():
    x, _, out, _ = run(p_channel_drop=1.0, max_drop_channels=3)
    zero = (out["raw_eeg"] == 0).all(dim=-1)  # (B, P)
    assert ((zero.sum(1) >= 1) & (zero.sum(1) <= 3)).all()
    kept = ~zero
    torch.testing.assert_close(out["raw_eeg"][kept], x["raw_eeg"][kept])


def test_mixup_mixes_inputs_and_targets_alike():
    """Row i is the constant i + 1 with target one-hot i: after mixup each row's value must be
    its mixed target's weights applied to those constants (the same lam and partner)."""
    b = 4
    x = {"raw_eeg": torch.arange(1.0, b + 1)[:, None, None].expand(b, 16, 2000).clone()}
    y = torch.zeros(b, 6)
    y[torch.arange(b), torch.arange(b)] = 1.0
    aug = WaveAugment(WaveAugmentConfig(**{**OFF, "p_mixup": 1.0, "mixup_alpha": 0.4}), RAW)
    out, y2 = aug(x, y, torch.Generator().manual_seed(1))
    torch.testing.assert_close(y2.sum(1), torch.ones(b))
    assert not torch.allclose(y2, y)
    expect = (y2[:, :b] * torch.arange(1.0, b + 1)).sum(1)
    torch.testing.assert_close(out["raw_eeg"][:, 0, 0], expect)
    assert torch.allclose(out["raw_eeg"], out["raw_eeg"][:, :1, :1].expand_as(out["raw_eeg"]))


def test_the_same_generator_seed_gives_the_same_batch():
    cfg = WaveAugmentConfig(p_reverse=0.5, p_swap=0.5, shift_s=2.0, p_channel_drop=0.5,
                            p_mixup=0.5)  # fmt: skip
    aug = WaveAugment(cfg, RAW)
    x, y = batch()
    a = aug(x, y, torch.Generator().manual_seed(7))
    b = aug(x, y, torch.Generator().manual_seed(7))
    c = aug(x, y, torch.Generator().manual_seed(8))
    torch.testing.assert_close(a[0]["raw_eeg"], b[0]["raw_eeg"])
    torch.testing.assert_close(a[1], b[1])
    assert not torch.equal(a[0]["raw_eeg"], c[0]["raw_eeg"])
