"""Waveform batch augmentation: each transform alone, seeding, and what it leaves alone."""

from __future__ import annotations

import pytest
import torch

from hms_kit.config import RawEegConfig, WaveAugmentConfig
from hms_kit.inputs.raw_eeg import chain_channels, mirror_permutation
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


def test_chain_permutation_moves_whole_chains_and_leaves_the_midline():
    raw = RawEegConfig(window_s=40, margin_s=5, rate_hz=40, central=True)
    aug = WaveAugment(WaveAugmentConfig(**{**OFF, "p_chain_perm": 1.0}), raw)
    g = torch.Generator().manual_seed(0)
    x = {"raw_eeg": torch.randn(8, 18, 100, generator=g)}
    out = aug(x, torch.full((8, 6), 1 / 6), torch.Generator().manual_seed(3))[0]["raw_eeg"]
    chains = chain_channels(True)
    moved = 0
    for i in range(8):
        # each output chain is one input chain, its 4 pairs in their order
        src = [next(k for k in range(4) if torch.equal(out[i, chains[j]], x["raw_eeg"][i, chains[k]]))
               for j in range(4)]  # fmt: skip
        assert sorted(src) == [0, 1, 2, 3]
        moved += src != [0, 1, 2, 3]
        torch.testing.assert_close(out[i, 16:], x["raw_eeg"][i, 16:])  # Fz-Cz, Cz-Pz stay
    assert moved >= 6  # 23 of 24 orders move something


def _power(x: torch.Tensor, hz: float, rate: int = 40) -> torch.Tensor:
    """``(...,)`` power of the DFT bin at ``hz``."""
    spec = torch.fft.rfft(x, dim=-1).abs() ** 2
    return spec[..., int(round(hz * x.shape[-1] / rate))]


def test_random_bandpass_removes_energy_outside_the_band_on_the_pairs_it_picks():
    """Two tones, 4 Hz inside the band [<=1, 8] Hz and 15 Hz outside: on the pairs filtered
    the 15 Hz tone loses > 99 % of its power, the 4 Hz one keeps most of it; at most
    ``bandpass_max_pairs`` pairs per row change, the others not at all."""
    cfg = {**OFF, "p_bandpass": 1.0, "bandpass_max_pairs": 3, "bandpass_low_max": 1.0,
           "bandpass_high_min": 8.0, "bandpass_high_max": 8.0}  # fmt: skip
    aug = WaveAugment(WaveAugmentConfig(**cfg), RAW)
    t = torch.arange(2000) / 40
    tone = torch.sin(2 * torch.pi * 4 * t) + torch.sin(2 * torch.pi * 15 * t)
    x = {"raw_eeg": tone.expand(4, 16, 2000).clone()}
    out = aug(x, torch.full((4, 6), 1 / 6), torch.Generator().manual_seed(0))[0]["raw_eeg"]
    changed = ~torch.isclose(out, x["raw_eeg"], atol=1e-4).all(-1)  # (B, P)
    assert ((changed.sum(1) >= 1) & (changed.sum(1) <= 3)).all()
    before, after = _power(x["raw_eeg"], 15), _power(out, 15)
    assert (after[changed] < 0.01 * before[changed]).all()
    assert (_power(out, 4)[changed] > 0.5 * _power(x["raw_eeg"], 4)[changed]).all()
    torch.testing.assert_close(out[~changed], x["raw_eeg"][~changed])


