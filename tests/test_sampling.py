"""Balanced sampling: counts, no duplicates, seeded, the errors and the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hms_kit import schema
from hms_kit.cli import main
from hms_kit.data import SamplingError, balanced_sample, class_table


def _table(n_per_class=(80, 60, 70, 55, 90, 100), windows_per_eeg=4, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows, eeg = [], 0
    for cls, n in zip(schema.CLASSES, n_per_class):
        for i in range(n):
            if i % windows_per_eeg == 0:
                eeg += 1
            votes = np.zeros(6, int)
            votes[schema.CLASSES.index(cls)] = rng.integers(1, 5)
            sub = i % windows_per_eeg
            rows.append({"eeg_id": eeg, "eeg_sub_id": sub, "eeg_label_offset_seconds": 2.0 * sub,
                         "spectrogram_id": eeg, "spectrogram_sub_id": sub,
                         "spectrogram_label_offset_seconds": 2.0 * sub, "label_id": len(rows),
                         "patient_id": eeg // 3, "expert_consensus": cls,
                         **dict(zip(schema.VOTE_COLUMNS, votes))})  # fmt: skip
    return pd.DataFrame(rows)


def test_counts_unique_seeded():
    df = _table()
    s = balanced_sample(df, per_class=50, seed=42)
    assert class_table(s).set_index("expert_consensus")["Count"].to_dict() == dict.fromkeys(
        schema.CLASSES, 50
    )
    assert not s.duplicated().any()
    assert s.equals(balanced_sample(df, per_class=50, seed=42))
    assert not s.equals(balanced_sample(df, per_class=50, seed=7))
    assert list(s.columns) == list(df.columns)


def test_class_table_largest_first():
    t = class_table(_table())
    assert list(t.columns) == ["expert_consensus", "Count"]
    assert t.iloc[0].tolist() == ["Other", 100] and t["Count"].min() == 55


def test_small_class_is_an_error_unless_allowed():
    df = _table(n_per_class=(80, 20, 70, 55, 90, 100))
    with pytest.raises(SamplingError, match="class LPD has 20 rows"):
        balanced_sample(df, per_class=50)
    s = balanced_sample(df, per_class=50, allow_smaller=True)
    assert (s.expert_consensus == "LPD").sum() == 20
    with pytest.raises(SamplingError, match="class GPD has no rows"):
        balanced_sample(df[df.expert_consensus != "GPD"], per_class=5)


def test_distinct_eegs():
    df = _table(windows_per_eeg=4)
    s = balanced_sample(df, per_class=10, distinct_eegs=True, seed=1)
    assert s["eeg_id"].is_unique and len(s) == 60
    with pytest.raises(SamplingError, match="distinct EEGs"):
        balanced_sample(df, per_class=20, distinct_eegs=True)  # LRDA: 55 rows, 14 EEGs


def test_a_sample_for_a_dedup_run_stays_balanced_when_it_trains(tmp_path):
    """Windows of one EEG with the same votes collapse into one under ``data.row_mode:
    dedup``: a plain sample loses its balance there, one drawn with ``row_mode="dedup"``
    (``sample --row-mode dedup``) keeps 10 rows a class, each the window dedup keeps."""
    from hms_kit.data.labels import rows_dedup

    df = _table(windows_per_eeg=4)
    plain = rows_dedup(balanced_sample(df, per_class=10, seed=1))
    assert plain[schema.CONSENSUS_COLUMN].value_counts().min() < 10
    drawn = balanced_sample(df, per_class=10, seed=1, row_mode="dedup")
    kept = rows_dedup(drawn)
    assert len(kept) == 60 and (kept[schema.CONSENSUS_COLUMN].value_counts() == 10).all()
    assert set(kept["label_id"]) <= set(rows_dedup(df)["label_id"])
    with pytest.raises(SamplingError, match="row mode"):
        balanced_sample(df, row_mode="per_eeg")
    train, out = tmp_path / "train.csv", tmp_path / "balanced_train.csv"
    df.to_csv(train, index=False)
    args = ["sample", "--train-csv", str(train), "--per-class", "10", "--out", str(out)]
    assert main([*args, "--row-mode", "dedup", "--seed", "1"]) == 0
    assert pd.read_csv(out)["label_id"].tolist() == drawn["label_id"].tolist()


def test_cli_writes_balanced_csv(tmp_path, capsys):
    train = tmp_path / "train.csv"
    df = _table()
    df.to_csv(train, index=False)
    out = tmp_path / "balanced_train.csv"
    assert main(["sample", "--train-csv", str(train), "--per-class", "50", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| expert_consensus | Count |" in text and "| Other | 100 |" in text
    assert "smallest class: LRDA with 55 rows" in text and "| Seizure | 50 |" in text
    written = pd.read_csv(out)
    assert list(written.columns) == list(df.columns) and len(written) == 300
    assert main(["sample", "--train-csv", str(train), "--per-class", "60", "--out", str(out)]) == 2
    assert "class LRDA has 55 rows" in capsys.readouterr().err
    assert len(pd.read_csv(out)) == 300  # the earlier file is untouched by the failed run
