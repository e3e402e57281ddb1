"""Does a run depend on torch threads and DataLoader workers? (issue 21)

    python -m hms_kit.tools.stability --out stab [--competition demo_out/competition]
        [--config default] [--a 1:0] [--b 2:2] [--set k=v ...] [--repeat-b]

Trains one config twice on the same competition and folds, differing only in torch threads
and loader workers (``--a``/``--b`` as THREADS:WORKERS), each in its own process (so the
thread count is set before torch starts), one shared feature cache; then prints both runs'
OOF KL on >= 10-vote rows, their difference, and its patient-grouped paired bootstrap
interval (``hms_kit.scoring.compare``), after one line a fold (its rows, EEGs and patients,
each run's KL there: where the runs part). Without ``--competition`` the demo's synthetic competition
is written to OUT/competition (300 EEGs, seed 42, as ``make demo``). Interrupted, it
resumes: finished folds are kept. ``--set`` applies to both runs (e.g.
``train.ema_decay=0.99`` to measure a remedy). With ``--set train.seeds=K`` (seeds
averaged, a remedy) it prints each seed's pair first: K single-seed gaps beside the gap of
their average, and beside what a change of seed alone moves a run (``seed_gaps``).

Since the fix of issue 21 the two runs train on the same batches; what is left is the
float rounding of the thread count, amplified by training. Run it on an idle machine: two
default runs take about twice ``make demo``'s training time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from hms_kit import schema
from hms_kit.scoring.oof import high_population


def parse_pair(text: str) -> tuple[int, int]:
    """``"2:2"`` -> (threads, workers)."""
    try:
        threads, workers = (int(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected THREADS:WORKERS, got {text!r}") from None
    if threads < 1 or workers < 0:
        raise argparse.ArgumentTypeError(f"threads >= 1 and workers >= 0, got {text!r}")
    return threads, workers


def train_once(
    competition: Path, run_dir: Path, cache: Path, config: str, threads: int, workers: int,
    overrides: list[str],
) -> float:  # fmt: skip
    """Train ``config`` into ``run_dir`` in a child process with ``threads`` torch threads and
    ``workers`` loader workers (resuming what is there); seconds taken."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "hms_kit", "train", "--competition", str(competition),
           "--out", str(run_dir), "--cache", str(cache), "--config", config, "--resume",
           "--set", f"train.num_workers={workers}"]  # fmt: skip
    for kv in overrides:
        cmd += ["--set", kv]
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def per_fold(run_a: Path, run_b: Path, threshold: int = schema.HIGH_VOTE_THRESHOLD) -> pd.DataFrame:
    """Where two runs part: per fold, and over all folds, the OOF KL of each run on the rows
    both predicted with >= ``threshold`` votes, with how many rows, EEGs and patients those
    are (a population of a few patients is a noisy judge of a run).

    Columns: fold (``"all"`` last), n_rows, n_eegs, n_patients, kl_a, kl_b, diff (B - A).
    ValueError when the runs share no such row."""
    from hms_kit.scoring.compare import PRED_COLS, ROW_KEY, TARGET_COLS, read_oof
    from hms_kit.scoring.metric import kl_per_row

    a, b = read_oof(run_a), read_oof(run_b)
    both = a.merge(b[[*ROW_KEY, *PRED_COLS]], on=ROW_KEY, suffixes=("_a", "_b"))
    both = both[both["total_votes"] >= threshold]
    if both.empty:
        raise ValueError(f"{run_a} and {run_b} share no OOF row with >= {threshold} votes")
    targets = both[TARGET_COLS].to_numpy()
    both["loss_a"] = kl_per_row(targets, both[[f"{c}_a" for c in PRED_COLS]].to_numpy())
    both["loss_b"] = kl_per_row(targets, both[[f"{c}_b" for c in PRED_COLS]].to_numpy())

    def row(fold: str, g: pd.DataFrame) -> dict:
        kl_a, kl_b = float(g["loss_a"].mean()), float(g["loss_b"].mean())
        return {"fold": fold, "n_rows": len(g), "n_eegs": g["eeg_id"].nunique(),
                "n_patients": g["patient_id"].nunique(), "kl_a": kl_a, "kl_b": kl_b,
                "diff": kl_b - kl_a}  # fmt: skip

    rows = [row(str(f), g) for f, g in both.groupby("fold", sort=True)]
    return pd.DataFrame([*rows, row("all", both)])


