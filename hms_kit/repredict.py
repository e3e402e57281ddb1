"""A finished run predicted again with test-time augmentation, from its checkpoints.

Whether averaging over the time-reversed and the left/right mirrored inputs helps a run is a
question of prediction alone, so it is answered without training: ``repredict_run`` loads
each fold's final checkpoint, predicts the fold's validation rows again with the views asked
for (``engine.loop.predict_loader``) and writes a new run folder::

    OUT/config.yaml           the run's config with predict.tta_flip / tta_mirror / tta_oof set
    OUT/folds.csv, OUT/run_id.txt     the trained run's (copied; run_id.txt where it has one)
    OUT/checkpoints/fold{k}_best.pt   the trained run's (hard-linked, else copied)
    OUT/oof_fold{k}.csv, oof.csv, scores.json, per_class.csv, confusion.png
    OUT/fold{k}_summary.json  the trained fold's summary with the new OOF scores
    OUT/seeds/seed<s>/        the same per seed, for a repeated run (averaged as ``repeats``)

The folder is built beside OUT (``OUT.partial``) and renamed into place once complete, so a
failure leaves OUT as it was. The OOF equals what ``train`` writes with ``--set
predict.tta_oof=true`` and the same views (the validation loss that chooses the epoch never
uses TTA), so OUT compares as any run does, and predicts as one: ``predict`` and the
inference kernel take each run's views from its config.yaml (``predict.run_views``).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from hms_kit.checkpoint import STALE_DIR, fold_checkpoint_path, load_checkpoint
from hms_kit.config import Config, ConfigError, load_config, save_config
from hms_kit.data.competition import Competition
from hms_kit.data.folds import RunPrint, run_folds
from hms_kit.data.labels import total_votes, vote_targets
from hms_kit.engine.loop import make_loader, pick_device, predict_loader
from hms_kit.inputs.cache import build_cache
from hms_kit.inputs.dataset import InputDataset
from hms_kit.io import atomic_write_csv, atomic_write_text
from hms_kit.models import family_inputs, is_torch_family, load_model
from hms_kit.repeats import gather_seeds, seed_config, seed_dir, seed_list
from hms_kit.runlog import LOGGER_NAME, ensure_run_log, log_time
from hms_kit.scoring.metric import scores_by_population
from hms_kit.scoring.oof import gather_oof

RUN_FILES = ("folds.csv", "run_id.txt")
PARTIAL_SUFFIX = ".partial"


def tta_config(cfg: Config, flip: bool, mirror: bool) -> Config:
    """``cfg`` with the views asked for, in prediction and in the OOF. ConfigError when
    neither is asked (there would be nothing to predict again)."""
    if not (flip or mirror):
        raise ConfigError("repredict needs a view: --tta-flip, --tta-mirror or both")
    out = copy.deepcopy(cfg)
    out.predict = dataclasses.replace(cfg.predict, tta_flip=flip, tta_mirror=mirror, tta_oof=True)
    return out


def source_checkpoints(run_dir: str | Path) -> list[Path]:
    """Every fold's final checkpoint under a run folder (its seeds' too), sorted; files set
    aside in ``stale/`` are not the run's."""
    run_dir = Path(run_dir)
    return sorted(p for p in run_dir.rglob("fold*_best.pt")
                  if STALE_DIR not in p.relative_to(run_dir).parts)  # fmt: skip


def checkpoints_state(run_dir: str | Path) -> list[list[Any]]:
    """``[relative path, bytes, mtime in ns]`` of each of ``source_checkpoints``: a run trained
    again rewrites its checkpoints, so the state says whether predictions made from them are
    still the run's."""
    run_dir = Path(run_dir)
    return [[str(p.relative_to(run_dir)), p.stat().st_size, p.stat().st_mtime_ns]
            for p in source_checkpoints(run_dir)]  # fmt: skip


def _link_or_copy(src: Path, dst: Path) -> None:
    """``dst`` as a hard link to ``src`` (a checkpoint is tens of MB), else a copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed
        shutil.copyfile(src, dst)


def _start_folder(run_dir: Path, out_dir: Path, cfg: Config) -> None:
    """``out_dir`` begun as a run folder: the run's folds.csv and run_id.txt, ``cfg``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        if (run_dir / name).is_file():
            shutil.copyfile(run_dir / name, out_dir / name)
    save_config(cfg, out_dir / "config.yaml")


def _fold_states(cfg: Config, run_dir: Path, current: RunPrint) -> list[tuple[Path, dict]]:
    """Each fold's final checkpoint path and loaded state, checked before any prediction is
    made: FileNotFoundError naming a missing one, ConfigError naming one trained on
    other folds or settings than the run's config.yaml describes."""
    out = []
    for k in range(cfg.train.n_folds):
        src = fold_checkpoint_path(run_dir / "checkpoints", k, "final")
        if not src.is_file():
            raise FileNotFoundError(f"{src}: fold {k} has no final checkpoint (train it first)")
        state = load_checkpoint(src)
        why = current.stale_reason([src]) if state.get("fingerprint") is not None else None
        if why:
            raise ConfigError(
                f"{src}: not trained on the folds and settings {run_dir / 'config.yaml'} "
                f"describes ({why})"
            )
        out.append((src, state))
    return out


