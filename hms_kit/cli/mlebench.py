"""``python -m hms_kit mlebench SOURCE OUT_DIR``: split a competition the way MLE-bench does."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "source", type=Path, help="competition folder in Kaggle's layout (train part read)"
    )
    p.add_argument(
        "out_dir", type=Path, help="writes OUT_DIR/public (the competition) and OUT_DIR/private"
    )
    p.add_argument("--overwrite", action="store_true", help="replace OUT_DIR if it exists")


def run(args: argparse.Namespace) -> int:
    from hms_kit.data.mlebench import prepare_mlebench

    try:
        split = prepare_mlebench(args.source, args.out_dir, overwrite=args.overwrite)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(split.line())
    return 0
