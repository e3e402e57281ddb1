"""``python -m hms_kit synth OUT_DIR``: write a synthetic competition in Kaggle's format."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out_dir", type=Path, help="competition folder to write")
    p.add_argument("--n-eegs", type=int, default=300, help="training EEGs (default 300)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--n-test", type=int, default=None, help="test EEGs (default max(20, n_eegs // 10))"
    )
    p.add_argument(
        "--profile",
        choices=("demo", "real"),
        default="demo",
        help="demo (default): the embedded demo's generator; real: the real EEG durations "
        "(p50 58 s, p99 318 s, up to ~3,400 s) and ratios of rows/EEGs/spectrograms/patients",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes drawing signals (--profile real only; the files do not depend on it)",
    )
    p.add_argument(
        "--layout",
        choices=("kaggle", "mlebench"),
        default="kaggle",
        help="mlebench: write the competition to OUT_DIR/source and split it the way MLE-bench "
        "does into OUT_DIR/mlebench/public and .../private (hms_kit.data.mlebench)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace OUT_DIR even if it holds other files"
    )


def run(args: argparse.Namespace) -> int:
    from hms_kit.data.synth import generate_competition

    target = args.out_dir / "source" if args.layout == "mlebench" else args.out_dir
    split_dir = args.out_dir / "mlebench"
    # the split is replaced when it is one (its private answers), else only with --overwrite;
    # checked before the competition is drawn, so a refusal costs nothing
    replace_split = args.overwrite or (split_dir / "private" / "answers.csv").is_file()
    if args.layout == "mlebench" and split_dir.exists() and not replace_split:
        print(f"error: {split_dir} exists and holds no MLE-bench split (private/answers.csv): "
              "use --overwrite to replace it", file=sys.stderr)  # fmt: skip
        return 2
    try:
        summary = generate_competition(
            target,
            n_eegs=args.n_eegs,
            seed=args.seed,
            n_test=args.n_test,
            overwrite=args.overwrite,
            profile=args.profile,
            workers=args.workers,
        )
    except (FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary.line())
    print(f"answers and true probabilities in {summary.answers_dir}")
    if args.layout == "mlebench":
        from hms_kit.data.mlebench import prepare_mlebench

        split = prepare_mlebench(target, split_dir, overwrite=True)
        print(split.line())
    return 0
