"""One training stage: epochs of ``train_one_epoch`` and ``evaluate`` with plain calls for
the time budget, logging, the learning-rate record and checkpoints.

The caller (``hms_kit.train``) decides which rows train and which choose the checkpoint
(``train_ds`` / ``val_ds``), whether the stage runs at all, and where checkpoints go
(``StageCheckpoints``); this module only runs the epochs.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from hms_kit.checkpoint import CheckpointError, load_checkpoint, load_model_state, save_checkpoint
from hms_kit.config import StageConfig
from hms_kit.engine.loop import (
    BatchAugment,
    EpochSeeds,
    StepLog,
    amp_dtype,
    epoch_rows,
    evaluate,
    make_loader,
    make_optimizer,
    optimizer_state,
    seed_everything,
    steps_per_epoch,
    train_one_epoch,
)
from hms_kit.runlog import logger


class Indexed(Dataset):
    """A dataset's items with their index appended, so a bad batch can name its rows."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> tuple[Any, ...]:
        return (*self.ds[i], torch.tensor(i))


@dataclass
class StageResult:
    best_loss: float
    best_epoch: int
    lrs: list[float] = field(default_factory=list)
    stopped: bool = False


@dataclass
class StageCheckpoints:
    """Where a stage writes: its ``best`` (lowest validation loss: model weights and
    ``meta``) and the fold's ``last`` state (model, optimiser, scheduler, scaler, epoch:
    what ``--resume`` continues from). ``meta`` is plain data: family, config, run id..."""

    best: Path
    last: Path
    meta: dict[str, Any]

    def save_best(self, model: torch.nn.Module, stage: int, epoch: int, val_loss: float) -> None:
        save_checkpoint(
            {"model": model.state_dict(), **self.meta, "stage": stage, "epoch": epoch,
             "val_loss": val_loss},
            self.best,
            kind="best",
        )  # fmt: skip

    def save_last(
        self, model: torch.nn.Module, opt_state: dict[str, Any], stage: int, epoch: int,
        result: StageResult,
    ) -> None:  # fmt: skip
        save_checkpoint(
            {"model": model.state_dict(), **opt_state, **self.meta, "stage": stage,
             "epoch": epoch, "best_loss": result.best_loss, "best_epoch": result.best_epoch,
             "lrs": result.lrs},
            self.last,
            kind="last",
        )  # fmt: skip


def best_saved_after(path: Path, stage: int, epoch: int) -> tuple[float, int] | None:
    """``(val_loss, epoch)`` of the stage's best checkpoint at ``path`` when it was written
    by a later epoch than ``epoch`` (a run killed after saving an epoch's best, before its
    last state): the resume must measure the next epochs against that loss, not the older
    one the last state holds. None otherwise, or when the file cannot be read."""
    if not Path(path).is_file():
        return None
    try:
        best = load_checkpoint(path)
    except CheckpointError:
        return None
    if best.get("stage") != stage or not isinstance(best.get("epoch"), int):
        return None
    if best["epoch"] <= epoch or not isinstance(best.get("val_loss"), (int, float)):
        return None
    return float(best["val_loss"]), int(best["epoch"])


@dataclass
class StageSettings:
    """The loop settings of a stage (from ``TrainConfig``) and its log name."""

    name: str  # e.g. "fold 0 stage 1", the prefix of its log lines
    stage: int
    batch_size: int = 32
    eval_batch_size: int = 64
    num_workers: int = -1
    grad_clip: float = 1.0
    amp: str = "auto"
    vote_weighting: bool = False
    log_every: int = 20
    seed: int = 0
    checkpoint: str = "best"  # "best": lowest validation loss; "last": the stage's last epoch
    ema_decay: float = 0.0  # > 0: an EMA of the weights is evaluated and saved (``WeightEma``)
    grad_accum: int = 1  # batches per optimiser step


