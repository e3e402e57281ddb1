"""One object for a competition folder in Kaggle's layout."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hms_kit import paths, schema
from hms_kit.data.labels import read_csv_file, read_train_csv, read_train_subset
from hms_kit.data.layout import Layout, detect_layout
from hms_kit.data.readers import DataError, Spectrogram, read_eeg, read_spectrogram

SPLITS = ("train", "test")


@dataclass(frozen=True)
class Competition:
    """A competition directory: train.csv, test.csv, sample_submission.csv and the
    ``{train,test}_{eegs,spectrograms}/<id>.parquet`` folders.

    ``Competition.locate()`` takes a path, ``$HMS_DATA_DIR`` or Kaggle's input folder.
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def locate(cls, path: str | Path | None = None) -> Competition:
        root = paths.find_competition_dir(path)
        if not root.is_dir():
            raise DataError(f"{root}: competition folder not found")
        return cls(Path(root))

    @property
    def train_csv(self) -> Path:
        return self.root / "train.csv"

    @property
    def test_csv(self) -> Path:
        return self.root / "test.csv"

    @property
    def sample_submission_csv(self) -> Path:
        return self.root / "sample_submission.csv"

    def eeg_path(self, eeg_id: int, split: str = "train") -> Path:
        """Path of ``<split>_eegs/<eeg_id>.parquet``."""
        _check_split(split)
        return self.root / f"{split}_eegs" / f"{int(eeg_id)}.parquet"

    def spectrogram_path(self, spectrogram_id: int, split: str = "train") -> Path:
        """Path of ``<split>_spectrograms/<spectrogram_id>.parquet``."""
        _check_split(split)
        return self.root / f"{split}_spectrograms" / f"{int(spectrogram_id)}.parquet"

    def read_train(self, subset: str | Path | None = None) -> pd.DataFrame:
        """train.csv, validated (see ``labels.validate_train``); with ``subset`` (a CSV of
        some of its rows, ``data.train_csv``), only the rows it lists."""
        train = read_train_csv(self.train_csv)
        return read_train_subset(train, subset) if subset else train

    def read_test(self) -> pd.DataFrame:
        """test.csv (spectrogram_id, eeg_id, patient_id), ids as int64."""
        return _read_id_csv(self.test_csv, schema.TEST_COLUMNS)

    def read_sample_submission(self) -> pd.DataFrame:
        """sample_submission.csv (eeg_id + the six vote columns)."""
        return _read_id_csv(self.sample_submission_csv, schema.SUBMISSION_COLUMNS)

    def read_eeg(self, eeg_id: int, split: str = "train") -> np.ndarray:
        """The EEG ``(samples, 20) float32`` (see ``readers.read_eeg``)."""
        return read_eeg(self.eeg_path(eeg_id, split))

    def read_spectrogram(self, spectrogram_id: int, split: str = "train") -> Spectrogram:
        """The Kaggle spectrogram (see ``readers.read_spectrogram``)."""
        return read_spectrogram(self.spectrogram_path(spectrogram_id, split))

    def eeg_seconds(self, eeg_ids: Iterable[int], split: str = "test") -> dict[int, float]:
        """Length in seconds of each EEG file (its parquet row count / 200 Hz, read from the
        file's footer only); a missing or unreadable file is left out."""
        rows = _parquet_rows({int(e): self.eeg_path(e, split) for e in eeg_ids})
        return {k: n / schema.EEG_RATE_HZ for k, n in rows.items()}

    def spectrogram_seconds(
        self, spectrogram_ids: Iterable[int], split: str = "test"
    ) -> dict[int, float]:
        """Length in seconds of each spectrogram file (rows x 2 s), like ``eeg_seconds``."""
        rows = _parquet_rows({int(s): self.spectrogram_path(s, split) for s in spectrogram_ids})
        return {k: float(n * schema.SPEC_ROW_S) for k, n in rows.items()}

    def test_layout(self, test: pd.DataFrame | None = None) -> Layout:
        """Kaggle's test layout or MLE-bench's (``hms_kit.data.layout.detect_layout``: test.csv
        repeats eeg_ids or its EEGs are longer than one window), logged."""
        from hms_kit.runlog import logger

        test = self.read_test() if test is None else test
        layout = detect_layout(test, self.eeg_seconds(pd.unique(test["eeg_id"]), "test"))
        logger().info("%s: %s layout (%s)", self.root, layout.name, layout.reason)
        return layout


def _parquet_rows(paths: dict[int, Path]) -> dict[int, int]:
    out = {}
    for key, path in paths.items():
        try:
            out[key] = pq.ParquetFile(path).metadata.num_rows
        except (OSError, pa.ArrowInvalid):
            continue  # the reader names the file when the window is read
    return out


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def _read_id_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    df = read_csv_file(path)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing}")
    for col in columns:
        if col.endswith("_id"):
            num = pd.to_numeric(df[col], errors="coerce")
            # 12.5 would become id 12, another recording's: a fraction is no id either
            bad = num.isna().to_numpy() | (num.to_numpy() % 1 != 0)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise DataError(f"{path}: column {col} row {i}: '{df[col].iloc[i]}' is not an id")
            df[col] = num.astype("int64")
    return df
