"""``python -m hms_kit synth-report COMPETITION``: realism of a synthetic competition."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hms_kit.cli.common import add_overrides

REAL_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "real"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("competition", type=Path, help="a synthetic competition folder")
    p.add_argument(
        "--real", type=Path, default=REAL_DIR, help="real files (default: tests/data/real)"
    )
    p.add_argument(
        "--label-eegs",
        type=int,
        default=20000,
        help="label measures on a plan of this many EEGs, same seed (0: the competition's own)",
    )
    p.add_argument(
        "--ceiling-eegs",
        type=int,
        default=20000,
        help="what a reader of the signal's patterns could close, on a plan of this many "
        "EEGs, same seed (0: skip)",
    )
    p.add_argument(
        "--probe",
        type=Path,
        default=None,
        help="also train the baseline into this run folder and report the gap it closes",
    )
    add_overrides(
        p,
        "a setting of the probe's baseline run, e.g. --set train.n_folds=2 for a "
        "competition of fewer patients than the baseline config's folds (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    from hms_kit.data import Competition
    from hms_kit.data.synth import ANSWERS_DIR
    from hms_kit.data.synth.realism import realism_report

    comp = Competition(args.competition)
    meta_path = comp.root / ANSWERS_DIR / "synth.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path} not found: not a synthetic competition")
    seed = json.loads(meta_path.read_text())["seed"]
    if not (args.real / "train_eegs").is_dir():  # e.g. the wheel, which carries no tests/
        print(f"note: {args.real} holds no real competition files (train_eegs/): the report "
              "has no real side; give --real FOLDER (a checkout's tests/data/real)",
              file=sys.stderr)  # fmt: skip
    path, _ = realism_report(comp, seed, args.real, args.label_eegs)
    print(path.read_text())
    print(f"written to {path}")
    if args.ceiling_eegs > 0:
        from hms_kit.data.synth.ceiling import ceiling_markdown, reader_ceiling

        table = reader_ceiling(args.ceiling_eegs, seed)
        print(ceiling_markdown(table, args.ceiling_eegs, seed))
    if args.probe is not None:
        from hms_kit.data.synth.realism import probe_difficulty

        g = probe_difficulty(comp, args.probe, args.overrides)
        print(
            f"difficulty: the baseline closes {g['closed']:.0%} of the prior-to-oracle gap on "
            f"{int(g['n'])} rows with >= 10 votes (prior {g['prior']:.4f}, oracle "
            f"{g['oracle']:.4f}, baseline {g['model']:.4f}; target <= 50 %)"
        )
    return 0
