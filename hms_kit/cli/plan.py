"""``python -m hms_kit plan``: what configs cost at the full competition's size, against
Kaggle's limits (hms_kit.tools.plan computes; this prints)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hms_kit.cli.common import add_overrides


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        required=True,
        help="comma-separated packaged config names or YAML files, e.g. default,eeg1d",
    )
    add_overrides(
        p,
        "override a config key in every config (repeatable)",
    )
    p.add_argument(
        "--tflops",
        type=float,
        default=None,
        help="effective T4 throughput in TFLOP/s the hours assume for every config, "
        "measured or not (default: a gpu-check's measurement where there is one, else the "
        "plan's stated assumption, hms_kit.tools.plan.ASSUMED_T4_TFLOPS)",
    )
    p.add_argument(
        "--measured",
        type=Path,
        default=None,
        help="the file `make gpu-check` wrote (default: gpu_check.json here, if there is "
        "one): each config it measured uses its measured throughput",
    )


def measured_throughput(path: Path | None) -> tuple[dict[str, float], str]:
    """Effective TFLOP/s by config from a gpu-check file and where it was measured; ``({},
    "")`` when ``path`` is None and there is no ``gpu_check.json`` here, or (with a note) when
    that default file is not a GPU's measurement. A file given by name must be one."""
    from hms_kit.config import ConfigError
    from hms_kit.tools.gpu_check import GPU_CHECK_FILE, read_measured

    chosen = path if path is not None else Path(GPU_CHECK_FILE)
    if path is None and not chosen.is_file():
        return {}, ""
    try:
        found = read_measured(chosen)
    except ValueError as exc:
        if path is not None:
            raise ConfigError(f"--measured: {exc}") from exc
        print(f"note: {exc}; the plan assumes its throughput", file=sys.stderr)
        return {}, ""
    return found.tflops, f"{found.device}, {found.when} ({found.path})"


def run(args: argparse.Namespace) -> int:
    from hms_kit.config import ConfigError
    from hms_kit.tools.plan import ASSUMED_T4_TFLOPS, plan_configs, render

    names = [n.strip() for n in args.config.split(",") if n.strip()]
    if not names:
        raise ConfigError("--config names no config")
    tflops = ASSUMED_T4_TFLOPS if args.tflops is None else args.tflops
    if tflops <= 0:
        raise ConfigError(f"--tflops must be > 0, got {tflops}")
    # an explicit --tflops is the user's figure for every config
    measured, where = measured_throughput(args.measured) if args.tflops is None else ({}, "")
    print(render(plan_configs(names, args.overrides, tflops, measured=measured, measured_on=where)))
    return 0
