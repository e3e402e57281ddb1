"""What the Kaggle kernels run, as functions: the scripts in kernels/ only call these.

Both take the Kaggle root (``/kaggle``, or a local tree laid out the same way) and never
need code edits: settings come from a config file in the wheel dataset (``config.yaml``
beside the wheel) and a few environment variables:

    HMS_CONFIG   config file or packaged name (default: config.yaml found in the inputs,
                 else the packaged ``kaggle`` config)
    HMS_FOLDS    folds this train kernel trains, e.g. ``0,1`` (default: the config's, else all)
    HMS_SET      extra overrides, ``key=value`` separated by ``;``

Inputs are found by what they hold, in either of Kaggle's mount layouts (``hms_kit.paths``).
The inference kernel tells Kaggle's two runs apart by ``KAGGLE_IS_COMPETITION_RERUN``: the
commit run (not set), whose output ``make submit`` would submit, fails when no checkpoint
predicts or any row falls back to the prior; the rerun on the hidden test set always writes a
valid submission, falling back to the prior where it must.
"""

from __future__ import annotations

import os
import shutil
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hms_kit import schema
from hms_kit.config import Config, load_config
from hms_kit.oof import high_population
from hms_kit.paths import ENV_WHEEL, KagglePaths, kaggle_paths
from hms_kit.runlog import get_run_logger, logger

ENV_CONFIG = "HMS_CONFIG"
ENV_FOLDS = "HMS_FOLDS"
ENV_SET = "HMS_SET"
CONFIG_NAME = "config.yaml"
# Kaggle sets it (to "True") when it reruns a submitted notebook on the hidden test set.
ENV_RERUN = "KAGGLE_IS_COMPETITION_RERUN"
PREVIOUS_RUN_MARKERS = ("folds.csv", "checkpoints")


class CommitRunError(RuntimeError):
    """The commit run must fail so that its output is never submitted."""


def is_competition_rerun(env: dict[str, str] | None = None) -> bool:
    """Whether this is Kaggle's rerun of a submitted notebook on the hidden test set."""
    value = (os.environ if env is None else env).get(ENV_RERUN, "")
    return value.strip().lower() not in ("", "0", "false", "no")


