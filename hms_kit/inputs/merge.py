"""Merging modalities into one model input.

Every modality gives four ``(128, 256)`` panels (LL, RL, LP, RP; frequency x time). Two
layouts:

- ``stack``: the panels as channels, ``(4k, 128, 256) float32`` for k modalities (cheap on a
  CPU; the model's first convolution takes 4k channels).
- ``tile``: the public notebooks' image: each modality a column of its four panels stacked
  to ``512 x 256``, the columns side by side, repeated to 3 channels for ImageNet backbones:
  ``(3, 512, 256k) float32`` (kaggle + eeg: ``(3, 512, 512)``).

Augmentation runs on the stacked form, so ``stack_to_layout`` turns it into either layout.
A panel may hold several images side by side in time (eeg's per-pair grid): ``flip_time``
reverses each in place, for the augmenter's time flip and flip TTA alike.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

from hms_kit import schema

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)
N_PANELS = len(schema.REGIONS)


def in_chans(layout: str, modalities: list[str]) -> int:
    """Input channels of the model for a layout: 3 for ``tile``, 4 per modality for ``stack``."""
    _check_layout(layout)
    return 3 if layout == "tile" else N_PANELS * len(modalities)


def input_shape(modalities: list[str], layout: str) -> tuple[int, int, int]:
    """``(C, H, W)`` of the merged input: ``(3, 512, 256k)`` or ``(4k, 128, 256)``."""
    _check_layout(layout)
    k = len(modalities)
    if layout == "tile":
        return (3, N_PANELS * schema.PANEL_H, k * schema.PANEL_W)
    return (in_chans(layout, modalities), schema.PANEL_H, schema.PANEL_W)


def _check_layout(layout: str) -> None:
    if layout not in ("tile", "stack"):
        raise ValueError(f"layout must be 'tile' or 'stack', got {layout!r}")


def stack_to_layout(stack: np.ndarray, n_modalities: int, layout: str) -> np.ndarray:
    """Stacked panels -> the layout's array (see the module docstring).

    ``(4k, 128, 256) float32`` (modality-major: channel 4m + r is modality m, region
    schema.REGIONS[r]) -> itself (stack) or ``(3, 512, 256k)`` (tile: a read-only broadcast
    view; ``np.ascontiguousarray`` it before writing).
    """
    _check_layout(layout)
    if layout == "stack":
        return stack
    h, w = stack.shape[-2:]
    # (k, 4, h, w) -> (4, h, k, w) -> (4h, kw): modality columns of vertically stacked panels
    tile = (
        stack.reshape(n_modalities, N_PANELS, h, w)
        .transpose(1, 2, 0, 3)
        .reshape(N_PANELS * h, n_modalities * w)
    )
    return np.broadcast_to(tile, (3, *tile.shape))


def merge_panels(panels: dict[str, np.ndarray], modalities: list[str], layout: str) -> np.ndarray:
    """Merge each modality's ``(4, 128, 256)`` panels, in ``modalities`` order, into the layout.

    Returns a new contiguous float32 array of ``input_shape(modalities, layout)``:
    ``(4k, 128, 256)`` (stack) or ``(3, 512, 256k)`` (tile).
    """
    if not modalities:
        raise ValueError("at least one modality is needed")
    for m in modalities:
        shape = np.shape(panels[m])
        if shape != (N_PANELS, schema.PANEL_H, schema.PANEL_W):
            raise ValueError(f"{m} panels must be (4, 128, 256), got {shape}")
    stack = np.concatenate([panels[m] for m in modalities], axis=0).astype(np.float32, copy=False)
    return np.ascontiguousarray(stack_to_layout(stack, len(modalities), layout))


def flip_time(x: ArrayT, cells: int = 1) -> ArrayT:
    """Time reversal of panels ``(..., W)`` whose last axis holds ``cells`` images side by
    side (eeg's per-pair grid: 2), each reversed in place, so cells keep their places.

    numpy or torch in, the same out (numpy: a view); ``cells=1`` is a plain flip of axis -1.
    """
    w = x.shape[-1]
    if cells < 1 or w % cells:
        raise ValueError(f"flip_time: {cells} cells do not split a width of {w}")
    blocks = x.reshape(*x.shape[:-1], cells, w // cells)
    out = blocks.flip(-1) if isinstance(blocks, torch.Tensor) else np.flip(blocks, -1)
    return out.reshape(x.shape)


def merge_batch(stack: torch.Tensor, n_modalities: int, layout: str) -> torch.Tensor:
    """The batched torch counterpart of ``stack_to_layout``, on stack's device (e.g. after
    ``eeg_panels_batch`` on the GPU).

    ``(B, 4k, 128, 256)`` -> ``(B, 4k, 128, 256)`` (stack, returned as is) or
    ``(B, 3, 512, 256k)`` (tile; the three channels are an expanded view, not copies).
    """
    _check_layout(layout)
    if layout == "stack":
        return stack
    b, _, h, w = stack.shape
    tile = stack.reshape(b, n_modalities, N_PANELS, h, w).permute(0, 2, 3, 1, 4)
    tile = tile.reshape(b, 1, N_PANELS * h, n_modalities * w)
    return tile.expand(b, 3, N_PANELS * h, n_modalities * w)
