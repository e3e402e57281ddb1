"""The ``baseline`` family: band-power features and a scikit-learn model, trained without
torch (``hms_kit.baseline``). Its fold checkpoints (logreg) hold the fitted model as
tensors and predict through ``hms_kit.baseline.predict_tensors``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hms_kit.config import Config
from hms_kit.data.competition import Competition

TORCH = False


def inputs(cfg: Config) -> list[str]:
    """None from the cache: the features are computed from the files (hms_kit.baseline)."""
    return []


def train(
    comp: Competition, cfg: Config, run_dir: str | Path, folds: list[int] | None = None
) -> dict[str, Any]:
    """The run's ``folds`` (None: all) (``hms_kit.baseline.train_baseline``)."""
    from hms_kit.baseline import train_baseline

    return train_baseline(comp, cfg, run_dir, folds)
