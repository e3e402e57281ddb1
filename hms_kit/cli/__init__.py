"""The command line: ``python -m hms_kit <command>``.

Each command lives in its own module here with ``add_arguments(parser)`` and
``run(args) -> int``; they parse, call the package and print. Modules are imported only
when their command runs, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from hms_kit import __version__

# (command, module, one-line help)
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("synth", "hms_kit.cli.synth", "write a synthetic competition in Kaggle's format"),
    ("mlebench", "hms_kit.cli.mlebench", "split a competition the way MLE-bench does"),
    ("synth-report", "hms_kit.cli.synth_report", "realism of a synthetic competition vs real"),
    ("sample", "hms_kit.cli.sample", "balanced sample of train.csv (rows per class)"),
    ("cache", "hms_kit.cli.cache", "build the spectrogram cache for the label rows"),
    ("figures", "hms_kit.cli.figures", "example figures: spectrogram, EEG, model inputs"),
    ("folds", "hms_kit.cli.folds", "patient -> fold file that every run can share"),
    ("train", "hms_kit.cli.train", "train folds (two stages), write checkpoints and oof.csv"),
    ("predict", "hms_kit.cli.predict", "predict test.csv with fold checkpoints -> submission.csv"),
    (
        "repredict",
        "hms_kit.cli.repredict",
        "a trained run's OOF predicted again with TTA views, no training",
    ),
    ("score", "hms_kit.cli.score", "Kaggle's KL score of a submission against answers"),
    (
        "plan",
        "hms_kit.cli.plan",
        "parameters, FLOPs, cache and T4 hours at full size vs Kaggle's limits",
    ),
    ("blend", "hms_kit.cli.blend", "fit a blend of runs on their OOF predictions -> blend.json"),
    ("experiment", "hms_kit.cli.experiment", "feature-combination experiment table"),
    ("compare", "hms_kit.cli.compare", "two runs' KL per population, seeds, bootstrap interval"),
    ("demo", "hms_kit.cli.demo", "the whole story on the embedded synthetic competition"),
    ("bench", "hms_kit.cli.bench", "benchmarks, written to BENCHMARKS.md"),
    (
        "gpu-check",
        "hms_kit.cli.gpu_check",
        "a short epoch of each kaggle-* config on the GPU -> BENCHMARKS.md, gpu_check.json",
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hms_kit", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"hms_kit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module, help_text in COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        mod = importlib.import_module(module)
        mod.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns its exit status."""
    from hms_kit.checkpoint import CheckpointError
    from hms_kit.config import ConfigError
    from hms_kit.data.readers import DataError

    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    mod = importlib.import_module(args._module)
    try:
        return int(mod.run(args) or 0)
    # OSError: a missing file, a read-only or full disk, a permission: the message names
    # the path, a traceback would add nothing but noise
    except (DataError, ConfigError, CheckpointError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
