"""Out-of-fold tables: one row per train.csv row, scores per vote population, and the
gathering of a run's (or several fold kernels') ``oof_fold*.csv`` into oof.csv and scores.json.

A run trains on the rows of its row mode (every window, one per EEG, or one per distinct
vote vector); its OOF predictions are mapped back to every train.csv row they stand for, so
the OOF files of runs with different row modes line up row by row and can be blended.

Populations (``population_names(threshold)``; ``POPULATIONS`` at the default threshold of 10):
``all``; ``votes_le_3`` (the crowd's rows), ``votes_4_9``, ``votes_ge_10`` (the experts', like
Kaggle's hidden test set); ``golden``: one row per eeg_id among the >= 10-vote rows (its first
window), so long EEGs with many windows do not weigh more than short ones. With
``data.high_vote_threshold: 8`` the two upper ones are ``votes_4_7`` and ``votes_ge_8``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hms_kit import schema
from hms_kit.config import load_config
from hms_kit.data.folds import folds_sha, patient_folds_table
from hms_kit.io import atomic_write_csv, atomic_write_text
from hms_kit.runlog import logger
from hms_kit.scoring.metric import (
    EPS,
    PRED_COLS,
    TARGET_COLS,
    confusion_matrix,
    kl_per_row,
    per_class_table,
    plot_confusion,
    prior_predictions,
    scores_by_population,
)
from hms_kit.scoring.populations import checkpoint_population, grader_view_scores

if TYPE_CHECKING:
    from hms_kit.config import Config

MIN_THRESHOLD = schema.MIN_HIGH_VOTE_THRESHOLD


def population_names(threshold: int = schema.HIGH_VOTE_THRESHOLD) -> tuple[str, ...]:
    """The population names at a high-vote ``threshold`` (total votes), in report order."""
    if threshold < MIN_THRESHOLD:
        raise ValueError(
            f"data.high_vote_threshold must be >= {MIN_THRESHOLD} votes, got {threshold}"
        )
    return ("all", "votes_le_3", f"votes_4_{threshold - 1}", high_population(threshold), "golden")


def high_population(threshold: int = schema.HIGH_VOTE_THRESHOLD) -> str:
    """The name of the rows with >= ``threshold`` votes: its score is ``kl_<name>``."""
    return f"votes_ge_{threshold}"


POPULATIONS = population_names()
LOGIT_COLS = [f"logit_{c}" for c in schema.VOTE_COLUMNS]
SEEDS_DIR = "seeds"  # a repeated run's seeds: <run>/seeds/seed<s>/
# what a representative row stands for, per row mode
GROUP_KEYS = {"all": None, "per_eeg": ["eeg_id"], "dedup": ["eeg_id", *schema.VOTE_COLUMNS]}


def population_masks(
    eeg_ids: np.ndarray, votes: np.ndarray, threshold: int = schema.HIGH_VOTE_THRESHOLD
) -> dict[str, np.ndarray]:
    """``(n,) bool`` mask per population (``golden``: the first >= threshold row of each
    eeg_id in the given order). ``votes`` are total votes per row."""
    votes = np.asarray(votes)
    high = votes >= threshold
    golden = np.zeros(len(votes), bool)
    first = pd.Series(np.flatnonzero(high)).groupby(np.asarray(eeg_ids)[high]).first()
    golden[first.to_numpy()] = True
    masks = (np.ones(len(votes), bool), votes <= 3, (votes >= 4) & ~high, high, golden)
    return dict(zip(population_names(threshold), masks, strict=True))


def scores_per_population(
    targets: np.ndarray,
    probs: np.ndarray,
    votes: np.ndarray,
    eeg_ids: np.ndarray,
    threshold: int = schema.HIGH_VOTE_THRESHOLD,
) -> dict[str, float]:
    """``kl_<population>`` (NaN when it has no row) and ``n_<population>`` for every
    population; ``(n, 6)`` targets and probabilities."""
    per_row = kl_per_row(targets, probs)
    out: dict[str, float] = {}
    for name, mask in population_masks(eeg_ids, votes, threshold).items():
        out[f"kl_{name}"] = float(per_row[mask].mean()) if mask.any() else float("nan")
        out[f"n_{name}"] = int(mask.sum())
    return out


def add_logits(oof: pd.DataFrame) -> pd.DataFrame:
    """``oof`` with ``logit_*`` columns: the log-probabilities (logits up to a per-row
    constant, which a softmax ignores), what a blend in logit space works on."""
    out = oof.copy()
    out[LOGIT_COLS] = np.log(np.clip(out[PRED_COLS].to_numpy(float), EPS, 1.0))
    return out


def expand_to_train_rows(oof: pd.DataFrame, train: pd.DataFrame, row_mode: str) -> pd.DataFrame:
    """The OOF of a run's training rows mapped back to every train.csv row they stand for.

    ``oof`` holds the run's rows (train.csv columns, ``fold``, ``pred_*``); each train.csv row
    gets the prediction and fold of the row that represents it under ``row_mode`` and keeps
    its own target and total votes. Rows of ``all`` map to themselves.
    """
    if row_mode not in GROUP_KEYS:
        raise ValueError(f"row mode must be one of {tuple(GROUP_KEYS)}, got {row_mode!r}")
    train = train.drop(columns=[c for c in ("fold", *PRED_COLS) if c in train])
    # each OOF row is one train row (a per-EEG row keeps its first window's eeg_sub_id)
    rep = train.merge(
        oof[["eeg_id", "eeg_sub_id", "fold", *PRED_COLS]], on=["eeg_id", "eeg_sub_id"]
    )
    key = GROUP_KEYS[row_mode]
    rows = (
        rep
        if key is None
        else train.merge(rep[[*key, "fold", *PRED_COLS]].drop_duplicates(key), on=key, how="inner")
    )
    votes = rows[list(schema.VOTE_COLUMNS)].to_numpy(float)
    rows[TARGET_COLS] = votes / votes.sum(axis=1, keepdims=True)
    rows["total_votes"] = votes.sum(axis=1)
    return rows.sort_values(["eeg_id", "eeg_sub_id"], kind="stable").reset_index(drop=True)


def population_table(scores: dict[str, Any], threshold: int = schema.HIGH_VOTE_THRESHOLD) -> str:
    """The OOF KL and row count of each population, one line each (for the run log)."""
    return "\n".join(
        f"  {name:<12} KL {scores.get(f'kl_{name}', float('nan')):.4f}  "
        f"({scores.get(f'n_{name}', 0)} rows)"
        for name in population_names(threshold)
    )


# what gather_oof writes beside the folds' files: a run's whole-OOF view
GATHERED_FILES = ("oof.csv", "scores.json", "per_class.csv", "confusion.png")


def _stopped(summary: Path) -> bool:
    """Whether a ``fold{k}_summary.json`` says its fold stopped at the time limit (False
    when it is missing or unreadable)."""
    try:
        d = json.loads(summary.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(d, dict) and bool(d.get("stopped"))


def stopped_folds(run_dir: Path, folds: list[int]) -> list[int]:
    """Those of ``folds`` whose ``fold{k}_summary.json`` in ``run_dir`` says the fold stopped
    at the time limit (a fold without a readable summary counts as finished)."""
    return [k for k in folds if _stopped(run_dir / f"fold{k}_summary.json")]


def gather_oof(
    run_dir: str | Path, cfg: Config, train: pd.DataFrame | None = None
) -> dict[str, Any]:
    """Join the oof_fold*.csv files into oof.csv with scores.json, per_class.csv and confusion.png.

    With ``train`` (train.csv), a run on one row per EEG or per vote vector has its OOF mapped
    back to every train.csv row those rows stand for, so runs of any row mode line up (see
    ``hms_kit.scoring.oof``); oof.csv also gets the log-probabilities (``logit_*``). Scores cover the
    folds present, per population (``kl_all``, ``kl_votes_le_3``, ``kl_votes_4_9``,
    ``kl_votes_ge_10``, ``kl_golden``, with row counts ``n_*``), with the population the
    checkpoints were chosen on; ``complete`` says whether every fold is there and finished
    (``folds_stopped``: those stopped at the time limit).
    """
    run_dir = Path(run_dir)
    parts = sorted(run_dir.glob("oof_fold*.csv"))
    if not parts:
        return {"complete": False, "folds": []}
    oof = pd.concat([pd.read_csv(p) for p in parts], ignore_index=True)
    if train is not None and cfg.data.row_mode != "all":
        oof = expand_to_train_rows(oof, train, cfg.data.row_mode)
    oof = add_logits(oof)
    atomic_write_csv(run_dir / "oof.csv", oof)
    t, p, v = oof[TARGET_COLS].to_numpy(), oof[PRED_COLS].to_numpy(), oof["total_votes"].to_numpy()
    scores = scores_per_population(t, p, v, oof["eeg_id"].to_numpy(), cfg.data.high_vote_threshold)
    scores.update(scores_by_population(t, p, v, cfg.data.high_vote_threshold))
    folds_present = sorted(int(f) for f in oof["fold"].unique())
    # a fold stopped at train.time_limit_hours has OOF from its best epoch so far: present,
    # not finished (--resume goes on with it)
    stopped = stopped_folds(run_dir, folds_present)
    scores.update({
        "folds": folds_present, "folds_stopped": stopped,
        "complete": len(folds_present) == cfg.train.n_folds and not stopped,
    })  # fmt: skip
    scores["kl_prior"] = scores_by_population(t, prior_predictions(t, len(t)), v)["kl_all"]
    # issue 13: the target population, and OOF one prediction per eeg_id (MLE-bench's view)
    scores["target_population"] = cfg.target.population
    scores["high_vote_threshold"] = cfg.data.high_vote_threshold  # its kl_votes_ge_<t>
    scores["checkpoint_population"] = checkpoint_population(cfg)
    scores.update(grader_view_scores(oof, cfg.data.high_vote_threshold))
    scores["row_mode"] = cfg.data.row_mode
    if (run_dir / "folds.csv").is_file():
        scores["folds_sha"] = folds_sha(patient_folds_table(pd.read_csv(run_dir / "folds.csv")))
    atomic_write_text(run_dir / "scores.json", json.dumps(scores, indent=1))
    atomic_write_csv(run_dir / "per_class.csv", per_class_table(oof))
    plot_confusion(confusion_matrix(oof), run_dir / "confusion.png")
    return scores


def gather_fold_oof(
    inputs: list[Path], out_dir: Path, train: pd.DataFrame | None = None
) -> dict | None:
    """Join the ``oof_fold*.csv`` of every attached train kernel (one per fold when the folds
    ran in parallel kernels) into ``out_dir``: oof.csv (per train.csv row when ``train`` is
    given), scores.json, per_class.csv, confusion.png. Files set aside in a run's ``stale/``
    are not used, nor a repeated run's single seeds' (``seeds/``). Returns the scores, or
    None when no input has OOF files."""
    from hms_kit.checkpoint import STALE_DIR  # imported here: it brings torch

    found: dict[str, Path] = {}
    config = None
    for d in inputs:
        for f in sorted(d.rglob("oof_fold*.csv")):
            # a repeated run's OOF is its seeds' average beside them (a fold not every seed
            # finished has none): one seed's alone is not the model the test set gets
            if {STALE_DIR, SEEDS_DIR} & set(f.relative_to(d).parts[:-1]):
                continue
            found.setdefault(f.name, f)
            config = config or (f.parent / "config.yaml")
    if not found:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    # what an earlier gather left in out_dir is not these inputs' (a fold since set aside)
    # (never a source's own folder: out_dir may be the one run gathered)
    sources = {f.parent.resolve() for f in found.values()}
    if out_dir.resolve() not in sources:
        for old in [*out_dir.glob("oof_fold*.csv"), *out_dir.glob("fold*_summary.json")]:
            old.unlink()
    for name, f in found.items():
        if (out_dir / name).resolve() != f.resolve():
            shutil.copyfile(f, out_dir / name)
        # a fold stopped at the time limit says so in its summary, or in a seed's: ``complete``
        # reads it
        k = name[len("oof_fold") : -len(".csv")]
        summary = f.parent / f"fold{k}_summary.json"
        if (out_dir / summary.name).resolve() != summary.resolve():
            stopped = any(
                _stopped(p) for p in [summary, *f.parent.glob(f"{SEEDS_DIR}/*/{summary.name}")]
            )
            atomic_write_text(out_dir / f"fold{k}_summary.json",
                              json.dumps({"fold": int(k), "stopped": stopped}))  # fmt: skip
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
