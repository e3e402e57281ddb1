"""The bootstrap and seed summaries of hms_kit.scoring.compare on tiny inputs, the compare
command on hand-made run folders, and the comparison over several competitions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hms_kit import schema
from hms_kit.cli import main
from hms_kit.scoring.compare import (
    MEAN_ROW,
    TIE_BELOW,
    bootstrap_differences,
    compare_across,
    compare_runs,
    folder_names,
    paired_bootstrap,
    pairs_from_folders,
    percentile_interval,
    read_oof,
    resample_counts,
    seed_summary,
    tie_marks,
)
from hms_kit.scoring.metric import PRED_COLS, TARGET_COLS, kl_per_row


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


@pytest.mark.parametrize(
    ("flag", "value"), [("--resamples", "0"), ("--resamples", "x"), ("--level", "1"),
                        ("--level", "0"), ("--level", "95")],
)  # fmt: skip
def test_compare_refuses_a_bootstrap_it_cannot_take(tmp_path, capsys, flag, value):
    """0 resamples ended in an IndexError traceback; a level of 95 gave a nonsense interval."""
    run = _run(tmp_path / "r", _oof(5, 0.02, 0))
    with pytest.raises(SystemExit) as exit_:
        main(["compare", str(run), str(run), flag, value])
    assert exit_.value.code == 2 and f"argument {flag}: '{value}'" in capsys.readouterr().err


def test_populations_are_the_schemas(tmp_path):
    run = _run(tmp_path / "r", _oof(5, 0.02, 0))
    names = list(compare_runs(run, run, n_resamples=10)["population"])
    assert f"votes_ge_{schema.HIGH_VOTE_THRESHOLD}" in names and names[0] == "all"


def test_a_difference_under_the_tie_tolerance_is_a_tie():
    """B worse by 5e-5 on every row: the interval misses 0, the difference is still a tie;
    at 100 times that it is not."""
    a = np.random.default_rng(4).gamma(2.0, 0.4, size=40)
    groups = np.repeat(np.arange(10), 4)
    small = paired_bootstrap(a, a + TIE_BELOW / 2, groups, n_resamples=100)
    assert 0 < small.low <= small.high and small.tie
    large = paired_bootstrap(a, a + 50 * TIE_BELOW, groups, n_resamples=100)
    assert 0 < large.low and not large.tie


# --------------------------------------------------------------- over several competitions


def _competitions(root, noise_b: float, n: int = 3) -> dict[str, tuple]:
    """``n`` competitions (patients and targets of their own seed), each with a run A of
    small noise and a run B of ``noise_b``."""
    pairs = {}
    for i in range(n):
        a = _run(root / "A" / f"s{i}", _oof(8 + 2 * i, 0.02, seed=10 + i))
        b = _run(root / "B" / f"s{i}", _oof(8 + 2 * i, noise_b, seed=10 + i))
        pairs[f"s{i}"] = (a, b)
    return pairs


def test_across_competitions_a_clear_difference_is_not_a_tie(tmp_path):
    """Per competition the row is compare_runs' with seed + i; the mean row is the mean of
    the competitions' differences, its interval the percentiles of the mean of their
    bootstrap resamples (patients drawn within each competition)."""
    pairs = _competitions(tmp_path, noise_b=0.3)
    table = compare_across(pairs, n_resamples=300, seed=5)
    assert list(table["competition"].unique()) == ["s0", "s1", "s2", MEAN_ROW]
    pop = "votes_ge_10"
    rows = table[table["population"] == pop].set_index("competition")
    resampled = []
    for i, (name, (a, b)) in enumerate(pairs.items()):
        alone = compare_runs(a, b, n_resamples=300, seed=5 + i).set_index("population").loc[pop]
        for col in ("n_rows", "kl_a", "kl_b", "diff", "low", "high", "tie"):
            assert rows.loc[name, col] == alone[col], (name, col)
        both = read_oof(a).merge(read_oof(b), on=["eeg_id", "eeg_sub_id"], suffixes=("", "_b"))
        high = both[both["total_votes"] >= 10]
        la = kl_per_row(high[TARGET_COLS].to_numpy(), high[PRED_COLS].to_numpy())
        lb = kl_per_row(high[TARGET_COLS].to_numpy(),
                        high[[f"{c}_b" for c in PRED_COLS]].to_numpy())  # fmt: skip
        resampled.append(bootstrap_differences(la, lb, high["patient_id"].to_numpy(), 300, 5 + i))
    mean = rows.loc[MEAN_ROW]
    diffs = [rows.loc[n, "diff"] for n in pairs]
    assert mean["diff"] == pytest.approx(np.mean(diffs))
    assert mean["sd_diff"] == pytest.approx(np.std(diffs, ddof=1))
    assert mean["kl_a"] == pytest.approx(np.mean([rows.loc[n, "kl_a"] for n in pairs]))
    assert mean["n_rows"] == sum(rows.loc[n, "n_rows"] for n in pairs)
    assert mean["competitions"] == 3
    low, high = percentile_interval(np.mean(resampled, axis=0))
    assert (mean["low"], mean["high"]) == pytest.approx((low, high))
    assert 0 < mean["low"] < mean["diff"] < mean["high"] and not mean["tie"]
    # independent strata: the mean's interval is narrower than the competitions' on average
    widths = [rows.loc[n, "high"] - rows.loc[n, "low"] for n in pairs]
    assert mean["high"] - mean["low"] < np.mean(widths)


def test_across_competitions_identical_runs_tie(tmp_path):
    pairs = {n: (a, a) for n, (a, _) in _competitions(tmp_path, 0.3, n=2).items()}
    table = compare_across(pairs, n_resamples=100)
    assert table["tie"].all() and (table.loc[table["n_rows"] > 0, "diff"] == 0).all()


def test_folder_names_are_short_and_distinct(tmp_path):
    assert folder_names([tmp_path / "s1", tmp_path / "s2"]) == ["s1", "s2"]
    assert folder_names([tmp_path / "a" / "source", tmp_path / "b" / "source"]) == [
        "a-source",
        "b-source",
    ]
    with pytest.raises(ValueError, match="given twice"):
        folder_names([tmp_path / "s1", tmp_path / "x" / ".." / "s1"])


def test_pairs_from_folders_names_a_missing_competition(tmp_path):
    _competitions(tmp_path, 0.3, n=3)
    pairs = pairs_from_folders(tmp_path / "A", tmp_path / "B")
    assert list(pairs) == ["s0", "s1", "s2"] and pairs["s1"] == (
        tmp_path / "A" / "s1",
        tmp_path / "B" / "s1",
    )
    (tmp_path / "B" / "s2" / "oof.csv").unlink()  # B has no finished run there
    with pytest.raises(ValueError, match="competition s2 is in A but not in B"):
        pairs_from_folders(tmp_path / "A", tmp_path / "B")
    with pytest.raises(ValueError, match="competition s2 is in B but not in A"):
        pairs_from_folders(tmp_path / "B", tmp_path / "A")


def test_pairs_from_experiment_folders_pick_the_run(tmp_path):
    """An experiment's layout, <dir>/<competition>/<run>/: --run NAME or NAME_A:NAME_B."""
    for c in ("s1", "s2"):
        _run(tmp_path / "exp" / c / "m__eeg", _oof(6, 0.02, 1))
        _run(tmp_path / "exp" / c / "m__kaggle", _oof(6, 0.2, 1))
    exp = tmp_path / "exp"
    with pytest.raises(ValueError, match="--run NAME"):
        pairs_from_folders(exp, exp)
    pairs = pairs_from_folders(exp, exp, "m__eeg:m__kaggle")
    assert pairs == {c: (exp / c / "m__eeg", exp / c / "m__kaggle") for c in ("s1", "s2")}
    assert pairs_from_folders(exp, exp, "m__eeg")["s2"] == (exp / "s2" / "m__eeg",) * 2
    with pytest.raises(ValueError, match="run folder nosuch"):
        pairs_from_folders(exp, exp, "nosuch")


