"""``python -m hms_kit score``: Kaggle's KL score of a submission; the score is the last line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from hms_kit.scoring.metric import score_submission


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--submission", type=Path, required=True, help="submission.csv")
    p.add_argument("--answers", type=Path, required=True, help="eeg_id + six vote columns")
    p.add_argument(
        "--mlebench",
        action="store_true",
        help="grade as MLE-bench does (one row per answer row, rows summing to 1 at 5 decimals)",
    )


def run(args: argparse.Namespace) -> int:
    for path in (args.submission, args.answers):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: file not found")
    from hms_kit.data.mlebench import grade_mlebench

    scorer = grade_mlebench if args.mlebench else score_submission
    try:
        score = scorer(pd.read_csv(args.submission), pd.read_csv(args.answers))
    except ValueError as exc:
        print(f"error: {args.submission} vs {args.answers}: {exc}", file=sys.stderr)
        return 2
    print(f"{score:.6f}")
    return 0
