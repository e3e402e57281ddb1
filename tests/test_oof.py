"""OOF tables per train row and scores per vote population."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hms_kit import schema
from hms_kit.data.labels import read_train_csv, select_rows
from hms_kit.scoring.oof import (
    LOGIT_COLS,
    POPULATIONS,
    PRED_COLS,
    TARGET_COLS,
    add_logits,
    expand_to_train_rows,
    high_population,
    population_masks,
    population_names,
    scores_per_population,
)

VOTES = list(schema.VOTE_COLUMNS)


def test_population_masks() -> None:
    eeg = np.array([1, 1, 1, 2, 2, 3])
    votes = np.array([3, 12, 14, 5, 10, 1])
    m = population_masks(eeg, votes)
    assert m["votes_le_3"].tolist() == [1, 0, 0, 0, 0, 1]
    assert m["votes_4_9"].tolist() == [0, 0, 0, 1, 0, 0]
    assert m["votes_ge_10"].tolist() == [0, 1, 1, 0, 1, 0]
    # one row per eeg_id among the high-vote rows: its first
    assert m["golden"].tolist() == [0, 1, 0, 0, 1, 0]


def test_scores_per_population_are_the_kl_of_their_rows() -> None:
    t = np.eye(6)[[0, 1, 2, 3]]
    p = np.full((4, 6), 1 / 6)
    p[0] = t[0] * 0.9 + 0.1 / 6
    s = scores_per_population(t, p, np.array([12, 12, 2, 5]), np.array([7, 7, 8, 9]))
    assert s["n_golden"] == 1 and s["kl_golden"] == pytest.approx(-np.log(0.9 + 0.1 / 6))
    assert s["kl_votes_le_3"] == pytest.approx(np.log(6))
    assert s["n_all"] == 4 and s["n_votes_4_9"] == 1


@pytest.fixture()
def train(real_dir: Path) -> pd.DataFrame:
    """The real train.csv rows, plus a second EEG whose windows carry two vote vectors."""
    real = read_train_csv(real_dir / "train.csv")
    other = real.head(3).copy()
    other["eeg_id"] = 5
    other["label_id"] += 1_000_000
    other[VOTES] = [[0, 10, 2, 0, 0, 0], [0, 10, 2, 0, 0, 0], [1, 0, 0, 0, 0, 14]]
    return pd.concat([real, other], ignore_index=True)


@pytest.mark.parametrize("mode", ["all", "per_eeg", "dedup"])
def test_expand_maps_a_row_mode_back_to_every_train_row(train: pd.DataFrame, mode: str) -> None:
    rows = select_rows(train, mode)
    oof = rows.copy()
    oof["fold"] = (oof["eeg_id"] == 5).astype(int)
    # a distinct prediction per representative row
    oof[PRED_COLS] = np.eye(6)[np.arange(len(rows)) % 6] * 0.5 + 0.5 / 6
    full = expand_to_train_rows(oof, train, mode)
    assert len(full) == len(train) and set(full["label_id"]) == set(train["label_id"])
    # each train row keeps its own target
    votes = full[VOTES].to_numpy(float)
    np.testing.assert_allclose(full[TARGET_COLS], votes / votes.sum(axis=1, keepdims=True))
    n_preds = len(full[PRED_COLS].drop_duplicates())
    assert n_preds == {"all": min(len(train), 6), "per_eeg": 2, "dedup": 3}[mode]
    assert (full.loc[full["eeg_id"] == 5, "fold"] == 1).all()
    logits = add_logits(full)[LOGIT_COLS].to_numpy()
    np.testing.assert_allclose(np.exp(logits), full[PRED_COLS].to_numpy())


def test_populations_follow_the_high_vote_threshold():
    votes = np.array([2, 5, 8, 9, 12])
    eeg = np.array([1, 2, 3, 3, 4])
    names = population_names(8)
    assert names == ("all", "votes_le_3", "votes_4_7", "votes_ge_8", "golden")
    masks = population_masks(eeg, votes, 8)
    assert tuple(masks) == names
    assert masks["votes_ge_8"].tolist() == [False, False, True, True, True]
    assert masks["golden"].tolist() == [False, False, True, False, True]
    t = np.full((5, 6), 1 / 6)
    s = scores_per_population(t, t, votes, eeg, threshold=8)
    assert s["n_votes_ge_8"] == 3 and s["n_votes_4_7"] == 1 and "kl_votes_ge_10" not in s
    assert POPULATIONS == population_names(10) and high_population(10) == "votes_ge_10"
    with pytest.raises(ValueError, match="high_vote_threshold"):
        population_names(4)
