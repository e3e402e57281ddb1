"""Balanced sampling of a small subset: the seed's first step (50 rows per class)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hms_kit import schema


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
) -> pd.DataFrame:
    """Draw ``per_class`` rows of each class at random, without replacement, seeded.

    With ``distinct_eegs`` at most one row is drawn per EEG (one random window of each chosen
    EEG), so a class's rows are not many windows of one recording. A class with fewer
    candidates than asked raises SamplingError unless ``allow_smaller`` (then all are taken).
    Returns the drawn rows with the original columns, grouped by class in ``schema.CLASSES``
    order.
    """
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
            raise SamplingError(
                f"class {cls} has {n} {unit}, fewer than the {per_class} asked "
                "(allow smaller classes to take them all)"
            )
        take = rng.choice(n, size=min(n, per_class), replace=False)
        parts.append(rows.iloc[np.sort(take)])
    return pd.concat(parts).reset_index(drop=True)