def find_input_config(paths: KagglePaths) -> Path | None:
    """The ``config.yaml`` beside the wheel the kernel installed (``$HMS_WHEEL``), else
    beside the first wheel among the attached inputs, if any."""
    installed = os.environ.get(ENV_WHEEL)
    wheels = [Path(installed)] if installed else paths.wheels()
    for wheel in wheels:
        if (wheel.parent / CONFIG_NAME).is_file():
            return wheel.parent / CONFIG_NAME
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
    previous = continue_previous_run(paths)
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
    ``checkpoints/``) into an empty ``working/``, so training resumes where it stopped.

    Files already in ``working/`` are never overwritten. Returns the folder copied, or None.
    """
    if (paths.working / "folds.csv").exists():
        return None
    for d in paths.model_inputs():
        if all((d / name).exists() for name in PREVIOUS_RUN_MARKERS):
            for src in sorted(d.rglob("*")):
                dst = paths.working / src.relative_to(d)
                if src.is_file() and not dst.exists():
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, dst)
            return d
    return None


def run_infer_kernel(root: str | Path | None = None) -> Path:
    """Predict test.csv with every fold checkpoint among the inputs; write working/submission.csv.

    In Kaggle's rerun on the hidden test set it never fails for want of a model or a
    readable test file: what is missing is logged and those rows get the prior (uniform 1/6
    if nothing else is known). In the commit run the same failures raise
    :class:`CommitRunError` and no submission.csv is written, so a prior-only file cannot be
    submitted by mistake.
    """
    from hms_kit.data import Competition
    from hms_kit.predict import predict_test, write_submission

    paths = kaggle_paths(root)
    paths.working.mkdir(parents=True, exist_ok=True)
    log = get_run_logger(paths.working)
    out = paths.working / "submission.csv"
    rerun = is_competition_rerun()
    comp = Competition(paths.competition)
    log.info(
        "infer kernel: %s, competition %s, model inputs %s",
        "competition rerun" if rerun else "commit run",
        comp.root,
        [str(d) for d in paths.model_inputs()],
    )
    try:
        cfg = kernel_config(paths)[0]
    except Exception as exc:  # a broken config.yaml must not cost the submission
        if not rerun:
            raise _failure(log, f"config unreadable: {exc}") from exc
        log.error("config unreadable (%s): predicting without flip TTA", exc)
        cfg = load_config(None)
    members = find_members(paths.model_inputs())
    if rerun:  # a valid file first: whatever happens next, a submission exists
        write_submission(prior_submission(comp), out)
    try:
        if len(members) > 1:
            sub, report = predict_ensemble(comp, members, cfg, paths)
        else:
            sub, report = predict_test(
                comp,
                paths.model_inputs(),
                cache_dir=paths.temp / "test_cache",
                tta_flip=cfg.predict.tta_flip,
                windows=cfg.predict,
            )
        log.info(
            "%d checkpoints found, %d predicted, %d rows on the prior",
            len(report["checkpoints"]),
            len(report["predicted_with"]),
            len(report["fallback_rows"]),
        )
    except Exception as exc:  # the rerun must still write a valid submission
        if not rerun:
            raise _failure(log, f"inference failed: {exc}") from exc
        log.error("inference failed, writing the prior:\n%s", traceback.format_exc())
        sub, report = prior_submission(comp), None
    if not rerun and report is not None:
        problems = commit_run_problems(report)
        if problems:
            raise _failure(
                log,
                "commit run: " + "; ".join(problems) + " (no submission.csv written; in "
                f"Kaggle's rerun, {ENV_RERUN} set, these rows would get the prior)",
            )
    write_submission(sub, out)
    log.info("wrote %s (%d rows)", out, len(sub))
    try:  # with several members, each one's OOF is in working/members/
        if len(members) <= 1:
            gather_fold_oof(paths.model_inputs(), paths.working / "oof", comp.read_train())
    except Exception as exc:  # the OOF report is a bonus; the submission is already written
        log.warning("could not gather the folds' OOF files: %s", exc)
    return out


@dataclass
class Member:
    """One ensemble member among the attached inputs: the train outputs (one per fold
    kernel, or one for all folds) written with one config, identified by its file hash."""

    config_sha: str
    runs: list[Path]

    def checkpoints(self) -> int:
        return sum(len(list(r.rglob("fold*_best.pt"))) for r in self.runs)


def find_members(inputs: list[Path]) -> list[Member]:
    """Attached train outputs (a ``config.yaml`` with ``fold*_best.pt`` below it), grouped by
    the config that trained them: fold kernels of one config are one member."""
    from hms_kit.ensemble import file_sha
    from hms_kit.train import STALE_DIR

    runs: list[Path] = []
    for d in inputs:
        for cfg in sorted(d.rglob(CONFIG_NAME)) + [d / CONFIG_NAME]:
            run = cfg.parent
            if not cfg.is_file() or run in runs or any(r in run.parents for r in runs):
                continue
            if any(STALE_DIR not in f.relative_to(run).parts for f in run.rglob("fold*_best.pt")):
                runs.append(run)
    by_sha: dict[str, list[Path]] = {}
    for run in runs:
        by_sha.setdefault(file_sha(run / CONFIG_NAME), []).append(run)
    return [Member(sha, rs) for sha, rs in by_sha.items()]


def member_blend(
    members: list[Member], inputs: list[Path], work: Path, train: pd.DataFrame | None = None
) -> dict:
    """The blend of ``members`` (weights and runs in members' order): an attached
    ``blend.json`` whose runs are these members (matched by config hash), else one fitted here
    on the members' OOF files (gathered into ``work/m<i>/``), else (``fallback`` says why) the
    member with the best OOF KL alone, else equal weights. Always a valid blend: ``runs``
    holds one entry per member."""
    from hms_kit.ensemble import BLEND_FILE, BlendError, choose_blend, fallback_blend, read_blend

    log = logger()
    shas = [m.config_sha for m in members]
    for d in inputs:
        for path in sorted(d.rglob(BLEND_FILE)):
            try:
                blend = read_blend(path, check_runs=False)  # matched by hash below
            except BlendError as exc:
                log.warning("%s", exc)
                continue
            order = [r.get("config_sha") for r in blend["runs"]]
            if sorted(order) == sorted(shas):
                log.info("blend: %s", path)
                at = [order.index(s) for s in shas]
                runs = [blend["runs"][i] for i in at]
                return {**blend, "runs": runs, "weights": [blend["weights"][i] for i in at]}
    runs: list[dict] = []
    for i, m in enumerate(members):
        entry = {"path": str(m.runs[0]), "config_sha": m.config_sha, "oof_kl": None}
        try:
            scores = gather_fold_oof(m.runs, work / f"m{i}", train)
        except Exception as exc:  # one member's broken OOF must not cost the blend
            log.warning("member %d (%s): OOF files unreadable (%s)", i, m.runs[0], exc)
            scores = None
        if scores is not None:
            kl = scores.get(f"kl_{high_population()}", float("nan"))
            entry["oof_kl"] = kl if np.isfinite(kl) else scores.get("kl_all")
            shutil.copyfile(m.runs[0] / CONFIG_NAME, work / f"m{i}" / CONFIG_NAME)
        runs.append(entry)
    try:
        missing = [f"{i} ({r['path']})" for i, r in enumerate(runs) if r["oof_kl"] is None]
        if missing:
            raise BlendError(f"members {', '.join(missing)} have no OOF files")
        dirs = [work / f"m{i}" for i in range(len(members))]
        try:
            blend = choose_blend(dirs, population="hq")
        except BlendError as exc:  # e.g. too few high-vote rows to cross-validate on
            log.warning("no blend on the high-vote rows (%s): fitted on all rows", exc)
            blend = choose_blend(dirs, population="all")
        log.info(
            "blend fitted on the members' OOF (%s rows): %s chosen, weights %s; inner-CV KL %s",
            blend["population"],
            blend["chosen"],
            [round(w, 3) for w in blend["weights"]],
            {k: round(v, 4) for k, v in blend["candidates"].items()},
        )
        return blend
    except (BlendError, OSError, ValueError) as exc:
        blend = fallback_blend(runs, f"no blend could be fitted: {exc}")
        log.warning("%s: %s, weights %s", blend["fallback"], blend["chosen"], blend["weights"])
        return blend


def predict_ensemble(comp, members: list[Member], cfg: Config, paths: KagglePaths):
    """Predict the test set with every member (highest weight first) and blend them.

    A member that would pass ``predict.time_limit_hours`` (estimated from the seconds per
    checkpoint measured so far) is skipped, as is one that fails; the blend's weights are
    renormalised over the members that predicted each row. Returns ``(submission, report)``
    like ``predict_test``, plus ``members_failed`` and ``members_skipped``.
    """
    import time

    from hms_kit.predict import combine_members, fallback_prior, predict_test

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
    report: dict = {"checkpoints": [], "predicted_with": [], "members_failed": []}
    report["members_skipped"] = []
    dropped: dict[int, str] = {}
    if blend.get("fallback"):
        for i, w in enumerate(blend["weights"]):
            if w == 0:
                dropped[int(i)] = f"weight 0 ({blend['fallback']}; {blend['chosen']} used)"
    per_checkpoint = 0.0
    for i in np.argsort(-np.asarray(blend["weights"]), kind="stable"):
        m = members[i]
        needed = per_checkpoint * m.checkpoints() * 1.2
        if limit and time.time() - start + needed > limit:
            report["members_skipped"].append(int(i))
            dropped[int(i)] = f"skipped: it would pass predict.time_limit_hours ({limit:g} s)"
            continue
        t = time.time()
        sub, rep = predict_test(
            comp,
            m.runs,
            cache_dir=paths.temp / "test_cache",
            tta_flip=cfg.predict.tta_flip,
            windows=cfg.predict,
        )
        used = len(rep["predicted_with"])
        per_checkpoint = max(per_checkpoint, (time.time() - t) / max(1, used))
        report["checkpoints"] += rep["checkpoints"]
        report["predicted_with"] += rep["predicted_with"]
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
    sub, combined = combine_members(frames, reports, blend, fallback_prior(comp))
    report["fallback_rows"] = combined["fallback_rows"]
    report["members_used"] = combined["members_used"]
    return sub, report


def _failure(log, message: str) -> CommitRunError:
    log.error(message)
    return CommitRunError(message)


def commit_run_problems(report: dict) -> list[str]:
    """Why a commit run's predictions must not become a submission (empty: they may)."""
    problems = []
    if not report["predicted_with"]:
        problems.append(f"no checkpoint predicted ({len(report['checkpoints'])} found)")
    if report.get("members_failed"):
        failed = [d for d in report.get("members_dropped", []) if "no checkpoint" in d]
        problems.append(
            f"ensemble members {report['members_failed']} predicted nothing"
            + (f" ({'; '.join(failed)})" if failed else "")
        )
    if report["fallback_rows"]:
        rows = report["fallback_rows"]
        problems.append(f"{len(rows)} rows fell back to the prior (eeg_id {rows[:10]})")
    if report.get("sample_submission_mismatch"):
        ids = report["sample_submission_mismatch"]
        problems.append(f"test.csv and sample_submission.csv differ (eeg_id {ids[:10]})")
    return problems


def gather_fold_oof(
    inputs: list[Path], out_dir: Path, train: pd.DataFrame | None = None
) -> dict | None:
    """Join the ``oof_fold*.csv`` of every attached train kernel (one per fold when the folds
    ran in parallel kernels) into ``out_dir``: oof.csv (per train.csv row when ``train`` is
    given), scores.json, per_class.csv, confusion.png. Files set aside in a run's ``stale/``
    are not used. Returns the scores, or None when no input has OOF files."""
    from hms_kit.train import STALE_DIR, gather_oof

    found: dict[str, Path] = {}
    config = None
    for d in inputs:
        for f in sorted(d.rglob("oof_fold*.csv")):
            if STALE_DIR in f.relative_to(d).parts[:-1]:
                continue
            found.setdefault(f.name, f)
            config = config or (f.parent / "config.yaml")
    if not found:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, f in found.items():
        shutil.copyfile(f, out_dir / name)
    cfg = load_config(config) if config and config.is_file() else load_config(None)
    scores = gather_oof(out_dir, cfg, train)
    t = cfg.data.high_vote_threshold
    logger().info(
        "OOF of %d folds %s (complete: %s): KL %.4f (all rows), %.4f (>= %d votes)",
        len(scores["folds"]),
        scores["folds"],
        scores["complete"],
        scores["kl_all"],
        scores[f"kl_{high_population(t)}"],
        t,
    )
    return scores


def prior_submission(comp) -> pd.DataFrame:
    """The training prior (1/6 if train.csv cannot be read) for every row of test.csv (else
    sample_submission.csv): the last resort of the inference kernel's rerun."""
    from hms_kit.predict import fallback_prior

    try:
        ids = comp.read_test()["eeg_id"].to_numpy()
    except Exception:
        ids = comp.read_sample_submission()["eeg_id"].to_numpy()
    probs = np.tile(fallback_prior(comp), (len(ids), 1))
    sub = pd.DataFrame(probs, columns=list(schema.VOTE_COLUMNS))
    sub.insert(0, "eeg_id", ids)
    return sub
