"""A competition split the way MLE-bench splits this one, and its grader's checks.

MLE-bench (OpenAI's benchmark of Kaggle competitions) does not use Kaggle's hidden test set:
its ``prepare.py`` splits the public train set. 10 % of the unique spectrogram_ids (in
train.csv's order, ``train_test_split(test_size=0.1, random_state=0)``) go to test with
every one of their rows, whatever their vote count. The public folder then has:

    train.csv                 the other rows, all 15 columns
    test.csv                  spectrogram_id, eeg_id, patient_id: one line per test row, so an
                              eeg_id repeats and there are no offsets
    sample_submission.csv     eeg_id + six vote columns (1/6), one line per test row
    {train,test}_eegs/, {train,test}_spectrograms/
                              the full-length train files (50 s to about an hour), copied

and the answers (the test rows with their votes) stay outside it. Its grader checks the
length, the id set and that each row sums to 1 (at 5 decimals), sorts both sides by eeg_id
and scores row by row, so the rows of one eeg_id meet in no fixed order: the best a
submission can do is one prediction per eeg_id, copied to each of its rows.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hms_kit import schema
from hms_kit.data.labels import read_train_csv
from hms_kit.data.readers import DataError
from hms_kit.io import atomic_write_csv
from hms_kit.scoring.metric import kl_per_row, unusable_row

TEST_SIZE = 0.1
RANDOM_STATE = 0
PUBLIC_DIR = "public"
PRIVATE_DIR = "private"
ANSWERS_CSV = "answers.csv"  # the test rows, all train.csv columns, raw votes
GOLD_CSV = "gold_submission.csv"  # eeg_id + the votes normalised per row
TRUE_PROBS_CSV = "true_probs.csv"  # synthetic sources only: what each test row's votes came from


class GradingError(ValueError):
    """A submission MLE-bench's grader would refuse (the message says which check)."""


@dataclass(frozen=True)
class MlebenchSplit:
    """Where a split was written and its sizes."""

    public: Path
    private: Path
    n_train_rows: int
    n_test_rows: int
    n_test_eegs: int
    n_test_spectrograms: int

    def line(self) -> str:
        return (
            f"MLE-bench split: {self.n_train_rows} train rows, {self.n_test_rows} test rows "
            f"({self.n_test_eegs} EEGs, {self.n_test_spectrograms} spectrograms) in {self.public}; "
            f"answers in {self.private}"
        )


def split_spectrogram_ids(train: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(train_ids, test_ids)``: train.csv's unique spectrogram_ids (first-seen order) split
    as MLE-bench's prepare.py does (scikit-learn's ``train_test_split``, 10 %, seed 0)."""
    from sklearn.model_selection import train_test_split

    ids = pd.unique(train["spectrogram_id"].to_numpy())
    if len(ids) < 2:
        raise DataError(f"train.csv holds {len(ids)} spectrogram_id: at least 2 are needed")
    tr, te = train_test_split(ids, test_size=TEST_SIZE, random_state=RANDOM_STATE)
    return np.asarray(tr), np.asarray(te)


def split_tables(train: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The split's tables from train.csv (pure): ``train``, ``test`` (public, three id
    columns), ``sample_submission``, ``answers`` (the test rows, all columns, raw votes) and
    ``gold`` (eeg_id + votes / row total), test rows in train.csv's order."""
    _, test_ids = split_spectrogram_ids(train)
    is_test = train["spectrogram_id"].isin(test_ids).to_numpy()
    new_train = train[~is_test].reset_index(drop=True)
    answers = train[is_test].reset_index(drop=True)
    cols = list(schema.VOTE_COLUMNS)
    gold = answers[["eeg_id", *cols]].copy()
    votes = gold[cols].to_numpy(np.float64)
    gold[cols] = votes / votes.sum(axis=1, keepdims=True)
    sample = gold.copy()
    sample[cols] = 1.0 / len(cols)
    return {
        "train": new_train,
        "test": answers[list(schema.TEST_COLUMNS)].copy(),
        "sample_submission": sample,
        "answers": answers,
        "gold": gold,
    }


