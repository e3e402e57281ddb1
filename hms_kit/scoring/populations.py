"""The scored population a run optimises (``target.population``), as pure functions.

Two populations are scored in practice and the best recipe differs between them:

- ``kaggle_hq``: Kaggle's hidden test set holds only high-vote rows (>= 10 votes), one 50-s
  window each. Fine-tuning on those rows (stage 2) and choosing its checkpoint on them is the
  largest single gain there.
- ``all_rows``: MLE-bench scores 10 % of the public train spectrograms with every row and
  every vote count, one prediction per eeg_id copied to its rows (``hms_kit.data.mlebench``).
  High-vote fine-tuning made that score worse in 7th place's logs, so it is not run and
  checkpoints are chosen on all validation rows.

Both populations are scored by every run (``scores.json``); these functions only decide what
the training optimises and which score is its headline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hms_kit.config import TARGET_POPULATIONS, Config, StageConfig
from hms_kit.scoring.metric import PRED_COLS, TARGET_COLS, kl_per_row

__all__ = [
    "TARGET_POPULATIONS",
    "checkpoint_population",
    "checkpoint_rows",
    "eeg_mean_predictions",
    "grader_view_scores",
    "headline_key",
    "training_stages",
]


def _check(population: str) -> None:
    if population not in TARGET_POPULATIONS:
        raise ValueError(
            f"target.population must be one of {TARGET_POPULATIONS}, got {population!r}"
        )


def training_stages(cfg: Config) -> list[tuple[int, StageConfig]]:
    """The stages a fold trains, ``[(number, settings), ...]``: stage 1, then for
    ``kaggle_hq`` stage 2 (fine-tuning on high-vote rows) when ``train.two_stage`` and
    ``train.stage2.epochs`` > 0 (0 epochs means no stage 2)."""
    _check(cfg.target.population)
    stages = [(1, cfg.train.stage1)]
    if cfg.train.two_stage and cfg.target.population == "kaggle_hq" and cfg.train.stage2.epochs:
        stages.append((2, cfg.train.stage2))
    return stages


def checkpoint_rows(
    population: str, val_idx: np.ndarray, votes: np.ndarray, min_votes: int
) -> np.ndarray:
    """The validation rows whose loss chooses a stage's best epoch (a subset of ``val_idx``).

    ``kaggle_hq``: a stage trained on rows with >= ``min_votes`` votes chooses on the
    validation rows with that many votes (all of them when there are none); ``all_rows``:
    every validation row. ``votes``: total votes of every training row, indexed by row.
    """
    _check(population)
    val_idx = np.asarray(val_idx)
    if population == "all_rows" or min_votes <= 0:
        return val_idx
    high = val_idx[np.asarray(votes)[val_idx] >= min_votes]
    return high if len(high) else val_idx


def checkpoint_population(cfg: Config) -> str:
    """The rows the final checkpoints were chosen on, for scores.json: ``votes_ge_<n>``,
    ``all`` (row by row), ``all_eeg_mean`` (``all_rows``: every row, each EEG's mean
    prediction, as MLE-bench's grader scores) or ``none`` (a baseline fits once, nothing is
    chosen)."""
    if cfg.model.family == "baseline":
        return "none"
    if cfg.target.population == "all_rows":
        return "all_eeg_mean"
    last = training_stages(cfg)[-1][1]
    return (
        f"votes_ge_{last.min_votes}"
        if last.min_votes > 0 and cfg.target.population == "kaggle_hq"
        else "all"
    )


def eeg_mean_predictions(eeg_ids: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """``(n, 6) float64``: each row's prediction replaced by the mean (probability space) of
    its eeg_id's rows, what a submission with one prediction per eeg_id gives every row."""
    p = pd.DataFrame(np.asarray(probs, dtype=np.float64))
    return p.groupby(np.asarray(eeg_ids)).transform("mean").to_numpy()


def grader_view_scores(oof: pd.DataFrame, threshold: int) -> dict[str, float]:
    """OOF scores with one prediction per eeg_id (its rows' mean) copied to each row, as
    MLE-bench's grader sees a submission: ``kl_all_eeg_mean`` over every row and
    ``kl_votes_ge_<threshold>_eeg_mean`` over the high-vote rows (NaN when none)."""
    t = oof[TARGET_COLS].to_numpy(np.float64)
    p = eeg_mean_predictions(oof["eeg_id"].to_numpy(), oof[PRED_COLS].to_numpy(np.float64))
    per_row = kl_per_row(t, p)
    high = oof["total_votes"].to_numpy() >= threshold
    return {
        "kl_all_eeg_mean": float(per_row.mean()) if len(per_row) else float("nan"),
        f"kl_votes_ge_{threshold}_eeg_mean": float(per_row[high].mean())
        if high.any()
        else float("nan"),
    }


def headline_key(population: str) -> str:
    """The scores.json key a run of ``population`` is judged by: ``kl_golden`` (one
    high-vote row per EEG) for ``kaggle_hq``, ``kl_all_eeg_mean`` for ``all_rows``."""
    _check(population)
    return "kl_golden" if population == "kaggle_hq" else "kl_all_eeg_mean"


def population_summary(scores: dict[str, Any], population: str, threshold: int = 10) -> str:
    """Two lines for a train summary: the target population and its headline score first,
    then the other population's."""
    head = headline_key(population)
    other = "kl_all_eeg_mean" if population == "kaggle_hq" else "kl_golden"
    return (
        f"target population {population}: {head} {scores.get(head, float('nan')):.4f}\n"
        f"  also: {other} {scores.get(other, float('nan')):.4f}, kl_all "
        f"{scores.get('kl_all', float('nan')):.4f}, kl_votes_ge_{threshold} "
        f"{scores.get(f'kl_votes_ge_{threshold}', float('nan')):.4f}"
    )
