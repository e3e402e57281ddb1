"""What a fold's stages are, before any of them trains: which stages run, the rows each
trains and chooses its checkpoints on, how it scores its epochs, the one learning-rate
schedule over them (``train.joint_schedule``) and each stage's engine settings.

Pure functions of the config and the fold's arrays (fold of every row, votes of every row);
``hms_kit.train`` runs the stages they describe with ``hms_kit.engine.stage.run_stage``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from hms_kit.config import Config, StageConfig
from hms_kit.engine.loop import steps_per_epoch
from hms_kit.engine.stage import StageSettings
from hms_kit.scoring.metric import kl_score
from hms_kit.scoring.populations import checkpoint_rows, eeg_mean_predictions
from hms_kit.scoring.populations import training_stages as population_stages
from hms_kit.seeds import stream_seed

__all__ = [
    "checkpoint_mask",
    "joint_stage",
    "schedule_spans",
    "stage_rows",
    "stage_settings",
    "training_stages",
    "validation_score",
]


def training_stages(cfg: Config, two_stage: bool | None = None) -> list[tuple[int, StageConfig]]:
    """The stages a fold trains, ``[(1, stage1), (2, stage2)]`` or only stage 1
    (``two_stage``: None = as ``train.two_stage`` and ``target.population`` decide); a stage 2
    of 0 epochs is no stage 2."""
    if two_stage is None:
        return population_stages(cfg)
    stage2 = two_stage and cfg.train.stage2.epochs > 0
    return [(1, cfg.train.stage1)] + ([(2, cfg.train.stage2)] if stage2 else [])


def stage_rows(
    folds: np.ndarray,
    votes: np.ndarray,
    fold: int,
    min_votes: int,
    checkpoint_rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A stage's training and validation row indices for ``fold``.

    Training: the other folds' rows with >= ``min_votes`` votes. Validation (the rows that
    choose the stage's best epoch): the fold's rows, narrowed when ``min_votes`` > 0 to
    ``checkpoint_rows`` if given, else to its rows with >= ``min_votes`` votes, so stage 2
    chooses on the population it is trained for (the hidden test's); all the fold's rows when
    that leaves none.
    """
    train_idx = np.flatnonzero(folds != fold)
    val_idx = np.flatnonzero(folds == fold)
    if min_votes > 0:
        train_idx = train_idx[votes[train_idx] >= min_votes]
        chosen = (
            val_idx[np.asarray(checkpoint_rows, bool)[val_idx]]
            if checkpoint_rows is not None
            else val_idx[votes[val_idx] >= min_votes]
        )
        val_idx = chosen if len(chosen) else val_idx
    return train_idx, val_idx


def validation_score(
    cfg: Config, rows: pd.DataFrame, targets: np.ndarray, val_idx: np.ndarray
) -> Callable[[np.ndarray], float] | None:
    """How a stage scores its validation predictions ``(len(val_idx), 6)`` to choose epochs:
    None (KL row by row) for ``kaggle_hq``; for ``all_rows``, as MLE-bench's grader will see
    them: each EEG's mean prediction against every one of its rows' targets."""
    if cfg.target.population != "all_rows":
        return None
    eeg_ids = rows["eeg_id"].to_numpy()[val_idx]
    t = targets[val_idx]
    return lambda probs: kl_score(t, eeg_mean_predictions(eeg_ids, probs))


def checkpoint_mask(cfg: Config, votes: np.ndarray) -> np.ndarray:
    """``(n_rows,) bool``: the rows whose validation loss chooses a high-vote stage's
    checkpoints under ``target.population`` (``hms_kit.scoring.populations.checkpoint_rows``)."""
    rows = np.arange(len(votes))
    mask = np.zeros(len(votes), bool)
    mask[checkpoint_rows(cfg.target.population, rows, votes, cfg.train.stage2.min_votes)] = True
    return mask


def joint_stage(cfg: Config, scfg: StageConfig) -> StageConfig:
    """A stage's settings under ``train.joint_schedule``: the learning-rate settings of stage
    1 (the one schedule's), the stage's own epochs, weight decay and rows."""
    return dataclasses.replace(
        cfg.train.stage1,
        epochs=scfg.epochs,
        weight_decay=scfg.weight_decay,
        min_votes=scfg.min_votes,
    )


# a stage of one item an epoch trains on batches of one, which batch norm cannot: skipped
MIN_STAGE_ITEMS = 2


def schedule_spans(
    stages: Sequence[tuple[int, StageConfig]],
    items: Sequence[int],
    batch_size: int,
    grad_accum: int = 1,
) -> dict[int, tuple[int, int]]:
    """``{stage: (first step, total steps)}`` of one schedule over a fold's ``stages``
    (``train.joint_schedule``). ``items``: the items each stage's epoch draws (its training
    rows, or one per EEG with the ``per_eeg`` sampler); a stage of fewer than
    ``MIN_STAGE_ITEMS`` is skipped and takes no step. A stage's steps are its epochs times
    ``steps_per_epoch``."""
    steps = [
        scfg.epochs * steps_per_epoch(n, batch_size, grad_accum) if n >= MIN_STAGE_ITEMS else 0
        for (_, scfg), n in zip(stages, items, strict=True)
    ]
    first = np.concatenate([[0], np.cumsum(steps)[:-1]]) if steps else []
    total = int(sum(steps))
    return {stage: (int(f), total) for (stage, _), f in zip(stages, first, strict=True)}


def stage_settings(cfg: Config, fold: int, stage: int) -> StageSettings:
    """The engine settings of ``fold``'s ``stage``: the run's ``train`` section, named
    ``"fold F stage S"``, seeded by fold and stage so a fold trains the same in any process."""
    t = cfg.train
    return StageSettings(
        name=f"fold {fold} stage {stage}",
        stage=stage,
        batch_size=t.batch_size,
        eval_batch_size=cfg.predict.batch_size,
        num_workers=t.num_workers,
        grad_clip=t.grad_clip,
        amp=t.amp,
        vote_weighting=t.vote_weighting,
        log_every=t.log_every,
        seed=stream_seed(t.seed, fold, stage),
        checkpoint=t.checkpoint,
        ema_decay=t.ema_decay,
        grad_accum=t.grad_accum,
    )
