"""Inference: fold checkpoints -> test.csv predictions -> a validated submission.csv.

One bad file never costs the whole submission: a test window that cannot be read gets the
training prior (logged with its eeg_id), a row whose predicted probabilities are not finite
is a failed row for that checkpoint (logged with its eeg_id and file), a run with no
checkpoint is logged and skipped, and with no checkpoint at all every row gets the prior.
Checkpoints load through ``hms_kit.checkpoint`` (``weights_only``: a file that would need
unpickling is refused and logged, never run).
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hms_kit import schema
from hms_kit.checkpoint import STALE_DIR
from hms_kit.checkpoint import load_checkpoint as _load_checkpoint_file
from hms_kit.config import Config, PredictConfig, config_from_dict
from hms_kit.data.competition import Competition
from hms_kit.data.readers import DataError
from hms_kit.engine.loop import make_loader, pick_device, predict_loader
from hms_kit.inputs.cache import build_cache
from hms_kit.inputs.dataset import InputDataset
from hms_kit.inputs.registry import input_settings
from hms_kit.io import atomic_write_csv
from hms_kit.models import family_inputs, is_torch_family, load_model
from hms_kit.runlog import get_run_logger, log_time, logger
from hms_kit.scoring.windows import aggregate_windows, window_rows

if TYPE_CHECKING:
    from hms_kit.ensemble import Member
    from hms_kit.paths import KagglePaths

CHECKPOINT_GLOB = "fold*_best.pt"


@dataclass
class Checkpoint:
    """A fold's final model file and the config it was trained with."""

    path: Path
    cfg: Config
    prior: np.ndarray  # (6,) training prior

    def input_key(self) -> str:
        """Checkpoints with one key share their test inputs (the cache entries of the same
        inputs and settings, or the baseline's features)."""
        if not is_torch_family(self.cfg):  # the baseline's features, with or without shapes
            return f"{self.cfg.model.family}:morphology={self.cfg.model.baseline.morphology}"
        names = family_inputs(self.cfg)
        return json.dumps({n: input_settings(n, self.cfg.inputs) for n in names}, sort_keys=True)


def find_checkpoints(paths: list[str | Path]) -> list[Path]:
    """Every ``fold*_best.pt`` under the given run folders or model datasets (searched deeply),
    except those a later training set aside in a ``stale/`` folder."""
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_file() and p.suffix == ".pt":
            found.append(p)
        elif p.is_dir():
            found.extend(
                f for f in sorted(p.rglob(CHECKPOINT_GLOB))
                if STALE_DIR not in f.relative_to(p).parts[:-1]
            )  # fmt: skip
        else:
            logger().error("no checkpoint: %s does not exist", p)
    # one output attached twice (or through a link) must not count twice in the average
    unique = {p.resolve(): p for p in sorted(found)}
    return sorted(unique.values())


def load_checkpoint(path: Path) -> tuple[Checkpoint, dict[str, Any]]:
    """The checkpoint's metadata and its state dict (CheckpointError naming the file when it
    is unsafe, unreadable or holds non-finite weights)."""
    state = _load_checkpoint_file(path)
    cfg = config_from_dict(state["config"])
    return Checkpoint(path=path, cfg=cfg, prior=np.asarray(state["prior"], dtype=np.float64)), state


def run_views(path: Path, embedded: Config) -> tuple[bool, bool]:
    """``(tta_flip, tta_mirror)``: the test-time views a checkpoint's run predicts with.

    They are ``predict.tta_flip`` / ``tta_mirror`` of the run's own ``config.yaml`` (in the
    checkpoint's folder, or above its ``checkpoints/`` folder) when that file describes the
    checkpoint (the same ``model`` and ``inputs`` as the config saved in it), else of the
    config saved in the checkpoint. The run's file wins because ``repredict`` writes a run
    whose OOF was predicted with views beside checkpoints linked from a run trained without
    them: a blend fitted on that OOF must see the same views in prediction. An unreadable
    config.yaml, or one of another model (a train that failed before replacing the folder's
    checkpoints), is logged and the checkpoint's config used.
    """
    from hms_kit.config import load_config
    from hms_kit.ensemble import RUN_CONFIG

    folder = path.parent
    candidates = [folder / RUN_CONFIG]
    if folder.name == "checkpoints":
        candidates.append(folder.parent / RUN_CONFIG)
    for file in candidates:
        if not file.is_file():
            continue
        try:
            own = load_config(file)
        except Exception as exc:  # the checkpoint's own config still knows
            logger().warning("%s unreadable (%s): views of %s from its checkpoint",
                             file, exc, path)  # fmt: skip
            break
        if (own.model, own.inputs) != (embedded.model, embedded.inputs):
            logger().warning("%s describes another model than %s: views from the checkpoint",
                             file, path)  # fmt: skip
            break
        return own.predict.tta_flip, own.predict.tta_mirror
    return embedded.predict.tta_flip, embedded.predict.tta_mirror