def test_cutmix_swaps_one_span_of_the_view_and_mixes_targets_by_its_share():
    """Row i is the constant i + 1, target one-hot i: each output row holds its own value
    outside one span of the centre view and its partner's inside, and its target is
    (1 - share) own + share partner, share = span / view; the margins never change."""
    b, view, first = 6, 1600, 200
    x = {"raw_eeg": torch.arange(1.0, b + 1)[:, None, None].expand(b, 16, 2000).clone()}
    y = torch.eye(6)[:b]
    aug = WaveAugment(WaveAugmentConfig(**{**OFF, "p_cutmix": 1.0, "cutmix_alpha": 1.0}), RAW)
    out, y2 = aug(x, y, torch.Generator().manual_seed(2))
    r = out["raw_eeg"]
    torch.testing.assert_close(y2.sum(1), torch.ones(b))
    for i in range(b):
        row = r[i, 0]
        assert torch.equal(r[i], row.expand(16, -1))  # every pair the same span
        other = row != i + 1
        assert not other[:first].any() and not other[first + view :].any()
        idx = other.nonzero().flatten()
        if len(idx):  # one contiguous span from one partner
            assert idx[-1] - idx[0] + 1 == len(idx)
            partner = int(row[idx[0]]) - 1
            assert (row[idx] == partner + 1).all()
            share = len(idx) / view
            torch.testing.assert_close(y2[i, i], torch.tensor(1 - share))
            torch.testing.assert_close(y2[i, partner], torch.tensor(share))
        else:  # its partner was itself, or a span of 0 samples
            assert torch.isclose(y2[i, i], torch.tensor(1.0)) or y2[i].max() < 1
    assert (r != x["raw_eeg"]).any()


def test_long_shifts_stay_within_the_stored_margins():
    """The 3rd place's +-16.7 s: with 17-s margins (context_s read from the recording) a
    shift never exceeds 16.7 s, and the 48-s view never sees a sample that wrapped round."""
    raw = RawEegConfig(window_s=48, margin_s=17, context_s=16.7, rate_hz=40)
    aug = WaveAugment(WaveAugmentConfig(**{**OFF, "shift_s": 16.7}), raw)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 16, 82 * 40, generator=g)
    out = aug({"raw_eeg": x}, torch.full((6, 6), 1 / 6), torch.Generator().manual_seed(5))
    b, lo, hi, seen = out[0]["raw_eeg"], 17 * 40, 65 * 40, []
    for i in range(6):
        s = next(s for s in range(-668, 669) if torch.equal(torch.roll(x[i], s, -1), b[i]))
        torch.testing.assert_close(b[i, :, lo:hi], x[i, :, lo - s : hi - s])
        seen.append(s)
    assert max(abs(s) for s in seen) > 200  # long shifts do happen (> 5 s)


def test_margins_past_the_window_need_context():
    from hms_kit.config import ConfigError, load_config

    long = ["inputs.raw_eeg.window_s=48", "inputs.raw_eeg.margin_s=17",
            "augment.wave.shift_s=16.7"]  # fmt: skip
    with pytest.raises(ConfigError, match="context_s"):
        load_config(None, long)
    cfg = load_config(None, [*long, "inputs.raw_eeg.context_s=16"])
    assert cfg.inputs.raw_eeg.context_s == 16


def test_switching_one_transform_on_leaves_the_others_draws_as_they_were():
    """Time reversal (every row) and channel dropout switched on beside a shift and mixup:
    the targets are mixed with the same weight and partners, and the waveforms are those
    of the run without reversal, reversed (dropout zeroes whole pairs, so it commutes with
    reversal). With one shared stream the reversal's draws moved every draw after it."""
    base = dict(shift_s=2.0, p_mixup=1.0, mixup_alpha=0.4)
    without = WaveAugment(WaveAugmentConfig(**{**OFF, **base, "p_channel_drop": 1.0}), RAW)
    with_reverse = WaveAugment(
        WaveAugmentConfig(**{**OFF, **base, "p_channel_drop": 1.0, "p_reverse": 1.0}), RAW
    )
    no_drop = WaveAugment(WaveAugmentConfig(**{**OFF, **base}), RAW)
    x, y = batch(b=8)
    for seed in range(5):
        a = without(x, y, torch.Generator().manual_seed(seed))
        b = with_reverse(x, y, torch.Generator().manual_seed(seed))
        c = no_drop(x, y, torch.Generator().manual_seed(seed))
        torch.testing.assert_close(b[0]["raw_eeg"], a[0]["raw_eeg"].flip(-1))
        torch.testing.assert_close(b[1], a[1])
        torch.testing.assert_close(c[1], a[1])  # dropout on or off: the same mixup
