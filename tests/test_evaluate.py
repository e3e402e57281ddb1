"""Kaggle's KL metric against hand-computed values and against the seed's get_result."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from hms_kit import schema
from hms_kit.cli import main
from hms_kit.evaluate import kl_per_row, kl_score, score_submission, scores_by_population


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
