"""Training-only augmentation of the stacked panels ``(4k, 128, 256)`` with albumentations.

Applied in this order, each with its own probability from ``AugmentConfig``:

- time flip (the seed's optional horizontal flip: time reversal of every panel, axis 2),
  ``p_time_flip``; a modality whose panels hold several images side by side in time (eeg's
  per-pair grid) has each reversed in place (``TimeFlip``, ``merge.flip_time``);
- time masking: 1 or 2 bands of 1..``max_time_mask`` columns set to 0 (the standardised
  mean) in every panel (albumentations XYMasking), ``p_time_mask``;
- frequency masking: 1 or 2 bands of 1..``max_freq_mask`` rows set to 0, ``p_freq_mask``;
- hemisphere swap: LL <-> RL and LP <-> RP in every modality (schema.MIRROR_REGIONS; the six
  classes do not depend on the side), ``p_hemisphere_swap``.

A mask covers the same rows or columns in every panel; the modalities' axes do not mean the
same seconds or hertz, which is harmless for a regulariser.

Nothing here runs at validation or inference: the caller only builds an augmenter for
training (``build_augment`` returns None when every probability is 0).
"""

from __future__ import annotations

import inspect
import random
from typing import Any

import albumentations as A
import numpy as np

from hms_kit import schema
from hms_kit.config import AugmentConfig
from hms_kit.seeds import stream_seed

MIRROR = [schema.REGIONS.index(schema.MIRROR_REGIONS[r]) for r in schema.REGIONS]

# The wheel installs onto whatever albumentations the Kaggle image holds (1.4.x on older
# images, 2.x on newer ones and here), so the two API differences the kit meets are looked up:
# - albumentations 2.x seeds each transform through its own generators (set_random_seed);
#   Compose.set_random_seed hands its one seed to every transform alike, so each would make
#   the same draws (a time mask, a frequency mask and a swap at 0.3, 0.3 and 0.5 all fired
#   together or not at all): the augmenter gives each transform its own seed instead. 1.4.x
#   draws from the global ``random`` and ``np.random`` streams, so there the augmenter seeds
#   those for the call and puts them back afterwards;
# - XYMasking's value is ``fill`` in 2.x and ``fill_value`` in 1.4.x.
COMPOSE_SEEDS = hasattr(A.Compose, "set_random_seed")
# the transforms build_augment may make, in their order; each one's number names its stream
TRANSFORMS = ("time_flip", "time_mask", "freq_mask", "hemisphere_swap")
XY_FILL = "fill" if "fill" in inspect.signature(A.XYMasking.__init__).parameters else "fill_value"


def hemisphere_permutation(n_modalities: int) -> np.ndarray:
    """``(4k,) int``: channel order of the stacked panels with the hemispheres swapped in every
    modality (channel 4m + r takes channel 4m + mirror(r))."""
    n = len(schema.REGIONS)
    return np.array([m * n + MIRROR[r] for m in range(n_modalities) for r in range(n)])


class HemisphereSwap(A.ImageOnlyTransform):
    """Swap left and right panels (LL <-> RL, LP <-> RP) of an HWC stack of 4k panels."""

    def __init__(self, n_modalities: int, p: float = 0.5) -> None:
        super().__init__(p=p)
        self.n_modalities = n_modalities
        self.perm = hemisphere_permutation(n_modalities)

    def apply(self, img: np.ndarray, **params: Any) -> np.ndarray:
        return np.ascontiguousarray(img[..., self.perm])

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("n_modalities",)


class TimeFlip(A.ImageOnlyTransform):
    """Time reversal of an HWC stack of 4k panels where modality m's panels hold
    ``cells[m]`` images side by side in time, each reversed in place (``merge.flip_time``)."""

    def __init__(self, cells: list[int], p: float = 0.5) -> None:
        super().__init__(p=p)
        self.cells = list(cells)

    def apply(self, img: np.ndarray, **params: Any) -> np.ndarray:
        from hms_kit.inputs.merge import flip_time

        n = len(schema.REGIONS)
        chw = img.transpose(2, 0, 1)
        parts = [flip_time(chw[n * m : n * (m + 1)], c) for m, c in enumerate(self.cells)]
        return np.ascontiguousarray(np.concatenate(parts).transpose(1, 2, 0))

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("cells",)


