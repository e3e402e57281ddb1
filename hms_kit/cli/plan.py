"""``python -m hms_kit plan``: what configs cost at the full competition's size, against
Kaggle's limits (hms_kit.tools.plan computes; this prints)."""

from __future__ import annotations

import argparse

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
        help="effective T4 throughput in TFLOP/s the hours assume (default: the plan's "
        "stated assumption, hms_kit.tools.plan.ASSUMED_T4_TFLOPS)",
    )


def run(args: argparse.Namespace) -> int:
    from hms_kit.config import ConfigError
    from hms_kit.tools.plan import ASSUMED_T4_TFLOPS, plan_configs, render

    names = [n.strip() for n in args.config.split(",") if n.strip()]
    if not names:
        raise ConfigError("--config names no config")
    tflops = ASSUMED_T4_TFLOPS if args.tflops is None else args.tflops
    if tflops <= 0:
        raise ConfigError(f"--tflops must be > 0, got {tflops}")
    print(render(plan_configs(names, args.overrides, tflops)))
    return 0