def forced_views(
    overrides: list[str], config_file: str | Path | None = None
) -> tuple[bool | None, bool | None]:
    """``(tta_flip, tta_mirror)`` imposed on every run, None for a view left to each run.

    A view is imposed where ``overrides`` name it (``predict.tta_flip=...``, or
    ``predict={tta_flip: ...}``) or ``config_file`` writes it itself (a ``base`` it extends
    does not count: the inference kernel's ``kernels/config.yaml`` extends ``kaggle``, whose
    flip is a training recipe's, not a choice for every member). The overrides win.
    """
    import yaml

    from hms_kit.config import load_config
    from hms_kit.config.loading import parse_overrides

    resolved = load_config(config_file, overrides).predict  # checks both first
    named: set[str] = set()
    for values in (
        yaml.safe_load(Path(config_file).read_text()) if config_file else None,
        parse_overrides(overrides),
    ):
        predict = (values or {}).get("predict") if isinstance(values, dict) else None
        named |= set(predict) if isinstance(predict, dict) else set()
    return (resolved.tta_flip if "tta_flip" in named else None,
            resolved.tta_mirror if "tta_mirror" in named else None)  # fmt: skip


def views_name(flip: bool, mirror: bool) -> str:
    """``plain``, ``flip``, ``mirror`` or ``flip+mirror``: how a report names views."""
    return "+".join(n for n, on in (("flip", flip), ("mirror", mirror)) if on) or "plain"


def fallback_prior(comp: Competition) -> np.ndarray:
    """The mean vote distribution of train.csv when it can be read, else uniform (1/6)."""
    try:
        from hms_kit.data.labels import vote_targets

        prior = vote_targets(comp.read_train()).astype(np.float64).mean(axis=0)
        return prior / prior.sum()
    except (DataError, OSError, ValueError) as exc:
        logger().warning("no training prior (%s): using 1/6 for every class", exc)
        return np.full(len(schema.CLASSES), 1 / len(schema.CLASSES))


