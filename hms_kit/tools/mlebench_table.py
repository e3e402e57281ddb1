"""Score submissions on an MLE-bench split: all rows (as its grader) and the >= 10-vote rows.

    python -m hms_kit.tools.mlebench_table --split SPLIT_DIR --sub NAME=submission.csv ...

SPLIT_DIR is what ``python -m hms_kit mlebench`` wrote (public/, private/). Prints a
markdown table: each submission, the prior (train rows' mean vote distribution), uniform
(1/6) and, for a synthetic split, the oracle (each row's true probabilities), with the KL
over every answer row (``grade_mlebench``) and over the rows with >= 10 votes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from hms_kit import schema
from hms_kit.data.mlebench import (
    ANSWERS_CSV,
    PRIVATE_DIR,
    PUBLIC_DIR,
    TRUE_PROBS_CSV,
    grade_mlebench,
)
from hms_kit.scoring.metric import kl_per_row, votes_to_targets

COLS = list(schema.VOTE_COLUMNS)


def row_scores(preds: np.ndarray, answers: pd.DataFrame, threshold: int) -> tuple[float, float]:
    """KL over every answer row and over its >= threshold-vote rows; preds row-aligned."""
    votes = answers[COLS].to_numpy(np.float64)
    kl = kl_per_row(votes_to_targets(votes), preds)
    high = votes.sum(axis=1) >= threshold
    return float(kl.mean()), float(kl[high].mean()) if high.any() else float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--split", type=Path, required=True)
    p.add_argument("--sub", action="append", default=[], help="NAME=submission.csv")
    p.add_argument("--threshold", type=int, default=schema.HIGH_VOTE_THRESHOLD)
    args = p.parse_args()
    answers = pd.read_csv(args.split / PRIVATE_DIR / ANSWERS_CSV)
    train = pd.read_csv(args.split / PUBLIC_DIR / "train.csv")
    n_high = int((answers[COLS].sum(axis=1) >= args.threshold).sum())
    lines = [
        f"| predictions | KL all {len(answers)} rows (MLE-bench grade) | "
        f"KL {n_high} rows >= {args.threshold} votes |",
        "|---|---|---|",
    ]
    for item in args.sub:
        name, path = item.split("=", 1)
        sub = pd.read_csv(path)
        graded = grade_mlebench(sub, answers)
        per_eeg = sub.drop_duplicates("eeg_id").set_index("eeg_id")[COLS]
        all_rows, high = row_scores(
            per_eeg.loc[answers["eeg_id"]].to_numpy(), answers, args.threshold
        )
        assert abs(graded - all_rows) < 1e-9, (name, graded, all_rows)
        lines.append(f"| {name} | {graded:.4f} | {high:.4f} |")
    prior = votes_to_targets(train[COLS].to_numpy(np.float64)).mean(axis=0)
    refs = {
        "prior (train rows' mean)": np.tile(prior, (len(answers), 1)),
        "uniform 1/6": np.full((len(answers), 6), 1 / 6),
    }
    truth = args.split / PRIVATE_DIR / TRUE_PROBS_CSV
    if truth.is_file():
        true = pd.read_csv(truth)[COLS]
        refs["oracle (each row's true probabilities)"] = true.to_numpy()
        # what one prediction per eeg_id can reach: its rows' true probabilities averaged
        refs["oracle, one per EEG (rows' true probabilities averaged)"] = (
            true.groupby(answers["eeg_id"].to_numpy()).transform("mean").to_numpy()
        )
    for name, preds in refs.items():
        a, h = row_scores(preds, answers, args.threshold)
        lines.append(f"| {name} | {a:.4f} | {h:.4f} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
