"""Label rows as dict batches: ``({input name: tensor}, target distribution, total votes)``.

``InputDataset`` serves any inputs of a feature cache, each under its name (``kaggle``,
``eeg``, ``wavelet``: ``(4, 128, 256) float16`` panels; ``raw_eeg``: ``(pairs, samples)
float16`` waveforms), so every model family shares one loop. ``CustomDataset`` is the older
tuple form (the panel inputs stacked), kept for the tools that use it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from hms_kit.inputs.cache import FeatureCache
from hms_kit.inputs.registry import get_input

Batch = dict[str, torch.Tensor]


class InputDataset(Dataset):
    """Rows of a feature cache as model inputs.

    Item i: ``(inputs, y, votes)``: ``inputs`` maps each name in ``names`` (default: every
    input of the cache) to the row's stored array as a float16 tensor; y is the ``(6,)
    float32`` vote distribution, votes the row's total votes (float32). The layout a model
    needs (a tiled image, a spectrogram canvas) is made by the model on its device, so
    workers and pinned memory move compact half-precision arrays.

    ``augment`` (training only) works on the panel inputs stacked in ``names`` order
    ``(4k, 128, 256)`` (the albumentations ``Augmenter``); it is reseeded per (seed, epoch,
    row) so a run is reproducible whatever the worker count. Waveform inputs are augmented
    per batch on the device (``hms_kit.inputs.wave_augment``), not here.
    """

    def __init__(
        self,
        cache: FeatureCache,
        rows: np.ndarray,
        targets: np.ndarray,
        votes: np.ndarray,
        names: Sequence[str] | None = None,
        augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
        seed: int = 0,
    ) -> None:
        self.cache = cache
        self.rows = np.asarray(rows, dtype=np.int64)
        self.targets = np.asarray(targets, dtype=np.float32)
        self.votes = np.asarray(votes, dtype=np.float32)
        self.names = list(names if names is not None else cache.modalities)
        self.panel_names = [n for n in self.names if get_input(n).kind == "panels"]
        self.augment = augment if self.panel_names else None
        self.seed = seed
        self.epoch = 0
        self.n_modalities = len(self.panel_names)

    def set_epoch(self, epoch: int) -> None:
        """Reseed augmentation for an epoch (call before iterating)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def inputs(self, i: int) -> dict[str, np.ndarray]:
        """Row i's arrays by input name (panels augmented when training), float16."""
        row = int(self.rows[i])
        out = {n: self.cache.value(n, row) for n in self.names}
        if self.augment is not None:
            stack = np.concatenate([out[n] for n in self.panel_names]).astype(np.float32)
            rng = np.random.default_rng((self.seed, self.epoch, row))
            stack = self.augment(stack, rng)
            for k, n in enumerate(self.panel_names):
                out[n] = stack[4 * k : 4 * (k + 1)]
        return out

    def __getitem__(self, i: int) -> tuple[Batch, torch.Tensor, torch.Tensor]:
        x = {
            # a copy: the cache's memory map is read-only, and torch wants writable memory
            n: torch.from_numpy(np.array(a, dtype=np.float16, order="C"))
            for n, a in self.inputs(i).items()
        }
        return x, torch.from_numpy(self.targets[i]), torch.tensor(self.votes[i])


class CustomDataset(InputDataset):
    """The panel inputs of a cache stacked: item i is ``(x, y, votes)`` with x the row's
    panels ``(4k, 128, 256) float16`` (k panel inputs, input-major)."""

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, y, v = super().__getitem__(i)
        return torch.cat([x[n] for n in self.panel_names]), y, v
