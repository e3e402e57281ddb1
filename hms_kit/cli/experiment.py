"""``python -m hms_kit experiment``: the feature-combination table."""

from __future__ import annotations

import argparse
from pathlib import Path

from hms_kit.cli.common import (
    add_competition_argument,
    add_config_arguments,
    add_train_csv_argument,
    config_from_args,
)
from hms_kit.data import Competition
from hms_kit.runlog import get_run_logger


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_competition_argument(p)
    p.add_argument("--out", type=Path, required=True, help="experiment folder")
    p.add_argument(
        "--models", default="tf_efficientnet_b0,efficientnet_b4", help="timm names, comma-separated"
    )
    p.add_argument("--folds", type=int, default=3, help="folds per combination")
    p.add_argument("--epochs", type=int, default=3, help="stage-1 epochs per combination")
    add_config_arguments(p)
    add_train_csv_argument(p)
    p.add_argument("--workers", type=int, default=None)


def run(args: argparse.Namespace) -> int:
    from hms_kit.report import markdown_table
    from hms_kit.tools.experiment import run_experiment, write_results

    cfg = config_from_args(args)
    if args.train_csv:
        cfg.data.train_csv = str(args.train_csv.resolve())
    cfg.train.n_folds = args.folds
    cfg.train.stage1.epochs = args.epochs
    comp = Competition.locate(args.competition)
    get_run_logger(args.out)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    table = run_experiment(comp, cfg, args.out, models, workers=args.workers)
    csv_path, md_path = write_results(table, args.out)
    print(markdown_table(table))
    print(f"wrote {md_path} and {csv_path}")
    return 0
