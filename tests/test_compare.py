"""The bootstrap and seed summaries of hms_kit.scoring.compare on tiny inputs, and the compare
command on two hand-made run folders."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hms_kit import schema
from hms_kit.cli import main
from hms_kit.scoring.compare import (
    bootstrap_differences,
    compare_runs,
    paired_bootstrap,
    resample_counts,
    seed_summary,
    tie_marks,
)
from hms_kit.scoring.metric import PRED_COLS, TARGET_COLS


def test_a_zero_difference_gives_an_interval_around_0():
    loss = np.random.default_rng(0).gamma(2.0, 0.4, size=60)
    iv = paired_bootstrap(loss, loss.copy(), np.repeat(np.arange(12), 5))
    assert iv.diff == 0 and iv.low <= 0 <= iv.high and iv.tie
    assert iv.n_rows == 60 and iv.n_groups == 12


def test_a_large_consistent_difference_excludes_0():
    g = np.random.default_rng(1)
    a = g.gamma(2.0, 0.4, size=80)
    b = a + 0.3 + g.normal(0, 0.05, size=80)  # B worse on every patient
    iv = paired_bootstrap(a, b, np.repeat(np.arange(20), 4))
    assert iv.diff == pytest.approx(float((b - a).mean()))
    assert 0 < iv.low < iv.diff < iv.high and not iv.tie


def test_noise_around_no_difference_is_a_tie_and_the_interval_is_seeded():
    g = np.random.default_rng(2)
    a = g.gamma(2.0, 0.4, size=90)
    b = a + g.normal(0, 0.2, size=90)
    groups = np.repeat(np.arange(30), 3)
    iv = paired_bootstrap(a, b, groups, n_resamples=500, seed=3)
    assert iv.tie
    assert paired_bootstrap(a, b, groups, n_resamples=500, seed=3) == iv


def test_rows_of_one_patient_move_together():
    """Patient 0 holds the 4 rows that differ (by 1) out of 10: a resample takes all 4 or
    none, so its mean difference is 0 or at least 4 / (4 + 3 * 2); drawing rows one by one
    would give 1 / 10, 2 / 10... too."""
    a, b = np.zeros(10), np.zeros(10)
    b[:4] = 1.0
    groups = np.array([7, 7, 7, 7, 1, 1, 2, 2, 3, 3])
    stats = bootstrap_differences(a, b, groups, n_resamples=300)
    assert stats.shape == (300,)
    assert ((stats == 0) | (stats >= 0.4 - 1e-12)).all()
    assert (stats == 0).any() and (stats > 0).any()
    counts = resample_counts(4, 300, 0)
    assert counts.shape == (300, 4) and (counts.sum(axis=1) == 4).all()


def test_bootstrap_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="groups"):
        paired_bootstrap(np.zeros(3), np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="no rows"):
        paired_bootstrap(np.zeros(0), np.zeros(0), np.zeros(0))


def test_seed_summary():
    assert seed_summary([0.5, 0.7]) == pytest.approx((0.6, math.sqrt(0.02)))
    mean, sd = seed_summary([0.5])
    assert mean == 0.5 and math.isnan(sd)


def _oof(n_patients: int, noise: float, seed: int) -> pd.DataFrame:
    """An oof.csv of 4 rows per patient (two EEGs each), half of them high-vote."""
    g = np.random.default_rng(seed)
    n = 4 * n_patients
    t = g.dirichlet(np.ones(6), size=n)
    p = np.clip(t + g.normal(0, noise, size=(n, 6)), 1e-3, None)
    p /= p.sum(axis=1, keepdims=True)
    frame = pd.DataFrame({"eeg_id": np.repeat(np.arange(2 * n_patients), 2),
                          "eeg_sub_id": np.tile([0, 1], 2 * n_patients),
                          "patient_id": np.repeat(np.arange(n_patients), 4),
                          "total_votes": np.tile([3, 12], 2 * n_patients)})  # fmt: skip
    frame[PRED_COLS] = p
    frame[TARGET_COLS] = t
    return frame


def _run(path, oofs: dict[int, pd.DataFrame] | pd.DataFrame):
    path.mkdir(parents=True)
    if isinstance(oofs, pd.DataFrame):
        oofs.to_csv(path / "oof.csv", index=False)
        return path
    for s, o in oofs.items():
        (path / "seeds" / f"seed{s}").mkdir(parents=True)
        o.to_csv(path / "seeds" / f"seed{s}" / "oof.csv", index=False)
    mean = next(iter(oofs.values())).copy()
    mean[PRED_COLS] = np.mean([o[PRED_COLS].to_numpy() for o in oofs.values()], axis=0)
    mean.to_csv(path / "oof.csv", index=False)
    return path


def test_compare_reports_seeds_and_marks_a_clear_difference(tmp_path, capsys):
    good = _run(tmp_path / "good", {1: _oof(30, 0.02, 0), 2: _oof(30, 0.03, 0)})
    bad = _run(tmp_path / "bad", _oof(30, 0.3, 0))
    table = compare_runs(good, bad, n_resamples=200)
    high = table.set_index("population").loc["votes_ge_10"]
    assert high["n_rows"] == 60 and high["n_patients"] == 30
    assert high["seeds_a"] == 2 and high["seeds_b"] == 0
    assert high["diff"] > 0 and high["low"] > 0 and not high["tie"]
    # the same run against itself is a tie everywhere
    assert compare_runs(good, good, n_resamples=100)["tie"].all()
    assert main(["compare", str(good), str(bad), "--resamples", "200"]) == 0
    out = capsys.readouterr().out
    assert "votes_ge_10" in out and "A better" in out and "n=2" in out
    assert tie_marks([good, bad], "all", n_resamples=200) == {good: "best", bad: "worse"}


def test_compare_names_a_run_without_oof(tmp_path, capsys):
    good = _run(tmp_path / "good", _oof(5, 0.02, 0))
    assert main(["compare", str(good), str(tmp_path / "nothing")]) == 2
    assert "nothing/oof.csv" in capsys.readouterr().err


def test_populations_are_the_schemas(tmp_path):
    run = _run(tmp_path / "r", _oof(5, 0.02, 0))
    names = list(compare_runs(run, run, n_resamples=10)["population"])
    assert f"votes_ge_{schema.HIGH_VOTE_THRESHOLD}" in names and names[0] == "all"
