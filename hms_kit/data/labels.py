"""Label tables: validation, vote targets, row modes and the high-vote mask.

Targets are the vote distribution of a row (votes / total), the quantity Kaggle's KL metric
compares predictions with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hms_kit import schema
from hms_kit.data.readers import DataError

ROW_MODES = ("all", "per_eeg", "dedup")

_INT_COLUMNS = ("eeg_id", "eeg_sub_id", "spectrogram_id", "spectrogram_sub_id", "patient_id")
_OFFSET_COLUMNS = ("eeg_label_offset_seconds", "spectrogram_label_offset_seconds")


def read_csv_file(path: str | Path, what: str = "") -> pd.DataFrame:
    """A CSV as a DataFrame; DataError naming the file (and ``what`` set it, when given) if it
    is missing or not readable as CSV."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found" + (f" ({what})" if what else ""))
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc})") from None


def read_train_csv(path: str | Path) -> pd.DataFrame:
    """train.csv as a validated DataFrame (see ``validate_train``)."""
    path = Path(path)
    return validate_train(read_csv_file(path), path)


def validate_train(df: pd.DataFrame, path: str | Path = "train.csv") -> pd.DataFrame:
    """Check a label table and return it with clean dtypes.

    Raises DataError naming the file, the column and the first bad row for: a missing
    column, a non-numeric (or infinite) id, offset or vote, an id that is not whole, a
    negative vote, a row with zero votes.
    ``label_id`` may be blank (it is in real files). A row repeated exactly (every column)
    would count its votes twice: the copies are dropped, with a warning naming the eeg_ids.
    """
    missing = [c for c in schema.TRAIN_COLUMNS if c not in df.columns and c != "label_id"]
    if missing:
        raise DataError(f"{path}: missing columns {missing}")
    df = df.copy()
    for col in (*_INT_COLUMNS, *_OFFSET_COLUMNS, *schema.VOTE_COLUMNS):
        num = pd.to_numeric(df[col], errors="coerce")
        bad = ~np.isfinite(num.to_numpy(np.float64))  # NaN, and "inf" (a number to pandas)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"{path}: column {col} row {i}: {df[col].iloc[i]!r} is not a number")
        if col in _INT_COLUMNS and (num % 1 != 0).any():  # an id cut to an int names another
            i = int(np.flatnonzero((num % 1 != 0).to_numpy())[0])
            raise DataError(
                f"{path}: column {col} row {i}: {df[col].iloc[i]} is not a whole number"
            )
        df[col] = num
    for col in _INT_COLUMNS:
        df[col] = df[col].astype("int64")
    if "label_id" in df.columns:  # blank in most real rows: a nullable integer, not a float
        df["label_id"] = pd.to_numeric(df["label_id"], errors="coerce").astype("Int64")
    for col in _OFFSET_COLUMNS:
        df[col] = df[col].astype("float64")
    votes = df[list(schema.VOTE_COLUMNS)].to_numpy(dtype=np.float64)
    if (votes < 0).any():
        i = int(np.flatnonzero((votes < 0).any(axis=1))[0])
        raise DataError(f"{path}: row {i} (eeg_id {df['eeg_id'].iloc[i]}) has a negative vote")
    total = votes.sum(axis=1)
    if (total <= 0).any():
        i = int(np.flatnonzero(total <= 0)[0])
        raise DataError(f"{path}: row {i} (eeg_id {df['eeg_id'].iloc[i]}) has zero votes")
    if schema.CONSENSUS_COLUMN in df.columns:
        unknown = sorted(set(df[schema.CONSENSUS_COLUMN].astype(str)) - set(schema.CLASSES))
        if unknown:
            raise DataError(
                f"{path}: column {schema.CONSENSUS_COLUMN} has unknown classes {unknown}"
            )
    dup = df.duplicated(keep="first").to_numpy()
    if dup.any():
        from hms_kit.runlog import logger

        rows = np.flatnonzero(dup)
        ids = sorted({int(e) for e in df["eeg_id"].iloc[rows]})
        logger().warning(
            "%s: %d rows repeat an earlier row exactly (rows %s, eeg_id %s): the copies are "
            "dropped so their votes count once",
            path,
            len(rows),
            rows[:10].tolist(),
            ids[:10],
        )
        df = df[~dup]
    return df.reset_index(drop=True)


SUBSET_KEY = ["eeg_id", "eeg_sub_id"]  # unique per train.csv row


