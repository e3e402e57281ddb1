"""Repeated runs (issue 21): ``train.seeds`` trains the same folds once per seed and
averages them.

A run with seeds ``[s1, s2, ...]`` (a count K means ``train.seed .. train.seed + K - 1``)
lays out::

    RUN/folds.csv                the folds every seed trains on (made once, from train.seed)
    RUN/seeds/seed<s>/           a whole run folder per seed (config with train.seed = s)
    RUN/oof_fold{k}.csv, oof.csv the seeds' OOF predictions averaged in probability space
    RUN/scores.json              the averaged OOF's scores, and per seed (``seed_scores``)
                                 with their mean and sd (``seed_mean_kl_*``, ``seed_sd_kl_*``)

``predict --run RUN`` finds every seed's ``fold*_best.pt`` under RUN and averages them all,
so each fold's seeds are averaged in prediction too. ``compare`` reads the seeds' OOF.

A folder trained without seeds and then with them (``--resume``) keeps its folds as the
first seed's when the settings match (``train_repeats``); otherwise its fold files, or a
repeated run's ``seeds/`` trained again without seeds, go to ``stale/``.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hms_kit.config import Config, ConfigError
from hms_kit.data.competition import Competition
from hms_kit.io import atomic_write_csv, atomic_write_text
from hms_kit.runlog import ensure_run_log
from hms_kit.scoring.compare import seed_summary
from hms_kit.scoring.metric import PRED_COLS
from hms_kit.scoring.oof import GATHERED_FILES, SEEDS_DIR


def seed_list(cfg: Config) -> list[int]:
    """The seeds of a repeated run: ``train.seeds`` as a list, or a count K (``train.seed``
    and the K - 1 after it); [] when it is not repeated. ConfigError for anything else."""
    value = cfg.train.seeds
    try:
        if isinstance(value, str):  # from --set: "3" is a count, "1,2" seeds
            value = [int(v) for v in value.split(",") if v.strip()] if "," in value else int(value)
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int):
            if value < 0:
                raise ValueError
            return [cfg.train.seed + i for i in range(value)] if value > 1 else []
        seeds = [int(v) for v in value]
    except (TypeError, ValueError):
        raise ConfigError(
            f"train.seeds must be a list of seeds or a count, got {cfg.train.seeds!r}"
        ) from None
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"train.seeds repeats a seed: {seeds}")
    return seeds


def seed_config(cfg: Config, seed: int) -> Config:
    """The config one seed of a repeated run trains with."""
    c = copy.deepcopy(cfg)
    c.train.seed = seed
    c.train.seeds = []
    return c


def seed_dir(run_dir: str | Path, seed: int) -> Path:
    return Path(run_dir) / SEEDS_DIR / f"seed{seed}"


def train_repeats(
    train_one: Callable[..., dict[str, Any]],
    comp: Competition,
    cfg: Config,
    rows: pd.DataFrame,
    run_dir: str | Path,
    folds: list[int] | None = None,
    cache_dir: str | Path | None = None,
    resume: bool = False,
    workers: int | None = None,
    limit: Any = None,
) -> dict[str, Any]:
    """Train every seed of ``seed_list(cfg)`` on the run's folds (``train_one``, i.e.
    ``train.train_folds``, per seed in its own folder; one cache), then average them
    (``gather_seeds``). ``rows`` are the run's training rows (``train.training_rows``); both
    come from the caller so that this module does not import ``hms_kit.train``. ``limit``
    (``train.TimeLimit``) is shared by the seeds: ``train.time_limit_hours`` bounds the whole
    run, and the seeds after one stopped at it are left for ``--resume``. Returns the
    averaged scores plus ``seed_scores``; ``complete`` once every seed is."""
    from hms_kit.config import save_config
    from hms_kit.data.folds import folds_from_file, load_or_make_folds

    seeds = seed_list(cfg)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / "config.yaml")
    log = ensure_run_log(run_dir)
    if cfg.train.folds_file:
        fold_of = folds_from_file(run_dir, rows, cfg.train.folds_file, cfg.train.n_folds)
    else:
        fold_of = load_or_make_folds(run_dir, rows, cfg.train.n_folds, cfg.train.seed)
    _settle_single_run(run_dir, cfg, rows, fold_of, resume)
    cache_dir = Path(cache_dir) if cache_dir else run_dir / "cache"
    for i, s in enumerate(seeds):
        d = seed_dir(run_dir, s)
        d.mkdir(parents=True, exist_ok=True)
        # the same folds for every seed: a seed's own folds.csv would follow its seed
        shutil.copyfile(run_dir / "folds.csv", d / "folds.csv")
        log.info("seed %d of %s: %s", s, seeds, d)
        done = train_one(comp, seed_config(cfg, s), d, folds=folds, cache_dir=cache_dir,
                         resume=resume, workers=workers, limit=limit)  # fmt: skip
        if any(f.get("stopped") for f in done.get("folds_trained", [])) and seeds[i + 1 :]:
            log.warning(
                "seed %d stopped at train.time_limit_hours: seeds %s not started (--resume, "
                "on Kaggle RESUME=1, goes on)", s, seeds[i + 1 :],
            )  # fmt: skip
            break
    return gather_seeds(run_dir, cfg, comp.read_train(cfg.data.train_csv))


def _settle_single_run(
    run_dir: Path, cfg: Config, rows: pd.DataFrame, fold_of: np.ndarray, resume: bool
) -> None:
    """A run folder trained without seeds and now with them: with ``--resume`` its finished
    (or stopped) folds become its first seed's when that seed is ``train.seed`` and they were
    trained with the same settings, so a third of a 3-seed run's hours are not spent again;
    any other of its fold files go to ``stale/`` (``data.folds.adopt_single_run``)."""
    from hms_kit.checkpoint import STALE_DIR
    from hms_kit.data.folds import RunPrint, adopt_single_run, set_aside
    from hms_kit.models import is_torch_family

    own = cfg.train.seed
    # the baseline's folds take seconds: trained again, not adopted
    adopt = resume and own in seed_list(cfg) and is_torch_family(cfg)
    adopted, retired = adopt_single_run(
        run_dir, seed_dir(run_dir, own), RunPrint.of(seed_config(cfg, own), rows, fold_of),
        adopt=adopt,
    )  # fmt: skip
    if not (adopted or retired):
        return
    log = ensure_run_log(run_dir)
    # its oof.csv and scores.json are that run's, not the seeds' average: out of the way too
    stale = set_aside(run_dir, [run_dir / name for name in GATHERED_FILES])
    if adopted:
        log.info(
            "folds %s trained here without seeds (train.seed %d, the same settings): kept as "
            "seed %d's in %s", adopted, own, own, seed_dir(run_dir, own),
        )  # fmt: skip
    if retired:
        why = ("not resumed" if not resume
               else "not a torch family's" if not is_torch_family(cfg)
               else f"train.seed {own} is not among the seeds" if own not in seed_list(cfg)
               else "other settings, or that seed has these folds already")  # fmt: skip
        log.warning(
            "folds %s trained here without seeds moved to %s/ (%s): predict would average "
            "them with the seeds'", retired, STALE_DIR, why,
        )  # fmt: skip
    if stale is not None:
        log.info("the run's own %s moved to %s", ", ".join(GATHERED_FILES), stale)


def link_first_seed(src_run: str | Path, run_dir: str | Path, seed: int) -> list[int]:
    """Start a repeated run from a finished single-seed run of the same settings in another
    folder: each fold of ``src_run`` that ``run_dir``'s seed ``seed`` lacks has its files
    hard-linked (else copied) into ``seeds/seed<seed>/``, for ``train --resume`` to keep
    (``train`` retires any not made with the seed's rows and settings). A fold the seed holds from
    other settings than ``src_run``'s (a config changed since; its summary's fingerprint
    differs) is moved to ``stale/`` and linked anew. Files under a run are only ever replaced
    by rename, never written in place, so the source run is left as it was. Returns the folds
    linked."""
    import os

    from hms_kit.data.folds import (
        fold_files,
        model_folds,
        models_last,
        recorded_fingerprint,
        set_aside,
    )

    def fingerprint(run: Path, k: int) -> str | None:
        return recorded_fingerprint(run / f"fold{k}_summary.json")

    src_run, dest = Path(src_run), seed_dir(run_dir, seed)
    have = model_folds(dest) if dest.is_dir() else set()
    mine = fold_files(dest) if dest.is_dir() else {}
    linked = []
    for k in sorted(model_folds(src_run)):
        if k in have:
            if fingerprint(dest, k) == fingerprint(src_run, k):
                continue
            set_aside(dest, mine[k])
        for f in models_last(fold_files(src_run)[k]):
            target = dest / f.relative_to(src_run)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)  # a link cut short before: never written through
            try:
                os.link(f, target)
            except OSError:  # another file system, or links not allowed
                shutil.copyfile(f, target)
        linked.append(k)
    return linked


def retire_seeds(run_dir: str | Path) -> Path | None:
    """A run folder trained with seeds, now trained without: its ``seeds/`` (``predict``
    would average their checkpoints with the new run's) and the seeds' averaged OOF files
    moved to ``stale/<UTC time>/``; returns that folder, or None when there were no seeds."""
    from hms_kit.data.folds import set_aside

    run_dir = Path(run_dir)
    if not (run_dir / SEEDS_DIR).is_dir():
        return None
    averaged = sorted(run_dir.glob("oof_fold*.csv"))
    dest = set_aside(run_dir, [run_dir / SEEDS_DIR, *averaged,
                                *(run_dir / name for name in GATHERED_FILES)])  # fmt: skip
    ensure_run_log(run_dir).warning(
        "%s moved to %s with the seeds' averaged OOF: this run trains without seeds, and "
        "predict would average theirs in", run_dir / SEEDS_DIR, dest,
    )  # fmt: skip
    return dest


def average_oof_folds(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The seeds' ``oof_fold{k}.csv`` frames of one fold (the same rows in the same order)
    with their predictions averaged in probability space. ValueError when the rows differ."""
    first = frames[0]
    key = [c for c in ("eeg_id", "eeg_sub_id", "fold") if c in first]
    for f in frames[1:]:
        if len(f) != len(first) or not (f[key].to_numpy() == first[key].to_numpy()).all():
            raise ValueError("the seeds' OOF rows differ: were they trained on other folds?")
    out = first.copy()
    out[PRED_COLS] = np.mean([f[PRED_COLS].to_numpy(np.float64) for f in frames], axis=0)
    return out


def gather_seeds(
    run_dir: str | Path, cfg: Config, train: pd.DataFrame | None = None
) -> dict[str, Any]:
    """Average the seeds' OOF of every fold that all seeds finished into the run folder's
    ``oof_fold{k}.csv``, gather them (``train.gather_oof``: oof.csv, scores.json...) and add
    each seed's scores and their mean and sd to scores.json. Returns those scores."""
    from hms_kit.scoring.oof import gather_oof

    run_dir = Path(run_dir)
    seeds = seed_list(cfg)
    dirs = [seed_dir(run_dir, s) for s in seeds]
    for k in range(cfg.train.n_folds):
        parts = [d / f"oof_fold{k}.csv" for d in dirs]
        if all(p.is_file() for p in parts):
            avg = average_oof_folds([pd.read_csv(p) for p in parts])
            atomic_write_csv(run_dir / f"oof_fold{k}.csv", avg)
    scores = gather_oof(run_dir, cfg, train)
    per_seed = {}
    for s, d in zip(seeds, dirs, strict=True):
        path = d / "scores.json"
        if path.is_file():
            per_seed[s] = json.loads(path.read_text())
    kl_keys = sorted({k for sc in per_seed.values() for k, v in sc.items()
                      if k.startswith("kl_") and isinstance(v, (int, float))})  # fmt: skip
    scores["seeds"] = seeds
    scores["seed_scores"] = {str(s): {k: sc.get(k) for k in kl_keys} for s, sc in per_seed.items()}
    for k in kl_keys:
        vals = [sc[k] for sc in per_seed.values() if isinstance(sc.get(k), (int, float))]
        scores[f"seed_mean_{k}"], scores[f"seed_sd_{k}"] = seed_summary(vals)
    scores["complete"] = (
        bool(scores.get("complete"))
        and all(sc.get("complete") for sc in per_seed.values())
        and len(per_seed) == len(seeds)
    )
    if (run_dir / "scores.json").is_file():
        atomic_write_text(run_dir / "scores.json", json.dumps(scores, indent=1, default=str))
    return scores
