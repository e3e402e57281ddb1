"""``CustomDataset``: label rows -> (model input, target distribution, total votes)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from hms_kit.inputs.cache import FeatureCache


class CustomDataset(Dataset):
    """Rows of a feature cache as model inputs.

    Item i: ``(x, y, votes)`` with x the row's stacked panels ``(4k, 128, 256) float16``
    (k modalities, modality-major), y the ``(6,) float32`` vote distribution and votes the
    row's total votes (float32). The layout (``tile``'s ``(3, 512, 256k)`` image or the
    stack itself) is applied by the model on its device (``CustomModel(layout=...)``), so
    workers and pinned memory move 4k half-precision panels, not a 3-channel float32 image
    (12 times the bytes for kaggle + eeg). ``augment`` (training only) works on the stacked
    panels; it is reseeded per (seed, epoch, row) so a run is reproducible whatever the
    worker count.
    """

    def __init__(
        self,
        cache: FeatureCache,
        rows: np.ndarray,
        targets: np.ndarray,
        votes: np.ndarray,
        augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
        seed: int = 0,
    ) -> None:
        self.cache = cache
        self.rows = np.asarray(rows, dtype=np.int64)
        self.targets = np.asarray(targets, dtype=np.float32)
        self.votes = np.asarray(votes, dtype=np.float32)
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.n_modalities = len(cache.modalities)

    def set_epoch(self, epoch: int) -> None:
        """Reseed augmentation for an epoch (call before iterating)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        row = int(self.rows[i])
        # without augmentation the stored float16 goes out untouched
        stack = self.cache.get(row, np.float32 if self.augment is not None else np.float16)
        if self.augment is not None:
            rng = np.random.default_rng((self.seed, self.epoch, row))
            stack = self.augment(stack, rng)
        return (
            torch.from_numpy(np.ascontiguousarray(stack, dtype=np.float16)),
            torch.from_numpy(self.targets[i]),
            torch.tensor(self.votes[i]),
        )
