"""Merging modalities: shapes of every subset, tile placement, the batched counterpart."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from hms_kit import schema
from hms_kit.inputs.merge import (
    flip_time,
    in_chans,
    input_shape,
    merge_batch,
    merge_panels,
    stack_to_layout,
)

H, W = schema.PANEL_H, schema.PANEL_W
SUBSETS = [list(c) for k in (1, 2, 3) for c in itertools.permutations(schema.MODALITIES, k)]


def fake_panels() -> dict[str, np.ndarray]:
    """Each modality's panels filled with a distinct code: 10 * modality + region."""
    out = {}
    for m, name in enumerate(schema.MODALITIES):
        codes = 10 * m + np.arange(len(schema.REGIONS), dtype=np.float32)
        p = np.broadcast_to(codes[:, None, None], (4, H, W)).copy()
        p[:, 0, 0] += 0.5  # mark each panel's top-left pixel to catch flips
        out[name] = p
    return out


@pytest.mark.parametrize("layout", ["tile", "stack"])
@pytest.mark.parametrize("mods", SUBSETS, ids=["+".join(s) for s in SUBSETS])
def test_shapes_of_every_subset(mods, layout):
    out = merge_panels(fake_panels(), mods, layout)
    k = len(mods)
    expected = (3, 4 * H, k * W) if layout == "tile" else (4 * k, H, W)
    assert out.shape == expected == input_shape(mods, layout)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    assert in_chans(layout, mods) == expected[0]


def test_kaggle_plus_eeg_tile_is_512_square():
    assert input_shape(["kaggle", "eeg"], "tile") == (3, 512, 512)
    assert input_shape(["kaggle", "eeg"], "stack") == (8, 128, 256)


def test_tile_places_panels_in_modality_columns():
    panels = fake_panels()
    mods = ["kaggle", "eeg", "wavelet"]
    out = merge_panels(panels, mods, "tile")
    np.testing.assert_array_equal(out[0, :H, :W], panels["kaggle"][0])  # kaggle LL top-left
    np.testing.assert_array_equal(out[1], out[0])
    np.testing.assert_array_equal(out[2], out[0])
    for c, m in enumerate(mods):
        for r in range(len(schema.REGIONS)):
            block = out[0, r * H : (r + 1) * H, c * W : (c + 1) * W]
            np.testing.assert_array_equal(block, panels[m][r])


def test_stack_keeps_the_given_modality_order():
    panels = fake_panels()
    out = merge_panels(panels, ["wavelet", "kaggle"], "stack")
    np.testing.assert_array_equal(out[:4], panels["wavelet"])
    np.testing.assert_array_equal(out[4:], panels["kaggle"])


@pytest.mark.parametrize("layout", ["tile", "stack"])
def test_batch_and_stack_to_layout_agree_with_merge_panels(layout):
    panels = fake_panels()
    mods = ["eeg", "kaggle"]
    single = merge_panels(panels, mods, layout)
    stack = np.concatenate([panels[m] for m in mods])
    np.testing.assert_array_equal(stack_to_layout(stack, 2, layout), single)
    batch = torch.from_numpy(np.stack([stack, stack + 1]))
    got = merge_batch(batch, 2, layout)
    assert tuple(got.shape) == (2, *single.shape)
    np.testing.assert_array_equal(got[0].numpy(), single)
    np.testing.assert_array_equal(got[1].numpy(), single + 1)


def test_bad_inputs_are_refused():
    panels = fake_panels()
    with pytest.raises(ValueError, match="layout"):
        merge_panels(panels, ["kaggle"], "grid")
    with pytest.raises(ValueError, match="modality"):
        merge_panels(panels, [], "stack")
    with pytest.raises(ValueError, match="128, 256"):
        merge_panels({"kaggle": np.zeros((4, 100, 300), np.float32)}, ["kaggle"], "stack")


def test_row_panels_dispatches_by_modality():
    from hms_kit.config import InputConfig
    from hms_kit.inputs import eeg_panels, kaggle_panels, row_panels, wavelet_panels

    cfg = InputConfig()
    rng = np.random.default_rng(0)
    ew = (20 * rng.standard_normal((10000, 20))).astype(np.float32)
    sw = rng.random((300, 400)).astype(np.float32) * 10
    np.testing.assert_array_equal(row_panels("kaggle", spec_window=sw, cfg=cfg), kaggle_panels(sw))
    np.testing.assert_array_equal(row_panels("eeg", eeg_window=ew, cfg=cfg), eeg_panels(ew))
    np.testing.assert_array_equal(
        row_panels("wavelet", eeg_window=ew, cfg=cfg), wavelet_panels(ew, cfg.wavelet)
    )
    with pytest.raises(ValueError, match="spectrogram window"):
        row_panels("kaggle", eeg_window=ew, cfg=cfg)
    with pytest.raises(ValueError, match="EEG window"):
        row_panels("eeg", spec_window=sw, cfg=cfg)
    with pytest.raises(ValueError, match="unknown modality"):
        row_panels("audio", eeg_window=ew, cfg=cfg)


def test_flip_time_reverses_each_cell_in_place_numpy_and_torch():
    x = np.arange(2 * 3 * 8, dtype=np.float32).reshape(2, 3, 8)
    np.testing.assert_array_equal(flip_time(x), x[..., ::-1])
    two = flip_time(x, 2)
    np.testing.assert_array_equal(two[..., :4], x[..., 3::-1])
    np.testing.assert_array_equal(two[..., 4:], x[..., :3:-1])
    np.testing.assert_array_equal(flip_time(torch.from_numpy(x), 2).numpy(), two)
    np.testing.assert_array_equal(flip_time(two, 2), x)  # its own inverse
    with pytest.raises(ValueError, match="3 cells"):
        flip_time(x, 3)
