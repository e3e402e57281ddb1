"""Folds as data: one ``patient_id -> fold`` file per competition that every run can take,
so the OOF predictions of different runs (other models, row modes or inputs) line up and
can be blended.

The file (``folds.csv``) has the columns ``patient_id, fold``; its fingerprint
(:func:`folds_sha`) is recorded by each run that uses it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from hms_kit.data.readers import DataError

FOLDS_COLUMNS = ["patient_id", "fold"]


def patient_folds(rows: pd.DataFrame, fold_of_row: np.ndarray) -> pd.DataFrame:
    """``patient_id, fold`` (one line per patient, sorted) from a fold per row, checking
    that no patient sits in two folds."""
    table = pd.DataFrame({"patient_id": rows["patient_id"].to_numpy(), "fold": fold_of_row})
    per_patient = table.groupby("patient_id")["fold"].nunique()
    split = per_patient[per_patient > 1]
    if len(split):
        raise ValueError(f"patient_id {int(split.index[0])} sits in more than one fold")
    return table.drop_duplicates("patient_id").sort_values("patient_id").reset_index(drop=True)


def read_folds_file(path: str | Path) -> pd.DataFrame:
    """A folds file, checked: the two columns, integer values, each patient once."""
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: cannot read the folds file ({exc})") from exc
    missing = [c for c in FOLDS_COLUMNS if c not in table]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing} (expected {FOLDS_COLUMNS})")
    for col in FOLDS_COLUMNS:
        if not pd.api.types.is_integer_dtype(table[col]):
            raise DataError(f"{path}: column {col!r} must hold integers")
    if (table["fold"] < 0).any():
        raise DataError(f"{path}: a fold is negative")
    twice = table["patient_id"][table["patient_id"].duplicated()]
    if len(twice):
        raise DataError(f"{path}: patient_id {int(twice.iloc[0])} is listed twice")
    return table[FOLDS_COLUMNS].reset_index(drop=True)


def assign_folds(rows: pd.DataFrame, table: pd.DataFrame, source: str = "folds file") -> np.ndarray:
    """``(n,) int64`` fold of each row from its patient. Raises DataError naming the first
    patient the table lacks."""
    mapping = dict(zip(table["patient_id"].tolist(), table["fold"].tolist()))
    patients = rows["patient_id"].to_numpy()
    absent = [p for p in pd.unique(patients) if p not in mapping]
    if absent:
        raise DataError(
            f"{source}: patient_id {int(absent[0])} is not in it ({len(absent)} patients "
            "missing): make it from the same train.csv"
        )
    return np.array([mapping[p] for p in patients], dtype=np.int64)


def check_fold_rows(
    rows: pd.DataFrame, folds: np.ndarray, n_folds: int, table: pd.DataFrame, source: str
) -> None:
    """DataError naming the fold, its patients and the eeg_id when the folds a file gives the
    training ``rows`` cannot be trained on: a fold ``0..n_folds-1`` without a row, or an EEG
    whose rows sit in two folds (under two patients: its windows would be in training and
    validation at once, the leak the kit's own folds prevent)."""
    present = set(np.asarray(folds).tolist())
    for k in range(n_folds):
        if k not in present:
            listed = sorted(int(p) for p in table.loc[table["fold"] == k, "patient_id"])
            who = f"its patients {listed[:10]} have no training row" if listed else "no patient"
            raise DataError(f"{source}: fold {k} is empty ({who}): every fold needs rows")
    per_eeg = pd.DataFrame(
        {"eeg_id": rows["eeg_id"].to_numpy(), "fold": folds, "patient": rows["patient_id"]}
    )
    split = per_eeg.groupby("eeg_id")["fold"].nunique()
    if (split > 1).any():
        eeg = split.index[split > 1][0]
        these = per_eeg[per_eeg["eeg_id"] == eeg].drop_duplicates(["patient", "fold"])
        where = ", ".join(f"patient_id {int(p)} in fold {int(f)}" for p, f in
                          zip(these["patient"], these["fold"]))  # fmt: skip
        raise DataError(
            f"{source}: eeg_id {int(eeg)} is split across folds ({where}): put those patients "
            f"in one fold ({int((split > 1).sum())} such EEGs)"
        )


def folds_sha(table: pd.DataFrame) -> str:
    """The first 12 hex digits of the SHA-256 of the table as CSV, patients in order."""
    canon = table[FOLDS_COLUMNS].sort_values("patient_id").to_csv(index=False)
    return hashlib.sha256(canon.encode()).hexdigest()[:12]
