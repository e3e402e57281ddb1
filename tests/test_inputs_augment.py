"""Training augmentation of the stacked panels: swaps, flips, masks, seeding."""

from __future__ import annotations

import random

import numpy as np
import pytest

from hms_kit import schema
from hms_kit.config import AugmentConfig
from hms_kit.inputs.augment import COMPOSE_SEEDS, build_augment

OFF = AugmentConfig(p_time_flip=0.0, p_time_mask=0.0, p_freq_mask=0.0, p_hemisphere_swap=0.0)
H, W = schema.PANEL_H, schema.PANEL_W


def only(**kw) -> AugmentConfig:
    return AugmentConfig(**{**OFF.__dict__, **kw})


def stack(k: int, seed: int = 0) -> np.ndarray:
    """(4k, 128, 256) panels with no zero anywhere, so a mask is visible."""
    return (np.random.default_rng(seed).random((4 * k, H, W)) + 1).astype(np.float32)


def test_all_probabilities_zero_gives_none():
    assert build_augment(OFF, 2) is None


@pytest.mark.parametrize("k", [1, 2, 3])
def test_hemisphere_swap_swaps_left_and_right_of_every_modality(k):
    aug = build_augment(only(p_hemisphere_swap=1.0), k)
    x = stack(k)
    out = aug(x)
    idx = {r: i for i, r in enumerate(schema.REGIONS)}
    for m in range(k):
        for a, b in (("LL", "RL"), ("RL", "LL"), ("LP", "RP"), ("RP", "LP")):
            np.testing.assert_array_equal(out[4 * m + idx[a]], x[4 * m + idx[b]])
    assert out.shape == x.shape and out.dtype == np.float32


def test_time_flip_reverses_time():
    x = stack(2)
    out = build_augment(only(p_time_flip=1.0), 2)(x)
    np.testing.assert_array_equal(out, x[:, :, ::-1])


def test_time_mask_zeroes_whole_columns():
    x = stack(2)
    cfg = only(p_time_mask=1.0, max_time_mask=20)
    out = build_augment(cfg, 2)(x)
    zero_cols = np.flatnonzero((out == 0).all(axis=(0, 1)))
    assert 1 <= len(zero_cols) <= 2 * cfg.max_time_mask
    kept = np.setdiff1d(np.arange(W), zero_cols)
    np.testing.assert_array_equal(out[:, :, kept], x[:, :, kept])
    assert (out == 0).sum() == len(zero_cols) * out.shape[0] * H


def test_freq_mask_zeroes_whole_rows():
    x = stack(1)
    cfg = only(p_freq_mask=1.0, max_freq_mask=8)
    out = build_augment(cfg, 1)(x)
    zero_rows = np.flatnonzero((out == 0).all(axis=(0, 2)))
    assert 1 <= len(zero_rows) <= 2 * cfg.max_freq_mask
    assert (out == 0).sum() == len(zero_rows) * out.shape[0] * W


def test_seeded_augmentation_is_reproducible():
    cfg = AugmentConfig(p_time_flip=0.5, p_time_mask=0.5, p_freq_mask=0.5, p_hemisphere_swap=0.5)
    xs = [stack(2, s) for s in range(6)]
    a = [build_augment(cfg, 2, seed=3)(x) for x in xs[:1]]
    aug1, aug2 = build_augment(cfg, 2, seed=3), build_augment(cfg, 2, seed=3)
    run1 = [aug1(x) for x in xs]
    run2 = [aug2(x) for x in xs]
    for p, q in zip(run1, run2):
        np.testing.assert_array_equal(p, q)
    np.testing.assert_array_equal(a[0], run1[0])
    # a per-call generator (what the dataset passes) decides the result on its own
    aug = build_augment(cfg, 2, seed=99)
    r1 = [aug(x, np.random.default_rng((7, i))) for i, x in enumerate(xs)]
    r2 = [aug2(x, np.random.default_rng((7, i))) for i, x in enumerate(xs)]
    for p, q in zip(r1, r2):
        np.testing.assert_array_equal(p, q)
    assert any(not np.array_equal(p, x) for p, x in zip(r1, xs))
    # and another caller's seed gives other draws
    r3 = [aug(x, np.random.default_rng((8, i))) for i, x in enumerate(xs)]
    assert any(not np.array_equal(p, q) for p, q in zip(r1, r3))


