"""Windowed prediction on MLE-bench's layout (hms_kit.scoring.windows, its hook in
hms_kit.predict; the layout test in hms_kit.data.layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hms_kit import schema
from hms_kit.config import PredictConfig, load_config
from hms_kit.data import Competition
from hms_kit.data.layout import detect_layout
from hms_kit.data.mlebench import grade_mlebench
from hms_kit.scoring.windows import (
    aggregate_windows,
    plan_windows,
    spectrogram_offset,
    window_starts,
)

COLS = list(schema.VOTE_COLUMNS)


def test_window_starts_cover_the_recording_within_the_cap():
    np.testing.assert_array_equal(window_starts(50.0, 10.0, 32), [0.0])
    np.testing.assert_array_equal(window_starts(30.0, 10.0, 32), [0.0])
    np.testing.assert_allclose(window_starts(90.0, 10.0, 32), [0, 10, 20, 30, 40])
    # a long recording: capped, still from its start to its last full window
    s = window_starts(3600.0, 10.0, 8)
    assert len(s) == 8 and s[0] == 0 and s[-1] == pytest.approx(3550.0)
    assert np.all(np.diff(s) > 0)
    # the last window never runs past the end, whatever the rounding
    s = window_starts(123.457, 7.0, 32)
    assert s[-1] + schema.EEG_WINDOW_S <= 123.457
    np.testing.assert_array_equal(window_starts(500.0, 10.0, 0), [0.0])


def test_spectrogram_offset_centres_the_eeg_and_stays_in_the_file():
    # a 100-s EEG centred in a 700-s spectrogram starts at 300 s there: the window at EEG
    # offset 20 s is centred at 345 s, so the 600-s spectrogram window starts at 44 s
    assert spectrogram_offset(20.0, 100.0, 700.0) == 44.0
    assert spectrogram_offset(0.0, 50.0, 600.0) == 0.0  # Kaggle's own test geometry
    assert spectrogram_offset(3000.0, 3600.0, 1200.0) == 600.0  # clipped to the file's end
    assert spectrogram_offset(0.0, 3600.0, 1200.0) == 0.0  # clipped to its start
    assert spectrogram_offset(13.0, 100.0, 700.0) % schema.SPEC_ROW_S == 0


def test_plan_windows_one_block_per_eeg_in_first_seen_order():
    test = pd.DataFrame({"spectrogram_id": [5, 5, 5, 9], "eeg_id": [2, 2, 1, 3],
                         "patient_id": [7, 7, 7, 8]})  # fmt: skip
    plan = plan_windows(test, {2: 80.0, 1: 50.0}, {5: 700.0, 9: 600.0}, 10.0, 32)
    assert plan["eeg_id"].tolist() == [2, 2, 2, 2, 1, 3]
    assert plan.loc[plan.eeg_id == 2, "eeg_label_offset_seconds"].tolist() == [0, 10, 20, 30]
    assert plan.loc[plan.eeg_id == 2, "window"].tolist() == [0, 1, 2, 3]
    assert (plan["spectrogram_id"] == [5, 5, 5, 5, 5, 9]).all()
    # eeg 3's file is unreadable (no length): one window at 0, handled as a bad test row
    assert plan.loc[plan.eeg_id == 3, "eeg_label_offset_seconds"].tolist() == [0.0]


def test_detect_layout():
    kaggle = pd.DataFrame({"spectrogram_id": [1, 2], "eeg_id": [3, 4], "patient_id": [5, 6]})
    assert detect_layout(kaggle, {3: 50.0, 4: 50.0}).name == "kaggle"
    assert detect_layout(kaggle, {3: 50.0, 4: 120.0}).name == "mlebench"
    repeated = pd.concat([kaggle, kaggle.iloc[:1]])
    layout = detect_layout(repeated, {3: 50.0, 4: 50.0})
    assert layout.name == "mlebench" and "1 repeated" in layout.reason
    with_offsets = repeated.assign(eeg_label_offset_seconds=0.0)
    assert detect_layout(with_offsets, {3: 120.0}).name == "kaggle"


def test_aggregate_windows_logit_and_prob():
    p = np.array([[0.8, 0.2, 0, 0, 0, 0], [0.2, 0.8, 0, 0, 0, 0], [0.5, 0.5, 0, 0, 0, 0],
                  [0.1, 0.9, 0, 0, 0, 0]]) + 1e-9  # fmt: skip
    p = p / p.sum(1, keepdims=True)
    ids = np.array([7, 7, 3, 9])
    ok = np.array([True, True, True, False])
    got_ids, prob, n = aggregate_windows(ids, p, ok, "prob")
    assert got_ids.tolist() == [7, 3, 9] and n.tolist() == [2, 1, 0]
    np.testing.assert_allclose(prob[0, :2], [0.5, 0.5], atol=1e-6)
    assert np.isnan(prob[2]).all()  # no window predicted: the caller gives it the prior
    _, logit, _ = aggregate_windows(ids, p, ok, "logit")
    geo = np.sqrt(p[0] * p[1])
    np.testing.assert_allclose(logit[0], geo / geo.sum(), rtol=1e-6)
    np.testing.assert_allclose(logit[:2].sum(1), 1.0)
    with pytest.raises(ValueError, match="average"):
        aggregate_windows(ids, p, ok, "median")


def test_predict_config_keys_are_checked():
    cfg = load_config(None, ["predict.max_windows=4", "predict.average=prob"])
    assert cfg.predict.max_windows == 4 and cfg.predict.average == "prob"
    with pytest.raises(ValueError, match="predict.average"):
        load_config(None, ["predict.average=median"])
    with pytest.raises(ValueError, match="stride_s"):
        load_config(None, ["predict.stride_s=0"])


@pytest.fixture(scope="module")
def mlebench_run(shared, mlebench_run) -> tuple[Path, Path]:
    """The session's competition split the MLE-bench way (its test EEGs run 50 to 64 s) and
    the baseline trained on it (conftest.mlebench_run)."""
    return shared.split, mlebench_run.path


def test_windowed_submission_has_one_prediction_per_eeg_on_every_row(mlebench_run, kit_log):
    from hms_kit.predict import predict_test

    split, run = mlebench_run
    comp = Competition(split / "public")
    assert comp.test_layout().name == "mlebench"
    sub, report = predict_test(comp, [run], windows=PredictConfig(stride_s=10.0))
    sample = pd.read_csv(split / "public" / "sample_submission.csv")
    assert sub["eeg_id"].tolist() == sample["eeg_id"].tolist()
    assert sub.groupby("eeg_id")[COLS].nunique().max().max() == 1
    assert not report["fallback_rows"]
    assert any("windowed prediction" in line for line in kit_log)
    answers = pd.read_csv(split / "private" / "answers.csv")
    assert np.isfinite(grade_mlebench(sub, answers))
    # offset 0 only (max_windows 0) is today's prediction and differs on the long EEGs
    sub0, _ = predict_test(comp, [run], windows=PredictConfig(max_windows=0))
    lengths = comp.eeg_seconds(answers["eeg_id"].unique())
    long_ids = [e for e, s in lengths.items() if s >= schema.EEG_WINDOW_S + 10]
    assert long_ids
    a = sub.set_index("eeg_id").loc[long_ids, COLS].groupby(level=0).first()
    b = sub0.set_index("eeg_id").loc[long_ids, COLS].groupby(level=0).first()
    assert not np.allclose(a.to_numpy(), b.to_numpy())


def test_kaggle_layout_predicts_as_before(mlebench_run, shared_comp):
    """A Kaggle-layout test set (one 50-s file per eeg_id) is predicted at offset 0 whatever
    the window settings."""
    from hms_kit.predict import predict_test

    _, run = mlebench_run
    comp = shared_comp
    assert comp.test_layout().name == "kaggle"
    a, _ = predict_test(comp, [run], windows=PredictConfig(max_windows=8))
    b, _ = predict_test(comp, [run], windows=PredictConfig(max_windows=0))
    pd.testing.assert_frame_equal(a, b)
