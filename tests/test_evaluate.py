"""Kaggle's KL metric against hand-computed values and against the seed's get_result."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from hms_kit import schema
from hms_kit.cli import main
from hms_kit.scoring.metric import kl_per_row, kl_score, score_submission, scores_by_population


def test_hand_computed():
    t = np.array([[1, 0, 0, 0, 0, 0], [0.5, 0.5, 0, 0, 0, 0]])
    p = np.array([[0.5, 0.1, 0.1, 0.1, 0.1, 0.1], [0.25, 0.25, 0.2, 0.1, 0.1, 0.1]])
    expected = [math.log(2), 0.5 * math.log(2) * 2]
    np.testing.assert_allclose(kl_per_row(t, p), expected)
    assert kl_score(t, p) == pytest.approx(np.mean(expected))


def test_clipping_and_zero_targets():
    t = np.array([[1.0, 0, 0, 0, 0, 0]])
    p = np.array([[0.0, 0.2, 0.2, 0.2, 0.2, 0.2]])  # zero where the target is 1: clipped to 1e-15
    assert kl_score(t, p) == pytest.approx(-math.log(1e-15))
    p2 = np.array([[1.0, 0, 0, 0, 0, 0]])  # zeros where targets are 0 cost nothing
    assert kl_score(t, p2) == pytest.approx(-math.log(1 - 1e-15), abs=1e-12)


def test_agrees_with_seed_get_result():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 6))
    votes = rng.integers(0, 4, size=(50, 6))
    votes[votes.sum(axis=1) == 0, 0] = 1
    t = votes / votes.sum(axis=1, keepdims=True)
    # the seed's get_result: KLDivLoss(batchmean) on log_softmax of the logits
    seed = torch.nn.KLDivLoss(reduction="batchmean")(
        torch.log_softmax(torch.tensor(logits), dim=1), torch.tensor(t)
    ).item()
    probs = torch.softmax(torch.tensor(logits), dim=1).numpy()
    assert kl_score(t, probs) == pytest.approx(seed, rel=1e-9)


def test_populations():
    t = np.eye(6)[[0, 1, 2]]
    p = np.full((3, 6), 1 / 6)
    s = scores_by_population(t, p, np.array([3, 12, 10]))
    assert s["kl_all"] == pytest.approx(math.log(6))
    assert s["n_votes_ge_10"] == 2


def _frame(ids, values):
    return pd.DataFrame(
        {"eeg_id": ids, **{c: values[:, i] for i, c in enumerate(schema.VOTE_COLUMNS)}}
    )


def test_score_cli(tmp_path, capsys):
    ans = _frame([1, 2], np.array([[3, 0, 0, 0, 0, 0], [0, 5, 5, 0, 0, 0]], float))
    sub = _frame([2, 1], np.array([[0, 0.5, 0.5, 0, 0, 0], [0.5, 0.1, 0.1, 0.1, 0.1, 0.1]]))
    ans.to_csv(tmp_path / "answers.csv", index=False)
    sub.to_csv(tmp_path / "sub.csv", index=False)
    code = main(
        [
            "score",
            "--submission",
            str(tmp_path / "sub.csv"),
            "--answers",
            str(tmp_path / "answers.csv"),
        ]
    )
    assert code == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert float(last) == pytest.approx(math.log(2) / 2, rel=1e-5)
    assert score_submission(sub, ans) == pytest.approx(math.log(2) / 2)
    with pytest.raises(ValueError, match="no row for eeg_id 2"):
        score_submission(sub[sub.eeg_id == 1], ans)
    # a blank prediction or a row without votes fails, naming it, instead of scoring nan or 0
    blank = sub.astype({"lpd_vote": object})
    blank.loc[1, "lpd_vote"] = ""
    with pytest.raises(ValueError, match=r"submission row 1 \(eeg_id 1\) has .*not finite"):
        score_submission(blank, ans)
    no_votes = ans.copy()
    no_votes.loc[0, list(schema.VOTE_COLUMNS)] = 0
    with pytest.raises(ValueError, match=r"answers row 0 \(eeg_id 1\).*positive total"):
        score_submission(sub, no_votes)
    blank.to_csv(tmp_path / "blank.csv", index=False)
    bad = main(["score", "--submission", str(tmp_path / "blank.csv"),
                "--answers", str(tmp_path / "answers.csv")])  # fmt: skip
    assert bad == 2 and "submission row 1 (eeg_id 1)" in capsys.readouterr().err


def test_score_answers_with_repeated_eeg_ids_mle_bench_layout(tmp_path, capsys):
    """MLE-bench's answers list an eeg_id once per label row, and so does its sample
    submission: both are sorted by eeg_id and compared row by row, as its grader does."""
    rng = np.random.default_rng(0)
    ids = np.repeat(rng.choice(10**9, size=60, replace=False), 3)
    votes = rng.integers(0, 4, size=(180, 6)) + np.eye(6, dtype=int)[rng.integers(0, 6, 180)]
    answers = pd.DataFrame(votes, columns=list(schema.VOTE_COLUMNS))
    answers.insert(0, "eeg_id", ids)
    probs = rng.dirichlet(np.ones(6), size=180)
    sub = pd.DataFrame(probs, columns=list(schema.VOTE_COLUMNS))
    sub.insert(0, "eeg_id", ids)
    perm = rng.permutation(180)
    sub_shuffled = sub.iloc[perm].reset_index(drop=True)  # rows in any order of eeg_ids
    expected = kl_score(votes / votes.sum(axis=1, keepdims=True), probs)
    # the submission's order of eeg_ids does not matter; within an eeg_id, rows keep theirs
    order = np.argsort(sub_shuffled["eeg_id"].to_numpy(), kind="stable")
    regrouped = sub_shuffled.iloc[order]
    ans_sorted = answers.sort_values("eeg_id", kind="stable")
    expected = kl_score(
        votes_of(ans_sorted), regrouped[list(schema.VOTE_COLUMNS)].to_numpy(np.float64)
    )
    assert score_submission(sub_shuffled, answers) == pytest.approx(expected)
    assert score_submission(sub, answers) == pytest.approx(
        kl_score(votes / votes.sum(axis=1, keepdims=True), probs)
    )
    sub.to_csv(tmp_path / "sub.csv", index=False)
    answers.to_csv(tmp_path / "answers.csv", index=False)
    args = ["score", "--submission", str(tmp_path / "sub.csv"), "--answers"]
    assert main([*args, str(tmp_path / "answers.csv")]) == 0
    assert float(capsys.readouterr().out.strip().splitlines()[-1]) == pytest.approx(
        kl_score(votes / votes.sum(axis=1, keepdims=True), probs), abs=1e-6
    )
    with pytest.raises(ValueError, match=r"one row per answer row: 179 rows for 180"):
        score_submission(sub.iloc[1:], answers)


def votes_of(frame: pd.DataFrame) -> np.ndarray:
    v = frame[list(schema.VOTE_COLUMNS)].to_numpy(np.float64)
    return v / v.sum(axis=1, keepdims=True)
