"""``python -m hms_kit experiment``: the feature-combination table, on one competition or
the same grid on several (``--competition A,B,C``: one subfolder each, and a table of each
row's KL as mean +- sd over the competitions)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hms_kit.cli.common import add_config_arguments, add_train_csv_argument, config_from_args
from hms_kit.data import Competition
from hms_kit.runlog import get_run_logger


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--competition",
        default=None,
        help="competition folder (default: $HMS_DATA_DIR or Kaggle's input folder); "
        "several, comma-separated: the same grid on each, in OUT/<name>/",
    )
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
    from hms_kit.tools.experiment import run_across, run_experiment, write_across, write_results

    folders = [c.strip() for c in (args.competition or "").split(",") if c.strip()]
    cfg = config_from_args(args)
    if args.train_csv:
        if len(folders) > 1:
            print("error: --train-csv lists one competition's rows: not with several "
                  "competitions", file=sys.stderr)  # fmt: skip
            return 2
        cfg.data.train_csv = str(args.train_csv.resolve())
    cfg.train.n_folds = args.folds
    cfg.train.stage1.epochs = args.epochs
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    get_run_logger(args.out)
    if len(folders) > 1:
        try:
            table, _ = run_across(folders, cfg, args.out, models, workers=args.workers)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        csv_path, md_path = write_across(table, args.out)
        print((args.out / md_path.name).read_text().rstrip())
    else:
        comp = Competition.locate(folders[0] if folders else None)
        table = run_experiment(comp, cfg, args.out, models, workers=args.workers)
        csv_path, md_path = write_results(table, args.out)
        print(markdown_table(table))
    print(f"wrote {md_path} and {csv_path}")
    return 0
