"""``python -m hms_kit compare RUN_A RUN_B``: each run's KL per population (mean +- sd over
seeds where it has seeds) and the difference B - A with a patient-grouped paired bootstrap
interval; a difference whose interval holds 0 is a tie."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hms_kit.scoring.compare import BOOTSTRAP_SEED, LEVEL, N_RESAMPLES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_a", type=Path, help="run folder A (its oof.csv)")
    p.add_argument("run_b", type=Path, help="run folder B, scored on the rows both predicted")
    p.add_argument("--resamples", type=int, default=N_RESAMPLES, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=BOOTSTRAP_SEED, help="bootstrap seed")
    p.add_argument("--level", type=float, default=LEVEL, help="interval level (0.95)")
    p.add_argument("--csv", type=Path, default=None, help="also write the table here")


def run(args: argparse.Namespace) -> int:
    from hms_kit.io import atomic_write_csv
    from hms_kit.scoring.compare import compare_runs, format_comparison

    try:
        table = compare_runs(args.run_a, args.run_b, args.resamples, args.seed, args.level)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_comparison(table, str(args.run_a), str(args.run_b), args.level))
    if args.csv is not None:
        atomic_write_csv(args.csv, table)
        print(f"wrote {args.csv}")
    return 0
