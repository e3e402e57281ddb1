"""What the Kaggle kernels run, as functions: the scripts in kernels/ only call these.

Both take the Kaggle root (``/kaggle``, or a local tree laid out the same way) and never
need code edits: settings come from a config file in the wheel dataset (``config.yaml``
beside the wheel) and a few environment variables:

    HMS_CONFIG   config file or packaged name (default: config.yaml found in the inputs,
                 else the packaged ``kaggle`` config)
    HMS_FOLDS    folds this train kernel trains, e.g. ``0,1`` (default: the config's, else all)
    HMS_SET      extra overrides, ``key=value`` separated by ``;``
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path

import numpy as np
import pandas as pd

from hms_kit import schema
from hms_kit.config import Config, load_config
from hms_kit.paths import KagglePaths, kaggle_paths
from hms_kit.runlog import get_run_logger

ENV_CONFIG = "HMS_CONFIG"
ENV_FOLDS = "HMS_FOLDS"
ENV_SET = "HMS_SET"
CONFIG_NAME = "config.yaml"


def find_input_config(paths: KagglePaths) -> Path | None:
    """The ``config.yaml`` shipped beside the wheel in an attached dataset, if any."""
    if not paths.input.is_dir():
        return None
    for d in sorted(paths.input.iterdir()):
        if (
            d.name != schema.COMPETITION_SLUG
            and (d / CONFIG_NAME).is_file()
            and any(d.glob("hms_kit-*.whl"))
        ):
            return d / CONFIG_NAME
    return None


def kernel_config(paths: KagglePaths) -> tuple[Config, str]:
    """The kernel's config and where it came from."""
    source = os.environ.get(ENV_CONFIG) or find_input_config(paths) or "kaggle"
    overrides = [s for s in os.environ.get(ENV_SET, "").split(";") if s.strip()]
    return load_config(source, overrides), str(source)


def run_train_kernel(root: str | Path | None = None) -> dict:
    """Cache, train the folds asked for and write everything to ``<root>/working``.

    The cache goes to ``<root>/temp/cache`` (Kaggle does not keep it, and it would count
    against the 20 GB output limit). Returns the OOF summary.
    """
    from hms_kit.cli.common import parse_folds
    from hms_kit.data import Competition
    from hms_kit.train import install_stop_handler, train_folds

    paths = kaggle_paths(root)
    paths.working.mkdir(parents=True, exist_ok=True)
    log = get_run_logger(paths.working)
    cfg, source = kernel_config(paths)
    folds = parse_folds(os.environ.get(ENV_FOLDS))
    log.info("train kernel: root %s, config %s, folds %s", paths.root, source, folds or "all")
    install_stop_handler()
    result = train_folds(
        Competition.locate(paths.competition),
        cfg,
        paths.working,
        folds=folds,
        cache_dir=paths.temp / "cache",
        resume=True,
    )
    if result.get("complete"):
        log.info(
            "OOF KL %.4f (all rows), %.4f (>= 10 votes), prior %.4f",
            result["kl_all"],
            result["kl_votes_ge_10"],
            result["kl_prior"],
        )
    return result


def model_inputs(paths: KagglePaths) -> list[Path]:
    """Attached inputs that may hold fold checkpoints (all but the competition data)."""
    if not paths.input.is_dir():
        return []
    return [d for d in sorted(paths.input.iterdir()) if d.name != schema.COMPETITION_SLUG]


def run_infer_kernel(root: str | Path | None = None) -> Path:
    """Predict test.csv with every fold checkpoint among the inputs; write working/submission.csv.

    Never fails for want of a model or a readable test file: what is missing is logged and
    the rows fall back to the prior (uniform 1/6 if nothing else is known), so a valid
    submission is always written.
    """
    from hms_kit.data import Competition
    from hms_kit.predict import predict_test, write_submission

    paths = kaggle_paths(root)
    paths.working.mkdir(parents=True, exist_ok=True)
    log = get_run_logger(paths.working)
    out = paths.working / "submission.csv"
    comp = Competition(paths.competition)
    try:
        tta_flip = kernel_config(paths)[0].predict.tta_flip
    except Exception as exc:  # a broken config.yaml must not cost the submission
        log.error("config unreadable (%s): predicting without flip TTA", exc)
        tta_flip = False
    try:
        sub, report = predict_test(
            comp,
            model_inputs(paths),
            cache_dir=paths.temp / "test_cache",
            tta_flip=tta_flip,
        )
        log.info(
            "%d checkpoints, %d rows on the prior",
            len(report["checkpoints"]),
            len(report["fallback_rows"]),
        )
    except Exception:  # the kernel must still write a valid submission
        log.error("inference failed, writing the prior:\n%s", traceback.format_exc())
        sub = prior_submission(comp)
    write_submission(sub, out)
    log.info("wrote %s (%d rows)", out, len(sub))
    try:
        gather_fold_oof(model_inputs(paths), paths.working / "oof")
    except Exception as exc:  # the OOF report is a bonus; the submission is already written
        log.warning("could not gather the folds' OOF files: %s", exc)
    return out


def gather_fold_oof(inputs: list[Path], out_dir: Path) -> dict | None:
    """Join the ``oof_fold*.csv`` of every attached train kernel (one per fold when the folds
    ran in parallel kernels) into ``out_dir``: oof.csv, scores.json, per_class.csv,
    confusion.png. Returns the scores, or None when no input has OOF files."""
    import shutil

    from hms_kit.runlog import logger
    from hms_kit.train import gather_oof

    found: dict[str, Path] = {}
    config = None
    for d in inputs:
        for f in sorted(d.rglob("oof_fold*.csv")):
            found.setdefault(f.name, f)
            config = config or (f.parent / "config.yaml")
    if not found:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, f in found.items():
        shutil.copyfile(f, out_dir / name)
    cfg = load_config(config) if config and config.is_file() else load_config(None)
    scores = gather_oof(out_dir, cfg)
    logger().info(
        "OOF of %d folds %s (complete: %s): KL %.4f (all rows), %.4f (>= 10 votes)",
        len(scores["folds"]),
        scores["folds"],
        scores["complete"],
        scores["kl_all"],
        scores["kl_votes_ge_10"],
    )
    return scores


def prior_submission(comp) -> pd.DataFrame:
    """The training prior (1/6 if train.csv cannot be read) for every eeg_id of
    sample_submission.csv (else test.csv): the last resort of the inference kernel."""
    from hms_kit.predict import fallback_prior

    try:
        ids = comp.read_sample_submission()["eeg_id"].to_numpy()
    except Exception:
        ids = comp.read_test()["eeg_id"].to_numpy()
    probs = np.tile(fallback_prior(comp), (len(ids), 1))
    sub = pd.DataFrame(probs, columns=list(schema.VOTE_COLUMNS))
    sub.insert(0, "eeg_id", ids)
    return sub
