"""``python -m hms_kit repredict``: a trained run's OOF predicted again with test-time views,
into a new run folder (no training; ``hms_kit.repredict``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hms_kit.cli.common import add_competition_argument
from hms_kit.data import Competition
from hms_kit.runlog import get_run_logger


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_competition_argument(p)
    p.add_argument("--run", type=Path, required=True, help="a finished train run folder")
    p.add_argument("--out", type=Path, required=True, help="the new run folder")
    p.add_argument("--tta-flip", action="store_true", help="average with time-reversed inputs")
    p.add_argument(
        "--tta-mirror", action="store_true", help="average with left-right mirrored inputs"
    )
    p.add_argument("--cache", type=Path, default=None, help="training inputs (default: OUT/cache)")
    p.add_argument("--workers", type=int, default=None)


def run(args: argparse.Namespace) -> int:
    from hms_kit.config import load_config
    from hms_kit.repredict import repredict_run
    from hms_kit.scoring.oof import high_population

    comp = Competition.locate(args.competition)
    get_run_logger(None)  # the console; repredict_run logs into the new folder too
    scores = repredict_run(comp, args.run, args.out, args.tta_flip, args.tta_mirror,
                           args.cache, args.workers)  # fmt: skip
    before = Path(args.run) / "scores.json"
    old = json.loads(before.read_text()) if before.is_file() else {}
    views = " + ".join(v for v, on in (("flip", args.tta_flip), ("mirror", args.tta_mirror)) if on)
    hi = high_population(load_config(Path(args.out) / "config.yaml").data.high_vote_threshold)
    for pop in ("all", hi):
        key = f"kl_{pop}"
        print(f"OOF KL ({pop}, {scores.get(f'n_{pop}', 0)} rows): {old.get(key, float('nan')):.4f} "
              f"plain, {scores[key]:.4f} with {views}")  # fmt: skip
    print(f"wrote {args.out} (compare: python -m hms_kit compare {args.run} {args.out})")
    return 0