def test_compare_command_over_competitions(tmp_path, capsys):
    """``compare DIR_A DIR_B --csv F`` and ``compare --pairs``: the same table; a missing
    competition or a bad pair is an error naming it."""
    pairs = _competitions(tmp_path, 0.3, n=2)
    out = tmp_path / "across.csv"
    args = ["--resamples", "100", "--csv", str(out)]
    assert main(["compare", str(tmp_path / "A"), str(tmp_path / "B"), *args]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out)
    expected = compare_across(pairs, n_resamples=100)
    np.testing.assert_allclose(table["diff"], expected["diff"])
    mean = expected[(expected["competition"] == MEAN_ROW) & (expected["population"] == "all")]
    line = next(ln for ln in printed.splitlines() if ln.strip().startswith("mean of 2"))
    assert f"B-A {mean['diff'].iloc[0]:+.4f} +- {mean['sd_diff'].iloc[0]:.4f}" in line
    assert line.endswith("A better")
    text = ",".join(f"{a}:{b}" for a, b in pairs.values())
    assert main(["compare", "--pairs", text, *args]) == 0
    np.testing.assert_allclose(pd.read_csv(out)["high"], expected["high"])
    capsys.readouterr()
    assert main(["compare", "--pairs", f"{pairs['s0'][0]}", "--resamples", "10"]) == 2
    assert "is not RUN_A:RUN_B" in capsys.readouterr().err
    (tmp_path / "A" / "s1" / "oof.csv").unlink()
    assert main(["compare", str(tmp_path / "A"), str(tmp_path / "B")]) == 2
    assert "competition s1 is in B but not in A" in capsys.readouterr().err


def test_across_competitions_refuses_populations_cut_apart(tmp_path):
    """One competition's runs cut their populations at 5 votes: its rows are not the others'
    populations, so no mean is taken; the error names it."""
    pairs = _competitions(tmp_path, 0.3, n=2)
    for run in pairs["s1"]:
        (run / "config.yaml").write_text("data:\n  high_vote_threshold: 5\n")
    with pytest.raises(ValueError, match="competition s1: populations .*votes_ge_5"):
        compare_across(pairs, n_resamples=10)
