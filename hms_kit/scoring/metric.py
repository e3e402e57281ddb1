"""Evaluation: Kaggle's KL-divergence metric, out-of-fold tables and figures.

The metric is the competition's exactly: targets are votes / row total, predictions are
clipped to [1e-15, 1 - 1e-15] (no renormalisation), a term whose target is 0 counts 0, and
the score is the mean over rows of each row's summed KL(target || prediction).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hms_kit import schema

EPS = 1e-15
# an OOF table's columns: the targets (votes / row total) and the predicted probabilities
PRED_COLS = [f"pred_{c}" for c in schema.VOTE_COLUMNS]
TARGET_COLS = [f"target_{c}" for c in schema.VOTE_COLUMNS]


def kl_per_row(targets: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """Row-wise KL(target || pred), ``(n,) float64``; inputs ``(n, 6)`` probabilities."""
    t = np.asarray(targets, dtype=np.float64)
    p = np.clip(np.asarray(preds, dtype=np.float64), EPS, 1 - EPS)
    if t.shape != p.shape:
        raise ValueError(f"targets {t.shape} and predictions {p.shape} differ in shape")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(t > 0, t * np.log(t / p), 0.0)
    return terms.sum(axis=1)


def kl_score(targets: np.ndarray, preds: np.ndarray) -> float:
    """Kaggle's score: the mean of ``kl_per_row``."""
    return float(kl_per_row(targets, preds).mean())


def votes_to_targets(votes: np.ndarray) -> np.ndarray:
    """``(n, 6)`` votes -> vote distributions (each row divided by its total)."""
    v = np.asarray(votes, dtype=np.float64)
    total = v.sum(axis=1, keepdims=True)
    if (total <= 0).any():
        raise ValueError(f"row {int(np.flatnonzero(total[:, 0] <= 0)[0])} has zero votes")
    return v / total


def scores_by_population(
    targets: np.ndarray, preds: np.ndarray, total_votes: np.ndarray, threshold: int = 10
) -> dict[str, float]:
    """KL over all rows and over rows with >= ``threshold`` votes (NaN when there are none)."""
    per_row = kl_per_row(targets, preds)
    high = np.asarray(total_votes) >= threshold
    return {
        "kl_all": float(per_row.mean()),
        f"kl_votes_ge_{threshold}": float(per_row[high].mean()) if high.any() else float("nan"),
        "n_all": int(len(per_row)),
        f"n_votes_ge_{threshold}": int(high.sum()),
    }


def unusable_row(df: pd.DataFrame, name: str, positive_total: bool) -> str | None:
    """What is wrong with the first row of ``df`` (eeg_id and the six vote columns) whose
    values are not finite and non-negative (with ``positive_total``, also summing above 0:
    a row of answers without votes has no target, and KL would score it 0) and how many
    such rows there are; None when every row is usable."""
    cols = list(schema.VOTE_COLUMNS)
    values = df[cols].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(values).all(axis=1) | (values < 0).any(axis=1)
    if positive_total:
        bad |= ~(values.sum(axis=1) > 0)
    if not bad.any():
        return None
    i = int(np.flatnonzero(bad)[0])
    return (
        f"{name} row {i} (eeg_id {df['eeg_id'].iloc[i]}) has {df[cols].iloc[i].tolist()}: "
        f"not finite and non-negative{' with a positive total' if positive_total else ''} "
        f"({int(bad.sum())} such rows)"
    )


