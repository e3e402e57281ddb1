"""Training: patient-grouped folds, the loop (AdamW + OneCycleLR, KL loss, AMP, clipping),
two stages, best checkpoints, out-of-fold predictions and their scores.

A run folder holds:

    config.yaml              the resolved config
    training_record.log      the run log
    folds.csv                fold of every training row (reused by later runs in the folder)
    checkpoints/fold{k}_best.pt       the fold's final model (stage 2's best, else stage 1's)
    checkpoints/fold{k}_stage{s}.pt   each stage's best (lowest validation loss)
    checkpoints/fold{k}_last.pt       the state after the last finished epoch (for --resume)
    oof_fold{k}.csv, fold{k}_summary.json, oof.csv, scores.json, per_class.csv, confusion.png,
    lr.png
    stale/<time>/                     fold files set aside: made by other folds or settings

Every fold's checkpoints and summary carry the run's fingerprint (``data.folds.run_fingerprint``: the
folds and the config that decide the model) and that of its rows and folds alone. Before
training, a fold's files whose fingerprint differs from this run's (unless a checkpoint of the
fold shows an older kit made them with these rows and settings: ``data.folds.RunPrint``), and
the files of folds that no longer exist, are moved to ``stale/``: ``--resume`` never keeps a
fold that another split or config made, and ``predict`` and ``oof.csv`` never average one in.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from hms_kit.checkpoint import (
    CheckpointError,
    fold_checkpoint_path,
    load_checkpoint,
    load_model_state,
    require_torch,
    save_checkpoint,
)
from hms_kit.config import Config, ConfigError, save_config, to_dict
from hms_kit.data.competition import Competition
from hms_kit.data.folds import run_folds, set_aside
from hms_kit.data.labels import absent_classes, select_rows, total_votes, vote_targets
from hms_kit.data.readers import DataError
from hms_kit.engine import (
    StageCheckpoints,
    make_loader,
    pick_device,
    predict_loader,
    run_stage,
    seed_everything,
    stream_seed,
)
from hms_kit.engine.fold_stages import (
    MIN_STAGE_ITEMS,
    checkpoint_mask,
    joint_stage,
    schedule_spans,
    stage_rows,
    stage_settings,
    training_stages,
    validation_score,
)
from hms_kit.engine.loop import epoch_rows
from hms_kit.figures import plot_lr
from hms_kit.fold_scheduler import fold_devices, run_side_by_side
from hms_kit.inputs.cache import FeatureCache, build_cache
from hms_kit.inputs.dataset import InputDataset
from hms_kit.inputs.merge import in_chans as layout_in_chans
from hms_kit.io import atomic_write_csv, atomic_write_text
from hms_kit.models import build_model, family_inputs, get_family, is_torch_family
from hms_kit.runlog import ensure_run_log, get_run_logger, log_time, logger
from hms_kit.scoring.metric import (
    prior_predictions,
    scores_by_population,
)
from hms_kit.scoring.oof import (
    PRED_COLS,
    SEEDS_DIR,
    TARGET_COLS,
    gather_oof,
    population_table,
)
from hms_kit.scoring.populations import (
    population_summary,
)


class NoCheckpointError(RuntimeError):
    """A fold stopped before any epoch finished: there is no model to keep."""


class NonFiniteLossError(DataError):
    """A training batch gave a NaN or infinite loss; names the label rows and their files."""


# ----------------------------------------------------------------------------- helpers
def _non_finite_loss_error(
    ctx: FoldContext, stage: int, epoch: int, step: int, x, logits, y, idx, train_idx
) -> NonFiniteLossError:
    """The error for a non-finite batch loss, naming the label rows (and files) behind it."""
    with torch.no_grad():
        parts = x.values() if isinstance(x, dict) else [x]
        # a batch's floating inputs, each (B, ...); a (B,) one (spec2d's zoom shift) as (B, 1)
        parts = [t.reshape(len(t), -1) for t in parts if t.is_floating_point() and t.dim() >= 1]
        bad_x = torch.stack([~torch.isfinite(t.float()).all(dim=1) for t in parts]).any(dim=0)
        per_row = F.kl_div(F.log_softmax(logits.float(), dim=1), y, reduction="none").sum(dim=1)
        # batch norm spreads one bad row's NaN over the whole batch: bad inputs come first
        culprits = bad_x if bool(bad_x.any()) else ~torch.isfinite(per_row)
    pos = culprits.nonzero().flatten().cpu().numpy()
    cause = "non-finite inputs" if bool(bad_x.any()) else "non-finite outputs"
    if len(pos) == len(y) and not bool(bad_x.any()):
        cause = "every row non-finite: the weights diverged (lower the learning rate?)"
    rows = [int(train_idx[int(idx[p])]) for p in pos] if idx is not None else []
    return NonFiniteLossError(
        f"fold {ctx.fold} stage {stage} epoch {epoch} step {step + 1}: the loss is not finite "
        f"({cause}) from {_describe_rows(ctx.rows, rows)}; stopped before saving the weights"
    )


def _describe_rows(rows: pd.DataFrame, which: list[int], limit: int = 5) -> str:
    """'label row r (eeg_id e: train_eegs/e.parquet, spectrogram_id s: ...)' for a few rows."""
    names = []
    for r in which[:limit]:
        row = rows.iloc[r]
        eeg, spec = int(row["eeg_id"]), int(row["spectrogram_id"])
        names.append(
            f"label row {r} (eeg_id {eeg}: train_eegs/{eeg}.parquet, "
            f"spectrogram_id {spec}: train_spectrograms/{spec}.parquet)"
        )
    more = f" and {len(which) - limit} more" if len(which) > limit else ""
    return "; ".join(names) + more


def _check_validation(
    ctx: FoldContext, stage: int, epoch: int, probs: np.ndarray, val_idx: np.ndarray
) -> None:
    """NonFiniteLossError naming the validation rows whose predictions are not finite: a NaN
    validation loss never improves, so the stage would end with no checkpoint to explain."""
    bad = np.flatnonzero(~np.isfinite(probs).all(axis=1))
    if len(bad):
        raise NonFiniteLossError(
            f"fold {ctx.fold} stage {stage} epoch {epoch}: validation predictions are not "
            f"finite for {_describe_rows(ctx.rows, [int(val_idx[i]) for i in bad])}"
        )


# ----------------------------------------------------------------------------- folds x stages
# the key a fold's returned summary carries its process's epoch seconds under (not written)
EPOCH_SECONDS = "_epoch_seconds"


@dataclass
class FoldRun:
    """Everything a fold's training needs but its number and device; picklable, so a fold
    can train in another process (``hms_kit.fold_scheduler``). Calling it trains one fold
    and returns its summary.

    ``checkpoint_rows``: ``(n_rows,) bool``, the validation rows that choose the checkpoints
    of the stages after the first (None: each stage's ``min_votes`` rule, see
    ``stage_rows``); ``two_stage``: whether stage 2 runs (None: ``train.two_stage``).
    """

    cfg: Config
    run_dir: Path
    cache: FeatureCache
    rows: pd.DataFrame
    targets: np.ndarray
    votes: np.ndarray
    folds: np.ndarray
    deadline: float | None
    meta: dict[str, Any]
    resume: bool = False
    # seconds of every epoch run so far in this process, shared by the stages and folds, so
    # the time limit is checked before a stage's or a fold's first epoch too
    epoch_seconds: list[float] = field(default_factory=list)
    checkpoint_rows: np.ndarray | None = None
    two_stage: bool | None = None

    def __call__(self, fold: int, device: str) -> dict[str, Any]:
        if not logger().handlers:  # a fresh worker process
            get_run_logger(self.run_dir)
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(FoldRun)}
        shared["meta"] = {**self.meta, "fold": fold}
        ctx = FoldContext(**shared, fold=fold, device=torch.device(device))
        # seeded by fold, not by order, so a fold trains the same in any process
        seed_everything(stream_seed(self.cfg.train.seed, fold))
        # a side-by-side worker times its epochs in its own copy of the list: they go back
        # with the summary, for the run's next seed to check its first epoch against
        return {**train_fold(ctx, resume=self.resume), EPOCH_SECONDS: list(self.epoch_seconds)}


@dataclass
class FoldContext(FoldRun):
    """One fold's training: the run's shared state, the fold and its device."""

    fold: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def out_of_time(self) -> bool:
        """Whether one more epoch (the longest seen, +10 %) would pass the deadline."""
        if self.deadline is None or not self.epoch_seconds:
            return False
        return time.time() + max(self.epoch_seconds) * 1.1 > self.deadline

    @property
    def ckpt_dir(self) -> Path:
        return self.run_dir / "checkpoints"


def _fold_indices(ctx: FoldContext, min_votes: int) -> tuple[np.ndarray, np.ndarray]:
    return stage_rows(ctx.folds, ctx.votes, ctx.fold, min_votes, ctx.checkpoint_rows)


def _train_groups(ctx: FoldContext, train_idx: np.ndarray) -> np.ndarray | None:
    """The eeg_id of each training row for the ``per_eeg`` sampler, else None."""
    if ctx.cfg.train.sampler != "per_eeg":
        return None
    return ctx.rows["eeg_id"].to_numpy()[train_idx]


def _epoch_items(ctx: FoldContext, min_votes: int) -> int:
    """Items one epoch of a stage with ``min_votes`` draws on this fold (``epoch_rows``)."""
    train_idx, _ = _fold_indices(ctx, min_votes)
    return epoch_rows(len(train_idx), _train_groups(ctx, train_idx))


def _dataset(ctx: FoldContext, idx: np.ndarray, augment=None, seed: int = 0) -> InputDataset:
    return InputDataset(
        ctx.cache,
        idx,
        ctx.targets[idx],
        ctx.votes[idx],
        names=family_inputs(ctx.cfg),
        augment=augment,
        seed=seed,
    )


@log_time
def train_fold(ctx: FoldContext, resume: bool = False) -> dict[str, Any]:
    """Train one fold (one or two stages) and write its OOF predictions; returns its summary."""
    from hms_kit.inputs.augment import build_augment
    from hms_kit.inputs.registry import time_cells

    cfg, log = ctx.cfg, logger()
    ctx.ckpt_dir.mkdir(parents=True, exist_ok=True)
    final_path = fold_checkpoint_path(ctx.ckpt_dir, ctx.fold, "final")
    last_path = fold_checkpoint_path(ctx.ckpt_dir, ctx.fold, "last")
    oof_path = ctx.run_dir / f"oof_fold{ctx.fold}.csv"
    summary_path = ctx.run_dir / f"fold{ctx.fold}_summary.json"
    if resume and final_path.is_file() and oof_path.is_file() and summary_path.is_file():
        saved = json.loads(summary_path.read_text())
        if not saved.get("stopped"):
            had, want = saved_oof_views(saved, final_path), cfg.predict.oof_views()
            if had == want:
                log.info("fold %d: already finished, kept", ctx.fold)
                if "oof_views" not in saved:  # read from the checkpoint once, then kept
                    saved["oof_views"] = list(had)
                    atomic_write_text(summary_path, json.dumps(saved, indent=1))
                return saved
            # predict is outside the fingerprint: the model is kept, its OOF follows the
            # config's views, or a blend would weigh other views than the test set gets
            log.info(
                "fold %d: already finished, kept; its OOF was predicted with views %s, the "
                "config asks %s: predicted again from %s", ctx.fold, _views_text(had),
                _views_text(want), final_path.name,
            )  # fmt: skip
            state = load_checkpoint(final_path)
            model = build_model(cfg).to(ctx.device)
            load_model_state(model, state, final_path)
            return _write_fold_oof(ctx, model, saved)
        # stopped at a time limit: go on from its last finished epoch
        log.info("fold %d: stopped at the time limit before, resuming it", ctx.fold)
    if ctx.out_of_time():
        log.warning("fold %d: not started: an epoch would pass the time limit", ctx.fold)
        return {"fold": ctx.fold, "stopped": True, "started": False}
    last = None
    if resume and last_path.is_file():
        try:
            last = load_checkpoint(last_path)
        except CheckpointError as exc:
            log.warning("fold %d: not resumed, trained from the start: %s", ctx.fold, exc)
    stages = training_stages(cfg, ctx.two_stage)
    # stage checkpoints this call will not go on from (all of them when the fold trains from
    # the start, as a run trained again without --resume does): left in place, one of an
    # earlier run could become the fold's model when this call stops before reaching it
    first_new = last["stage"] + 1 if last is not None else 1
    paths = [fold_checkpoint_path(ctx.ckpt_dir, ctx.fold, "best", s) for s, _ in stages]
    earlier = [p for (s, _), p in zip(stages, paths) if s >= first_new and p.is_file()]
    if last is None and last_path.is_file():
        # an earlier run's last state: a later --resume would go on from it, past the bests
        # just set aside, when this call is stopped before its first epoch saves its own
        earlier.append(last_path)
    if earlier:
        set_aside(ctx.run_dir, earlier)
        log.info("fold %d: %s of an earlier run set aside in stale/", ctx.fold,
                 ", ".join(p.name for p in earlier))  # fmt: skip
    model = build_model(cfg).to(ctx.device)
    if cfg.train.channels_last and hasattr(model, "channels_last"):
        model = model.to(memory_format=torch.channels_last)
        model.channels_last = True
    mods = list(cfg.inputs.modalities)
    cells = time_cells(mods, cfg.inputs)
    panel_aug = build_augment(cfg.augment, len(mods), time_cells=[cells[m] for m in mods])
    batch_aug = get_family(cfg.model.family).batch_augment(cfg)
    all_lrs: dict[int, list[float]] = {}
    summary: dict[str, Any] = {"fold": ctx.fold}
    spans = (
        schedule_spans(
            stages,
            [_epoch_items(ctx, scfg.min_votes) for _, scfg in stages],
            cfg.train.batch_size,
            cfg.train.grad_accum,
        )
        if cfg.train.joint_schedule
        else {}
    )
    skipped: list[str] = []
    for stage, scfg in stages:
        stage_best = fold_checkpoint_path(ctx.ckpt_dir, ctx.fold, "best", stage)
        if last is not None and last["stage"] > stage:  # finished before the interruption
            done = load_checkpoint(stage_best)
            all_lrs[stage] = done.get("lrs", [])
            # the summary a run that was never interrupted writes (plan estimates read them)
            summary[f"stage{stage}_best_val_loss"] = done.get("val_loss")
            summary[f"stage{stage}_best_epoch"] = done.get("epoch")
            summary[f"stage{stage}_val_rows"] = len(_fold_indices(ctx, scfg.min_votes)[1])
            continue
        if stage > 1:
            prev = fold_checkpoint_path(ctx.ckpt_dir, ctx.fold, "best", stage - 1)
            load_model_state(model, load_checkpoint(prev), prev)
        train_idx, val_idx = _fold_indices(ctx, scfg.min_votes)
        groups = _train_groups(ctx, train_idx)
        if (items := epoch_rows(len(train_idx), groups)) < MIN_STAGE_ITEMS:
            log.warning(
                "fold %d stage %d: %d training item(s) an epoch with >= %d votes; stage skipped",
                ctx.fold,
                stage,
                items,
                scfg.min_votes,
            )
            skipped.append(f"train.stage{stage}.min_votes={scfg.min_votes}")
            continue
        settings = stage_settings(cfg, ctx.fold, stage)
        res_state = last if last is not None and last["stage"] == stage else None
        res = run_stage(
            model,
            joint_stage(cfg, scfg) if cfg.train.joint_schedule else scfg,
            settings,
            _dataset(ctx, train_idx, panel_aug, settings.seed),
            _dataset(ctx, val_idx),
            ctx.device,
            StageCheckpoints(stage_best, last_path, ctx.meta),
            augment=batch_aug,
            out_of_time=ctx.out_of_time,
            epoch_seconds=ctx.epoch_seconds,
            resume=res_state,
            start_is_candidate=stage > 1,
            check_val=lambda epoch, probs, st=stage, vi=val_idx: _check_validation(
                ctx, st, epoch, probs, vi
            ),
            explain=lambda epoch, step, x, logits, y, idx, st=stage, ti=train_idx: (
                _non_finite_loss_error(ctx, st, epoch, step, x, logits, y, idx, ti)
            ),
            val_score=validation_score(ctx.cfg, ctx.rows, ctx.targets, val_idx),
            train_groups=groups,
            schedule_span=spans.get(stage),
        )
        last = None
        all_lrs[stage] = res.lrs
        if stage_best.is_file():
            ck = load_checkpoint(stage_best)
            ck["lrs"] = res.lrs
            save_checkpoint(ck, stage_best, kind="best")
        summary[f"stage{stage}_best_val_loss"] = res.best_loss
        summary[f"stage{stage}_best_epoch"] = res.best_epoch
        summary[f"stage{stage}_val_rows"] = len(val_idx)
        if res.stopped:
            summary["stopped"] = True
            break
    # the fold's model: the last stage that saved a best checkpoint
    for stage, _ in reversed(stages):
        path = fold_checkpoint_path(ctx.ckpt_dir, ctx.fold, "best", stage)
        if path.is_file():
            state = load_checkpoint(path)
            break
    else:
        if summary.get("stopped") and not skipped:
            # the time limit came while the model was built: not started, as the check
            # before the build says; the other folds' results are still gathered
            log.warning("fold %d: not started: an epoch would pass the time limit", ctx.fold)
            return {"fold": ctx.fold, "stopped": True, "started": False}
        why = (
            f"fewer than 2 training rows at {', '.join(skipped)} (lower it for a competition "
            "this small)"
            if skipped
            else "no epoch finished"
        )
        raise NoCheckpointError(f"fold {ctx.fold}: {why}, no checkpoint to keep")
    state["lrs_by_stage"] = all_lrs
    save_checkpoint(state, final_path, kind="final")
    load_model_state(model, state, path)
    summary["fingerprint"] = ctx.meta["fingerprint"]
    summary["rows_fingerprint"] = ctx.meta["rows_fingerprint"]
    return _write_fold_oof(ctx, model, summary)


def saved_oof_views(summary: dict[str, Any], final_path: Path) -> tuple[bool, bool]:
    """The views a finished fold's OOF was predicted with: its summary's ``oof_views``, else
    (a fold trained before the summary kept them) those of the config saved in its final
    checkpoint, else none."""
    if isinstance(summary.get("oof_views"), list) and len(summary["oof_views"]) == 2:
        flip, mirror = summary["oof_views"]
        return (bool(flip), bool(mirror))
    try:
        pred = load_checkpoint(final_path, check_finite=False).get("config", {}).get("predict", {})
    except CheckpointError:
        return (False, False)
    tta = bool(pred.get("tta_oof", False))  # the default before issue 21 made it true
    return (tta and bool(pred.get("tta_flip")), tta and bool(pred.get("tta_mirror")))


def _views_text(views: tuple[bool, bool]) -> str:
    names = [n for n, on in zip(("flip", "mirror"), views, strict=True) if on]
    return "+".join(names) or "none"


def _write_fold_oof(ctx: FoldContext, model: torch.nn.Module, summary: dict[str, Any]) -> dict:
    """Predict the fold's validation rows with ``model`` and the config's OOF views, write
    ``oof_fold{k}.csv`` and ``fold{k}_summary.json`` (``summary`` with the OOF's scores and
    views); returns that summary."""
    cfg, log = ctx.cfg, logger()
    val_idx = np.flatnonzero(ctx.folds == ctx.fold)
    loader = make_loader(
        _dataset(ctx, val_idx), cfg.predict.batch_size, False, 0, ctx.device,
        cfg.train.num_workers,
    )  # fmt: skip
    flip, mirror = cfg.predict.oof_views()
    probs = predict_loader(
        model, loader, ctx.device, cfg.train.amp, tta_flip=flip, tta_mirror=mirror
    )
    atomic_write_csv(
        ctx.run_dir / f"oof_fold{ctx.fold}.csv",
        oof_frame(
            ctx.rows.iloc[val_idx], probs, ctx.targets[val_idx], ctx.votes[val_idx], ctx.fold
        ),
    )
    summary.update(
        scores_by_population(
            ctx.targets[val_idx], probs, ctx.votes[val_idx], cfg.data.high_vote_threshold
        )
    )
    summary["oof_views"] = [flip, mirror]
    atomic_write_text(ctx.run_dir / f"fold{ctx.fold}_summary.json", json.dumps(summary, indent=1))
    log.info("fold %d: OOF KL %.4f (all %d rows)", ctx.fold, summary["kl_all"], summary["n_all"])
    return summary


def oof_frame(
    rows: pd.DataFrame, probs: np.ndarray, targets: np.ndarray, votes: np.ndarray, fold: int
) -> pd.DataFrame:
    """oof.csv rows: ids and offsets, fold, six predicted probabilities, six targets, total votes."""
    ids = ["label_id"] if "label_id" in rows else []
    out = (
        rows[
            [
                *ids,
                "eeg_id",
                "eeg_sub_id",
                "eeg_label_offset_seconds",
                "spectrogram_id",
                "spectrogram_label_offset_seconds",
                "patient_id",
            ]
        ]
        .reset_index(drop=True)
        .copy()
    )
    out["fold"] = fold
    out[PRED_COLS] = probs
    out[TARGET_COLS] = targets
    out["total_votes"] = votes
    return out


# ----------------------------------------------------------------------------- whole run
def training_rows(comp: Competition, cfg: Config) -> pd.DataFrame:
    """train.csv, validated, in the configured row mode."""
    return select_rows(comp.read_train(cfg.data.train_csv), cfg.data.row_mode)


@log_time
def prepare(
    comp: Competition, cfg: Config, cache_dir: Path, workers: int | None = None
) -> tuple[pd.DataFrame, FeatureCache]:
    """The training rows and their feature cache (built or reused)."""
    rows = training_rows(comp, cfg)
    cache = build_cache(
        comp,
        rows,
        cfg.inputs,
        cache_dir,
        split="train",
        modalities=family_inputs(cfg) or None,
        workers=workers,
        strict=True,
    )
    return rows, cache


@dataclass
class TimeLimit:
    """``train.time_limit_hours`` as a deadline (``time.time()`` seconds; None: no limit)
    and the seconds of every epoch run under it, so that the seeds of a repeated run share
    one limit (each seed's first epoch is checked against the epochs before it)."""

    deadline: float | None
    epoch_seconds: list[float] = field(default_factory=list)

    @classmethod
    def start(cls, cfg: Config) -> TimeLimit:
        """The limit counted from now."""
        hours = cfg.train.time_limit_hours
        return cls(time.time() + hours * 3600 if hours > 0 else None)


def train_folds(
    comp: Competition,
    cfg: Config,
    run_dir: str | Path,
    folds: list[int] | None = None,
    cache_dir: str | Path | None = None,
    resume: bool = False,
    workers: int | None = None,
    limit: TimeLimit | None = None,
) -> dict[str, Any]:
    """Train the requested folds (default: the config's, else all) and gather the OOF results.

    ``limit``: the time limit to train under (a repeated run's seeds share one); None: the
    config's, counted from this call (the cache build is inside it).

    Returns the summary of ``gather_oof`` (scores over all rows and high-vote rows, once every
    fold has its OOF file) plus the per-fold summaries.
    """
    from hms_kit.repeats import retire_seeds, seed_list, train_repeats

    if is_torch_family(cfg):  # before anything is written or judged (a seeded run's folds too)
        require_torch()
    if seed_list(cfg):  # issue 21: one run per seed on the same folds, averaged
        rows = training_rows(comp, cfg)
        return train_repeats(
            train_folds, comp, cfg, rows, run_dir, folds, cache_dir, resume, workers,
            limit or TimeLimit.start(cfg),
        )  # fmt: skip
    if resume and (Path(run_dir) / SEEDS_DIR).is_dir():
        raise ConfigError(
            f"{run_dir} was trained with seeds ({Path(run_dir) / SEEDS_DIR}/): resume it with "
            "--repeats K (train.seeds), or train into another --out; to replace them, train "
            "without --resume (on Kaggle: push without RESUME=1)"
        )
    # the fold checks come before the cache build: a wrong fold costs seconds, not an hour
    # each once: a fold named twice would be trained twice, by two fold workers at once
    wanted = list(dict.fromkeys(folds or cfg.train.folds or range(cfg.train.n_folds)))
    bad = [k for k in wanted if not 0 <= k < cfg.train.n_folds]
    if bad:
        raise ConfigError(
            f"fold {bad[0]} does not exist: folds are 0..{cfg.train.n_folds - 1} "
            f"(train.n_folds = {cfg.train.n_folds})"
        )
    if not is_torch_family(cfg):  # e.g. the baseline: features + scikit-learn, no torch loop
        ensure_run_log(run_dir)
        retire_seeds(run_dir)  # a run trained with seeds before, without now
        return get_family(cfg.model.family).train(comp, cfg, run_dir, sorted(wanted))
    # the limit counts from here, so the cache build is inside it
    limit = limit or TimeLimit.start(cfg)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / "config.yaml")
    log = ensure_run_log(run_dir)
    cache_dir = Path(cache_dir) if cache_dir else run_dir / "cache"
    retire_seeds(run_dir)  # a run trained with seeds before, without now
    train, rows, fold_of, current = run_folds(comp, cfg, run_dir)
    cache = build_cache(
        comp,
        rows,
        cfg.inputs,
        cache_dir,
        split="train",
        modalities=family_inputs(cfg),
        workers=workers,
        strict=True,
    )
    missing = absent_classes(rows)
    if missing:
        log.warning("no votes at all for %s in the training rows: training goes on", missing)
    targets = vote_targets(rows)
    votes = total_votes(rows).astype(np.float32)
    device = pick_device()
    meta = {
        "family": cfg.model.family,
        "config": to_dict(cfg),
        "run_id": run_id(run_dir),
        "in_chans": layout_in_chans(cfg.inputs.layout, cfg.inputs.modalities),
        "prior": prior_predictions(targets, 1)[0].tolist(),
        "fingerprint": current.fingerprint,
        "rows_fingerprint": current.rows,
    }
    log.info(
        "training %d rows (%s mode) for target population %s, folds %s of %d on %s",
        len(rows),
        cfg.data.row_mode,
        cfg.target.population,
        wanted,
        cfg.train.n_folds,
        device,
    )
    # target.population: its rows choose the checkpoints (all_rows also drops stage 2)
    job = FoldRun(
        cfg, run_dir, cache, rows, targets, votes, fold_of, limit.deadline, meta, resume,
        epoch_seconds=limit.epoch_seconds, checkpoint_rows=checkpoint_mask(cfg, votes),
    )  # fmt: skip
    devices = fold_devices(cfg.train.fold_workers)[: len(wanted)]
    if len(devices) > 1:
        log.info("folds %s side by side on %s, longest first", wanted, devices)
        cost = {k: float((fold_of != k).sum()) for k in wanted}
        by_fold = run_side_by_side(job, wanted, devices, cost)
        summaries = [by_fold[k] for k in wanted]
        for summary in summaries:
            limit.epoch_seconds.extend(summary.pop(EPOCH_SECONDS, []))
    else:
        summaries = []
        for k in wanted:
            summaries.append(job(k, str(device)))
            summaries[-1].pop(EPOCH_SECONDS)  # timed into limit.epoch_seconds itself
            if summaries[-1].get("stopped"):
                log.warning("stopped at the time limit after fold %d", k)
                break
    plot_lr(run_dir)
    result = gather_oof(run_dir, cfg, train)
    if result.get("complete"):
        log.info(
            "OOF scores by population:\n%s",
            population_table(result, cfg.data.high_vote_threshold),
        )
        log.info(
            population_summary(result, cfg.target.population, cfg.data.high_vote_threshold)
        )  # issue 13
    result["folds_trained"] = summaries
    return result


def run_id(run_dir: Path) -> str:
    """The run folder's id (``run_id.txt``, made on its first training): checkpoints carry it,
    so files from two runs of one folder can be told apart."""
    path = Path(run_dir) / "run_id.txt"
    if path.is_file():
        return path.read_text().strip()
    rid = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
    atomic_write_text(path, rid + "\n")
    return rid


def install_stop_handler() -> None:
    """Turn SIGTERM into KeyboardInterrupt so a killed run unwinds (temporary files cleaned)."""

    def handler(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
