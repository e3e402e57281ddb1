"""Windowed prediction on MLE-bench's layout: several windows per test EEG, one prediction each.

On Kaggle's layout a test row is one 50-s EEG (and one 600-s spectrogram), predicted at
offset 0. On MLE-bench's (``hms_kit.data.mlebench``) test.csv lists every label row of the
full-length train files, without offsets, and the grader scores one prediction per eeg_id
against the label distributions of all its rows. Offset 0 sees only the recording's first
50 s; this module spreads windows over the whole recording instead:

1. ``hms_kit.data.layout.detect_layout``: Kaggle's or MLE-bench's, from test.csv and the
   test files' lengths;
2. ``plan_windows`` (pure): window rows ``eeg_id, eeg_label_offset_seconds, spectrogram_id,
   spectrogram_label_offset_seconds`` from the files' lengths, a stride and a cap;
3. the usual prediction runs on those rows (``hms_kit.predict``);
4. ``aggregate_windows`` (pure): one prediction per eeg_id, the mean of its windows in
   logit or probability space.

Time alignment: test.csv gives no offsets, so where the EEG sits inside its spectrogram's
recording is unknown. The EEG is taken as centred in it (its start at
``(spectrogram length - EEG length) / 2`` seconds): a real or synthetic spectrogram file runs
about 300 s past both ends of the EEGs it holds, so for a spectrogram with one EEG this is off
by a few seconds only; with several EEGs it can be off by an EEG's length, and the window is
then kept inside the file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hms_kit import schema

if TYPE_CHECKING:
    from hms_kit.config import PredictConfig
    from hms_kit.data.competition import Competition

PLAN_COLUMNS = ("eeg_id", "eeg_label_offset_seconds", "spectrogram_id",
                "spectrogram_label_offset_seconds", "patient_id")  # fmt: skip


def window_starts(length_s: float, stride_s: float, max_windows: int) -> np.ndarray:
    """``(k,) float64`` EEG window starts (seconds) spread over a recording of ``length_s``.

    ``k = min(max_windows, 1 + floor((length_s - 50) / stride_s))``, at least 1; the starts
    run evenly from 0 to ``length_s - 50`` (first and last window at the two ends), so a
    capped long recording is still covered end to end, only more sparsely. A recording of
    50 s or less has the one window at 0.
    """
    span = float(length_s) - schema.EEG_WINDOW_S
    if span <= 0 or max_windows <= 1:
        return np.zeros(1)
    k = int(min(max_windows, 1 + np.floor(span / stride_s)))
    if k <= 1:
        return np.zeros(1)
    # whole hundredths of a second, rounded down: the last window must end inside the file
    return np.floor(np.linspace(0.0, span, k) * 100) / 100


def spectrogram_offset(eeg_offset_s: float, eeg_s: float, spec_s: float) -> float:
    """The spectrogram window start (seconds) whose centre is the EEG window's centre, with
    the EEG taken as centred in the spectrogram's recording, kept inside the file and on a
    row boundary (2 s)."""
    start_in_spec = (spec_s - eeg_s) / 2
    centre = start_in_spec + eeg_offset_s + schema.EEG_WINDOW_S / 2
    off = min(max(centre - schema.SPEC_WINDOW_S / 2, 0.0), max(spec_s - schema.SPEC_WINDOW_S, 0.0))
    return float(np.floor(off / schema.SPEC_ROW_S) * schema.SPEC_ROW_S)


def plan_windows(
    test: pd.DataFrame,
    eeg_seconds: dict[int, float],
    spec_seconds: dict[int, float],
    stride_s: float,
    max_windows: int,
) -> pd.DataFrame:
    """The window rows to predict: for each eeg_id of test.csv (first-seen order, with the
    spectrogram_id and patient_id of its first line), ``window_starts`` of its length.

    Returns ``PLAN_COLUMNS`` + ``window`` (0..k-1 within the eeg_id). An EEG or spectrogram
    whose length is unknown (unreadable file) gets one window at offset 0, which the
    prediction then handles as any unreadable test row.
    """
    firsts = test.drop_duplicates("eeg_id")
    out = []
    for row in firsts.itertuples(index=False):
        e, s = int(row.eeg_id), int(row.spectrogram_id)
        eeg_s, spec_s = eeg_seconds.get(e), spec_seconds.get(s)
        if eeg_s is None or spec_s is None:
            starts, spec_offs = np.zeros(1), np.zeros(1)
        else:
            starts = window_starts(eeg_s, stride_s, max_windows)
            spec_offs = np.array([spectrogram_offset(o, eeg_s, spec_s) for o in starts])
        patient = int(row.patient_id) if "patient_id" in firsts.columns else -1
        for i, (eo, so) in enumerate(zip(starts, spec_offs)):
            out.append((e, float(eo), s, float(so), patient, i))
    return pd.DataFrame(out, columns=[*PLAN_COLUMNS, "window"])


def aggregate_windows(
    eeg_ids: np.ndarray, probs: np.ndarray, ok: np.ndarray, average: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One prediction per eeg_id from its windows' ``(n, 6)`` probabilities.

    ``ok``: ``(n,) bool``, the windows that were predicted (others are left out).
    ``average``: ``logit`` (mean of the log-probabilities, then a softmax: a geometric mean,
    which sharpens where the windows agree) or ``prob`` (arithmetic mean). Returns
    ``(ids, probs, n_windows)``: unique eeg_ids in first-seen order, ``(m, 6) float64``
    (NaN rows where no window was predicted) and ``(m,) int64`` windows used.
    """
    if average not in ("logit", "prob"):
        raise ValueError(f"average must be 'logit' or 'prob', got {average!r}")
    eeg_ids = np.asarray(eeg_ids)
    p = np.asarray(probs, dtype=np.float64)
    ok = np.asarray(ok, dtype=bool)
    ids, first, inv = np.unique(eeg_ids, return_index=True, return_inverse=True)
    x = np.log(np.clip(p, 1e-15, 1.0)) if average == "logit" else p
    sums = np.zeros((len(ids), p.shape[1]))
    np.add.at(sums, inv[ok], x[ok])
    n = np.bincount(inv[ok], minlength=len(ids))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / n[:, None]
    if average == "logit":
        mean = np.exp(mean - mean.max(axis=1, keepdims=True))
    mean = mean / mean.sum(axis=1, keepdims=True)
    mean[n == 0] = np.nan
    order = np.argsort(first)  # back to first-seen order
    return ids[order], mean[order], n[order].astype(np.int64)


def window_rows(comp: Competition, test: pd.DataFrame, cfg: PredictConfig) -> pd.DataFrame | None:
    """The window rows to predict instead of test.csv's (``plan_windows``), or None when
    test.csv is predicted as it is: Kaggle's layout, or ``cfg.max_windows`` 0."""
    from hms_kit.runlog import logger

    if cfg.max_windows <= 0 or test.empty:
        return None
    if comp.test_layout(test).name != "mlebench":
        return None
    eeg_s = comp.eeg_seconds(pd.unique(test["eeg_id"]), "test")
    spec_s = comp.spectrogram_seconds(pd.unique(test["spectrogram_id"]), "test")
    plan = plan_windows(test, eeg_s, spec_s, cfg.stride_s, cfg.max_windows)
    n = plan.groupby("eeg_id").size()
    logger().info(
        "windowed prediction: %d windows for %d eeg_ids (median %d, max %d per EEG; every "
        "%g s, at most %d), averaged in %s space",
        len(plan), len(n), int(n.median()), int(n.max()), cfg.stride_s, cfg.max_windows,
        cfg.average,
    )  # fmt: skip
    return plan
