"""The training and evaluation loop of every torch family, as small functions.

Batches are ``(inputs, y, votes[, index])`` with ``inputs`` a dict ``{input name: tensor}``
(``hms_kit.inputs.dataset``); models map it to ``(B, 6)`` logits. Nothing here knows about
folds, stages' row selection or run folders (``hms_kit.train``), nor about the file format
of checkpoints (``hms_kit.checkpoint``).
"""

from __future__ import annotations

import os
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from hms_kit.config import StageConfig
from hms_kit.scoring.metric import kl_score
from hms_kit.seeds import stream_seed

Batch = dict[str, torch.Tensor]
BatchAugment = Callable[[Batch, torch.Tensor, torch.Generator], tuple[Batch, torch.Tensor]]


def pick_device() -> torch.device:
    """CUDA when there is a GPU, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: fp16 on CUDA for 'auto', bf16 if asked, None (fp32) on the CPU."""
    if device.type != "cuda" or amp == "off":
        return None
    return torch.bfloat16 if amp == "bf16" else torch.float16


def loader_workers(requested: int, device: torch.device | None = None) -> int:
    """DataLoader workers: as asked; or (-1) none when the model runs on the CPU, else one
    per core but one, at most 8. On a CPU the main process's torch threads already take
    every core and a worker competes with them (``tools.bench_workers``: on 2 cores, one
    worker made the default config's epoch 1.29x as long as none)."""
    if requested >= 0:
        return requested
    if device is not None and device.type == "cpu":
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(0, min(8, (cores or 1) - 1))


