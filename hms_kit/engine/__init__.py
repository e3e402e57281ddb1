"""The engine every torch family trains and predicts with: ``loop`` (train step and epoch,
evaluation, prediction over a loader, optimiser and schedule) and ``stage`` (one stage's
epochs with the time budget, logging, learning-rate record and checkpoints);
``fold_stages`` says what a fold's stages are (their rows, epoch scores, one schedule's spans,
settings). ``hms_kit.train`` runs the folds and stages; the checkpoint format is
``hms_kit.checkpoint``.
"""

from __future__ import annotations

from hms_kit.engine.loop import (
    EpochSeeds,
    amp_dtype,
    evaluate,
    kl_loss,
    loader_workers,
    make_loader,
    make_optimizer,
    pick_device,
    predict_loader,
    seed_everything,
    steps_per_epoch,
    train_one_epoch,
    warmup_share,
)
from hms_kit.engine.stage import StageCheckpoints, StageResult, StageSettings, run_stage
from hms_kit.seeds import stream_seed

__all__ = [
    "EpochSeeds",
    "StageCheckpoints",
    "StageResult",
    "StageSettings",
    "amp_dtype",
    "evaluate",
    "kl_loss",
    "loader_workers",
    "make_loader",
    "make_optimizer",
    "pick_device",
    "predict_loader",
    "run_stage",
    "seed_everything",
    "steps_per_epoch",
    "stream_seed",
    "train_one_epoch",
    "warmup_share",
]
