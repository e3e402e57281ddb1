"""Issue 21: what a training epoch sees (row order, augmented panels, the weights it ends
with) is a function of the run's seeds alone, never of the DataLoader's worker count."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from torch import nn

from hms_kit.config import AugmentConfig, StageConfig
from hms_kit.engine import StageCheckpoints, StageSettings, make_loader, run_stage
from hms_kit.engine.loop import OnePerGroup, SeededOrder
from hms_kit.inputs.augment import build_augment
from hms_kit.inputs.dataset import InputDataset
from hms_kit.runlog import progress_bar

META = {"family": "toy", "config": {}, "run_id": "r", "fingerprint": "f"}
SHAPE = (4, 16, 32)  # small panels: the augmenter does not care about the size


class PanelCache:
    """A feature cache's interface (``modalities``, ``value``) over random panels."""

    modalities = ["kaggle", "eeg"]

    def value(self, name: str, row: int) -> np.ndarray:
        g = np.random.default_rng((row, self.modalities.index(name)))
        return g.normal(size=SHAPE).astype(np.float16)


def _dataset(n: int = 21, seed: int = 7) -> InputDataset:
    aug = build_augment(AugmentConfig(max_time_mask=8, max_freq_mask=4), 2)
    targets = np.full((n, 6), 1 / 6, np.float32)
    return InputDataset(PanelCache(), np.arange(n), targets, np.ones(n), augment=aug, seed=seed)


class Recorder(nn.Module):
    """A linear model over the panels' means that records a digest of every training batch."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 6)
        self.seen: list[str] = []

    def forward(self, batch):
        x = torch.cat([batch["kaggle"], batch["eeg"]], dim=1).float()
        if self.training:
            self.seen.append(hashlib.sha1(x.numpy().tobytes()).hexdigest())
        return self.lin(x.mean(dim=(2, 3)))


@pytest.mark.parametrize("n", [7, 21])  # one batch (no drop) and several
def test_an_epochs_batches_through_the_bar_do_not_depend_on_workers(n):
    """The loop iterates its loader through the progress bar: order and augmented panels
    alike must come out the same with 0 and 2 workers."""

    def batches(workers: int) -> list[tuple[np.ndarray, np.ndarray]]:
        ds = _dataset(n)
        ds.set_epoch(3)
        loader = make_loader(ds, 8, True, 11, torch.device("cpu"), workers)
        return [(x["kaggle"].numpy(), x["eeg"].numpy()) for x, _, _ in progress_bar(loader)]

    a, b = batches(0), batches(2)
    assert len(a) == len(b) > 0
    for (ka, ea), (kb, eb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(ka, kb)
        np.testing.assert_array_equal(ea, eb)


def test_a_stage_trains_the_same_with_0_and_2_workers(tmp_path):
    """Two epochs of a stage: the same batches in the same order, the same final weights."""

    def train(workers: int) -> Recorder:
        torch.manual_seed(0)
        model = Recorder()
        ck = StageCheckpoints(tmp_path / f"b{workers}.pt", tmp_path / f"l{workers}.pt", META)
        settings = StageSettings(name="s", stage=1, batch_size=4, num_workers=workers, seed=5)
        run_stage(model, StageConfig(epochs=2, max_lr=1e-2), settings, _dataset(), _dataset(6),
                  torch.device("cpu"), ck)  # fmt: skip
        return model

    a, b = train(0), train(2)
    assert len(a.seen) == 2 * (21 // 4)
    assert a.seen == b.seen
    torch.testing.assert_close(a.lin.weight, b.lin.weight, rtol=0, atol=0)


def test_seeded_order_is_a_pure_function_of_the_seed():
    order = SeededOrder(30, seed=4)
    first = list(order)
    assert list(order) == first  # a second iterator: the same order
    assert sorted(first) == list(range(30))
    assert list(SeededOrder(30, seed=5)) != first


# ------------------------------------------ train.sampler=per_eeg: one row per eeg_id (issue 20)
GROUPS = np.array([5, 5, 5, 9, 2, 2, 7, 7, 7, 7, 1, 3, 3, 8, 8, 8, 4, 4, 6, 6, 6])  # 10 EEGs


def test_one_per_group_draws_one_row_of_each_group_again_every_epoch():
    draws = [list(OnePerGroup(GROUPS, seed=s)) for s in range(6)]
    for rows in draws:
        assert len(rows) == len(OnePerGroup(GROUPS, 0)) == len(np.unique(GROUPS))
        assert sorted(GROUPS[rows].tolist()) == sorted(np.unique(GROUPS).tolist())
    assert list(OnePerGroup(GROUPS, seed=3)) == draws[3]  # a pure function of the seed
    # another epoch (seed) draws other rows of the groups, in another order
    assert len({tuple(sorted(r)) for r in draws}) > 1
    assert len({tuple(GROUPS[r]) for r in draws}) > 1
    # every row of a group is drawn at some epoch
    seen = {r for s in range(60) for r in OnePerGroup(GROUPS, seed=s)}
    assert seen == set(range(len(GROUPS)))


def test_a_per_eeg_loader_gives_the_same_batches_with_0_and_2_workers():
    def batches(workers: int) -> list[np.ndarray]:
        ds = _dataset(len(GROUPS))
        ds.set_epoch(2)
        loader = make_loader(ds, 4, True, 11, torch.device("cpu"), workers, groups=GROUPS)
        return [x["kaggle"].numpy() for x, _, _ in progress_bar(loader)]

    a, b = batches(0), batches(2)
    assert len(a) == len(np.unique(GROUPS)) // 4  # the last partial batch dropped
    for ka, kb in zip(a, b, strict=True):
        np.testing.assert_array_equal(ka, kb)
    with pytest.raises(ValueError, match="groups has 3 labels for a dataset of 21"):
        make_loader(_dataset(), 4, True, 0, torch.device("cpu"), 0, groups=GROUPS[:3])


def test_a_per_eeg_stage_trains_one_row_per_eeg_the_same_with_0_and_2_workers(tmp_path):
    """Two epochs: each trains on 10 rows (one per group), 2 batches of 4, and the schedule
    counts those steps; the batches and final weights do not depend on the workers."""

    def train(workers: int) -> Recorder:
        torch.manual_seed(0)
        model = Recorder()
        ck = StageCheckpoints(tmp_path / f"b{workers}.pt", tmp_path / f"l{workers}.pt", META)
        settings = StageSettings(name="s", stage=1, batch_size=4, num_workers=workers, seed=5)
        res = run_stage(model, StageConfig(epochs=2, max_lr=1e-2), settings, _dataset(),
                        _dataset(6), torch.device("cpu"), ck, train_groups=GROUPS)  # fmt: skip
        model.lrs = res.lrs
        return model

    a, b = train(0), train(2)
    assert len(a.seen) == 2 * (len(np.unique(GROUPS)) // 4) == len(a.lrs)
    assert a.seen == b.seen
    torch.testing.assert_close(a.lin.weight, b.lin.weight, rtol=0, atol=0)
