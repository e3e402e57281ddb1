"""MLE-bench's split of a competition and its grader's checks (hms_kit.data.mlebench)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from hms_kit import schema
from hms_kit.cli import main
from hms_kit.data.mlebench import (
    GradingError,
    grade_mlebench,
    prepare_mlebench,
    split_tables,
)
from hms_kit.scoring.metric import score_submission

COLS = list(schema.VOTE_COLUMNS)


@pytest.fixture(scope="module")
def source(shared) -> Path:
    """The session's competition (conftest.shared)."""
    return shared.root


@pytest.fixture(scope="module")
def split(shared) -> Path:
    """Its split, by ``prepare_mlebench`` (``synth --layout mlebench``). Read only."""
    return shared.split


def _train_frame(spec_ids: list[int]) -> pd.DataFrame:
    """A train.csv-like frame: spectrogram s holds EEG s*10 with two rows."""
    rows = []
    rng = np.random.default_rng(0)
    for s in spec_ids:
        for sub in range(2):
            votes = rng.integers(0, 4, 6)
            votes[sub] += 1
            rows.append({"spectrogram_id": s, "eeg_id": s * 10, "patient_id": s % 3,
                         "eeg_sub_id": sub, **dict(zip(COLS, votes.tolist()))})  # fmt: skip
    return pd.DataFrame(rows)


def test_split_tables_follow_train_test_split_of_unique_spectrogram_ids():
    spec_ids = [7, 3, 9, 1, 12, 5, 8, 2, 11, 4, 6, 10, 13, 14, 15, 16, 17, 18, 19, 20]
    train = _train_frame(spec_ids)
    t = split_tables(train)
    _, expected = train_test_split(np.array(spec_ids), test_size=0.1, random_state=0)
    assert set(t["answers"]["spectrogram_id"]) == set(expected.tolist())
    assert set(t["train"]["spectrogram_id"]).isdisjoint(set(expected.tolist()))
    assert len(t["train"]) + len(t["answers"]) == len(train)
    assert list(t["test"].columns) == list(schema.TEST_COLUMNS)
    # one line per original row: an eeg_id repeats
    assert len(t["test"]) == len(t["answers"]) == len(t["sample_submission"]) == len(t["gold"])
    assert t["test"]["eeg_id"].duplicated().any()
    np.testing.assert_allclose(t["sample_submission"][COLS].to_numpy(), 1 / 6)
    np.testing.assert_allclose(t["gold"][COLS].sum(axis=1), 1.0)
    votes = t["answers"][COLS].to_numpy(float)
    np.testing.assert_allclose(t["gold"][COLS].to_numpy(), votes / votes.sum(1, keepdims=True))


def test_prepare_writes_public_competition_and_private_answers(source: Path, split: Path):
    pub, priv = split / "public", split / "private"
    train = pd.read_csv(pub / "train.csv")
    answers = pd.read_csv(priv / "answers.csv")
    test = pd.read_csv(pub / "test.csv")
    original = pd.read_csv(source / "train.csv")
    assert len(train) + len(answers) == len(original)
    assert list(test.columns) == list(schema.TEST_COLUMNS)
    assert (test["eeg_id"].to_numpy() == answers["eeg_id"].to_numpy()).all()
    assert set(train["eeg_id"]).isdisjoint(set(answers["eeg_id"]))
    stems = {p.stem for p in (pub / "test_eegs").iterdir()}
    assert stems == {str(e) for e in answers["eeg_id"].unique()}
    stems = {p.stem for p in (pub / "train_spectrograms").iterdir()}
    assert stems == {str(s) for s in train["spectrogram_id"].unique()}
    # the test files are the full train files, not 50-s windows
    e = int(answers["eeg_id"].iloc[0])
    assert (pub / "test_eegs" / f"{e}.parquet").read_bytes() == (
        source / "train_eegs" / f"{e}.parquet"
    ).read_bytes()
    assert not (pub / "answers.csv").exists()
    truth = pd.read_csv(priv / "true_probs.csv")
    assert len(truth) == len(answers) and not truth[COLS].isna().any().any()
    sample = pd.read_csv(pub / "sample_submission.csv")
    assert len(sample) == len(answers)


