"""Readers on the real Kaggle files and on broken copies of them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hms_kit import schema
from hms_kit.data import Competition, DataError, eeg_window, nan_summary, spec_window
from hms_kit.data.readers import read_eeg, read_spectrogram

TRAIN_EEG = 1628180742
TRAIN_SPEC = 353733
TEST_EEG = 3911565283
TEST_SPEC = 853520


def test_real_train_eeg(real_dir):
    comp = Competition.locate(real_dir)
    eeg = comp.read_eeg(TRAIN_EEG)
    assert eeg.shape == (18000, 20) and eeg.dtype == np.float32
    raw = pd.read_parquet(comp.eeg_path(TRAIN_EEG))
    np.testing.assert_array_equal(eeg[:, schema.CHANNEL_INDEX["Cz"]], raw["Cz"].to_numpy())
    np.testing.assert_array_equal(eeg[:, -1], raw["EKG"].to_numpy())


def test_real_test_files(real_dir):
    comp = Competition.locate(real_dir)
    assert comp.read_eeg(TEST_EEG, "test").shape == (schema.EEG_WINDOW_SAMPLES, 20)
    spec = comp.read_spectrogram(TEST_SPEC, "test")
    assert spec.values.shape == (schema.SPEC_WINDOW_ROWS, 400)
    # the test file stores time as int16; the reader widens it
    assert pq.read_schema(comp.spectrogram_path(TEST_SPEC, "test")).field("time").type == pa.int16()
    assert spec.time.dtype == np.int64 and spec.time[0] == 1 and spec.time[-1] == 599
    test = comp.read_test()
    assert test.loc[0, "eeg_id"] == TEST_EEG and test["eeg_id"].dtype == np.int64


def test_real_spectrogram_columns_and_time(real_dir):
    spec = Competition.locate(real_dir).read_spectrogram(TRAIN_SPEC)
    assert spec.values.shape == (320, 400) and spec.values.dtype == np.float32
    assert list(pq.read_schema(spec.path).names[1:]) == list(schema.SPEC_COLUMNS)
    assert spec.time[:3].tolist() == [1, 3, 5]
    assert schema.SPEC_FREQS_HZ[0] == 0.59 and schema.SPEC_FREQS_HZ[-1] == 19.92


def test_windows_at_real_label_offsets(real_dir):
    comp = Competition.locate(real_dir)
    train = comp.read_train()
    eeg = comp.read_eeg(TRAIN_EEG)
    spec = comp.read_spectrogram(TRAIN_SPEC)
    for _, row in train.iterrows():
        w = eeg_window(eeg, row.eeg_label_offset_seconds)
        assert w.shape == (10_000, 20)
        start = int(row.eeg_label_offset_seconds * 200)
        np.testing.assert_array_equal(w[0], eeg[start])
        s = spec_window(spec, row.spectrogram_label_offset_seconds)
        assert s.shape == (300, 400)
        np.testing.assert_array_equal(
            s[0], spec.values[int(row.spectrogram_label_offset_seconds // 2)]
        )


def test_window_past_end_names_file_and_offset(real_dir):
    comp = Competition.locate(real_dir)
    eeg = comp.read_eeg(TRAIN_EEG)
    with pytest.raises(DataError, match=r"offset 41 s .* has 18000"):
        eeg_window(eeg, 41.0, "x.parquet")
    spec = comp.read_spectrogram(TRAIN_SPEC)
    with pytest.raises(DataError, match=r"353733.parquet: spectrogram window at offset 42 s"):
        spec_window(spec, 42.0)


def test_reader_errors_name_the_file(tmp_path, real_dir):
    with pytest.raises(DataError, match="missing.parquet: file not found"):
        read_eeg(tmp_path / "missing.parquet")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not a parquet file at all")
    with pytest.raises(DataError, match="bad.parquet: not a readable parquet"):
        read_eeg(bad)
    truncated = tmp_path / "trunc.parquet"
    truncated.write_bytes((real_dir / "train_eegs" / f"{TRAIN_EEG}.parquet").read_bytes()[:5000])
    with pytest.raises(DataError, match="trunc.parquet"):
        read_eeg(truncated)


def test_column_problems(tmp_path, real_dir):
    df = pd.read_parquet(real_dir / "train_eegs" / f"{TRAIN_EEG}.parquet")
    renamed = tmp_path / "renamed.parquet"
    df.rename(columns={"Fz": "FZ"}).to_parquet(renamed)
    with pytest.raises(DataError, match=r"missing columns \['Fz'\].*unexpected columns \['FZ'\]"):
        read_eeg(renamed)
    extra = tmp_path / "extra.parquet"
    df.assign(X1=0.0).to_parquet(extra)
    with pytest.raises(DataError, match=r"unexpected columns \['X1'\]"):
        read_eeg(extra)
    # shuffled order and float64 are fine: canonical order, float32 out
    shuffled = tmp_path / "shuffled.parquet"
    df[list(reversed(df.columns))].astype("float64").to_parquet(shuffled)
    out = read_eeg(shuffled)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, df.to_numpy(np.float32))


def test_nans_are_kept_and_reported(tmp_path, real_dir):
    df = pd.read_parquet(real_dir / "train_eegs" / f"{TRAIN_EEG}.parquet")
    df["O2"] = np.nan
    df.iloc[100:300, :] = np.nan
    path = tmp_path / "nan.parquet"
    df.to_parquet(path)
    eeg = read_eeg(path)
    assert np.isnan(eeg[:, schema.CHANNEL_INDEX["O2"]]).all()
    info = nan_summary(eeg)
    assert info["all_nan_columns"] == [schema.CHANNEL_INDEX["O2"]]
    assert info["rows_with_nan"] == 1.0
    spec = read_spectrogram(real_dir / "train_spectrograms" / f"{TRAIN_SPEC}.parquet")
    assert nan_summary(spec.values)["fraction"] == 0.0


def test_competition_locate(monkeypatch, real_dir, tmp_path):
    monkeypatch.setenv("HMS_DATA_DIR", str(real_dir))
    assert Competition.locate().root == real_dir
    monkeypatch.delenv("HMS_DATA_DIR")
    monkeypatch.setenv("HMS_KAGGLE_ROOT", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="HMS_DATA_DIR"):
        Competition.locate()
    # an empty folder under the slug is not the competition; one holding its files is
    empty = tmp_path / "input" / schema.COMPETITION_SLUG
    empty.mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="train.csv and test_eegs"):
        Competition.locate()
    mounted = tmp_path / "input" / "competitions" / schema.COMPETITION_SLUG
    (mounted / "test_eegs").mkdir(parents=True)
    (mounted / "train.csv").write_text("eeg_id\n")
    assert Competition.locate().root == mounted


def test_eeg_shorter_than_its_window_names_the_file(tmp_path, real_dir):
    df = pd.read_parquet(real_dir / "train_eegs" / f"{TRAIN_EEG}.parquet")
    short = tmp_path / "short.parquet"
    df.iloc[:6000].to_parquet(short)  # 30 s of a 50-s window
    eeg = read_eeg(short)
    with pytest.raises(DataError, match=r"short.parquet.*offset 0 s .* has 6000"):
        eeg_window(eeg, 0.0, short)


def test_a_window_needs_a_second_of_one_recorded_pair(real_dir):
    from hms_kit.data.readers import eeg_window_problem

    eeg = read_eeg(real_dir / "train_eegs" / f"{TRAIN_EEG}.parquet")
    win = np.array(eeg_window(eeg, 0.0), dtype=np.float32)
    assert eeg_window_problem(win) is None  # the real window, as recorded
    a, b = (schema.CHANNEL_INDEX[c] for c in schema.CHAINS["LL"][:2])  # one pair: Fp1-F7
    sliver = np.full_like(win, np.nan)
    sliver[:199, [a, b]] = win[:199, [a, b]]
    sliver[199:, a] = win[199:, a]  # the rest of Fp1 alone makes no pair
    assert eeg_window_problem(sliver) == (
        "no bipolar pair has 1 s (200 samples) with both electrodes recorded (the most: 199)"
    )
    sliver[199, b] = win[199, b]
    assert eeg_window_problem(sliver) is None
    assert eeg_window_problem(np.full_like(win, np.nan)) == "every sample is NaN"


@pytest.mark.parametrize("value", [np.inf, -np.inf, 1e39])
def test_non_finite_samples_are_read_as_nan(tmp_path, real_dir, value):
    """+-inf (and float64 beyond float32's range, inf after the cast) becomes NaN, the one
    missing-value rule the input builders fill; left as inf it poisoned all 16 pairs."""
    df = pd.read_parquet(real_dir / "test_eegs" / f"{TEST_EEG}.parquet").astype("float64")
    df.loc[1234, "EKG"] = value
    path = tmp_path / "inf.parquet"
    df.to_parquet(path)
    eeg = read_eeg(path)
    assert np.isnan(eeg[1234, -1]) and np.isfinite(np.delete(eeg, 1234, axis=0)).all()


def _spec_with_time(real_dir, tmp_path, time):
    df = pd.read_parquet(real_dir / "train_spectrograms" / f"{TRAIN_SPEC}.parquet")
    df = df.iloc[: len(time)].copy()
    df["time"] = np.asarray(time, dtype=np.int64)
    path = tmp_path / "spec.parquet"
    df.to_parquet(path)
    return path


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("gap", lambda t: np.concatenate([t[:10], t[11:]]), r"row 10 is 23 s, expected 21 s"),
        ("missing first row", lambda t: t[1:], r"row 0 is 3 s, expected 1 s"),
        ("repeated row", lambda t: np.concatenate([t[:5], t[4:]]), r"row 5 is 9 s, expected 11 s"),
    ],
)
def test_spectrogram_time_cadence_is_checked(tmp_path, real_dir, name, change, message):
    """Windows are sliced by row number: a gap, a missing first row or a repeated row would
    shift every later window by 2 s, so the reader stops naming the file and the row."""
    time = change(np.arange(1, 2 * 300, 2))
    path = _spec_with_time(real_dir, tmp_path, time)
    with pytest.raises(DataError, match=rf"spec.parquet: column time {message}"):
        read_spectrogram(path)


def test_a_time_column_of_text_is_named(tmp_path, real_dir):
    """A ``time`` column written as text is an error naming the file and the column, not a
    bare conversion error from inside numpy (a cache build stops only on DataError)."""
    df = pd.read_parquet(real_dir / "train_spectrograms" / f"{TRAIN_SPEC}.parquet").iloc[:20]
    df = df.assign(time=[str(t) for t in df["time"]])
    path = tmp_path / "text_time.parquet"
    df.to_parquet(path)
    with pytest.raises(
        DataError, match=r"text_time.parquet: column time has type \w*string, expected a number"
    ):
        read_spectrogram(path)


@pytest.mark.parametrize("bad", ["3911565283.5", "abc"])
def test_an_id_that_is_not_an_integer_is_named(real_dir, tmp_path, bad):
    """test.csv's real bytes with one eeg_id damaged: a fraction was truncated to another
    recording's id (3911565283), a word refused; now both name the file, column and row."""
    text = (real_dir / "test.csv").read_text()
    assert str(TEST_EEG) in text
    (tmp_path / "test.csv").write_text(text.replace(str(TEST_EEG), bad, 1))
    with pytest.raises(DataError, match=rf"test.csv: column eeg_id row 0: '{bad}' is not an id"):
        Competition(tmp_path).read_test()
