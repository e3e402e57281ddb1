"""``python -m hms_kit train``: train folds into a run folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hms_kit.cli.common import (
    add_competition_argument,
    add_config_arguments,
    add_train_csv_argument,
    config_from_args,
    parse_folds,
)
from hms_kit.data import Competition
from hms_kit.runlog import get_run_logger
from hms_kit.scoring.oof import high_population


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_competition_argument(p)
    p.add_argument("--out", type=Path, required=True, help="run folder")
    add_config_arguments(p)
    add_train_csv_argument(p)
    p.add_argument(
        "--folds", type=parse_folds, default=None, help="folds to train, e.g. 0,1 (default: all)"
    )
    p.add_argument("--cache", type=Path, default=None, help="cache folder (default: RUN/cache)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument(
        "--folds-file",
        default=None,
        help="patient_id,fold file from `folds` (train.folds_file): runs that share it blend",
    )
    p.add_argument("--workers", type=int, default=None, help="cache build processes")
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="K runs on the same folds (train.seeds = K: train.seed and the K - 1 after it), "
        "averaged in OOF and prediction",
    )


def run(args: argparse.Namespace) -> int:
    from hms_kit.train import install_stop_handler, train_folds

    cfg = config_from_args(args)
    if args.train_csv:
        cfg.data.train_csv = str(args.train_csv.resolve())
    if args.folds_file:
        cfg.train.folds_file = str(args.folds_file)
    if args.repeats is not None:
        cfg.train.seeds = args.repeats
    comp = Competition.locate(args.competition)
    log = get_run_logger(args.out)
    log.info("train: competition %s, run %s", comp.root, args.out)
    install_stop_handler()
    result = train_folds(
        comp,
        cfg,
        args.out,
        folds=args.folds,
        cache_dir=args.cache,
        resume=args.resume,
        workers=args.workers,
    )
    scores = {k: v for k, v in result.items() if k != "folds_trained"}
    print(json.dumps(scores, indent=1))
    if result.get("complete"):
        from hms_kit.scoring.populations import population_summary

        t = cfg.data.high_vote_threshold
        # the population the run optimises, its headline score first
        print(population_summary(result, cfg.target.population, cfg.data.high_vote_threshold))
        print(
            f"OOF KL {result['kl_all']:.4f} (all rows)"
            f" | {result[f'kl_{high_population(t)}']:.4f} (>= {t} votes)"
            f" | {result['kl_golden']:.4f} (golden: one >= {t}-vote row per EEG)"
            f" | {result['kl_all_eeg_mean']:.4f} (all rows, one prediction per EEG)"
            f" | prior {result['kl_prior']:.4f} | checkpoints chosen on "
            f"{result['checkpoint_population']}"
        )
    print(f"run folder: {args.out}")
    return 0
