"""``python -m hms_kit predict``: fold checkpoints -> submission.csv."""

from __future__ import annotations

import argparse
from pathlib import Path

from hms_kit.cli.common import add_competition_argument
from hms_kit.data import Competition
from hms_kit.runlog import get_run_logger


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_competition_argument(p)
    p.add_argument(
        "--run",
        type=Path,
        action="append",
        required=True,
        help="run folder or model dataset with fold*_best.pt (repeatable)",
    )
    p.add_argument("--out", type=Path, default=Path("submission.csv"))
    p.add_argument("--tta-flip", action="store_true", help="average with time-reversed inputs")
    p.add_argument("--cache", type=Path, default=None, help="test cache folder (default: temp)")
    p.add_argument("--workers", type=int, default=None)


def run(args: argparse.Namespace) -> int:
    from hms_kit.predict import predict_test, write_submission

    comp = Competition.locate(args.competition)
    get_run_logger(args.out.parent)
    sub, report = predict_test(
        comp, args.run, cache_dir=args.cache, tta_flip=args.tta_flip, workers=args.workers
    )
    write_submission(sub, args.out)
    print(
        f"{len(report['checkpoints'])} checkpoints, {len(sub)} rows, "
        f"{len(report['fallback_rows'])} rows on the prior"
    )
    print(f"wrote {args.out}")
    return 0