def per_seed(run_a: Path, run_b: Path, threshold: int = schema.HIGH_VOTE_THRESHOLD) -> pd.DataFrame:
    """Two repeated runs (``train.seeds``) seed by seed: each seed both finished, as a pair of
    single-seed runs (``per_fold``'s total row, and its largest fold gap), so one pair of
    repeated runs also measures the single-seed gap K times.

    Columns: seed, n_rows, kl_a, kl_b, diff (B - A), max_fold_gap (the largest |B - A| of a
    fold). Empty when the runs are not repeated or share no seed."""
    from hms_kit.scoring.compare import finished_seeds

    seeds_a, seeds_b = finished_seeds(run_a), finished_seeds(run_b)
    rows = []
    for seed in sorted(seeds_a.keys() & seeds_b.keys()):
        *folds, total = per_fold(seeds_a[seed], seeds_b[seed], threshold).itertuples()
        rows.append({"seed": seed, "n_rows": total.n_rows, "kl_a": total.kl_a,
                     "kl_b": total.kl_b, "diff": total.diff,
                     "max_fold_gap": max((abs(f.diff) for f in folds), default=0.0)})  # fmt: skip
    return pd.DataFrame(rows, columns=["seed", "n_rows", "kl_a", "kl_b", "diff", "max_fold_gap"])


def seed_gaps(run: Path, threshold: int = schema.HIGH_VOTE_THRESHOLD) -> pd.DataFrame:
    """Within one repeated run, each pair of its seeds as ``per_seed`` pairs two runs: how far
    a change of seed alone moves the OOF KL, the yardstick for a change of threads.

    Columns: seed_a, seed_b, kl_a, kl_b, diff (b - a). Empty with fewer than two seeds."""
    from itertools import combinations

    from hms_kit.scoring.compare import finished_seeds

    rows = []
    for (sa, da), (sb, db) in combinations(finished_seeds(run).items(), 2):
        total = per_fold(da, db, threshold).iloc[-1]
        rows.append({"seed_a": sa, "seed_b": sb, "kl_a": total["kl_a"], "kl_b": total["kl_b"],
                     "diff": total["diff"]})  # fmt: skip
    return pd.DataFrame(rows, columns=["seed_a", "seed_b", "kl_a", "kl_b", "diff"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for the two runs")
    p.add_argument("--competition", type=Path, default=None, help="default: OUT/competition")
    p.add_argument("--config", default="default")
    p.add_argument("--a", type=parse_pair, default=(1, 0), help="run A THREADS:WORKERS")
    p.add_argument("--b", type=parse_pair, default=(2, 2), help="run B THREADS:WORKERS")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V")
    p.add_argument("--n-eegs", type=int, default=300, help="synthetic EEGs (no --competition)")
    args = p.parse_args(argv)

    from hms_kit.scoring.compare import compare_runs

    comp = args.competition
    if comp is None:
        from hms_kit.data.synth import generate_competition

        comp = args.out / "competition"
        if not (comp / "train.csv").is_file():
            generate_competition(
                comp, n_eegs=args.n_eegs, seed=42, n_test=min(100, args.n_eegs // 3)
            )
    runs = {}
    for tag, (threads, workers) in (("a", args.a), ("b", args.b)):
        run_dir = args.out / f"threads{threads}_workers{workers}"
        if run_dir in runs.values():
            p.error("--a and --b are the same setting")
        secs = train_once(comp, run_dir, args.out / "cache", args.config, threads, workers,
                          args.overrides)  # fmt: skip
        print(f"run {tag.upper()}: {threads} torch threads, {workers} loader workers: "
              f"{run_dir} ({secs / 60:.1f} min)")  # fmt: skip
        runs[tag] = run_dir
    high = high_population(schema.HIGH_VOTE_THRESHOLD)
    kl = {t: json.loads((d / "scores.json").read_text())[f"kl_{high}"] for t, d in runs.items()}
    *folds, total = per_fold(runs["a"], runs["b"]).itertuples()
    for f in folds:
        print(f"fold {f.fold}: {f.n_rows} rows, {f.n_eegs} EEGs, {f.n_patients} patients: "
              f"A {f.kl_a:.4f}  B {f.kl_b:.4f}  B - A {f.diff:+.4f}")  # fmt: skip
    seeds = per_seed(runs["a"], runs["b"])
    for r in seeds.itertuples():
        print(f"seed {r.seed} alone: A {r.kl_a:.4f}  B {r.kl_b:.4f}  B - A {r.diff:+.4f} "
              f"(largest fold gap {r.max_fold_gap:.4f})")  # fmt: skip
    if len(seeds) > 1:
        within = pd.concat([seed_gaps(runs[t]) for t in ("a", "b")])
        print(f"single seeds: mean |B - A| {seeds['diff'].abs().mean():.4f} over {len(seeds)}; "
              f"a change of seed alone (same threads, {len(within)} pairs): mean |diff| "
              f"{within['diff'].abs().mean():.4f}; the runs below average the seeds")  # fmt: skip
    row = compare_runs(runs["a"], runs["b"]).set_index("population").loc[high]
    print(f"OOF KL, >= {schema.HIGH_VOTE_THRESHOLD} votes ({total.n_rows} rows, "
          f"{total.n_eegs} EEGs, {total.n_patients} patients): "
          f"A {kl['a']:.4f}  B {kl['b']:.4f}  B - A {kl['b'] - kl['a']:+.4f} "
          f"(95 % patient bootstrap [{row['low']:+.4f}, {row['high']:+.4f}]); "
          f"issue 21's target: |B - A| <= 0.02")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
