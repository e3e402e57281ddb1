"""``python -m hms_kit.tools.stability`` (issue 21): the same config trained with two thread
and worker settings, and where the two runs part (per fold, with the population's size)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_overrides

from hms_kit import schema
from hms_kit.scoring.compare import PRED_COLS, TARGET_COLS
from hms_kit.tools import stability


def write_oof(run_dir, rows: pd.DataFrame, preds: np.ndarray) -> None:
    run_dir.mkdir(parents=True)
    oof = rows.copy()
    oof[PRED_COLS] = preds
    oof.to_csv(run_dir / "oof.csv", index=False)


def oof_rows(rng: np.random.Generator) -> pd.DataFrame:
    """Eight rows: two folds, EEGs 1-4 of patients 10/11/12, half of them with >= 10 votes."""
    targets = rng.dirichlet(np.ones(6), size=8)
    rows = pd.DataFrame({
        "eeg_id": [1, 1, 2, 2, 3, 3, 4, 4],
        "eeg_sub_id": [0, 1, 0, 1, 0, 1, 0, 1],
        "patient_id": [10, 10, 10, 10, 11, 11, 12, 12],
        "fold": [0, 0, 0, 0, 1, 1, 1, 1],
        "total_votes": [12, 3, 10, 2, 15, 15, 1, 11],
    })  # fmt: skip
    rows[TARGET_COLS] = targets
    return rows


def kl(t: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.sum(np.where(t > 0, t * np.log(t / p), 0.0), axis=1)))


def test_per_fold_scores_each_fold_on_the_high_vote_rows(tmp_path):
    rng = np.random.default_rng(0)
    rows = oof_rows(rng)
    pa, pb = rng.dirichlet(np.ones(6), size=8), rng.dirichlet(np.ones(6), size=8)
    write_oof(tmp_path / "a", rows, pa)
    # B lists its rows in another order: rows are matched by (eeg_id, eeg_sub_id)
    order = np.arange(8)[::-1]
    write_oof(tmp_path / "b", rows.iloc[order].reset_index(drop=True), pb[order])
    table = stability.per_fold(tmp_path / "a", tmp_path / "b").set_index("fold")
    assert list(table.index) == ["0", "1", "all"]
    t = rows[TARGET_COLS].to_numpy()
    high = rows["total_votes"].to_numpy() >= schema.HIGH_VOTE_THRESHOLD
    for fold, mask in (("0", high & (rows["fold"] == 0)), ("1", high & (rows["fold"] == 1)),
                       ("all", high)):  # fmt: skip
        got = table.loc[fold]
        assert got["n_rows"] == mask.sum()
        assert got["kl_a"] == pytest.approx(kl(t[mask], pa[mask]), rel=1e-9)
        assert got["kl_b"] == pytest.approx(kl(t[mask], pb[mask]), rel=1e-9)
        assert got["diff"] == pytest.approx(got["kl_b"] - got["kl_a"])
    assert table.loc["0", ["n_rows", "n_eegs", "n_patients"]].tolist() == [2, 2, 1]
    assert table.loc["1", ["n_rows", "n_eegs", "n_patients"]].tolist() == [3, 2, 2]
    assert table.loc["all", ["n_eegs", "n_patients"]].tolist() == [4, 3]


def test_per_fold_names_runs_with_no_high_vote_row_in_common(tmp_path):
    rng = np.random.default_rng(1)
    rows = oof_rows(rng)
    low = rows[rows["total_votes"] < schema.HIGH_VOTE_THRESHOLD]
    write_oof(tmp_path / "a", low, rng.dirichlet(np.ones(6), size=len(low)))
    write_oof(tmp_path / "b", rows, rng.dirichlet(np.ones(6), size=8))
    with pytest.raises(ValueError, match="share no OOF row with >= 10 votes"):
        stability.per_fold(tmp_path / "a", tmp_path / "b")


def test_per_seed_pairs_each_seed_both_repeated_runs_finished(tmp_path):
    """Repeated runs: a line per seed both have (seed 3 only in A: left out), each the
    per_fold total of that seed's pair, with its largest fold gap."""
    rng = np.random.default_rng(2)
    rows = oof_rows(rng)
    for run, seeds in (("a", (1, 2, 3)), ("b", (1, 2))):
        for seed in seeds:
            write_oof(tmp_path / run / "seeds" / f"seed{seed}", rows,
                      rng.dirichlet(np.ones(6), size=8))  # fmt: skip
    table = stability.per_seed(tmp_path / "a", tmp_path / "b")
    assert list(table["seed"]) == [1, 2]
    for r in table.itertuples():
        pair = [tmp_path / run / "seeds" / f"seed{r.seed}" for run in ("a", "b")]
        folds = stability.per_fold(*pair).set_index("fold")
        assert (r.kl_a, r.kl_b, r.diff, r.n_rows) == pytest.approx(
            tuple(folds.loc["all", ["kl_a", "kl_b", "diff", "n_rows"]]))  # fmt: skip
        assert r.max_fold_gap == pytest.approx(folds.loc[["0", "1"], "diff"].abs().max())
    # single runs: no seed to pair
    assert stability.per_seed(tmp_path / "a" / "seeds" / "seed1", tmp_path / "b").empty
    # within A, each pair of its seeds
    within = stability.seed_gaps(tmp_path / "a")
    assert list(zip(within["seed_a"], within["seed_b"])) == [(1, 2), (1, 3), (2, 3)]
    for r in within.itertuples():
        pair = [tmp_path / "a" / "seeds" / f"seed{s}" for s in (r.seed_a, r.seed_b)]
        total = stability.per_fold(*pair).set_index("fold").loc["all"]
        assert (r.kl_a, r.kl_b, r.diff) == pytest.approx(tuple(total[["kl_a", "kl_b", "diff"]]))
    assert stability.seed_gaps(tmp_path / "a" / "seeds" / "seed1").empty


