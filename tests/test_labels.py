"""Label tables: targets, validation errors, the three row modes, the high-vote mask."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hms_kit import schema
from hms_kit.data import DataError, high_vote_mask, read_train_csv, select_rows, vote_targets
from hms_kit.data.labels import (
    absent_classes,
    read_train_subset,
    subset_rows,
    total_votes,
    validate_train,
)


def _row(eeg_id, off, votes, patient=1, spec=10, sub=0):
    return {
        "eeg_id": eeg_id, "eeg_sub_id": sub, "eeg_label_offset_seconds": float(off),
        "spectrogram_id": spec, "spectrogram_sub_id": sub,
        "spectrogram_label_offset_seconds": float(off), "label_id": 1000 + sub,
        "patient_id": patient,
        "expert_consensus": schema.CLASSES[int(np.argmax(votes))],
        **dict(zip(schema.VOTE_COLUMNS, votes)),
    }  # fmt: skip


@pytest.fixture
def table() -> pd.DataFrame:
    rows = [
        _row(1, 0, [3, 0, 0, 0, 0, 0], sub=0),
        _row(1, 10, [3, 0, 0, 0, 0, 0], sub=1),
        _row(1, 20, [3, 0, 0, 0, 0, 0], sub=2),
        _row(1, 40, [0, 1, 2, 0, 0, 0], sub=3),
        _row(2, 0, [0, 0, 0, 5, 5, 2], patient=2, spec=11),
    ]
    return validate_train(pd.DataFrame(rows))


def test_real_train_csv(real_dir):
    df = read_train_csv(real_dir / "train.csv")
    assert len(df) == 9 and list(df.columns) == list(schema.TRAIN_COLUMNS)
    assert df["label_id"].isna().sum() == 7  # blank in the real file, kept as missing
    t = vote_targets(df)
    assert t.dtype == np.float32 and np.allclose(t[:, 0], 1.0)
    assert not high_vote_mask(df).any()  # 3 votes each
    per_eeg = select_rows(df, "per_eeg")
    assert per_eeg["seizure_vote"].tolist() == [27]
    # 9 windows of the same 3 experts: 3 votes, not a >= 10-vote row
    assert total_votes(per_eeg).tolist() == [3.0] and not high_vote_mask(per_eeg).any()
    assert len(select_rows(df, "dedup")) == 1


def test_targets_and_mask(table):
    t = vote_targets(table)
    np.testing.assert_allclose(t.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(t[3], [0, 1 / 3, 2 / 3, 0, 0, 0], rtol=1e-6)
    assert high_vote_mask(table).tolist() == [False, False, False, False, True]
    assert high_vote_mask(table, threshold=3).tolist() == [True, True, True, True, True]


def test_row_modes(table):
    assert len(select_rows(table, "all")) == 5
    per_eeg = select_rows(table, "per_eeg")
    assert per_eeg["eeg_id"].tolist() == [1, 2]
    assert per_eeg.loc[0, list(schema.VOTE_COLUMNS)].tolist() == [9, 1, 2, 0, 0, 0]
    assert per_eeg.loc[0, "eeg_label_offset_seconds"] == 0.0
    assert per_eeg.loc[1, "expert_consensus"] == "LRDA"  # first of the tied maxima
    dedup = select_rows(table, "dedup")
    assert len(dedup) == 3
    # of the three windows with one vote vector (0, 10, 20 s) the central one overlaps most
    first = dedup[(dedup.eeg_id == 1) & (dedup.seizure_vote == 3)]
    assert first["eeg_label_offset_seconds"].tolist() == [10.0]
    with pytest.raises(ValueError, match="row mode"):
        select_rows(table, "some")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.drop(columns=["lpd_vote"]), r"missing columns \['lpd_vote'\]"),
        (
            lambda d: d.assign(gpd_vote=["x", 0, 0, 0, 0]),
            "column gpd_vote row 0: 'x' is not a number",
        ),
        (
            lambda d: d.assign(**{c: 0 for c in schema.VOTE_COLUMNS}),
            "row 0 .*eeg_id 1.* zero votes",
        ),
        (lambda d: d.assign(seizure_vote=[-1, 3, 3, 0, 0]), "negative vote"),
        # "inf" is a number to pandas; its row's target would be NaN
        (
            lambda d: d.assign(lrda_vote=[0, 0, "inf", 0, 0]),
            "column lrda_vote row 2: 'inf' is not a number",
        ),
        # cut to an int, 1.5 would name EEG 1
        (
            lambda d: d.assign(eeg_id=[1, 1.5, 2, 2, 2]),
            "column eeg_id row 1: 1.5 is not a whole number",
        ),
        (lambda d: d.assign(expert_consensus="Spike"), r"unknown classes \['Spike'\]"),
    ],
)
def test_validation_errors(table, change, message):
    with pytest.raises(DataError, match=message):
        validate_train(change(table), "train.csv")


def test_unreadable_csv(tmp_path):
    p = tmp_path / "train.csv"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError, match="train.csv"):
        read_train_csv(p)
    with pytest.raises(DataError, match="nope.csv: file not found"):
        read_train_csv(tmp_path / "nope.csv")


def test_class_with_no_rows_is_accepted_and_named(table):
    without_seizure = table[table["seizure_vote"] == 0]
    out = validate_train(without_seizure.copy(), "train.csv")
    assert absent_classes(out) == ["Seizure"]
    assert absent_classes(table) == []


def test_repeated_rows_count_once_with_a_warning(table, kit_log):
    doubled = pd.concat([table, table.iloc[[3]]], ignore_index=True)
    out = validate_train(doubled, "train.csv")
    assert len(out) == len(table)
    assert (
        out[list(schema.VOTE_COLUMNS)].to_numpy().sum()
        == table[list(schema.VOTE_COLUMNS)].to_numpy().sum()
    )
    assert any("1 rows repeat an earlier row exactly (rows [5], eeg_id [1])" in m for m in kit_log)


def test_subset_rows_keep_train_order_and_votes(table, tmp_path):
    subset = table.iloc[[4, 1]].copy()
    subset["seizure_vote"] = 99  # the subset's own votes are not trusted: train.csv's are
    rows = subset_rows(table, subset, "balanced_train.csv")
    assert rows[["eeg_id", "eeg_sub_id"]].values.tolist() == [[1, 1], [2, 0]]
    assert rows["seizure_vote"].tolist() == [3, 0]
    path = tmp_path / "balanced_train.csv"
    subset.to_csv(path, index=False)
    assert read_train_subset(table, path).equals(rows)


def test_real_train_subset(real_dir, tmp_path):
    train = read_train_csv(real_dir / "train.csv")
    path = tmp_path / "subset.csv"
    train.iloc[[2, 5]].to_csv(path, index=False)
    rows = read_train_subset(train, path)
    assert rows["eeg_sub_id"].tolist() == train["eeg_sub_id"].iloc[[2, 5]].tolist()


@pytest.mark.parametrize(
    "frame, message",
    [
        (pd.DataFrame({"eeg_id": [1]}), "missing columns \\['eeg_sub_id'\\]"),
        (
            pd.DataFrame({"eeg_id": [1, 7], "eeg_sub_id": [0, 3]}),
            "1 rows are not in train.csv.*7/3",
        ),
        (pd.DataFrame({"eeg_id": ["x"], "eeg_sub_id": [0]}), "row 2: eeg_id/eeg_sub_id"),
    ],
)
def test_subset_errors_name_the_file(table, frame, message):
    with pytest.raises(DataError, match=f"sub.csv: {message}"):
        subset_rows(table, frame, "sub.csv")


def test_missing_subset_file_is_named(table, tmp_path):
    with pytest.raises(DataError, match="nope.csv: file not found"):
        read_train_subset(table, tmp_path / "nope.csv")
