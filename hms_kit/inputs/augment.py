"""Training-only augmentation of the stacked panels ``(4k, 128, 256)`` with albumentations.

- time flip (the seed's optional horizontal flip: time reversal), ``p_time_flip``;
- time masking and frequency masking (albumentations XYMasking: bands set to 0, the
  standardised mean), ``p_time_mask`` / ``p_freq_mask``;
- hemisphere swap: LL <-> RL and LP <-> RP in every modality (the six classes do not depend
  on the side), ``p_hemisphere_swap``.

Nothing here runs at validation or inference: the dataset only gets an augmenter in training.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import albumentations as A
import numpy as np

from hms_kit import schema
from hms_kit.config import AugmentConfig

MIRROR = [schema.REGIONS.index(schema.MIRROR_REGIONS[r]) for r in schema.REGIONS]


def hemisphere_permutation(n_modalities: int) -> np.ndarray:
    """Channel order of the stacked panels after swapping the hemispheres of every modality."""
    n = len(schema.REGIONS)
    return np.array([m * n + MIRROR[r] for m in range(n_modalities) for r in range(n)])


class HemisphereSwap(A.ImageOnlyTransform):
    """Swap left and right panels (LL <-> RL, LP <-> RP) of an HWC stack of panels."""

    def __init__(self, n_modalities: int, p: float = 0.5) -> None:
        super().__init__(p=p)
        self.n_modalities = n_modalities
        self.perm = hemisphere_permutation(n_modalities)

    def apply(self, img: np.ndarray, **params: Any) -> np.ndarray:
        return np.ascontiguousarray(img[..., self.perm])

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("n_modalities",)


def build_augment(
    cfg: AugmentConfig, n_modalities: int
) -> Callable[[np.ndarray, np.random.Generator], np.ndarray] | None:
    """An augmenter ``f(stack, rng) -> stack`` for ``(4k, 128, 256) float32`` panels, or None
    when every probability is 0. ``rng`` seeds albumentations per call, so results depend on
    the caller's seed, not on which worker runs the call."""
    transforms: list[A.BasicTransform] = []
    if cfg.p_time_flip > 0:
        transforms.append(A.HorizontalFlip(p=cfg.p_time_flip))
    if cfg.p_time_mask > 0:
        transforms.append(
            A.XYMasking(
                num_masks_x=(1, 2), mask_x_length=(4, cfg.max_time_mask), fill=0, p=cfg.p_time_mask
            )
        )
    if cfg.p_freq_mask > 0:
        transforms.append(
            A.XYMasking(
                num_masks_y=(1, 2), mask_y_length=(2, cfg.max_freq_mask), fill=0, p=cfg.p_freq_mask
            )
        )
    if cfg.p_hemisphere_swap > 0:
        transforms.append(HemisphereSwap(n_modalities, p=cfg.p_hemisphere_swap))
    if not transforms:
        return None
    compose = A.Compose(transforms)

    def augment(stack: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        compose.set_random_seed(int(rng.integers(2**31 - 1)))
        out = compose(image=np.ascontiguousarray(stack.transpose(1, 2, 0)))["image"]
        return np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32)

    return augment
