"""Balanced sampling of a small subset: the seed's first step (50 rows per class)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hms_kit import schema
from hms_kit.data.labels import rows_dedup

# the row modes a sample can be drawn for: per_eeg's rows are sums, not train.csv rows
# (distinct_eegs draws one window of each EEG instead)
SAMPLE_ROW_MODES = ("all", "dedup")


class SamplingError(ValueError):
    """A sample that cannot be drawn as asked (names the class)."""


def class_table(df: pd.DataFrame) -> pd.DataFrame:
    """Rows per ``expert_consensus`` class: columns ``expert_consensus``, ``Count``, largest first."""
    counts = df[schema.CONSENSUS_COLUMN].value_counts()
    return pd.DataFrame(
        {schema.CONSENSUS_COLUMN: counts.index.astype(str), "Count": counts.to_numpy()}
    )


def balanced_sample(
    df: pd.DataFrame,
    per_class: int = 50,
    seed: int = 42,
    allow_smaller: bool = False,
    distinct_eegs: bool = False,
    row_mode: str = "all",
) -> pd.DataFrame:
    """Draw ``per_class`` rows of each class at random, without replacement, seeded.

    With ``distinct_eegs`` at most one row is drawn per EEG (one random window of each chosen
    EEG), so a class's rows are not many windows of one recording. ``row_mode`` ``dedup``
    draws from the rows a ``data.row_mode: dedup`` run keeps (one per distinct eeg_id and
    vote vector, ``labels.rows_dedup``), so the sample stays balanced when such a run
    collapses it; ``all`` from every row. A class with fewer candidates than asked raises
    SamplingError unless ``allow_smaller`` (then all are taken). Returns the drawn rows with
    the original columns, grouped by class in ``schema.CLASSES`` order.
    """
    if row_mode not in SAMPLE_ROW_MODES:
        raise SamplingError(f"row mode must be one of {SAMPLE_ROW_MODES}, got {row_mode!r}")
    if row_mode == "dedup":
        df = rows_dedup(df)
    rng = np.random.default_rng(seed)
    parts = []
    for cls in schema.CLASSES:
        rows = df[df[schema.CONSENSUS_COLUMN] == cls]
        if distinct_eegs and len(rows):
            shuffled = rows.iloc[rng.permutation(len(rows))]
            rows = shuffled.drop_duplicates("eeg_id")
        n = len(rows)
        if n == 0 and not (df[schema.CONSENSUS_COLUMN] == cls).any():
            if allow_smaller:
                continue
            raise SamplingError(f"class {cls} has no rows")
        if n < per_class and not allow_smaller:
            unit = "distinct EEGs" if distinct_eegs else "rows"
            unit = f"{unit} of distinct votes" if row_mode == "dedup" else unit
            raise SamplingError(
                f"class {cls} has {n} {unit}, fewer than the {per_class} asked "
                "(allow smaller classes to take them all)"
            )
        take = rng.choice(n, size=min(n, per_class), replace=False)
        parts.append(rows.iloc[np.sort(take)])
    return pd.concat(parts).reset_index(drop=True)