@log_time
def predict_test(
    comp: Competition,
    model_paths: list[str | Path],
    cache_dir: str | Path | None = None,
    tta_flip: bool | None = None,
    workers: int | None = None,
    windows: PredictConfig | None = None,
    tta_mirror: bool | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Predict every test.csv row with every checkpoint found and average them.

    Each checkpoint predicts with its run's own test-time views (``run_views``: the mean
    over the time-reversed and / or mirrored passes, see ``predict_loader``); ``tta_flip``
    or ``tta_mirror`` set to True or False imposes that view on every checkpoint instead.

    On MLE-bench's layout (``hms_kit.scoring.windows``) each eeg_id is predicted once from windows
    spread over its recording (``windows``: stride_s, max_windows, average; default
    ``PredictConfig()``), and that prediction is written to each of its rows.

    Returns ``(submission, report)``: submission has eeg_id + six *_vote probabilities, one
    row per test.csv row (in sample_submission.csv's order when it holds the same eeg_ids);
    report lists the checkpoints found and those that predicted (``predicted_with``), the
    eeg_ids that got the prior (``fallback_rows``) and the eeg_ids in only one of test.csv
    and sample_submission.csv (``sample_submission_mismatch``), and the views each network
    checkpoint predicted with (``views``: path -> ``views_name``; the baseline has none).
    """
    log = logger()
    test = comp.read_test()
    if test.empty:
        log.warning("%s has no rows", comp.test_csv)
    order, mismatch = submission_order(comp, test)
    # issue 13: on MLE-bench's layout the rows predicted are windows, several per eeg_id
    wcfg = windows if windows is not None else PredictConfig()
    plan = window_rows(comp, test, wcfg)
    if plan is not None:
        test = plan
    ckpt_paths = find_checkpoints(model_paths)
    report: dict[str, Any] = {
        "checkpoints": [str(p) for p in ckpt_paths],
        "predicted_with": [],
        "fallback_rows": [],
        "sample_submission_mismatch": mismatch,
        "views": {},
    }
    sums = np.zeros((len(test), len(schema.CLASSES)))
    counts = np.zeros(len(test))
    priors = []
    tmp = None
    if cache_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="hms_test_cache_")
        cache_dir = tmp.name
    device = pick_device()
    groups: dict[str, list[Checkpoint]] = {}
    for path in ckpt_paths:
        try:
            ck, _ = load_checkpoint(path)
            # a config another kit version wrote (a family or input this wheel does not
            # know) fails here, not at load: it too costs its checkpoint only
            key = ck.input_key()
        except Exception as exc:  # a broken checkpoint must not stop the others
            log.error("checkpoint %s cannot be loaded: %s", path, exc)
            continue
        groups.setdefault(key, []).append(ck)
        priors.append(ck.prior)
    if not groups:
        log.error("no usable checkpoint among %s: every row gets the prior", model_paths)
    for cks in groups.values():
        cfg = cks[0].cfg
        try:
            if not is_torch_family(cfg):
                from hms_kit.baseline import features_of_test_rows, predict_tensors

                x, ok = features_of_test_rows(comp, test, cfg.model.baseline.morphology)
                for i in np.flatnonzero(~ok):
                    log.warning(
                        "test row of eeg_id %d unreadable or without a usable EEG window, "
                        "prior used",
                        test["eeg_id"].iloc[i],
                    )
            else:
                names = family_inputs(cfg)
                cache = build_cache(
                    comp, test, cfg.inputs, cache_dir, split="test", modalities=names,
                    workers=workers, strict=False,
                )  # fmt: skip
                for msg in cache.errors():
                    log.warning("test window failed (not predicted from): %s", msg)
                ok = cache.ok
                ds = InputDataset(
                    cache,
                    np.arange(len(test)),
                    np.zeros((len(test), 6), np.float32),
                    np.zeros(len(test), np.float32),
                    names=names,
                )
                loader = make_loader(
                    ds, cfg.predict.batch_size, False, 0, device, cfg.train.num_workers
                )
        except Exception as exc:  # one input setting failing must not cost the others
            log.error("test inputs for %s cannot be built (%s): skipped", cks[0].path, exc)
            continue
        for ck in cks:
            try:
                _, state = load_checkpoint(ck.path)
                if not is_torch_family(ck.cfg):
                    probs = np.full((len(test), len(schema.CLASSES)), np.nan)
                    probs[ok] = predict_tensors(state["model"], x[ok])
                else:
                    own = run_views(ck.path, ck.cfg)
                    flip = own[0] if tta_flip is None else tta_flip
                    mirror = own[1] if tta_mirror is None else tta_mirror
                    model = load_model(state, ck.path).to(device)
                    probs = predict_loader(
                        model, loader, device, ck.cfg.train.amp, tta_flip=flip,
                        tta_mirror=mirror,
                    )  # fmt: skip
            except Exception as exc:  # e.g. a timm version whose keys differ; the others go on
                log.error("checkpoint %s failed (%s): skipped", ck.path, exc)
                continue
            # a row whose probabilities are not finite failed for this checkpoint alone
            good = ok & np.isfinite(probs).all(axis=1)
            for i in np.flatnonzero(ok & ~good):
                e = int(test["eeg_id"].iloc[i])
                log.warning(
                    "eeg_id %d (%s): non-finite prediction from %s: not averaged in",
                    e,
                    comp.eeg_path(e, "test").name,
                    ck.path,
                )
            sums[good] += probs[good]
            counts[good] += 1
            report["predicted_with"].append(str(ck.path))
            if not is_torch_family(ck.cfg):  # features, not images or waveforms: no views
                log.info("predicted %d test rows with %s", int(good.sum()), ck.path)
            else:
                report["views"][str(ck.path)] = views_name(flip, mirror)
                log.info("predicted %d test rows with %s (views: %s)", int(good.sum()),
                         ck.path, views_name(flip, mirror))  # fmt: skip
    prior = np.mean(priors, axis=0) if priors else fallback_prior(comp)
    probs = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], prior[None, :])
    eeg_ids = test["eeg_id"].to_numpy()
    if plan is not None:  # issue 13: one prediction per eeg_id from its predicted windows
        eeg_ids, probs, counts = aggregate_windows(eeg_ids, probs, counts > 0, wcfg.average)
        probs[counts == 0] = prior
    for i in np.flatnonzero(counts == 0):
        report["fallback_rows"].append(int(eeg_ids[i]))
    if report["fallback_rows"] and groups:
        log.warning("prior used for eeg_id %s", report["fallback_rows"][:20])
    if tmp is not None:
        tmp.cleanup()
    sub = pd.DataFrame(probs, columns=list(schema.VOTE_COLUMNS))
    sub.insert(0, "eeg_id", eeg_ids)
    # one prediction per eeg_id, one row per row of test.csv (an eeg_id repeats in MLE-bench's)
    sub = sub.drop_duplicates("eeg_id").set_index("eeg_id")
    missing = [int(e) for e in pd.unique(order) if e not in sub.index]
    if missing:  # only when test.csv is empty: the rows come from sample_submission.csv
        log.warning(
            "eeg_id %s in sample_submission.csv but not in test.csv: prior used", missing[:20]
        )
    for e in missing:
        sub.loc[e] = prior
        report["fallback_rows"].append(e)
    sub = sub.loc[order].reset_index()
    return validate_submission(sub, order), report


def submission_order(comp: Competition, test: pd.DataFrame) -> tuple[np.ndarray, list[int]]:
    """The submission's eeg_ids, one per test.csv row, and the ids that differ from
    sample_submission.csv (in one file only).

    The rows come from test.csv, which the hidden rerun replaces with the hidden test set;
    sample_submission.csv only gives the order when it holds the same eeg_ids as test.csv (or
    the rows, on the prior, when test.csv is empty).
    """
    ids = test["eeg_id"].to_numpy()
    try:
        sample = comp.read_sample_submission()["eeg_id"].to_numpy()
    except DataError as exc:
        logger().warning("%s: rows in test.csv's order", exc)
        return ids, []
    in_sample, in_test = Counter(sample.tolist()), Counter(ids.tolist())
    if in_sample == in_test:
        return sample, []
    if not len(ids):  # an empty test.csv: sample_submission's rows, on the prior
        return sample, sorted(set(int(e) for e in sample))
    only_sample = sorted((in_sample - in_test).elements())
    only_test = sorted((in_test - in_sample).elements())
    logger().warning(
        "sample_submission.csv and test.csv differ (rows only in sample_submission: eeg_id %s; "
        "only in test.csv: eeg_id %s): rows in test.csv's order",
        only_sample[:10],
        only_test[:10],
    )
    return ids, [int(e) for e in sorted(set(only_sample) | set(only_test))]


def validate_submission(sub: pd.DataFrame, eeg_ids: np.ndarray) -> pd.DataFrame:
    """Check columns, ids and finiteness, renormalise rows to sum to 1; returns the frame."""
    if list(sub.columns) != list(schema.SUBMISSION_COLUMNS):
        raise ValueError(
            f"submission columns {list(sub.columns)} != {list(schema.SUBMISSION_COLUMNS)}"
        )
    if len(sub) != len(eeg_ids) or (sub["eeg_id"].to_numpy() != np.asarray(eeg_ids)).any():
        raise ValueError("submission eeg_ids differ from sample_submission.csv's")
    p = sub[list(schema.VOTE_COLUMNS)].to_numpy(dtype=np.float64)
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError("submission has a negative or non-finite probability")
    sub[list(schema.VOTE_COLUMNS)] = p / p.sum(axis=1, keepdims=True)
    return sub


def write_submission(sub: pd.DataFrame, path: str | Path) -> Path:
    """Write submission.csv atomically."""
    return atomic_write_csv(path, sub)


def predict_members(
    comp: Competition,
    runs: list[str | Path],
    out_dir: str | Path | None = None,
    **kwargs: Any,
) -> tuple[list[pd.DataFrame | None], list[dict[str, Any]]]:
    """Each run's own test predictions (its checkpoints averaged), one frame per run, in
    submission order; None for a run none of whose checkpoints predicted. With ``out_dir``
    each run's predictions are kept on disk as ``member<i>.csv`` (``kwargs`` go to
    :func:`predict_test`). Returns the frames and the runs' reports."""
    frames: list[pd.DataFrame | None] = []
    reports = []
    for i, run in enumerate(runs):
        sub, report = predict_test(comp, [run], **kwargs)
        reports.append(report)
        if not report["predicted_with"]:
            logger().error("member %d (%s): no checkpoint predicted: dropped", i, run)
            frames.append(None)
            continue
        frames.append(sub)
        if out_dir is not None:
            atomic_write_csv(Path(out_dir) / f"member{i}.csv", sub)
    return frames, reports


