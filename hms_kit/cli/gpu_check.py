"""``python -m hms_kit gpu-check``: a short epoch of each kaggle-* config on this machine's GPU
(hms_kit.tools.gpu_check measures; this writes the GPU section of BENCHMARKS.md and the file
``plan`` reads)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hms_kit.cli.common import add_overrides


def add_arguments(p: argparse.ArgumentParser) -> None:
    from hms_kit.config import KAGGLE_CONFIGS
    from hms_kit.tools.gpu_check import BUDGET_S, GPU_CHECK_FILE

    p.add_argument(
        "--config",
        default=",".join(KAGGLE_CONFIGS),
        help=f"comma-separated packaged config names (default: {','.join(KAGGLE_CONFIGS)})",
    )
    add_overrides(p, "override a config key in every config (repeatable)")
    p.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"), help="its GPU section")
    p.add_argument(
        "--json",
        type=Path,
        default=Path(GPU_CHECK_FILE),
        help=f"the figures as JSON, what `plan` reads (default: {GPU_CHECK_FILE})",
    )
    p.add_argument(
        "--tiny",
        action="store_true",
        help="on the CPU in seconds: small models, two steps (for tests; plan ignores it)",
    )
    p.add_argument("--steps", type=int, default=None, help="timed steps per figure (20)")
    p.add_argument(
        "--budget",
        type=float,
        default=BUDGET_S,
        help=f"seconds after which no further config starts (default {BUDGET_S:g})",
    )
    p.add_argument("--work-dir", type=Path, default=None, help="scratch folder (default: tmp)")
    p.add_argument(
        "--competition",
        type=Path,
        default=None,
        help="a competition folder the data pipeline reads (default: a small synthetic one)",
    )


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this check (written into the section)."""
    parts = ["python -m hms_kit gpu-check", "--config", args.config]
    parts += [f"--set {o}" for o in args.overrides]
    parts += ["--tiny"] if args.tiny else []
    parts += ["--steps", str(args.steps)] if args.steps else []
    parts += ["--competition", str(args.competition)] if args.competition else []
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    from hms_kit.data import Competition
    from hms_kit.io import atomic_write_text
    from hms_kit.report import splice_section
    from hms_kit.tools.gpu_check import (
        GPU_END,
        GPU_START,
        GpuCheck,
        check_configs,
        render,
        to_json,
    )

    names = [n.strip() for n in args.config.split(",") if n.strip()]
    if not names:
        print("error: --config names no config", file=sys.stderr)
        return 2
    if args.steps is not None and args.steps < 1:
        print(f"error: --steps must be >= 1, got {args.steps}", file=sys.stderr)
        return 2

    def write(report: GpuCheck) -> str:
        section = render(report)
        old = args.out.read_text() if args.out.is_file() else ""
        atomic_write_text(args.out, splice_section(old, section, GPU_START, GPU_END))
        atomic_write_text(args.json, to_json(report))
        return section

    try:
        report = check_configs(
            names,
            args.overrides,
            tiny=args.tiny,
            steps=args.steps,
            budget_s=args.budget,
            workdir=args.work_dir,
            command=command_line(args),
            log=lambda line: print(line, flush=True),
            competition=Competition.locate(args.competition) if args.competition else None,
            on_config=write,  # each config's figures are kept as soon as they exist
        )
    except RuntimeError as exc:  # no CUDA without --tiny: say so, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(write(report))
    print(f"wrote {args.out} (GPU section) and {args.json}")
    return 0