class SeededOrder(torch.utils.data.Sampler[int]):
    """A shuffled order of ``n`` items that is a pure function of ``seed``: every ``iter()``
    gives the same permutation, however many iterators a caller (a progress bar, a loader
    with workers) starts, so an epoch's batches never depend on the worker count."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed = n, seed

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed)
        return iter(torch.randperm(self.n, generator=gen).tolist())


class OnePerGroup(torch.utils.data.Sampler[int]):
    """One random item of each group, in a random order: ``len(unique(groups))`` items, a
    pure function of ``(groups, seed)`` like ``SeededOrder`` (the ``per_eeg`` sampler, with
    an eeg_id per training row as the groups: each epoch, with its own seed, draws again).

    ``groups``: ``(n,)`` one label per item (any sortable dtype)."""

    def __init__(self, groups: np.ndarray, seed: int) -> None:
        self.groups, self.seed = np.asarray(groups), seed
        self.n_groups = len(np.unique(self.groups))

    def __len__(self) -> int:
        return self.n_groups

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed)
        perm = torch.randperm(len(self.groups), generator=gen).numpy()
        # each group's first item in a random permutation is a uniform draw from the group
        _, first = np.unique(self.groups[perm], return_index=True)
        picked = perm[first]
        # np.unique sorts by group: shuffle again so the order is not the groups' order
        return iter(picked[torch.randperm(len(picked), generator=gen).numpy()].tolist())


def epoch_rows(n_rows: int, groups: np.ndarray | None = None) -> int:
    """Rows one training epoch draws: all ``n_rows``, or one per group (``OnePerGroup``)."""
    return n_rows if groups is None else len(np.unique(groups))


def make_loader(
    ds: Dataset,
    batch_size: int,
    shuffle: bool,
    seed: int,
    device: torch.device,
    num_workers: int = -1,
    groups: np.ndarray | None = None,
) -> DataLoader:
    """A DataLoader: shuffled in ``SeededOrder(len(ds), seed)``, or with ``groups`` (one
    label per item) one item per group in ``OnePerGroup(groups, seed)`` (training: the last
    partial batch dropped when there is more than one batch), or in order (evaluation,
    prediction). The order, and the rows' augmentation (seeded per row by the dataset), do
    not depend on ``num_workers``."""
    workers = loader_workers(num_workers, device)
    gen = torch.Generator()
    gen.manual_seed(seed)
    if not shuffle:
        sampler = None
    elif groups is not None:
        if len(groups) != len(ds):
            raise ValueError(f"groups has {len(groups)} labels for a dataset of {len(ds)} items")
        sampler = OnePerGroup(groups, seed)
    else:
        sampler = SeededOrder(len(ds), seed)
    n = len(sampler) if sampler is not None else len(ds)
    return DataLoader(
        ds,
        batch_size=batch_size,
        sampler=sampler,
        generator=gen,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        drop_last=shuffle and n > batch_size,
    )


def to_device(batch: Batch, device: torch.device) -> Batch:
    """Every tensor of a dict batch on ``device``."""
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def kl_loss(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """KLDivLoss(batchmean) of log_softmax(logits) against the vote distribution.

    With ``weight`` (per row, e.g. total votes) each row's KL is weighted and the weighted sum
    divided by the batch size, so uniform weights of 1 give the plain batchmean loss.
    """
    logp = F.log_softmax(logits.float(), dim=1)
    if weight is None:
        return F.kl_div(logp, target, reduction="batchmean")
    per_row = F.kl_div(logp, target, reduction="none").sum(dim=1)
    w = weight / weight.mean()
    return (per_row * w).sum() / logits.shape[0]


@dataclass(frozen=True)
class EpochSeeds:
    """The seeds of one training epoch's streams, each named apart (``stream_seed(stage seed,
    epoch, n)``): the loader's order, the batch augmentation (waveform transforms, mixup), and
    the global streams dropout and drop-path draw from. One seed for all three made them the
    same numbers read three ways: the first batch's augmentation draws were the draws that
    shuffled the order."""

    order: int
    augment: int
    global_: int

    @classmethod
    def of(cls, seed: int, epoch: int) -> EpochSeeds:
        return cls(*(stream_seed(seed, epoch, n) for n in (1, 2, 3)))


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def warmup_share(pct_start: float, total_steps: int) -> float:
    """OneCycleLR's warm-up share, nudged when its warm-up would end on step 0: OneCycleLR
    divides by the warm-up's length in steps (``pct_start * total_steps - 1``), so a short
    stage (e.g. 10 steps at 0.1) would stop with ZeroDivisionError instead of training."""
    if abs(pct_start * total_steps - 1) < 1e-9:
        return pct_start + 0.5 / total_steps
    return pct_start


def steps_per_epoch(n_rows: int, batch_size: int, grad_accum: int = 1) -> int:
    """Optimiser steps of one epoch: its batches (the loader drops a last partial batch when
    there is more than one batch), ``grad_accum`` per step, a last smaller group included."""
    batches = max(1, n_rows // batch_size) if n_rows > batch_size else 1
    return -(-batches // grad_accum)


def make_optimizer(
    model: torch.nn.Module, scfg: StageConfig, n_steps: int, span: tuple[int, int] | None = None
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.OneCycleLR]:
    """AdamW and its OneCycleLR over ``scfg.epochs * n_steps`` steps: the rate starts at
    ``max_lr / div_factor``, peaks at ``max_lr`` after ``pct_start`` of the steps.

    ``span = (first, total)``: the stage is steps ``first..`` of one OneCycleLR of ``total``
    steps shared with other stages (``train.joint_schedule``): it starts where the stage
    before it stopped, so the rate is continuous across them."""
    opt = torch.optim.AdamW(
        model.parameters(), lr=scfg.max_lr / scfg.div_factor, weight_decay=scfg.weight_decay
    )
    first, total = span if span is not None else (0, max(1, scfg.epochs * n_steps))
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=scfg.max_lr,
        total_steps=total,
        pct_start=warmup_share(scfg.pct_start, total),
        anneal_strategy=scfg.anneal_strategy,
        div_factor=scfg.div_factor,
        final_div_factor=scfg.final_div_factor,
    )
    if first > 0:
        # OneCycleLR's rate is a function of its step count: set it, then one step() applies
        # it (the warning about step() before optimizer.step() does not apply here)
        sched.last_epoch = first - 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            sched.step()
    return opt, sched


class NonFiniteBatchError(Exception):
    """A training batch gave a NaN or infinite loss (raised by ``train_one_epoch`` through
    its ``explain`` callback, which names the rows)."""


@dataclass
class StepLog:
    """What one training step reports to ``train_one_epoch``'s ``on_step`` callback."""

    step: int
    loss: float
    lr: float
    grad_norm: float
    n_rows: int


@dataclass
class EpochResult:
    train_loss: float
    n_rows: int
    lrs: list[float] = field(default_factory=list)
    seconds: float = 0.0