def test_prepare_refuses_an_existing_folder(source: Path, split: Path):
    with pytest.raises(FileExistsError, match="exists"):
        prepare_mlebench(source, split)


def test_grade_scores_gold_zero_and_uniform_as_kl(split: Path):
    answers = pd.read_csv(split / "private" / "answers.csv")
    gold = pd.read_csv(split / "private" / "gold_submission.csv")
    sample = pd.read_csv(split / "public" / "sample_submission.csv")
    assert grade_mlebench(gold, answers) == pytest.approx(0.0, abs=1e-9)
    t = answers[COLS].to_numpy(float)
    t = t / t.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(t > 0, t * np.log(t * 6), 0).sum(1).mean()
    assert grade_mlebench(sample, answers) == pytest.approx(expected)


def test_grade_pairs_rows_by_sorted_eeg_id_whatever_their_order(split: Path):
    answers = pd.read_csv(split / "private" / "answers.csv")
    rng = np.random.default_rng(1)
    per_eeg = {e: rng.dirichlet(np.ones(6)) for e in answers["eeg_id"].unique()}
    sub = pd.DataFrame([per_eeg[e] for e in answers["eeg_id"]], columns=COLS)
    sub.insert(0, "eeg_id", answers["eeg_id"].to_numpy())
    shuffled = sub.sample(frac=1.0, random_state=2).reset_index(drop=True)
    score = grade_mlebench(sub, answers)
    assert grade_mlebench(shuffled, answers) == pytest.approx(score)
    assert score_submission(sub, answers) == pytest.approx(score)


def test_grade_refuses_what_the_grader_refuses(split: Path):
    answers = pd.read_csv(split / "private" / "answers.csv")
    sample = pd.read_csv(split / "public" / "sample_submission.csv")
    with pytest.raises(GradingError, match="rows"):
        grade_mlebench(sample.iloc[1:], answers)
    bad = sample.copy()
    bad.loc[3, "seizure_vote"] += 0.01
    with pytest.raises(GradingError, match="row 3 .* sums to"):
        grade_mlebench(bad, answers)
    other = sample.copy()
    other.loc[0, "eeg_id"] = -1
    with pytest.raises(GradingError, match="only in the submission \\[-1\\]"):
        grade_mlebench(other, answers)
    with pytest.raises(GradingError, match="missing columns"):
        grade_mlebench(sample.drop(columns=["lpd_vote"]), answers)
    # answers without votes would score their rows 0 (perfect): refused, naming the eeg_id
    empty = answers.copy()
    empty.loc[2, COLS] = 0
    with pytest.raises(GradingError, match=rf"answers row 2 \(eeg_id {empty['eeg_id'][2]}\)"):
        grade_mlebench(sample, empty)
    with pytest.raises(GradingError, match="answers are missing columns \\['lpd_vote'\\]"):
        grade_mlebench(sample, answers.drop(columns=["lpd_vote"]))


def test_cli_score_mlebench_grades_and_refuses(split: Path, tmp_path: Path, capsys):
    answers = split / "private" / "answers.csv"
    gold = split / "private" / "gold_submission.csv"
    assert main(["score", "--mlebench", "--submission", str(gold), "--answers", str(answers)]) == 0
    assert float(capsys.readouterr().out.strip().splitlines()[-1]) == pytest.approx(0.0, abs=1e-9)
    sample = split / "public" / "sample_submission.csv"
    bad = tmp_path / "short.csv"
    pd.read_csv(sample).iloc[1:].to_csv(bad, index=False)
    assert main(["score", "--mlebench", "--submission", str(bad), "--answers", str(answers)]) == 2
