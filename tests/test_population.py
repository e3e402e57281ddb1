"""The target population (hms_kit.scoring.populations) and what train.py does with it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hms_kit import schema
from hms_kit.config import ConfigError, load_config
from hms_kit.scoring.metric import kl_per_row
from hms_kit.scoring.oof import PRED_COLS, TARGET_COLS
from hms_kit.scoring.populations import (
    checkpoint_population,
    checkpoint_rows,
    eeg_mean_predictions,
    grader_view_scores,
    headline_key,
    population_summary,
    training_stages,
)


def test_stages_per_population():
    hq = load_config("default")
    assert hq.target.population == "kaggle_hq"
    assert [s for s, _ in training_stages(hq)] == [1, 2]
    assert training_stages(hq)[1][1].min_votes == 10
    rows = load_config("default", ["target.population=all_rows"])
    assert [s for s, _ in training_stages(rows)] == [1]
    one = load_config("default", ["train.two_stage=false"])
    assert [s for s, _ in training_stages(one)] == [1]


def test_unknown_population_is_a_config_error():
    with pytest.raises(ConfigError, match="target.population"):
        load_config(None, ["target.population=hidden"])


def test_checkpoint_rows():
    votes = np.array([3, 12, 1, 15, 2, 10])
    val = np.array([0, 1, 2, 3])
    np.testing.assert_array_equal(checkpoint_rows("kaggle_hq", val, votes, 10), [1, 3])
    np.testing.assert_array_equal(checkpoint_rows("kaggle_hq", val, votes, 0), val)
    np.testing.assert_array_equal(checkpoint_rows("all_rows", val, votes, 10), val)
    # no high-vote row in the fold: every validation row
    np.testing.assert_array_equal(checkpoint_rows("kaggle_hq", np.array([0, 2]), votes, 10), [0, 2])
    with pytest.raises(ValueError, match="population"):
        checkpoint_rows("kaggle", val, votes, 10)


def test_checkpoint_population_names_the_rows():
    assert checkpoint_population(load_config("default")) == "votes_ge_10"
    assert checkpoint_population(load_config("default", ["target.population=all_rows"])) == (
        "all_eeg_mean"
    )
    assert checkpoint_population(load_config("baseline")) == "none"


def _oof() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 9
    t = rng.dirichlet(np.ones(6), n)
    p = rng.dirichlet(np.ones(6), n)
    df = pd.DataFrame({"eeg_id": [1, 1, 1, 2, 2, 3, 4, 4, 4]})
    df[TARGET_COLS] = t
    df[PRED_COLS] = p
    df["total_votes"] = [3, 12, 12, 1, 2, 15, 3, 3, 11]
    return df


def test_eeg_mean_is_what_the_grader_sees():
    oof = _oof()
    m = eeg_mean_predictions(oof["eeg_id"].to_numpy(), oof[PRED_COLS].to_numpy())
    np.testing.assert_allclose(m[0], oof[PRED_COLS].to_numpy()[:3].mean(0))
    np.testing.assert_allclose(m[0], m[2])
    s = grader_view_scores(oof, 10)
    per_row = kl_per_row(oof[TARGET_COLS].to_numpy(), m)
    assert s["kl_all_eeg_mean"] == pytest.approx(per_row.mean())
    high = oof["total_votes"].to_numpy() >= 10
    assert s["kl_votes_ge_10_eeg_mean"] == pytest.approx(per_row[high].mean())
    # one prediction per EEG is never better than the rows' own mean on KL: the mean of a
    # group's targets is the constant that minimises the group's mean KL
    best = eeg_mean_predictions(oof["eeg_id"].to_numpy(), oof[TARGET_COLS].to_numpy())
    assert kl_per_row(oof[TARGET_COLS].to_numpy(), best).mean() <= s["kl_all_eeg_mean"]


def test_headline_and_summary():
    assert headline_key("kaggle_hq") == "kl_golden"
    assert headline_key("all_rows") == "kl_all_eeg_mean"
    scores = {"kl_golden": 0.5, "kl_all_eeg_mean": 0.9, "kl_all": 1.0, "kl_votes_ge_10": 0.6}
    text = population_summary(scores, "all_rows")
    assert text.startswith("target population all_rows: kl_all_eeg_mean 0.9000")
    assert "kl_golden 0.5000" in text


def test_gather_oof_states_the_population(tmp_path: Path):
    from hms_kit.scoring.oof import gather_oof

    oof = _oof()
    oof["eeg_sub_id"] = oof.groupby("eeg_id").cumcount()
    oof["fold"] = [0, 0, 0, 1, 1, 1, 0, 0, 0]
    for col in ("eeg_label_offset_seconds", "spectrogram_label_offset_seconds"):
        oof[col] = 0.0
    oof["spectrogram_id"] = oof["eeg_id"] + 100
    oof["patient_id"] = oof["eeg_id"]
    for k in (0, 1):
        oof[oof.fold == k].to_csv(tmp_path / f"oof_fold{k}.csv", index=False)
    cfg = load_config("default", ["target.population=all_rows", "train.n_folds=2"])
    scores = gather_oof(tmp_path, cfg)
    saved = json.loads((tmp_path / "scores.json").read_text())
    assert saved["target_population"] == "all_rows"
    assert saved["checkpoint_population"] == "all_eeg_mean"
    assert saved["kl_all_eeg_mean"] == pytest.approx(grader_view_scores(oof, 10)["kl_all_eeg_mean"])
    assert scores["complete"] and np.isfinite(saved["kl_golden"])
    assert saved[f"n_votes_ge_{schema.HIGH_VOTE_THRESHOLD}"] == 4
    # fold 1 stopped at the time limit: its OOF is scored, the run is not complete (an
    # experiment keeps a complete run's folds, so it would never train fold 1 to its end)
    (tmp_path / "fold0_summary.json").write_text(json.dumps({"fold": 0}))
    (tmp_path / "fold1_summary.json").write_text(json.dumps({"fold": 1, "stopped": True}))
    scores = gather_oof(tmp_path, cfg)
    assert scores["folds"] == [0, 1] and scores["folds_stopped"] == [1]
    assert scores["complete"] is False and np.isfinite(scores["kl_all"])


def test_blend_population_follows_the_runs(tmp_path: Path):
    from hms_kit.ensemble import blend_population

    runs = []
    for name, target in (("a", "all_rows"), ("b", "all_rows"), ("c", "kaggle_hq")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "scores.json").write_text(json.dumps({"target_population": target}))
        runs.append(tmp_path / name)
    assert blend_population(runs[:2]) == "all"
    assert blend_population(runs) == "hq"
    assert blend_population([tmp_path / "missing"]) == "hq"
