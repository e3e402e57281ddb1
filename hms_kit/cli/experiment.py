"""``python -m hms_kit experiment``: the feature-combination table, on one competition or
the same grid on several (``--competition A,B,C``: one subfolder each, and a table of each
row's KL as mean +- sd over the competitions)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hms_kit.cli.common import add_config_arguments, add_train_csv_argument, config_from_args
from hms_kit.config import Config
from hms_kit.data import Competition
from hms_kit.runlog import get_run_logger

EXPERIMENT_FOLDS, EXPERIMENT_EPOCHS = 3, 3  # a grid of 14 runs: short ones


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
    p.add_argument("--folds", type=int, default=None,
                   help=f"folds per combination (default {EXPERIMENT_FOLDS}, or a --set "
                   "train.n_folds)")  # fmt: skip
    p.add_argument("--epochs", type=int, default=None,
                   help=f"stage-1 epochs per combination (default {EXPERIMENT_EPOCHS}, or a "
                   "--set train.stage1.epochs)")  # fmt: skip
    add_config_arguments(p)
    add_train_csv_argument(p)
    p.add_argument("--workers", type=int, default=None)


def grid_problem(cfg: Config, models: list[str]) -> str | None:
    """Why the grid cannot run with ``cfg`` and ``models`` (None: it can), before any cache
    is built: it varies the timm model and the input panels, which only ``timm2d`` reads
    (another family would train one model 14 times under 14 names), and the folds and
    epochs set by the flags after the config was checked."""
    import timm

    from hms_kit.config import ConfigError
    from hms_kit.config.checks import validate

    if cfg.model.family != "timm2d":
        return (f"experiment's grid varies model.name and inputs.modalities, which only the "
                f"timm2d family reads; the config is {cfg.model.family!r}: use --config "
                "default, seed or kaggle-timm2d, or train and compare runs of the others")  # fmt: skip
    if not models:
        return "--models names no model"
    unknown = [m for m in models if not timm.is_model(m)]
    if unknown:
        return f"--models: {', '.join(unknown)} is not a timm model name"
    if cfg.train.stage1.epochs < 1:
        return f"--epochs must be at least 1, got {cfg.train.stage1.epochs}"
    try:
        validate(cfg)
    except ConfigError as exc:
        return str(exc)
    return None


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
    # the flags, else a --set of the key, else the experiment's short defaults
    sets = {o.split("=", 1)[0].strip() for o in args.overrides or []}
    if args.folds is not None or "train.n_folds" not in sets:
        cfg.train.n_folds = EXPERIMENT_FOLDS if args.folds is None else args.folds
    if args.epochs is not None or "train.stage1.epochs" not in sets:
        cfg.train.stage1.epochs = EXPERIMENT_EPOCHS if args.epochs is None else args.epochs
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    problem = grid_problem(cfg, models)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
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
