"""Out-of-fold tables: one row per train.csv row, and scores per vote population.

A run trains on the rows of its row mode (every window, one per EEG, or one per distinct
vote vector); its OOF predictions are mapped back to every train.csv row they stand for, so
the OOF files of runs with different row modes line up row by row and can be blended.

Populations (``population_names(threshold)``; ``POPULATIONS`` at the default threshold of 10):
``all``; ``votes_le_3`` (the crowd's rows), ``votes_4_9``, ``votes_ge_10`` (the experts', like
Kaggle's hidden test set); ``golden``: one row per eeg_id among the >= 10-vote rows (its first
window), so long EEGs with many windows do not weigh more than short ones. With
``data.high_vote_threshold: 8`` the two upper ones are ``votes_4_7`` and ``votes_ge_8``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hms_kit import schema
from hms_kit.scoring.metric import EPS, kl_per_row

MIN_THRESHOLD = 5  # below it the 4..threshold-1 population would be empty


def population_names(threshold: int = schema.HIGH_VOTE_THRESHOLD) -> tuple[str, ...]:
    """The population names at a high-vote ``threshold`` (total votes), in report order."""
    if threshold < MIN_THRESHOLD:
        raise ValueError(
            f"data.high_vote_threshold must be >= {MIN_THRESHOLD} votes, got {threshold}"
        )
    return ("all", "votes_le_3", f"votes_4_{threshold - 1}", high_population(threshold), "golden")


def high_population(threshold: int = schema.HIGH_VOTE_THRESHOLD) -> str:
    """The name of the rows with >= ``threshold`` votes: its score is ``kl_<name>``."""
    return f"votes_ge_{threshold}"


POPULATIONS = population_names()
PRED_COLS = [f"pred_{c}" for c in schema.VOTE_COLUMNS]
LOGIT_COLS = [f"logit_{c}" for c in schema.VOTE_COLUMNS]
TARGET_COLS = [f"target_{c}" for c in schema.VOTE_COLUMNS]
# what a representative row stands for, per row mode
GROUP_KEYS = {"all": None, "per_eeg": ["eeg_id"], "dedup": ["eeg_id", *schema.VOTE_COLUMNS]}


def population_masks(
    eeg_ids: np.ndarray, votes: np.ndarray, threshold: int = schema.HIGH_VOTE_THRESHOLD
) -> dict[str, np.ndarray]:
    """``(n,) bool`` mask per population (``golden``: the first >= threshold row of each
    eeg_id in the given order). ``votes`` are total votes per row."""
    votes = np.asarray(votes)
    high = votes >= threshold
    golden = np.zeros(len(votes), bool)
    first = pd.Series(np.flatnonzero(high)).groupby(np.asarray(eeg_ids)[high]).first()
    golden[first.to_numpy()] = True
    masks = (np.ones(len(votes), bool), votes <= 3, (votes >= 4) & ~high, high, golden)
    return dict(zip(population_names(threshold), masks, strict=True))


def scores_per_population(
    targets: np.ndarray,
    probs: np.ndarray,
    votes: np.ndarray,
    eeg_ids: np.ndarray,
    threshold: int = schema.HIGH_VOTE_THRESHOLD,
) -> dict[str, float]:
    """``kl_<population>`` (NaN when it has no row) and ``n_<population>`` for every
    population; ``(n, 6)`` targets and probabilities."""
    per_row = kl_per_row(targets, probs)
    out: dict[str, float] = {}
    for name, mask in population_masks(eeg_ids, votes, threshold).items():
        out[f"kl_{name}"] = float(per_row[mask].mean()) if mask.any() else float("nan")
        out[f"n_{name}"] = int(mask.sum())
    return out


def add_logits(oof: pd.DataFrame) -> pd.DataFrame:
    """``oof`` with ``logit_*`` columns: the log-probabilities (logits up to a per-row
    constant, which a softmax ignores), what a blend in logit space works on."""
    out = oof.copy()
    out[LOGIT_COLS] = np.log(np.clip(out[PRED_COLS].to_numpy(float), EPS, 1.0))
    return out


def expand_to_train_rows(oof: pd.DataFrame, train: pd.DataFrame, row_mode: str) -> pd.DataFrame:
    """The OOF of a run's training rows mapped back to every train.csv row they stand for.

    ``oof`` holds the run's rows (train.csv columns, ``fold``, ``pred_*``); each train.csv row
    gets the prediction and fold of the row that represents it under ``row_mode`` and keeps
    its own target and total votes. Rows of ``all`` map to themselves.
    """
    if row_mode not in GROUP_KEYS:
        raise ValueError(f"row mode must be one of {tuple(GROUP_KEYS)}, got {row_mode!r}")
    train = train.drop(columns=[c for c in ("fold", *PRED_COLS) if c in train])
    # each OOF row is one train row (a per-EEG row keeps its first window's eeg_sub_id)
    rep = train.merge(
        oof[["eeg_id", "eeg_sub_id", "fold", *PRED_COLS]], on=["eeg_id", "eeg_sub_id"]
    )
    key = GROUP_KEYS[row_mode]
    rows = (
        rep
        if key is None
        else train.merge(rep[[*key, "fold", *PRED_COLS]].drop_duplicates(key), on=key, how="inner")
    )
    votes = rows[list(schema.VOTE_COLUMNS)].to_numpy(float)
    rows[TARGET_COLS] = votes / votes.sum(axis=1, keepdims=True)
    rows["total_votes"] = votes.sum(axis=1)
    return rows.sort_values(["eeg_id", "eeg_sub_id"], kind="stable").reset_index(drop=True)
