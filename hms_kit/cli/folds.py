"""``python -m hms_kit folds``: one patient -> fold file for every run of a competition."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hms_kit.cli.common import add_competition_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_competition_argument(p)
    p.add_argument("--out", type=Path, default=Path("folds.csv"), help="patient_id,fold file")
    p.add_argument("--n-folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)


def run(args: argparse.Namespace) -> int:
    from hms_kit.data import Competition
    from hms_kit.data.folds import folds_sha, make_folds, patient_folds
    from hms_kit.io import atomic_write_csv

    rows = Competition.locate(args.competition).read_train()
    try:
        table = patient_folds(rows, make_folds(rows, args.n_folds, args.seed))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    atomic_write_csv(args.out, table)
    sizes = table["fold"].value_counts().sort_index()
    rows_per = rows.assign(f=rows["patient_id"].map(dict(zip(table.patient_id, table.fold))))
    per_fold = rows_per.groupby("f").size()
    for k in sizes.index:
        print(f"fold {k}: {sizes[k]} patients, {per_fold[k]} rows")
    print(f"wrote {args.out} ({len(table)} patients, {args.n_folds} folds, sha {folds_sha(table)})")
    return 0
