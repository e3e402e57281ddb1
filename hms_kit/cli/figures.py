"""``python -m hms_kit figures``: example figures as PNG."""

from __future__ import annotations

import argparse
from pathlib import Path

from hms_kit.cli.common import add_competition_argument, add_config_arguments, config_from_args
from hms_kit.data import Competition


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_competition_argument(p)
    p.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    add_config_arguments(p)


def run(args: argparse.Namespace) -> int:
    from hms_kit.figures import write_figures

    cfg = config_from_args(args)
    for path in write_figures(Competition.locate(args.competition), args.out, cfg.inputs):
        print(f"wrote {path}")
    return 0