def _repredict_folds(
    comp: Competition, cfg: Config, run_dir: Path, out_dir: Path, cache_dir: Path,
    workers: int | None,
) -> dict[str, Any]:  # fmt: skip
    """Every fold of one (single-seed) run: checkpoints linked, OOF predicted again; returns
    the new OOF's scores (``gather_oof``)."""
    from hms_kit.train import oof_frame

    _start_folder(run_dir, out_dir, cfg)
    train, rows, fold_of, current = run_folds(comp, cfg, out_dir)
    folds = _fold_states(cfg, run_dir, current)
    names = family_inputs(cfg)
    cache = build_cache(comp, rows, cfg.inputs, cache_dir, split="train", modalities=names,
                        workers=workers, strict=True)  # fmt: skip
    targets, votes = vote_targets(rows), total_votes(rows).astype(np.float32)
    device = pick_device()
    for k, (src, state) in enumerate(folds):
        _link_or_copy(src, fold_checkpoint_path(out_dir / "checkpoints", k, "final"))
        val_idx = np.flatnonzero(fold_of == k)
        ds = InputDataset(cache, val_idx, targets[val_idx], votes[val_idx], names=names)
        loader = make_loader(ds, cfg.predict.batch_size, False, 0, device, 0)
        probs = predict_loader(
            load_model(state, src).to(device), loader, device, cfg.train.amp,
            tta_flip=cfg.predict.tta_flip, tta_mirror=cfg.predict.tta_mirror,
        )  # fmt: skip
        atomic_write_csv(
            out_dir / f"oof_fold{k}.csv",
            oof_frame(rows.iloc[val_idx], probs, targets[val_idx], votes[val_idx], k),
        )
        summary_path = run_dir / f"fold{k}_summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        summary.update(scores_by_population(
            targets[val_idx], probs, votes[val_idx], cfg.data.high_vote_threshold
        ))  # fmt: skip
        summary["repredicted_from"] = str(src)
        summary["oof_views"] = [cfg.predict.tta_flip, cfg.predict.tta_mirror]
        atomic_write_text(out_dir / f"fold{k}_summary.json", json.dumps(summary, indent=1))
    return gather_oof(out_dir, cfg, train)


def _replaceable(out_dir: Path) -> bool:
    """Whether ``out_dir`` may be replaced: absent, empty, or an earlier repredict's output
    (a fold summary, its own or a seed's, that says ``repredicted_from``)."""
    if not out_dir.exists():
        return True
    if not out_dir.is_dir():
        return False
    if not any(out_dir.iterdir()):
        return True
    for path in [*out_dir.glob("fold*_summary.json"), *out_dir.glob("seeds/*/fold*_summary.json")]:
        try:
            if "repredicted_from" in json.loads(path.read_text()):
                return True
        except (OSError, ValueError, TypeError):
            continue
    return False


def _close_logs_under(folder: Path) -> None:
    """Drop the kit logger's file handlers writing under ``folder`` (before it is renamed)."""
    log = logging.getLogger(LOGGER_NAME)
    for h in list(log.handlers):
        if isinstance(h, logging.FileHandler) and folder in Path(h.baseFilename).parents:
            log.removeHandler(h)
            h.close()


@log_time
def repredict_run(
    comp: Competition,
    run_dir: str | Path,
    out_dir: str | Path,
    flip: bool = False,
    mirror: bool = False,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Predict a finished torch run's OOF again with the views asked for (module docstring)
    into ``out_dir``, replacing what it held only once the new folder is complete; the run
    folder itself is only read. ``cache_dir`` (default ``out_dir/cache``) holds the training
    rows' inputs, rebuilt when absent. Returns the new OOF's scores (``scoring.oof.gather_oof``;
    a repeated run's with ``seed_scores``).

    ConfigError when no view is asked, the run is not a torch family's (the baseline has no
    views), ``out_dir`` is the run or a folder holding it, or holds files an earlier repredict
    did not write (it is replaced whole), or a checkpoint was trained on other settings;
    FileNotFoundError naming a missing config.yaml or fold checkpoint."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if run_dir.resolve() == out_dir.resolve() or out_dir.resolve() in run_dir.resolve().parents:
        raise ConfigError(f"{out_dir}: repredict writes a new run folder, not into {run_dir} "
                          "or a folder holding it (it replaces --out whole)")  # fmt: skip
    if not _replaceable(out_dir):
        raise ConfigError(
            f"{out_dir}: holds files an earlier repredict did not write; repredict replaces "
            "--out whole, so it is kept: choose a new --out, or remove it first"
        )
    if not (run_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"{run_dir / 'config.yaml'}: not a run folder (train writes it)")
    cfg = load_config(run_dir / "config.yaml")
    if not is_torch_family(cfg):
        raise ConfigError(
            f"{run_dir}: family {cfg.model.family!r} has no test-time views (torch families only)"
        )
    cfg = tta_config(cfg, flip, mirror)
    partial = out_dir.with_name(out_dir.name + PARTIAL_SUFFIX)
    shutil.rmtree(partial, ignore_errors=True)
    cache = Path(cache_dir) if cache_dir else partial / "cache"
    try:
        log = ensure_run_log(partial)
        log.info("OOF of %s predicted again (tta_flip %s, tta_mirror %s)", run_dir, flip, mirror)
        seeds = seed_list(cfg)
        if not seeds:
            scores = _repredict_folds(comp, cfg, run_dir, partial, cache, workers)
        else:
            _start_folder(run_dir, partial, cfg)
            for s in seeds:
                _repredict_folds(comp, seed_config(cfg, s), seed_dir(run_dir, s),
                                 seed_dir(partial, s), cache, workers)  # fmt: skip
            scores = gather_seeds(partial, cfg, comp.read_train(cfg.data.train_csv))
    except BaseException:
        _close_logs_under(partial.resolve())
        shutil.rmtree(partial, ignore_errors=True)
        raise
    _close_logs_under(partial.resolve())
    old = out_dir.with_name(out_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        out_dir.rename(old)
    partial.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)
    return scores
