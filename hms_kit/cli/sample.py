"""``python -m hms_kit sample``: the seed's balanced subset of train.csv."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from hms_kit.data import balanced_sample, class_table, read_train_csv
from hms_kit.data.sampling import SAMPLE_ROW_MODES, SamplingError
from hms_kit.io import atomic_write_csv
from hms_kit.report import markdown_table


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--train-csv", required=True, type=Path, help="train.csv to sample from")
    p.add_argument("--per-class", type=int, default=50, help="rows per class (default 50)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", type=Path, default=Path("balanced_train.csv"))
    p.add_argument("--allow-smaller", action="store_true", help="take all rows of a smaller class")
    p.add_argument(
        "--distinct-eegs", action="store_true", help="at most one row per EEG in the sample"
    )
    p.add_argument(
        "--row-mode",
        choices=SAMPLE_ROW_MODES,
        default="all",
        help="the data.row_mode the sample will train under: dedup draws from the rows such a "
        "run keeps (one per eeg_id and vote vector), so it stays balanced (default all)",
    )


def run(args: argparse.Namespace) -> int:
    df = read_train_csv(args.train_csv)
    original_columns = list(pd.read_csv(args.train_csv, nrows=0).columns)
    table = class_table(df)
    print(markdown_table(table))
    print(f"smallest class: {table.iloc[-1, 0]} with {int(table['Count'].min())} rows")
    try:
        sample = balanced_sample(
            df,
            per_class=args.per_class,
            seed=args.seed,
            allow_smaller=args.allow_smaller,
            distinct_eegs=args.distinct_eegs,
            row_mode=args.row_mode,
        )
    except SamplingError as exc:
        print(f"error: {args.train_csv}: {exc}", file=sys.stderr)
        return 2
    print(markdown_table(class_table(sample)))
    atomic_write_csv(args.out, sample[original_columns])
    print(f"wrote {len(sample)} rows to {args.out}")
    return 0
