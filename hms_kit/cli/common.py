"""Arguments shared by several commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from hms_kit.config import Config, load_config

DEFAULT_CONFIG = "default"  # hms_kit/configs/default.yaml


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """--config FILE|NAME and --set key=value (repeatable)."""
    p.add_argument(
        "--config",
        default=None,
        help="YAML config file, or a packaged config name (default, seed, kaggle; "
        "without --config: default, the fast setting)",
    )
    add_overrides(p, "override a config key, e.g. --set train.stage1.epochs=3 (repeatable)")


def add_overrides(p: argparse.ArgumentParser, help: str) -> None:
    """``--set KEY=VALUE`` (repeatable) into ``args.overrides``."""
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help
    )


def config_from_args(args: argparse.Namespace) -> Config:
    """The config named by --config (the packaged ``default`` when absent, not the bare
    dataclass defaults, which are the full-scale setting) with the --set overrides applied."""
    return load_config(args.config or DEFAULT_CONFIG, args.overrides)


def add_competition_argument(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument(
        "--competition",
        type=Path,
        default=None,
        required=required,
        help="competition folder (default: $HMS_DATA_DIR or Kaggle's input folder)",
    )


def parse_folds(text: str | None) -> list[int] | None:
    """'0,1' -> [0, 1]; None or '' -> None (all folds). An argparse ``type``: a bad value is
    a usage error that names the text, not a traceback."""
    from hms_kit.data.folds import fold_list

    try:
        return fold_list(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_train_csv_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--train-csv",
        type=Path,
        default=None,
        help="train on these rows of train.csv only (e.g. balanced_train.csv from `sample`; "
        "data.train_csv)",
    )