def combine_members(
    frames: list[pd.DataFrame | None],
    reports: list[dict[str, Any]],
    blend: dict[str, Any] | None,
    prior: np.ndarray,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One submission from the members' predictions: the blend (members in the blend's order)
    or, without one, the plain mean of the runs (each run counts once, whatever its number of
    checkpoints). A row is combined from the members that predicted it (the blend's weights
    renormalised, see ``ensemble.drop_members``); a row no member predicted gets ``prior``.
    Returns the submission and a report (``members_used``: those with weight in at least one
    row; ``fallback_rows``: the rows on the prior)."""
    from hms_kit.ensemble import apply_blend, drop_members

    usable = [i for i, f in enumerate(frames) if f is not None]
    if not usable:
        raise ValueError("no member predicted the test set")
    base = frames[usable[0]]
    n = len(base)
    probs = np.stack(
        [
            frames[i][list(schema.VOTE_COLUMNS)].to_numpy(float)
            if i in usable
            else np.zeros((n, 6))
            for i in range(len(frames))
        ]
    )
    ok = np.zeros((len(frames), n), bool)
    for i in usable:
        fell_back = set(reports[i]["fallback_rows"])
        ok[i] = ~base["eeg_id"].isin(fell_back).to_numpy()
    out = np.tile(prior, (n, 1)).astype(np.float64)
    patterns = {tuple(col) for col in ok.T}
    used: set[int] = set()  # members with weight in some row: a backup of weight 0 is not
    for pattern in patterns:
        members = [i for i, there in enumerate(pattern) if there]
        if not members:
            continue
        rows = np.flatnonzero((ok.T == np.asarray(pattern)).all(axis=1))
        if blend is None:
            out[rows] = probs[members][:, rows].mean(axis=0)
            used.update(members)
        else:
            kept = drop_members(blend, members)
            out[rows] = apply_blend(probs[members][:, rows], kept)
            used.update(i for i, w in zip(members, kept["weights"]) if w != 0)
    sub = base[["eeg_id"]].copy()
    sub[list(schema.VOTE_COLUMNS)] = out
    report = {
        "members_used": sorted(used),
        "fallback_rows": base["eeg_id"][~ok.any(axis=0)].astype(int).tolist(),
    }
    return validate_submission(sub, base["eeg_id"].to_numpy()), report


# ---------------------------------------------------------------------------- ensembles


def predict_ensemble(
    comp: Competition,
    members: list[Member],
    cfg: Config,
    paths: KagglePaths,
    views: tuple[bool | None, bool | None] = (None, None),
) -> tuple[pd.DataFrame, dict]:
    """Predict the test set with every member (highest weight first) and blend them.

    Each member predicts with its own runs' views (``run_views``) unless ``views``
    (``(tta_flip, tta_mirror)``, see ``forced_views``) imposes one.

    A member that would pass ``predict.time_limit_hours`` (estimated from the seconds per
    checkpoint measured so far) is skipped, as is one that fails; the blend's weights are
    renormalised over the members that predicted each row. Returns ``(submission, report)``
    like ``predict_test``, plus ``members_failed``, ``members_skipped``, ``members_dropped``
    and ``members_backup`` (the blend's members of weight 0, predicted for the rows its
    weighted members miss).
    """
    import time

    from hms_kit.ensemble import member_blend

    log = get_run_logger(paths.working)
    start = time.time()
    try:
        train = comp.read_train()
    except Exception as exc:  # the blend can still be fitted on the runs' own rows
        log.warning("train.csv unreadable (%s): members' OOF kept in their row modes", exc)
        train = None
    blend = member_blend(members, paths.model_inputs(), paths.working / "members", train)
    limit = cfg.predict.time_limit_hours * 3600
    frames: list = [None] * len(members)
    reports: list[dict] = [{"fallback_rows": []} for _ in members]
    report: dict = {"checkpoints": [], "predicted_with": [], "members_failed": [], "views": {}}
    report["members_skipped"] = []
    dropped: dict[int, str] = {}
    # members of weight 0 (a fallback's, the best single run chosen, a simplex blend's) still
    # predict: a row the weighted members miss is taken from them (combine_members), so they
    # are backups, not dropped
    backups = [int(i) for i, w in enumerate(blend["weights"]) if w == 0]
    why = (f"{blend['fallback']}; {blend['chosen']} used" if blend.get("fallback")
           else f"{blend.get('chosen', blend['method'])} blend")  # fmt: skip
    per_checkpoint = 0.0
    for i in np.argsort(-np.asarray(blend["weights"]), kind="stable"):
        m = members[i]
        needed = per_checkpoint * m.checkpoints() * 1.2
        if limit and time.time() - start + needed > limit:
            report["members_skipped"].append(int(i))
            dropped[int(i)] = f"skipped: it would pass predict.time_limit_hours ({limit:g} s)"
            continue
        t = time.time()
        try:
            sub, rep = predict_test(
                comp,
                m.runs,
                cache_dir=paths.temp / "test_cache",
                tta_flip=views[0],
                tta_mirror=views[1],
                windows=cfg.predict,
            )
        except Exception as exc:  # one member failing must not cost the others
            log.error("member %d (%s) failed: %s", i, m.runs[0], exc)
            report["members_failed"].append(int(i))
            dropped[int(i)] = f"failed: {exc}"
            continue
        used = len(rep["predicted_with"])
        per_checkpoint = max(per_checkpoint, (time.time() - t) / max(1, used))
        report["checkpoints"] += rep["checkpoints"]
        report["predicted_with"] += rep["predicted_with"]
        report["views"].update(rep.get("views", {}))
        report["sample_submission_mismatch"] = rep["sample_submission_mismatch"]
        reports[i] = rep
        if used:
            frames[i] = sub
        else:
            report["members_failed"].append(int(i))
            dropped[int(i)] = f"no checkpoint predicted ({len(rep['checkpoints'])} found)"
        log.info("member %d: %d checkpoints, %.1f s", i, used, time.time() - t)
    report["members_dropped"] = [
        f"member {i} ({members[i].runs[0]}): {why}" for i, why in sorted(dropped.items())
    ]
    for line in report["members_dropped"]:
        log.warning("dropped %s", line)
    report["members_backup"] = [
        f"member {i} ({members[i].runs[0]}): weight 0 ({why}), predicted for the rows the "
        "weighted members miss"
        for i in backups
        if i not in dropped
    ]
    for line in report["members_backup"]:
        log.info("backup %s", line)
    report["members_incomplete"] = list(blend.get("incomplete", []))
    for line in report["members_incomplete"]:
        log.warning("training unfinished: %s", line)
    sub, combined = combine_members(frames, reports, blend, fallback_prior(comp))
    report["fallback_rows"] = combined["fallback_rows"]
    report["members_used"] = combined["members_used"]
    return sub, report


def prior_submission(comp: Competition) -> pd.DataFrame:
    """The training prior (1/6 if train.csv cannot be read) for every row of test.csv (else
    sample_submission.csv): the last resort of the inference kernel's rerun."""
    try:
        ids = comp.read_test()["eeg_id"].to_numpy()
    except Exception:
        ids = comp.read_sample_submission()["eeg_id"].to_numpy()
    probs = np.tile(fallback_prior(comp), (len(ids), 1))
    sub = pd.DataFrame(probs, columns=list(schema.VOTE_COLUMNS))
    sub.insert(0, "eeg_id", ids)
    return sub
