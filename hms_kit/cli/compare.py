"""``python -m hms_kit compare RUN_A RUN_B``: each run's KL per population (mean +- sd over
seeds where it has seeds) and the difference B - A with a patient-grouped paired bootstrap
interval; a difference whose interval holds 0 (or under 1e-4) is a tie.

Over several competitions: ``compare DIR_A DIR_B [--run NAME]`` (folders holding one
subfolder per competition, as ``experiment --competition A,B`` writes them) or
``compare --pairs A1:B1,A2:B2``: each competition's difference and their mean, its interval
from patients resampled within each competition (``hms_kit.scoring.compare.compare_across``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hms_kit.scoring.compare import BOOTSTRAP_SEED, LEVEL, N_RESAMPLES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "run_a",
        type=Path,
        nargs="?",
        help="run folder A (its oof.csv), or a folder of one subfolder per competition",
    )
    p.add_argument(
        "run_b", type=Path, nargs="?", help="run folder B (or folder of competitions) like A"
    )
    p.add_argument(
        "--pairs",
        default=None,
        help="A1:B1,A2:B2: one pair of run folders per competition (instead of RUN_A RUN_B)",
    )
    p.add_argument(
        "--run",
        default=None,
        help="with folders of competitions: the run inside each competition's subfolder "
        "(an experiment's <model>__<modalities>), NAME or NAME_A:NAME_B",
    )
    p.add_argument("--resamples", type=_positive, default=N_RESAMPLES, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=BOOTSTRAP_SEED, help="bootstrap seed")
    p.add_argument("--level", type=_level, default=LEVEL, help="interval level (0.95)")
    p.add_argument("--csv", type=Path, default=None, help="also write the table here")


def _positive(text: str) -> int:
    """A resample count: an integer of at least 1 (0 leaves no interval to take)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def _level(text: str) -> float:
    """An interval level strictly between 0 and 1, e.g. 0.95."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a level between 0 and 1, e.g. 0.95")
    return value


def parse_pairs(text: str) -> list[tuple[Path, Path]]:
    """'A1:B1,A2:B2' -> [(A1, B1), (A2, B2)]; ValueError naming a malformed pair."""
    pairs = []
    for item in (x.strip() for x in text.split(",")):
        a, sep, b = item.partition(":")
        if not item or not sep or not a or not b or ":" in b:
            raise ValueError(f"--pairs: {item!r} is not RUN_A:RUN_B")
        pairs.append((Path(a), Path(b)))
    return pairs


def run(args: argparse.Namespace) -> int:
    from hms_kit.io import atomic_write_csv
    from hms_kit.scoring import compare as c

    try:
        if args.pairs is not None:
            if args.run_a is not None or args.run is not None:
                raise ValueError("--pairs replaces RUN_A RUN_B and --run: give one or the other")
            pairs = parse_pairs(args.pairs)
            names = c.folder_names([a for a, _ in pairs])
            across = dict(zip(names, pairs))
            label_a = ", ".join(f"{n}: {a}" for n, (a, _) in across.items())
            label_b = ", ".join(f"{n}: {b}" for n, (_, b) in across.items())
        elif args.run_a is None or args.run_b is None:
            raise ValueError("give RUN_A RUN_B, or --pairs A1:B1,A2:B2")
        elif (args.run_a / "oof.csv").is_file() and args.run is None:
            table = c.compare_runs(args.run_a, args.run_b, args.resamples, args.seed, args.level)
            print(c.format_comparison(table, str(args.run_a), str(args.run_b), args.level))
            across = None
        else:
            across = c.pairs_from_folders(args.run_a, args.run_b, args.run)
            name_a, _, name_b = (args.run or "").partition(":")
            label_a = str(args.run_a / "<competition>" / name_a) if name_a else str(args.run_a)
            name_b = name_b or name_a
            label_b = str(args.run_b / "<competition>" / name_b) if name_b else str(args.run_b)
        if across is not None:
            table = c.compare_across(across, args.resamples, args.seed, args.level)
            print(c.format_across(table, label_a, label_b, args.level))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.csv is not None:
        atomic_write_csv(args.csv, table)
        print(f"wrote {args.csv}")
    return 0
