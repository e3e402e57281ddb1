"""``python -m hms_kit predict``: not built yet."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise SystemExit("hms_kit predict: not built yet")
