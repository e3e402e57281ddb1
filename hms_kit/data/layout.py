"""Which layout a competition's test set has: Kaggle's (one 50-s EEG per test row) or
MLE-bench's (test.csv lists every label row of full-length recordings, without offsets).

Data access decides it from test.csv and the test files' lengths; windowed prediction
(``hms_kit.scoring.windows``) acts on the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from hms_kit import schema

LAYOUTS = ("kaggle", "mlebench")
OFFSET_COLUMNS = ("eeg_label_offset_seconds", "spectrogram_label_offset_seconds")


@dataclass(frozen=True)
class Layout:
    """The test set's layout and why: ``name`` is ``kaggle`` or ``mlebench``."""

    name: str
    reason: str


def detect_layout(test: pd.DataFrame, eeg_seconds: dict[int, float]) -> Layout:
    """Kaggle's layout or MLE-bench's, from test.csv and the test EEGs' lengths (seconds,
    those that could be read).

    MLE-bench's: test.csv has no offset columns and either repeats an eeg_id (one line per
    label row) or has a test EEG longer than one 50-s window. Anything else is Kaggle's, where
    every test EEG is one window predicted at offset 0 (or at test.csv's offsets, if given).
    """
    if any(c in test.columns for c in OFFSET_COLUMNS):
        return Layout("kaggle", "test.csv gives offsets")
    repeats = int(test["eeg_id"].duplicated().sum())
    longer = sum(1 for s in eeg_seconds.values() if s > schema.EEG_WINDOW_S)
    if repeats or longer:
        return Layout(
            "mlebench",
            f"test.csv repeats eeg_ids ({repeats} repeated lines of {len(test)}) and "
            f"{longer} of {len(eeg_seconds)} test EEGs are longer than "
            f"{schema.EEG_WINDOW_S} s",
        )
    return Layout("kaggle", f"{len(test)} test EEGs, one line and one window each")
