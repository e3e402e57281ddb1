"""The inference kernel as a function (``kernels/infer.py`` only installs the wheel and calls
:func:`run_infer_kernel`).

It tells Kaggle's two runs apart by ``KAGGLE_IS_COMPETITION_RERUN``: the commit run (not
set), whose output ``make submit`` would submit, fails when no checkpoint predicts or any
row falls back to the prior; the rerun on the hidden test set always writes a valid
submission, falling back to the prior where it must.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from hms_kit.config import load_config
from hms_kit.paths import KagglePaths, kaggle_paths
from hms_kit.runlog import get_run_logger
from hms_kit.runtime.settings import (
    ENV_RERUN,
    ENV_SET,
    is_competition_rerun,
    kernel_config,
    set_overrides,
)

if TYPE_CHECKING:  # annotations only: both bring torch or the data readers
    from hms_kit.data.competition import Competition
    from hms_kit.ensemble import Member


class CommitRunError(RuntimeError):
    """The commit run must fail so that its output is never submitted."""


def run_infer_kernel(root: str | Path | None = None) -> Path:
    """Predict test.csv with every fold checkpoint among the inputs; write working/submission.csv.

    In Kaggle's rerun on the hidden test set it never fails for want of a model or a
    readable test file: what is missing is logged and those rows get the prior (uniform 1/6
    if nothing else is known). In the commit run the same failures raise
    :class:`CommitRunError` and no submission.csv is written, so a prior-only file cannot be
    submitted by mistake.
    """
    from hms_kit.data import Competition
    from hms_kit.ensemble import find_members
    from hms_kit.predict import (
        forced_views,
        predict_ensemble,
        predict_test,
        prior_submission,
        write_submission,
    )
    from hms_kit.scoring.oof import gather_fold_oof

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
    if rerun:  # a valid file first: whatever happens next, a submission exists
        write_submission(prior_submission(comp), out)
    source = None
    try:
        cfg, source = kernel_config(paths)
    except Exception as exc:  # a broken config.yaml must not cost the submission
        if not rerun:
            raise _failure(log, f"config unreadable: {exc}") from exc
        log.error("config unreadable (%s): the default predict settings", exc)
        cfg = load_config(None)
    # each run predicts with its own views unless the kernel's config file (not its base)
    # or $HMS_SET names one
    own_file = source if source is not None and Path(source).is_file() else None
    try:
        views = forced_views(set_overrides(), own_file)
    except Exception as exc:
        if not rerun:
            raise _failure(log, f"views of {own_file} / {ENV_SET} unreadable: {exc}") from exc
        log.error("views of %s / %s unreadable (%s): each run's own", own_file, ENV_SET, exc)
        views = (None, None)
    log.info("test-time views: %s", "each run's own" if views == (None, None) else
             f"flip {views[0]}, mirror {views[1]} (None: each run's own)")  # fmt: skip
    try:
        members = find_members(paths.model_inputs())
    except Exception as exc:  # an unreadable attached folder must not cost the rerun
        if not rerun:
            raise _failure(log, f"model inputs unreadable: {exc}") from exc
        log.error("model inputs unreadable (%s): every checkpoint found predicts as one run", exc)
        members = []
    try:
        if len(members) > 1:
            sub, report = predict_ensemble(comp, members, cfg, paths, views)
        else:
            sub, report = predict_test(
                comp,
                paths.model_inputs(),
                cache_dir=paths.temp / "test_cache",
                tta_flip=views[0],
                tta_mirror=views[1],
                windows=cfg.predict,
            )
            # one member (one config, or its fold kernels) is checked as an ensemble's are
            report["members_incomplete"] = unfinished_members(members, paths, comp)
            for line in report["members_incomplete"]:
                log.warning("training unfinished: %s", line)
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
        problems = commit_run_problems(report, cfg.predict.allow_incomplete)
        if problems:
            raise _failure(
                log,
                "commit run: " + "; ".join(problems) + " (no submission.csv written; in "
                f"Kaggle's rerun, {ENV_RERUN} set, these rows would get the prior)",
            )
    write_submission(sub, out)
    log.info("wrote %s (%d rows)", out, len(sub))
    try:  # each member's OOF is in working/members/ already; checkpoints of no config's here
        if not members:
            gather_fold_oof(paths.model_inputs(), paths.working / "oof", comp.read_train())
    except Exception as exc:  # the OOF report is a bonus; the submission is already written
        log.warning("could not gather the folds' OOF files: %s", exc)
    return out


def _failure(log, message: str) -> CommitRunError:
    log.error(message)
    return CommitRunError(message)


def unfinished_members(members: list[Member], paths: KagglePaths, comp: Competition) -> list[str]:
    """``ensemble.gather_members``' lines of ``members`` whose training did not finish, their
    OOF gathered under ``working/members/`` (with the runs' own rows when train.csv cannot
    be read)."""
    from hms_kit.ensemble import gather_members

    try:
        train = comp.read_train()
    except Exception:  # the OOF files still say which folds are there
        train = None
    return gather_members(members, paths.working / "members", train)[1] if members else []


def commit_run_problems(report: dict, allow_incomplete: bool = False) -> list[str]:
    """Why a commit run's predictions must not become a submission (empty: they may). An
    ensemble member whose training did not finish (a train kernel stopped at
    ``train.time_limit_hours``) is one, unless ``allow_incomplete``
    (``predict.allow_incomplete``)."""
    problems = []
    if report.get("members_incomplete") and not allow_incomplete:
        problems.append(
            f"training unfinished ({'; '.join(report['members_incomplete'])}): push those train "
            "kernels again with RESUME=1 and wait for them, or submit them as they are with "
            "`predict: {allow_incomplete: true}` in kernels/config.yaml (locally: "
            f"{ENV_SET}='predict.allow_incomplete=true')"
        )  # fmt: skip
    if not report["predicted_with"]:
        problems.append(f"no checkpoint predicted ({len(report['checkpoints'])} found)")
    if report.get("members_failed"):
        failed = [d for d in report.get("members_dropped", [])
                  if "no checkpoint" in d or "): failed: " in d]  # fmt: skip
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
