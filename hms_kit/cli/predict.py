"""``python -m hms_kit predict``: fold checkpoints (one run, several, or a blend) ->
submission.csv."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from hms_kit.cli.common import add_competition_argument
from hms_kit.data import Competition
from hms_kit.runlog import get_run_logger

# the predict settings this command imposes on every run: the views and MLE-bench's windows;
# a run's other settings (its batch size, its OOF views) are its own config.yaml's
APPLIED_SETTINGS = ("tta_flip", "tta_mirror", "stride_s", "max_windows", "average")


def unapplied_settings(overrides: list[str]) -> list[str]:
    """The keys of ``overrides`` (``--set KEY=VALUE``) this command would not apply, e.g.
    ``predict.batch_size`` or ``train.seed``: a setting taken and ignored is a silent wrong
    answer."""
    from hms_kit.config import flat_keys, parse_overrides

    applied = {f"predict.{key}" for key in APPLIED_SETTINGS}
    return [key for key in flat_keys(parse_overrides(overrides)) if key not in applied]


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_competition_argument(p)
    p.add_argument(
        "--run",
        type=Path,
        action="append",
        default=[],
        help="run folder or model dataset with fold*_best.pt (repeatable: runs are averaged, "
        "each run counting once)",
    )
    p.add_argument(
        "--blend",
        type=Path,
        default=None,
        help="blend.json from `blend`: its runs, weighted as fitted (instead of --run)",
    )
    p.add_argument("--out", type=Path, default=Path("submission.csv"))
    views = "(default: each run's own predict.tta_* from its config.yaml)"
    p.add_argument("--tta-flip", action=argparse.BooleanOptionalAction, default=None,
                   help=f"average with time-reversed inputs, or not, for every run {views}")  # fmt: skip
    p.add_argument("--tta-mirror", action=argparse.BooleanOptionalAction, default=None,
                   help=f"average with left-right mirrored inputs, or not, for every run {views}")  # fmt: skip
    p.add_argument("--cache", type=Path, default=None, help="test cache folder (default: temp)")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="predict.KEY=VALUE",
        help="a predict setting for every run: predict.tta_flip, tta_mirror, or MLE-bench's "
        "windows (stride_s, max_windows, average; see hms_kit.scoring.windows), e.g. --set "
        "predict.max_windows=0 (offset 0 only)",
    )


def run(args: argparse.Namespace) -> int:
    from hms_kit.predict import (
        combine_members,
        fallback_prior,
        forced_views,
        predict_members,
        predict_test,
        write_submission,
    )

    if bool(args.run) == bool(args.blend):
        print("error: give --run (one or more) or --blend, not both", file=sys.stderr)
        return 2
    from hms_kit.config import load_config

    pcfg = load_config(None, args.overrides).predict  # checks names and values first
    unapplied = unapplied_settings(args.overrides)
    if unapplied:
        print(f"error: predict does not apply {', '.join(unapplied)}: it takes --set "
              f"predict.{{{','.join(APPLIED_SETTINGS)}}}; a run's other settings are its "
              "config.yaml's", file=sys.stderr)  # fmt: skip
        return 2
    comp = Competition.locate(args.competition)
    get_run_logger(args.out.parent)
    flip, mirror = forced_views(args.overrides)
    opts = {
        "cache_dir": args.cache,
        "tta_flip": flip if args.tta_flip is None else args.tta_flip,
        "tta_mirror": mirror if args.tta_mirror is None else args.tta_mirror,
        "workers": args.workers,
        "windows": pcfg,
    }
    if args.blend is None and len(args.run) == 1:
        sub, report = predict_test(comp, args.run, **opts)
        if not report["predicted_with"]:  # a typo or an empty run: the prior is no prediction
            print(f"error: no checkpoint of {args.run[0]} predicted the test set "
                  f"({len(report['checkpoints'])} found); {args.out} not written",
                  file=sys.stderr)  # fmt: skip
            return 2
        views = [report["views"]]
        print(f"{len(report['checkpoints'])} checkpoints, {len(sub)} rows, ", end="")
    else:
        blend = None
        runs = args.run
        if args.blend is not None:
            from hms_kit.ensemble import BlendError, read_blend

            try:
                blend = read_blend(args.blend)
            except BlendError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            runs = [Path(r["path"]) for r in blend["runs"]]
        members = args.out.parent / f"{args.out.stem}_members"
        frames, reports = predict_members(comp, runs, out_dir=members, **opts)
        views = [r["views"] for r in reports]
        try:
            sub, report = combine_members(frames, reports, blend, fallback_prior(comp))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        predicted = sum(f is not None for f in frames)
        print(f"{predicted} of {len(runs)} members predicted, {len(report['members_used'])} "
              f"with weight ({members}), ", end="")  # fmt: skip
        print(f"{len(sub)} rows, ", end="")
    write_submission(sub, args.out)
    print(f"{len(report['fallback_rows'])} rows on the prior")
    counts = Counter(v for run in views for v in run.values())
    if counts:
        print("views: " + ", ".join(f"{n} ({k} checkpoints)" for n, k in sorted(counts.items())))
    print(f"wrote {args.out}")
    return 0
