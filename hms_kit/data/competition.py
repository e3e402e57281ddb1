"""One object for a competition folder in Kaggle's layout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hms_kit import paths, schema
from hms_kit.data.labels import read_train_csv, read_train_subset
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


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def _read_id_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing}")
    for col in columns:
        if col.endswith("_id"):
            num = pd.to_numeric(df[col], errors="coerce")
            if num.isna().any():
                i = int(np.flatnonzero(num.isna().to_numpy())[0])
                raise DataError(f"{path}: column {col} row {i}: {df[col].iloc[i]!r} is not an id")
            df[col] = num.astype("int64")
    return df