class Augmenter:
    """``augmenter(stack, rng=None) -> stack`` on ``(4k, 128, 256) float32`` panels.

    Reproducible two ways: with ``rng`` (a numpy Generator) the call is seeded from it, so
    the result depends only on the caller's seed, whichever worker process runs it (what
    ``CustomDataset`` does, per (seed, epoch, row)); without ``rng`` the augmenter draws from
    its own stream, started from ``seed`` at construction.
    """

    def __init__(self, transforms: dict[str, A.BasicTransform], seed: int = 0) -> None:
        unknown = set(transforms) - set(TRANSFORMS)
        if unknown:
            raise ValueError(f"unknown transforms {sorted(unknown)}: known {TRANSFORMS}")
        # each transform's stream number: its place in TRANSFORMS, whichever others are on
        self.numbers = [TRANSFORMS.index(name) + 1 for name in transforms]
        self.compose = A.Compose(list(transforms.values()))
        # without ``rng`` the own stream gives each call its seeds
        self._stream = np.random.default_rng(seed)

    def __call__(self, stack: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        if stack.ndim != 3:
            raise ValueError(f"augment expects (4k, 128, 256) panels, got {stack.shape}")
        # albumentations works on HWC images
        hwc = np.ascontiguousarray(stack.transpose(1, 2, 0), dtype=np.float32)
        if COMPOSE_SEEDS:
            self._seed_each(rng or self._stream)
            out = self.compose(image=hwc)["image"]
        else:
            out = self._call_global_seeded(hwc, int((rng or self._stream).integers(2**31 - 1)))
        return np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32)

    def _seed_each(self, rng: np.random.Generator) -> None:
        """albumentations 2.x: one seed drawn from ``rng``, and the compose and each
        transform seeded from a stream of their own named by it and the transform's name, so
        whether one transform fires says nothing of whether another does, and switching one
        on or off leaves the others' draws as they were."""
        base = int(rng.integers(2**62))
        self.compose.set_random_seed(stream_seed(base, 0))
        for t, n in zip(self.compose.transforms, self.numbers, strict=True):
            t.set_random_seed(stream_seed(base, n))

    def _call_global_seeded(self, hwc: np.ndarray, seed: int) -> np.ndarray:
        """albumentations 1.4.x: the call under ``seed`` in the global streams it draws from,
        which are restored after, so the caller's own use of them is not disturbed."""
        py_state, np_state = random.getstate(), np.random.get_state()
        random.seed(seed)
        np.random.seed(seed)
        try:
            return self.compose(image=hwc)["image"]
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def build_augment(
    cfg: AugmentConfig, n_modalities: int, seed: int = 0, time_cells: list[int] | None = None
) -> Augmenter | None:
    """The training augmenter for k = n_modalities stacked modalities, or None when every
    probability in ``cfg`` is 0 (see ``Augmenter`` for seeding). ``time_cells``: per
    modality, the images side by side in time in its panels (default: 1 each)."""
    cells = list(time_cells or [1] * n_modalities)
    if len(cells) != n_modalities:
        raise ValueError(f"time_cells needs one count per modality ({n_modalities}), got {cells}")
    transforms: dict[str, A.BasicTransform] = {}
    if cfg.p_time_flip > 0 and any(c > 1 for c in cells):
        transforms["time_flip"] = TimeFlip(cells, p=cfg.p_time_flip)
    elif cfg.p_time_flip > 0:
        transforms["time_flip"] = A.HorizontalFlip(p=cfg.p_time_flip)
    if cfg.p_time_mask > 0 and cfg.max_time_mask > 0:
        transforms["time_mask"] = A.XYMasking(
            num_masks_x=(1, 2),
            mask_x_length=(1, cfg.max_time_mask),
            p=cfg.p_time_mask,
            **{XY_FILL: 0},
        )
    if cfg.p_freq_mask > 0 and cfg.max_freq_mask > 0:
        transforms["freq_mask"] = A.XYMasking(
            num_masks_y=(1, 2),
            mask_y_length=(1, cfg.max_freq_mask),
            p=cfg.p_freq_mask,
            **{XY_FILL: 0},
        )
    if cfg.p_hemisphere_swap > 0:
        transforms["hemisphere_swap"] = HemisphereSwap(n_modalities, p=cfg.p_hemisphere_swap)
    if not transforms:
        return None
    return Augmenter(transforms, seed=seed)
