"""``python -m hms_kit cache``: build the feature cache of the training rows."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hms_kit import schema
from hms_kit.cli.common import add_competition_argument, add_config_arguments, config_from_args
from hms_kit.data import Competition
from hms_kit.runlog import get_run_logger


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_competition_argument(p)
    p.add_argument("--out", type=Path, required=True, help="cache folder")
    add_config_arguments(p)
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument(
        "--modalities",
        default=None,
        help="comma-separated modalities to cache (default: the config's)",
    )


def run(args: argparse.Namespace) -> int:
    from hms_kit.inputs.cache import VALUES_FILE
    from hms_kit.models import family_inputs
    from hms_kit.train import prepare

    cfg = config_from_args(args)
    if args.modalities is not None:
        wanted = [m.strip() for m in args.modalities.split(",") if m.strip()]
        unknown = [m for m in wanted if m not in schema.MODALITIES]
        if unknown or not wanted:
            print(f"error: --modalities {args.modalities!r}: each one of "
                  f"{', '.join(schema.MODALITIES)}", file=sys.stderr)  # fmt: skip
            return 2
        if cfg.model.family != "timm2d":  # the other families cache what their model reads
            print(f"error: --modalities chooses timm2d's image panels; the {cfg.model.family} "
                  f"family caches {family_inputs(cfg) or 'nothing'}", file=sys.stderr)  # fmt: skip
            return 2
        cfg.inputs.modalities = wanted
    if not family_inputs(cfg):
        print(f"the {cfg.model.family} family reads no cache (it computes its features from "
              "the files): nothing to build")  # fmt: skip
        return 0
    comp = Competition.locate(args.competition)
    get_run_logger(args.out)
    rows, cache = prepare(comp, cfg, args.out, workers=args.workers)
    total = 0
    for m in cache.modalities:
        entry = cache.entries[m]
        size = (entry.path / VALUES_FILE).stat().st_size
        total += size
        print(f"{m}: {entry.n} windows, {size / 2**20:.1f} MiB at {entry.path}")
    per_row = total / max(len(rows), 1)
    print(f"{len(rows)} rows, {total / 2**20:.1f} MiB, {per_row / 2**10:.0f} KiB per row")
    for label, n in (("dedup", schema.FULL_DEDUP_ROWS), ("all", schema.FULL_TRAIN_ROWS)):
        print(
            f"estimated for the full competition ({label} rows, {n}): {per_row * n / 2**30:.1f} GiB"
        )
    return 0