def score_submission(submission: pd.DataFrame, answers: pd.DataFrame) -> float:
    """Score a submission (eeg_id + six *_vote probabilities) against answers with votes.

    Every answer eeg_id must be in the submission; extra submission rows are an error too,
    as on Kaggle. When the submission lists each eeg_id once, every answer row (an eeg_id
    may repeat there) is scored against its eeg_id's prediction. When the submission
    repeats eeg_ids (MLE-bench's layout: one row per test label row), both tables are sorted
    by eeg_id (stable: rows of one eeg_id keep their order) and compared row by row, as
    Kaggle's and MLE-bench's graders do; the eeg_id columns must then agree row for row.
    ValueError naming the row and eeg_id for a prediction that is not finite and
    non-negative, or an answer without finite non-negative votes summing above 0.
    """
    cols = list(schema.VOTE_COLUMNS)
    for name, df in (("submission", submission), ("answers", answers)):
        missing = [c for c in ("eeg_id", *cols) if c not in df.columns]
        if missing:
            raise ValueError(f"{name} is missing columns {missing}")
    # a blank cell or a row without votes would score nan, or 0 (a perfect row), not fail
    for name, df, positive_total in (("submission", submission, False), ("answers", answers, True)):
        problem = unusable_row(df, name, positive_total)
        if problem:
            raise ValueError(problem)
    sub = submission.set_index("eeg_id")
    ans = answers.set_index("eeg_id")
    absent = ans.index.difference(sub.index)
    if len(absent):
        raise ValueError(f"submission has no row for eeg_id {absent[0]} ({len(absent)} missing)")
    extra = sub.index.difference(ans.index)
    if len(extra):
        raise ValueError(f"submission has eeg_id {extra[0]} that the answers do not ({len(extra)})")
    if sub.index.is_unique:
        preds = sub.loc[ans.index, cols].to_numpy(dtype=np.float64)
        return kl_score(votes_to_targets(ans[cols].to_numpy()), preds)
    if len(submission) != len(answers):
        raise ValueError(
            f"submission repeats eeg_ids, so it must have one row per answer row: "
            f"{len(submission)} rows for {len(answers)}"
        )
    s_sorted = submission.sort_values("eeg_id", kind="stable").reset_index(drop=True)
    a_sorted = answers.sort_values("eeg_id", kind="stable").reset_index(drop=True)
    differ = np.flatnonzero(s_sorted["eeg_id"].to_numpy() != a_sorted["eeg_id"].to_numpy())
    if len(differ):
        i = int(differ[0])
        raise ValueError(
            f"sorted by eeg_id, row {i} is eeg_id {s_sorted['eeg_id'].iloc[i]} in the "
            f"submission but {a_sorted['eeg_id'].iloc[i]} in the answers (rows per eeg_id differ)"
        )
    preds = s_sorted[cols].to_numpy(dtype=np.float64)
    return kl_score(votes_to_targets(a_sorted[cols].to_numpy()), preds)


def prior_predictions(train_targets: np.ndarray, n: int) -> np.ndarray:
    """The class prior (mean vote distribution of the training rows) repeated ``n`` times."""
    prior = np.asarray(train_targets, dtype=np.float64).mean(axis=0)
    return np.tile(prior / prior.sum(), (n, 1))


def per_class_table(oof: pd.DataFrame) -> pd.DataFrame:
    """Per consensus class: rows, mean KL, accuracy of the argmax prediction."""
    pred_cols = [f"pred_{c}" for c in schema.VOTE_COLUMNS]
    tgt_cols = [f"target_{c}" for c in schema.VOTE_COLUMNS]
    t = oof[tgt_cols].to_numpy()
    p = oof[pred_cols].to_numpy()
    kl = kl_per_row(t, p)
    truth = t.argmax(axis=1)
    guess = p.argmax(axis=1)
    rows = []
    for i, cls in enumerate(schema.CLASSES):
        m = truth == i
        rows.append(
            {
                "class": cls,
                "rows": int(m.sum()),
                "mean_kl": float(kl[m].mean()) if m.any() else float("nan"),
                "accuracy": float((guess[m] == i).mean()) if m.any() else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def confusion_matrix(oof: pd.DataFrame) -> np.ndarray:
    """``(6, 6) int64`` counts: rows = consensus (argmax of targets), columns = argmax prediction."""
    t = oof[[f"target_{c}" for c in schema.VOTE_COLUMNS]].to_numpy().argmax(axis=1)
    p = oof[[f"pred_{c}" for c in schema.VOTE_COLUMNS]].to_numpy().argmax(axis=1)
    cm = np.zeros((6, 6), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def plot_confusion(cm: np.ndarray, path: str | Path, title: str = "OOF confusion") -> Path:
    """Save the confusion matrix as a PNG (counts and row-normalised colours)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hms_kit.io import atomic_write

    frac = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(6), schema.CLASSES, rotation=45)
    ax.set_yticks(range(6), schema.CLASSES)
    ax.set_xlabel("argmax prediction")
    ax.set_ylabel("expert consensus")
    for i in range(6):
        for j in range(6):
            ax.text(
                j,
                i,
                str(cm[i, j]),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if frac[i, j] > 0.5 else "black",
            )
    fig.colorbar(im, ax=ax, label="fraction of the consensus row")
    ax.set_title(title)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)
    return Path(path)
