"""Readers for Kaggle's EEG and spectrogram parquet files, and window extraction.

NaN is expected in real files (a whole channel, runs of rows) and is kept as read: the
readers do not fill, the input builders decide how (see ``hms_kit.inputs``).
``nan_summary`` says where the NaNs are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hms_kit import schema


class DataError(ValueError):
    """A competition file that cannot be used as it is; the message names the file."""


def _read_table(path: Path) -> pa.Table:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: not a readable parquet file ({exc})") from None


def _check_columns(path: Path, found: list[str], expected: tuple[str, ...]) -> None:
    missing = [c for c in expected if c not in found]
    extra = [c for c in found if c not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing columns {missing[:6]}{' ...' if len(missing) > 6 else ''}")
        if extra:
            parts.append(f"unexpected columns {extra[:6]}{' ...' if len(extra) > 6 else ''}")
        raise DataError(f"{path}: {'; '.join(parts)}")


def _columns_as_float32(table: pa.Table, names: tuple[str, ...], path: Path) -> np.ndarray:
    out = np.empty((table.num_rows, len(names)), dtype=np.float32)
    for j, name in enumerate(names):
        col = table.column(name)
        if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
            raise DataError(f"{path}: column {name} has type {col.type}, expected a number")
        # a ChunkedArray copies when it must; no zero_copy_only=False (pyarrow 12 has no such
        # keyword, and from 13 on False is its default)
        out[:, j] = col.to_numpy()
    return out


def read_eeg(path: str | Path) -> np.ndarray:
    """An EEG parquet as ``(samples, 20) float32`` in ``schema.EEG_CHANNELS`` order, 200 Hz.

    Columns may come in any order and as float64; names must be exactly the 20 of the
    schema. NaNs are kept.
    """
    path = Path(path)
    table = _read_table(path)
    _check_columns(path, table.column_names, schema.EEG_CHANNELS)
    return _columns_as_float32(table, schema.EEG_CHANNELS, path)


@dataclass
class Spectrogram:
    """A Kaggle spectrogram file.

    values: ``(rows, 400) float32`` power, columns in ``schema.SPEC_COLUMNS`` order
    (LL, RL, LP, RP x 100 frequencies 0.59..19.92 Hz); time: ``(rows,) int64`` seconds at
    each row's centre (1, 3, 5, ...: one row per 2 s).
    """

    values: np.ndarray
    time: np.ndarray
    path: Path

    @property
    def columns(self) -> tuple[str, ...]:
        return schema.SPEC_COLUMNS


def read_spectrogram(path: str | Path) -> Spectrogram:
    """A spectrogram parquet (``time`` int16 or int64 + 400 float columns). NaNs are kept."""
    path = Path(path)
    table = _read_table(path)
    _check_columns(path, table.column_names, (schema.SPEC_TIME_COLUMN, *schema.SPEC_COLUMNS))
    values = _columns_as_float32(table, schema.SPEC_COLUMNS, path)
    time = table.column(schema.SPEC_TIME_COLUMN).to_numpy().astype(np.int64)
    return Spectrogram(values=values, time=time, path=path)


def eeg_window_start(offset_s: float) -> int:
    """First sample of the EEG window that starts at ``offset_s`` seconds."""
    return int(round(float(offset_s) * schema.EEG_RATE_HZ))


def spec_window_start(offset_s: float) -> int:
    """First row of the spectrogram window that starts at ``offset_s`` seconds (2 s a row)."""
    return int(float(offset_s) // schema.SPEC_ROW_S)


def eeg_window(eeg: np.ndarray, offset_s: float, path: str | Path = "<eeg>") -> np.ndarray:
    """The 50-s window ``(10000, 20)`` starting at ``offset_s``; DataError if it runs past the end."""
    if not np.isfinite(offset_s) or offset_s < 0:
        raise DataError(f"{path}: EEG offset {offset_s!r} s is not a non-negative number")
    start = eeg_window_start(offset_s)
    stop = start + schema.EEG_WINDOW_SAMPLES
    if stop > eeg.shape[0]:
        raise DataError(
            f"{path}: EEG window at offset {offset_s:g} s needs samples {start}..{stop} "
            f"but the file has {eeg.shape[0]} ({eeg.shape[0] / schema.EEG_RATE_HZ:g} s)"
        )
    return eeg[start:stop]


def spec_window(spec: Spectrogram, offset_s: float) -> np.ndarray:
    """The 600-s window ``(300, 400)`` starting at ``offset_s``; DataError if past the end."""
    if not np.isfinite(offset_s) or offset_s < 0:
        raise DataError(
            f"{spec.path}: spectrogram offset {offset_s!r} s is not a non-negative number"
        )
    start = spec_window_start(offset_s)
    stop = start + schema.SPEC_WINDOW_ROWS
    n = spec.values.shape[0]
    if stop > n:
        raise DataError(
            f"{spec.path}: spectrogram window at offset {offset_s:g} s needs rows {start}..{stop} "
            f"but the file has {n} rows ({n * schema.SPEC_ROW_S} s)"
        )
    return spec.values[start:stop]


def nan_summary(x: np.ndarray) -> dict[str, float | list[int]]:
    """Where the NaNs of a ``(samples, channels)`` array are.

    Returns ``fraction`` (of all values), ``all_nan_columns`` (indices) and
    ``rows_with_nan`` (fraction of rows with at least one NaN).
    """
    mask = np.isnan(x)
    return {
        "fraction": float(mask.mean()) if mask.size else 0.0,
        "all_nan_columns": [int(i) for i in np.flatnonzero(mask.all(axis=0))] if mask.size else [],
        "rows_with_nan": float(mask.any(axis=1).mean()) if mask.size else 0.0,
    }
