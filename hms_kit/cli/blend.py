"""``python -m hms_kit blend``: fit a blend of runs on their aligned OOF -> blend.json."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hms_kit import schema
from hms_kit.ensemble import BLEND_FILE, METHODS, POPULATIONS, blend_population, blend_threshold
from hms_kit.runlog import get_run_logger


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--runs",
        required=True,
        type=lambda s: [Path(x) for x in s.split(",") if x.strip()],
        help="run folders with oof.csv, comma-separated (trained on the same folds)",
    )
    p.add_argument("--out", type=Path, required=True, help="folder for blend.json and the log")
    p.add_argument(
        "--population",
        choices=POPULATIONS,
        default=None,
        help="rows the blend is fitted and scored on: hq (>= 10 votes, Kaggle's test) or all "
        "(MLE-bench's); default: the runs' target.population (all_rows -> all, else hq)",
    )
    p.add_argument("--method", choices=METHODS, default="logit", help="logit (default) or simplex")
    p.add_argument(
        "--threshold",
        type=int,
        default=None,
        help="votes that make a row hq (default: the runs' data.high_vote_threshold, from "
        "their scores.json or config.yaml; 10 where neither says)",
    )


def run(args: argparse.Namespace) -> int:
    from hms_kit.ensemble import BlendError, blend_runs
    from hms_kit.io import atomic_write_text

    log = get_run_logger(args.out)
    if args.population is None:  # issue 13: the population the runs were trained for
        args.population = blend_population(args.runs)
        log.info("blend population %s (from the runs' target.population)", args.population)
    if args.threshold is None and args.population == "hq":  # the runs' own cut
        args.threshold = blend_threshold(args.runs)
    elif args.threshold is None:  # every row: the cut only names the hq rows' scores
        args.threshold = schema.HIGH_VOTE_THRESHOLD
    try:
        report = blend_runs(args.runs, args.population, args.method, args.threshold)
    except BlendError as exc:
        log.error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    path = atomic_write_text(args.out / BLEND_FILE, json.dumps(report.blend, indent=1) + "\n")
    table = report.table.to_string(index=False, float_format=lambda x: f"{x:.4f}")
    log.info("blend of %d runs on %s rows:\n%s", len(args.runs), args.population, table)
    s = report.blend["scores"]
    print(table)
    if "warning" in report.blend:
        log.warning("%s", report.blend["warning"])
        print(f"warning: {report.blend['warning']}")
    print(f"wrote {path}")
    print(
        f"blend KL {s['blend_inner_cv']:.4f} (inner CV) | best single {s['best_single']:.4f} | "
        f"prior {s['prior']:.4f} | {report.blend['n_rows']} {args.population} rows"
    )
    return 0