def _copy_file(src: Path, dst: Path) -> None:
    if not src.is_file():
        raise DataError(f"{src}: file not found (listed in train.csv)")
    try:  # a hard link costs no disk; a copy where the folders sit on two file systems
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def prepare_mlebench(
    source: str | Path, out_dir: str | Path, overwrite: bool = False
) -> MlebenchSplit:
    """Split the competition at ``source`` (Kaggle's layout; only its train part is read) into
    ``out_dir/public`` (a competition folder in MLE-bench's layout) and ``out_dir/private``
    (``answers.csv``, ``gold_submission.csv``, and for a synthetic source ``true_probs.csv``).

    Built beside ``out_dir`` and renamed into place when complete. FileExistsError when
    ``out_dir`` exists, unless ``overwrite``.
    """
    source, out = Path(source), Path(out_dir)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists (use overwrite to replace it)")
    train = read_train_csv(source / "train.csv")
    tables = split_tables(train)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    pub, priv = tmp / PUBLIC_DIR, tmp / PRIVATE_DIR
    try:
        priv.mkdir(parents=True)
        for part, frame in (("train", tables["train"]), ("test", tables["answers"])):
            for kind, col in (("eegs", "eeg_id"), ("spectrograms", "spectrogram_id")):
                dst = pub / f"{part}_{kind}"
                dst.mkdir(parents=True)
                for i in pd.unique(frame[col]):
                    _copy_file(
                        source / f"train_{kind}" / f"{int(i)}.parquet", dst / f"{int(i)}.parquet"
                    )
        atomic_write_csv(pub / "train.csv", tables["train"])
        atomic_write_csv(pub / "test.csv", tables["test"])
        atomic_write_csv(pub / "sample_submission.csv", tables["sample_submission"])
        atomic_write_csv(priv / ANSWERS_CSV, tables["answers"])
        atomic_write_csv(priv / GOLD_CSV, tables["gold"])
        truth = source / "_synth" / "train_true_probs.csv"
        if truth.is_file():
            t = pd.read_csv(truth)
            keys = tables["answers"][["eeg_id", "eeg_sub_id"]]
            atomic_write_csv(
                priv / TRUE_PROBS_CSV, keys.merge(t, on=["eeg_id", "eeg_sub_id"], how="left")
            )
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    a = tables["answers"]
    return MlebenchSplit(
        public=out / PUBLIC_DIR,
        private=out / PRIVATE_DIR,
        n_train_rows=len(tables["train"]),
        n_test_rows=len(a),
        n_test_eegs=int(a["eeg_id"].nunique()),
        n_test_spectrograms=int(a["spectrogram_id"].nunique()),
    )


def check_answers(answers: pd.DataFrame) -> None:
    """GradingError unless every answer row has an eeg_id and six finite, non-negative
    votes with a positive total: a row without votes has no target, and KL would score it 0
    (a perfect prediction) instead of failing."""
    cols = list(schema.VOTE_COLUMNS)
    missing = [c for c in ("eeg_id", *cols) if c not in answers.columns]
    if missing:
        raise GradingError(f"answers are missing columns {missing}")
    problem = unusable_row(answers, "answers", positive_total=True)
    if problem:
        raise GradingError(problem)


def grade_mlebench(submission: pd.DataFrame, answers: pd.DataFrame) -> float:
    """The KL score MLE-bench's grader gives ``submission`` against ``answers`` (eeg_id + six
    vote columns, raw votes or probabilities: each row is divided by its total).

    The grader's checks, in its order: eeg_id and the six columns present (GradingError),
    as many rows as the answers, every row summing to 1 at 5 decimals, the same set of
    eeg_ids. Both sides are then sorted by eeg_id and scored row by row (Kaggle's KL: mean
    over rows of the summed KL, predictions clipped to [1e-15, 1 - 1e-15]). Rows of one
    eeg_id are paired in sort order, which the grader does not fix: a submission whose rows
    of one eeg_id differ gets an arbitrary pairing here too (stable sort).
    """
    cols = list(schema.VOTE_COLUMNS)
    missing = [c for c in ("eeg_id", *cols) if c not in submission.columns]
    if missing:
        raise GradingError(f"submission is missing columns {missing}")
    check_answers(answers)
    if len(submission) != len(answers):
        raise GradingError(f"submission has {len(submission)} rows, the answers {len(answers)}")
    sums = submission[cols].to_numpy(np.float64).sum(axis=1)
    bad = np.flatnonzero(np.round(sums, 5) != 1)
    if len(bad):
        i = int(bad[0])
        raise GradingError(
            f"submission row {i} (eeg_id {submission['eeg_id'].iloc[i]}) sums to {sums[i]:.6f}, "
            f"not 1 ({len(bad)} such rows)"
        )
    if set(submission["eeg_id"]) != set(answers["eeg_id"]):
        only_sub = sorted(set(submission["eeg_id"]) - set(answers["eeg_id"]))
        only_ans = sorted(set(answers["eeg_id"]) - set(submission["eeg_id"]))
        raise GradingError(
            f"eeg_ids differ: only in the submission {only_sub[:5]}, only in the answers {only_ans[:5]}"
        )
    sub = submission.sort_values("eeg_id", kind="stable").reset_index(drop=True)
    ans = answers.sort_values("eeg_id", kind="stable").reset_index(drop=True)
    votes = ans[cols].to_numpy(np.float64)
    targets = votes / votes.sum(axis=1, keepdims=True)
    return float(kl_per_row(targets, sub[cols].to_numpy(np.float64)).mean())
