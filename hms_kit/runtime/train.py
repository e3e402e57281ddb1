"""The train kernel as a function (``kernels/train.py`` only installs the wheel and calls
:func:`run_train_kernel`): cache, train the folds asked for, write everything to
``<root>/working``. Inputs are found by what they hold, in either of Kaggle's mount layouts
(``hms_kit.paths``).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from hms_kit.paths import KagglePaths, kaggle_paths
from hms_kit.runlog import get_run_logger
from hms_kit.runtime.settings import kernel_config, resolve_settings, session_limit_hours
from hms_kit.scoring.oof import high_population

# an earlier output holds folds.csv and the folds' checkpoints: its own, or its seeds'
PREVIOUS_RUN_MARKERS = ("folds.csv",)
PREVIOUS_RUN_MODELS = ("checkpoints", "seeds")


def run_train_kernel(
    root: str | Path | None = None, settings: Mapping[str, str] | None = None
) -> dict:
    """Cache, train the folds asked for and write everything to ``<root>/working``.

    The cache goes to ``<root>/temp/cache`` (Kaggle does not keep it, and it would count
    against the 20 GB output limit). ``settings`` is the kernel script's ``SETTINGS``
    (``config``, ``folds``, ``timeout``; see :mod:`hms_kit.runtime.settings`). Returns the
    OOF summary.
    """
    from hms_kit.data import Competition
    from hms_kit.data.folds import fold_list
    from hms_kit.train import install_stop_handler, train_folds

    paths = kaggle_paths(root)
    paths.working.mkdir(parents=True, exist_ok=True)
    # before the log opens: an attached earlier session's training_record.log is copied in
    # and this session's lines follow it (opened first, the new log would keep it out)
    previous = continue_previous_run(paths)
    log = get_run_logger(paths.working)
    chosen = resolve_settings(settings)
    cfg, source = kernel_config(paths, chosen)
    folds = fold_list(chosen.get("folds"))
    log.info("train kernel: root %s, config %s, folds %s", paths.root, source, folds or "all")
    if chosen.get("timeout"):
        # Kaggle ends the session at TIMEOUT whatever the config says: the kit's own stop
        # (checkpoints kept, RESUME=1 goes on) must come first
        was = cfg.train.time_limit_hours
        cfg.train.time_limit_hours = session_limit_hours(was, float(chosen["timeout"]))
        if cfg.train.time_limit_hours != was:
            log.info("train.time_limit_hours %.2f (was %g): the session's TIMEOUT %s s less "
                     "the time to write the outputs", cfg.train.time_limit_hours, was,
                     chosen["timeout"])  # fmt: skip
    install_stop_handler()
    if previous:
        log.info("continuing the run attached from %s", previous)
    if not cfg.train.folds_file:
        shared = find_folds_file(paths)
        if shared:
            log.info("folds from the attached %s", shared)
            cfg.train.folds_file = str(shared)
    result = train_folds(
        Competition.locate(paths.competition),
        cfg,
        paths.working,
        folds=folds,
        cache_dir=paths.temp / "cache",
        resume=True,
    )
    if result.get("complete"):
        t = cfg.data.high_vote_threshold
        log.info(
            "OOF KL %.4f (all rows), %.4f (>= %d votes), prior %.4f",
            result["kl_all"],
            result[f"kl_{high_population(t)}"],
            t,
            result["kl_prior"],
        )
    return result


def find_folds_file(paths: KagglePaths) -> Path | None:
    """A shared folds file (``patient_id,fold``, from ``python -m hms_kit folds``) at the top
    of an attached dataset, if any: runs trained on it can be blended."""
    for d in paths.model_inputs():
        for f in sorted(d.glob("*.csv")):
            with open(f) as fh:
                if fh.readline().strip() == "patient_id,fold":
                    return f
    return None


def continue_previous_run(paths: KagglePaths) -> Path | None:
    """Copy an attached earlier output of this train kernel (a folder with ``folds.csv`` and
    ``checkpoints/`` or, trained with ``train.seeds``, ``seeds/``) into an empty
    ``working/``, so training resumes where it stopped. Files it set aside in ``stale/`` stay
    behind (they would only grow each version's output towards Kaggle's 20 GB).

    Files already in ``working/`` are never overwritten. Returns the folder copied, or None.
    """
    from hms_kit.checkpoint import STALE_DIR

    if (paths.working / "folds.csv").exists():
        return None
    for d in paths.model_inputs():
        if all((d / name).exists() for name in PREVIOUS_RUN_MARKERS) and any(
            (d / name).is_dir() for name in PREVIOUS_RUN_MODELS
        ):
            for src in sorted(d.rglob("*")):
                if STALE_DIR in src.relative_to(d).parts[:-1]:
                    continue
                dst = paths.working / src.relative_to(d)
                if src.is_file() and not dst.exists():
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, dst)
            return d
    return None