def test_augmenting_leaves_the_global_random_streams_alone():
    """albumentations 1.4.x draws from the global ``random`` and ``np.random``: the augmenter
    seeds them for its call and restores them, so the caller's sequence does not move."""
    cfg = AugmentConfig(p_time_flip=0.5, p_time_mask=0.5, p_freq_mask=0.5, p_hemisphere_swap=0.5)
    aug = build_augment(cfg, 2, seed=1)
    random.seed(5)
    np.random.seed(5)
    expected = (random.random(), np.random.random())
    random.seed(5)
    np.random.seed(5)
    aug(stack(2))
    aug(stack(2), np.random.default_rng(0))
    assert (random.random(), np.random.random()) == expected


def test_shape_dtype_kept_and_input_untouched():
    cfg = AugmentConfig(p_time_flip=1.0, p_time_mask=1.0, p_freq_mask=1.0, p_hemisphere_swap=1.0)
    x = stack(3)
    before = x.copy()
    out = build_augment(cfg, 3)(x)
    assert out.shape == x.shape and out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(x, before)


def test_time_flip_reverses_each_per_pair_cell_in_place():
    """Issue 20: eeg's per-pair panels hold 2 cells side by side in time; a time flip reverses
    each cell and leaves the cells (pairs) where they are; the other modality flips whole."""
    x = stack(2)
    out = build_augment(only(p_time_flip=1.0), 2, time_cells=[1, 2])(x)
    np.testing.assert_array_equal(out[:4], x[:4, :, ::-1])
    half = schema.PANEL_W // 2
    np.testing.assert_array_equal(out[4:, :, :half], x[4:, :, half - 1 :: -1])
    np.testing.assert_array_equal(out[4:, :, half:], x[4:, :, : half - 1 : -1])
    with pytest.raises(ValueError, match="one count per modality"):
        build_augment(only(p_time_flip=1.0), 2, time_cells=[2])


def test_each_transform_fires_on_its_own_draw():
    """A time mask and a frequency mask at 0.5 each: all four outcomes about a quarter of
    the time, whether the augmenter is seeded per call (the dataset) or by its own stream.
    albumentations 2.x's Compose.set_random_seed gives every transform one seed, and they
    fired together or not at all (never one without the other)."""
    cfg = only(p_time_mask=0.5, p_freq_mask=0.5)
    x = stack(1)
    for aug, rngs in [
        (build_augment(cfg, 1, seed=4), [np.random.default_rng((5, i)) for i in range(400)]),
        (build_augment(cfg, 1, seed=4), [None] * 400),
    ]:
        seen = {}
        for rng in rngs:
            out = aug(x, rng)
            zero = out == 0
            key = (bool(zero.all(axis=(0, 1)).any()), bool(zero.all(axis=(0, 2)).any()))
            seen[key] = seen.get(key, 0) + 1
        shares = {k: n / 400 for k, n in seen.items()}
        assert set(shares) == {(a, b) for a in (False, True) for b in (False, True)}, shares
        assert all(0.15 < v < 0.35 for v in shares.values()), shares


@pytest.mark.skipif(not COMPOSE_SEEDS, reason="albumentations 1.4.x seeds the call as a whole")
def test_switching_one_transform_on_leaves_the_others_draws_as_they_were():
    """A time flip at probability 1 before a frequency mask: the masks are the ones drawn
    without the flip, mirrored in time (a frequency mask spans every column, so it commutes
    with the flip). Seeded in order, the flip took the mask's seed and moved every mask."""
    x = stack(1)
    mask = build_augment(only(p_freq_mask=1.0), 1)
    both = build_augment(only(p_time_flip=1.0, p_freq_mask=1.0), 1)
    for i in range(20):
        alone = mask(x, np.random.default_rng((9, i)))
        flipped = both(x, np.random.default_rng((9, i)))
        np.testing.assert_array_equal(flipped, alone[:, :, ::-1])