def subset_rows(train: pd.DataFrame, subset: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """The rows of ``train`` that ``subset`` (a table with train.csv's columns, e.g.
    ``balanced_train.csv`` from ``sample``) lists, matched on (eeg_id, eeg_sub_id), in
    ``train``'s order; ``train``'s own votes and offsets are kept.

    Raises DataError naming ``path`` for a missing key column, and the first ids that
    train.csv does not have (a subset of another competition).
    """
    missing = [c for c in SUBSET_KEY if c not in subset.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing} (a subset of train.csv's rows)")
    keys = subset[SUBSET_KEY].apply(pd.to_numeric, errors="coerce")
    if keys.isna().any().any():
        bad = int(keys.isna().any(axis=1).to_numpy().argmax())
        raise DataError(f"{path}: row {bad + 2}: eeg_id/eeg_sub_id is not a number")
    keys = keys.astype("int64").drop_duplicates()
    known = keys.merge(train[SUBSET_KEY], how="left", on=SUBSET_KEY, indicator=True)
    unknown = known[known["_merge"] == "left_only"]
    if len(unknown):
        first = ", ".join(f"{e}/{s}" for e, s in unknown[SUBSET_KEY].head(5).to_numpy())
        raise DataError(
            f"{path}: {len(unknown)} rows are not in train.csv (eeg_id/eeg_sub_id {first})"
        )
    inside = train.merge(keys, how="left", on=SUBSET_KEY, indicator=True)["_merge"] == "both"
    return train[inside.to_numpy()].reset_index(drop=True)


def read_train_subset(train: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """``subset_rows`` of the CSV at ``path``; DataError names the file if it cannot be read."""
    path = Path(path)
    return subset_rows(train, read_csv_file(path, "data.train_csv / --train-csv"), path)


def absent_classes(df: pd.DataFrame) -> list[str]:
    """Classes (``schema.CLASSES`` order) that no row votes for.

    Not an error: training goes on (the model can still give them probability through the
    KL loss's other rows) and the caller logs a warning naming them.
    """
    votes = df[list(schema.VOTE_COLUMNS)].to_numpy(dtype=np.float64).sum(axis=0)
    return [c for c, v in zip(schema.CLASSES, votes) if v == 0]


# ``rows_per_eeg``'s column: an EEG's votes per window (the mean over its windows), what its
# summed votes stand for when rows are sorted by how many experts voted
VOTES_PER_WINDOW = "votes_per_window"


def total_votes(df: pd.DataFrame) -> np.ndarray:
    """Total votes per row, ``(n,) float64``: of one label window, so a ``per_eeg`` row (its
    windows' votes summed) counts its ``VOTES_PER_WINDOW``, not the sum."""
    if VOTES_PER_WINDOW in df.columns:
        return df[VOTES_PER_WINDOW].to_numpy(dtype=np.float64)
    return df[list(schema.VOTE_COLUMNS)].to_numpy(dtype=np.float64).sum(axis=1)


def vote_targets(df: pd.DataFrame) -> np.ndarray:
    """Vote distributions ``(n, 6) float32``: each row's votes divided by its total."""
    votes = df[list(schema.VOTE_COLUMNS)].to_numpy(dtype=np.float64)
    return (votes / votes.sum(axis=1, keepdims=True)).astype(np.float32)


def high_vote_mask(df: pd.DataFrame, threshold: int = schema.HIGH_VOTE_THRESHOLD) -> np.ndarray:
    """``(n,) bool``: rows with total votes >= threshold (the expert population)."""
    return total_votes(df) >= threshold


def _consensus(votes: np.ndarray) -> np.ndarray:
    return np.asarray(schema.CLASSES)[votes.argmax(axis=1)]


def rows_per_eeg(df: pd.DataFrame) -> pd.DataFrame:
    """One row per EEG, votes summed over its windows (the Chris Deotte starter's way).

    The window kept is the EEG's earliest (smallest offsets, as the starter does for its
    spectrogram window); expert_consensus is recomputed from the summed votes. The column
    ``VOTES_PER_WINDOW`` (last) holds the mean votes of its windows: what ``total_votes``
    counts, so stage 2, the checkpoint rows and vote weighting see how many experts voted.
    """
    first = df.sort_values(["eeg_id", "eeg_label_offset_seconds"], kind="stable")
    keep = first.groupby("eeg_id", sort=False).head(1).set_index("eeg_id")
    summed = df.groupby("eeg_id")[list(schema.VOTE_COLUMNS)].sum()
    per_window = pd.Series(total_votes(df), index=df.index).groupby(df["eeg_id"]).mean()
    out = keep.drop(columns=list(schema.VOTE_COLUMNS)).join(summed).reset_index()
    votes = out[list(schema.VOTE_COLUMNS)].to_numpy(dtype=np.float64)
    out[schema.CONSENSUS_COLUMN] = _consensus(votes)
    # the windows repeat one panel's votes: 9 windows of 3 votes are 3 experts, not 27
    out[VOTES_PER_WINDOW] = out["eeg_id"].map(per_window).to_numpy(np.float64)
    columns = [c for c in df.columns if c in out.columns and c != VOTES_PER_WINDOW]
    return out[[*columns, VOTES_PER_WINDOW]].reset_index(drop=True)


def rows_dedup(df: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct (eeg_id, vote vector), keeping its window of largest overlap.

    The 3rd-place solution's de-duplication: of the windows sharing one EEG and one vote
    vector, keep the one whose 50-s EEG window overlaps the group's other windows most (the
    central one), so the kept window covers what the votes describe best.
    """
    key = ["eeg_id", *schema.VOTE_COLUMNS]
    offsets = df["eeg_label_offset_seconds"].to_numpy(dtype=np.float64)
    group = df.groupby(key, sort=False).ngroup().to_numpy()
    score = np.zeros(len(df))
    order = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    for idx in np.split(order, bounds):
        o = offsets[idx]
        overlap = np.clip(schema.EEG_WINDOW_S - np.abs(o[:, None] - o[None, :]), 0, None)
        score[idx] = overlap.sum(axis=1)
    pick = (
        pd.DataFrame({"g": group, "s": -score, "i": np.arange(len(df))})
        .sort_values(["g", "s", "i"], kind="stable")
        .groupby("g", sort=False)
        .head(1)["i"]
        .sort_values()
        .to_numpy()
    )
    return df.iloc[pick].reset_index(drop=True)


def select_rows(df: pd.DataFrame, mode: str) -> pd.DataFrame:
    """Label rows for training under a row mode: ``all``, ``per_eeg`` or ``dedup``."""
    if mode == "all":
        return df.reset_index(drop=True)
    if mode == "per_eeg":
        return rows_per_eeg(df)
    if mode == "dedup":
        return rows_dedup(df)
    raise ValueError(f"row mode must be one of {ROW_MODES}, got {mode!r}")
