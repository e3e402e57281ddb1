"""``python -m hms_kit bench``: benchmarks, written to BENCHMARKS.md."""

from __future__ import annotations

import argparse
from pathlib import Path

from hms_kit.cli.common import add_competition_argument, add_config_arguments, config_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_competition_argument(p)
    p.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    p.add_argument("--tiny", action="store_true", help="a few rows only (for tests)")
    p.add_argument(
        "--n-eegs", type=int, default=120, help="synthetic EEGs when no competition is given"
    )
    add_config_arguments(p)


def run(args: argparse.Namespace) -> int:
    import tempfile

    from hms_kit.bench import render, run_benchmarks
    from hms_kit.data import Competition
    from hms_kit.io import atomic_write_text

    if args.config is None:
        args.config = "kaggle"  # what the kernels run on Kaggle
    cfg = config_from_args(args)
    cfg.model.pretrained = False  # benchmarks never download weights
    if args.competition:
        comp = Competition.locate(args.competition)
    else:
        from hms_kit.data.synth import generate_competition

        tmp = Path(tempfile.mkdtemp(prefix="hms_bench_synth_"))
        generate_competition(tmp, n_eegs=20 if args.tiny else args.n_eegs, seed=0)
        comp = Competition(tmp)
    report = run_benchmarks(comp, cfg, tiny=args.tiny)
    text = render(report)
    atomic_write_text(args.out, text)
    print(text)
    print(f"wrote {args.out}")
    return 0