def train_one_epoch(
    model: torch.nn.Module,
    loader: DataLoader,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    device: torch.device,
    grad_clip: float = 1.0,
    amp: str = "auto",
    vote_weighting: bool = False,
    augment: BatchAugment | None = None,
    generator: torch.Generator | None = None,
    on_step: Callable[[StepLog], None] | None = None,
    explain: Callable[..., Exception] | None = None,
    desc: str = "train",
    grad_accum: int = 1,
) -> EpochResult:
    """One pass over ``loader`` (batches ``(inputs, y, votes[, index])``): forward, KL loss,
    backward, clipping, optimiser and scheduler steps. Returns the mean loss and the learning
    rate of every step.

    ``grad_accum`` > 1: one optimiser step per ``grad_accum`` batches (the epoch's last group
    may be smaller), each batch's loss divided by its group's batch count, so the step's
    gradient is the group's mean (that of one big batch for equal batches); clipping, the
    scheduler and ``on_step`` (its loss the group's mean) act per optimiser step.

    ``augment`` changes each batch on the device (waveform transforms, mixup), drawing from
    ``generator``. A non-finite loss stops before the step: ``explain(step, inputs, logits,
    y, index)`` gives the exception to raise (naming the rows), else NonFiniteBatchError.
    """
    from hms_kit.runlog import progress_bar

    model.train()
    dtype = amp_dtype(amp, device)
    gen = generator or torch.Generator().manual_seed(0)
    total, n_seen, lrs, t0 = 0.0, 0, [], time.time()
    accum = max(1, int(grad_accum))
    n_batches = len(loader) if accum > 1 else 1
    group_loss, group_rows = 0.0, 0
    bar = progress_bar(loader, desc=desc, leave=False, unit="batch")
    for step, (x, y, v, *rest) in enumerate(bar):
        x, y, v = to_device(x, device), y.to(device), v.to(device)
        if augment is not None:
            x, y = augment(x, y, gen)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            logits = model(x)
        loss = kl_loss(logits, y, v if vote_weighting else None)
        if not bool(torch.isfinite(loss.detach())):
            # one step on a NaN loss makes every weight NaN: stop here, saving nothing
            bar.close()
            idx = rest[0] if rest else None
            if explain is not None:
                raise explain(step, x, logits, y, idx)
            raise NonFiniteBatchError(f"step {step + 1}: the loss is not finite")
        n = len(y)
        total += float(loss.detach()) * n
        n_seen += n
        if accum == 1:
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
        else:
            if step % accum == 0:
                opt.zero_grad(set_to_none=True)
                group_loss, group_rows = 0.0, 0
            in_group = min(accum, n_batches - step // accum * accum)
            scaler.scale(loss / in_group).backward()
            group_loss += float(loss.detach()) * n
            group_rows += n
            if (step + 1) % accum and step + 1 < n_batches:
                continue
        scaler.unscale_(opt)
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(opt)
        scaler.update()
        lrs.append(float(sched.get_last_lr()[0]))
        if sched.last_epoch + 1 < sched.total_steps:
            sched.step()
        if on_step is not None:
            st_loss, st_rows = (float(loss.detach()), n) if accum == 1 else (
                group_loss / max(group_rows, 1), group_rows)  # fmt: skip
            on_step(StepLog(step // accum, st_loss, lrs[-1], float(gnorm), st_rows))
    bar.close()
    return EpochResult(total / max(n_seen, 1), n_seen, lrs, time.time() - t0)


@torch.no_grad()
def predict_loader(
    model: torch.nn.Module,
    loader: DataLoader,
    device: torch.device,
    amp: str,
    tta_flip: bool = False,
    tta_mirror: bool = False,
) -> np.ndarray:
    """Softmax probabilities ``(n, 6) float64`` for every item of ``loader`` (in order).

    ``tta_flip`` / ``tta_mirror`` average over the time-reversed and / or left-right mirrored
    inputs too (``hms_kit.inputs.tta``): the mean probability of 1, 2 or 4 passes. The last
    axis is time in every input; a model's ``flip_time``, where it has one, reverses them.
    """
    from hms_kit.inputs.tta import tta_views

    model.eval()
    out = []
    dtype = amp_dtype(amp, device)
    for x, *_ in loader:
        x = to_device(x, device) if isinstance(x, dict) else x.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            # a model whose panels hold several images in time knows how to reverse them
            views = tta_views(x, tta_flip, tta_mirror, getattr(model, "flip_time", None))
            p = torch.softmax(model(views[0]).float(), dim=1)
            for v in views[1:]:
                p = p + torch.softmax(model(v).float(), dim=1)
            p = p / len(views) if len(views) > 1 else p
        out.append(p.cpu().numpy().astype(np.float64))
    return np.concatenate(out) if out else np.zeros((0, 6))


def evaluate(
    model: torch.nn.Module, loader: DataLoader, device: torch.device, amp: str
) -> tuple[float, np.ndarray]:
    """Validation loss (Kaggle's KL score against ``loader.dataset.targets``) of ``model``,
    and its predictions ``(n, 6)``."""
    probs = predict_loader(model, loader, device, amp)
    return kl_score(loader.dataset.targets, probs), probs


def optimizer_state(opt, sched, scaler) -> dict[str, Any]:
    """The optimiser, scheduler and scaler states (for a ``last`` checkpoint)."""
    return {
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "scaler": scaler.state_dict(),
    }