class WeightEma:
    """An exponential moving average of a model's weights and buffers, updated per step.

    The decay warms up as ``min(decay, (1 + n) / (10 + n))`` after n updates, so the first
    steps' random weights do not linger in a short CPU stage. ``model`` is the averaged copy
    (evaluation mode), what the stage evaluates and checkpoints.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay, self.updates = decay, 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for e, m in zip(self.model.state_dict().values(), model.state_dict().values(),
                        strict=True):  # fmt: skip
            if e.dtype.is_floating_point:
                e.mul_(d).add_(m.detach(), alpha=1 - d)
            else:
                e.copy_(m)

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.updates = int(state["updates"])


class _StepLogger:
    """Logs every ``every``-th step: loss, learning rate, gradient norm, rows per second."""

    def __init__(self, name: str, epoch: int, every: int) -> None:
        self.name, self.epoch, self.every = name, epoch, max(1, every)
        self.t, self.n = time.time(), 0

    def __call__(self, st: StepLog) -> None:
        self.n += st.n_rows
        if (st.step + 1) % self.every == 0:
            rate = self.n / max(time.time() - self.t, 1e-9)
            logger().info(
                "%s epoch %d step %d loss %.4f lr %.2e grad_norm %.3f samples/s %.1f",
                self.name, self.epoch, st.step + 1, st.loss, st.lr, st.grad_norm, rate,
            )  # fmt: skip
            self.t, self.n = time.time(), 0


def run_stage(
    model: torch.nn.Module,
    scfg: StageConfig,
    settings: StageSettings,
    train_ds: Any,
    val_ds: Any,
    device: torch.device,
    checkpoints: StageCheckpoints,
    augment: BatchAugment | None = None,
    out_of_time: Callable[[], bool] = lambda: False,
    epoch_seconds: list[float] | None = None,
    resume: dict[str, Any] | None = None,
    start_is_candidate: bool = False,
    check_val: Callable[[int, np.ndarray], None] | None = None,
    explain: Callable[..., Exception] | None = None,
    val_score: Callable[[np.ndarray], float] | None = None,
    train_groups: np.ndarray | None = None,
    schedule_span: tuple[int, int] | None = None,
) -> StageResult:
    """Train ``scfg.epochs`` epochs on ``train_ds`` (an ``InputDataset`` with ``set_epoch``),
    choosing the best epoch on ``val_ds``; returns the best loss and epoch, the learning rate
    of every step and whether the time budget stopped it.

    Each epoch: ``out_of_time()`` is asked first (True: stop, ``stopped``); then one epoch,
    the validation loss (``check_val(epoch, probs)`` may raise on bad predictions), a ``best``
    checkpoint when it improved and the ``last`` state. ``resume``: a ``last`` checkpoint of
    this stage to continue from. ``start_is_candidate``: the model it starts from (stage 1's)
    is evaluated and saved as the best so far, so a later stage must beat it.
    ``val_score(probs)``: the validation loss from the ``(n_val, 6)`` predictions (default:
    their KL against ``val_ds``'s targets row by row). ``train_groups``: ``(len(train_ds),)``
    a group per training row (eeg_id): each epoch trains on one random row of each group
    (``OnePerGroup``); None: on every row. ``schedule_span = (first, total)``: the stage's
    steps are ``first..`` of one schedule of ``total`` steps (``make_optimizer``).

    ``settings.checkpoint == "last"``: every epoch replaces the ``best`` checkpoint, so the
    stage keeps its last epoch (``best_loss`` is then that epoch's). ``settings.ema_decay >
    0``: an exponential moving average of the weights (``WeightEma``) is what is evaluated
    and saved as ``best``; the ``last`` state carries it for a resume.
    """
    log = logger()
    s = settings
    epoch_seconds = epoch_seconds if epoch_seconds is not None else []
    val_loader = make_loader(val_ds, s.eval_batch_size, False, s.seed, device, s.num_workers)
    n_epoch = epoch_rows(len(train_ds), train_groups)
    opt, sched = make_optimizer(
        model, scfg, steps_per_epoch(n_epoch, s.batch_size, s.grad_accum), span=schedule_span
    )
    dtype = amp_dtype(s.amp, device)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    result = StageResult(best_loss=math.inf, best_epoch=-1)
    start_epoch = 0
    ema = WeightEma(model, s.ema_decay) if s.ema_decay > 0 else None
    if resume:
        load_model_state(model, resume, checkpoints.last)
        if ema is not None and resume.get("ema"):
            ema.load_state_dict(resume["ema"])
        opt.load_state_dict(resume["optimizer"])
        sched.load_state_dict(resume["scheduler"])
        if resume["scaler"]:  # empty when the run it resumes had no fp16 scaler (CPU)
            scaler.load_state_dict(resume["scaler"])
        start_epoch = resume["epoch"] + 1
        result.best_loss, result.best_epoch = resume["best_loss"], resume["best_epoch"]
        ahead = best_saved_after(checkpoints.best, s.stage, resume["epoch"])
        if ahead is not None:  # killed between an epoch's best and its last state
            result.best_loss, result.best_epoch = ahead
        result.lrs = list(resume["lrs"])
        log.info("%s: resumed after epoch %d", s.name, resume["epoch"])
    elif start_is_candidate:
        base_loss, base_probs = evaluate(model, val_loader, device, s.amp)
        if check_val is not None:
            check_val(-1, base_probs)
        if val_score is not None:
            base_loss = val_score(base_probs)
        result.best_loss = base_loss
        checkpoints.save_best(model, s.stage, -1, base_loss)
        log.info("%s: starts from val_loss %.4f", s.name, base_loss)
    for epoch in range(start_epoch, scfg.epochs):
        if out_of_time():
            log.warning(
                "%s: stopping before epoch %d: the time limit would pass (%.0f s an epoch)",
                s.name,
                epoch,
                max(epoch_seconds) if epoch_seconds else float("nan"),
            )
            result.stopped = True
            break
        t0 = time.time()
        seeds = EpochSeeds.of(s.seed, epoch)
        seed_everything(seeds.global_)
        train_ds.set_epoch(epoch)
        loader = make_loader(Indexed(train_ds), s.batch_size, True, seeds.order, device,
                             s.num_workers, groups=train_groups)  # fmt: skip
        step_log = _StepLogger(s.name, epoch, s.log_every)
        on_step = step_log if ema is None else (lambda st, f=step_log: (f(st), ema.update(model)))
        ep = train_one_epoch(
            model, loader, opt, sched, scaler, device,
            grad_clip=s.grad_clip, amp=s.amp, vote_weighting=s.vote_weighting,
            augment=augment, generator=torch.Generator().manual_seed(seeds.augment),
            on_step=on_step,
            explain=(lambda *a, epoch=epoch: explain(epoch, *a)) if explain else None,
            desc=f"{s.name} e{epoch}", grad_accum=s.grad_accum,
        )  # fmt: skip
        result.lrs += ep.lrs
        scored = ema.model if ema is not None else model
        val_loss, val_probs = evaluate(scored, val_loader, device, s.amp)
        if check_val is not None:
            check_val(epoch, val_probs)
        if val_score is not None:
            val_loss = val_score(val_probs)
        seconds = time.time() - t0
        epoch_seconds.append(seconds)
        improved = val_loss < result.best_loss
        if improved or s.checkpoint == "last":
            result.best_loss, result.best_epoch = val_loss, epoch
            checkpoints.save_best(scored, s.stage, epoch, val_loss)
        kept = " (best)" if improved and s.checkpoint != "last" else ""
        log.info(
            "%s epoch %d train_loss %.4f val_loss %.4f%s time %.1f s",
            s.name, epoch, ep.train_loss, val_loss, kept, seconds,
        )  # fmt: skip
        extra = {"ema": ema.state_dict()} if ema is not None else {}
        checkpoints.save_last(model, {**optimizer_state(opt, sched, scaler), **extra}, s.stage,
                              epoch, result)  # fmt: skip
    return result