def test_stability_prints_each_seeds_pair_before_the_averaged_runs(tmp_path, monkeypatch):
    """``--set train.seeds=K``: a line per seed and their mean |B - A| before the total
    (training stubbed: the runs are made-up folders as train would leave them)."""
    rng = np.random.default_rng(3)
    rows = oof_rows(rng)
    runs = [tmp_path / "threads1_workers0", tmp_path / "threads2_workers2"]
    for run in runs:
        preds = [rng.dirichlet(np.ones(6), size=8) for _ in range(2)]
        write_oof(run, rows, np.mean(preds, axis=0))
        for seed, p in zip((42, 43), preds):
            write_oof(run / "seeds" / f"seed{seed}", rows, p)
        high = rows["total_votes"].to_numpy() >= 10
        score = kl(rows[TARGET_COLS].to_numpy()[high], np.mean(preds, axis=0)[high])
        (run / "scores.json").write_text(json.dumps({"kl_votes_ge_10": score}))
    monkeypatch.setattr(stability, "train_once", lambda *a, **k: 0.0)
    (tmp_path / "competition").mkdir()
    (tmp_path / "competition" / "train.csv").touch()  # no demo competition to write
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert stability.main(["--out", str(tmp_path), "--set", "train.seeds=2"]) == 0
    printed = out.getvalue().splitlines()
    seeds = stability.per_seed(*runs)
    lines = [ln for ln in printed if ln.startswith("seed ")]
    assert [ln.split(" alone")[0] for ln in lines] == ["seed 42", "seed 43"]
    for ln, r in zip(lines, seeds.itertuples()):
        assert f"B - A {r.diff:+.4f} (largest fold gap {r.max_fold_gap:.4f})" in ln
    mean_gap = next(ln for ln in printed if ln.startswith("single seeds"))
    assert f"mean |B - A| {seeds['diff'].abs().mean():.4f} over 2" in mean_gap
    within = [abs(stability.seed_gaps(r)["diff"].iloc[0]) for r in runs]  # one pair a run
    assert f"(same threads, 2 pairs): mean |diff| {np.mean(within):.4f}" in mean_gap
    assert printed.index(mean_gap) < len(printed) - 1 and printed[-1].startswith("OOF KL")


def test_parse_pair_reads_threads_and_workers():
    assert stability.parse_pair("2:0") == (2, 0)
    for bad in ("2", "0:1", "1:-1", "a:b"):
        with pytest.raises(argparse.ArgumentTypeError, match=repr(bad)):
            stability.parse_pair(bad)


@pytest.mark.slow
def test_stability_trains_twice_and_prints_where_the_runs_part(shared, tmp_path):
    """The README's command on the tiny shared competition: two runs (1 thread, 0 workers;
    2 threads, 1 worker) of the default config shrunk by ``--set``, each fold's line and the
    total, whose figures are the runs' own scores; run again, it keeps every fold."""
    sets = [o for o in tiny_overrides(2) if not o.startswith("train.num_workers")]
    args = ["--out", str(tmp_path), "--competition", str(shared.root), "--a", "1:0",
            "--b", "2:1", *sum((["--set", o] for o in sets), [])]  # fmt: skip
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert stability.main(args) == 0
    printed = out.getvalue().splitlines()
    a, b = tmp_path / "threads1_workers0", tmp_path / "threads2_workers1"
    assert printed[0].startswith(f"run A: 1 torch threads, 0 loader workers: {a}")
    assert printed[1].startswith(f"run B: 2 torch threads, 1 loader workers: {b}")
    for run, workers in ((a, 0), (b, 1)):
        assert f"num_workers: {workers}" in (run / "config.yaml").read_text()
    # a fold line for each fold with >= 10-vote rows (the tiny competition may have one)
    folds = [line.split(":")[0] for line in printed if line.startswith("fold ")]
    assert folds and set(folds) <= {"fold 0", "fold 1"} and folds == sorted(folds)
    kl = {r: json.loads((r / "scores.json").read_text())["kl_votes_ge_10"] for r in (a, b)}
    total = printed[-1]
    assert total.startswith("OOF KL, >= 10 votes (")
    assert f"A {kl[a]:.4f}  B {kl[b]:.4f}  B - A {kl[b] - kl[a]:+.4f}" in total
    assert "95 % patient bootstrap [" in total and "issue 21's target" in total
    # the folds are kept, not retrained (train --resume rewrites only the merged oof.csv)
    kept = {p: p.stat().st_mtime_ns for r in (a, b) for p in r.glob("oof_fold*.csv")}
    assert len(kept) == 4
    with contextlib.redirect_stdout(io.StringIO()):
        assert stability.main(args) == 0
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
