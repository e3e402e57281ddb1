"""Readers for Kaggle's EEG and spectrogram parquet files, and window extraction.

NaN is expected in real files (a whole channel, runs of rows) and is kept as read: the
readers do not fill, the input builders decide how (see ``hms_kit.inputs``). A non-finite
value (+-inf, or a float64 beyond float32's range) is read as NaN too, so the one missing
value rule covers it: left as inf, one sample would turn every bipolar pair it touches (and,
through the montage matrix's zeros, all 16) into NaN.
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
    except (pa.ArrowException, OSError) as exc:  # ArrowException: also a codec or type not read
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
        # no zero_copy_only=False: pyarrow 12 has no such keyword, and from 13 on False is
        # its default (a ChunkedArray copies when it must)
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is handled just below
            out[:, j] = col.to_numpy()
    # float64 beyond float32's range became inf in the cast above; both are NaN from here on
    out[np.isinf(out)] = np.nan
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
    """A spectrogram parquet (``time`` int16 or int64 + 400 float columns). NaNs are kept.

    Windows are sliced by row number (``spec_window``: row = offset // 2), which is right
    only when row i is centred at ``1 + 2 i`` s; ``check_spec_time`` enforces that.
    """
    path = Path(path)
    table = _read_table(path)
    _check_columns(path, table.column_names, (schema.SPEC_TIME_COLUMN, *schema.SPEC_COLUMNS))
    values = _columns_as_float32(table, schema.SPEC_COLUMNS, path)
    col = table.column(schema.SPEC_TIME_COLUMN)
    if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
        raise DataError(f"{path}: column time has type {col.type}, expected a number")
    if col.null_count:
        raise DataError(f"{path}: column time has {col.null_count} empty values")
    time = col.to_numpy().astype(np.float64)
    check_spec_time(time, path)
    return Spectrogram(values=values, time=time.astype(np.int64), path=path)


def check_spec_time(time: np.ndarray, path: str | Path = "<spectrogram>") -> None:
    """DataError unless ``time`` is 1, 3, 5, ... s (one row every ``SPEC_ROW_S`` from the
    first row's centre): a gap, a missing first row or a repeated row would shift every later
    window by whole rows with nothing else to show it. Names the file and the first bad row."""
    expected = schema.SPEC_ROW_S // 2 + schema.SPEC_ROW_S * np.arange(len(time), dtype=np.float64)
    bad = np.flatnonzero(np.asarray(time, dtype=np.float64) != expected)
    if len(bad):
        i = int(bad[0])
        raise DataError(
            f"{path}: column time row {i} is {time[i]:g} s, expected {expected[i]:g} s "
            f"(rows every {schema.SPEC_ROW_S} s from {expected[0]:g} s; a gap, a missing or "
            "repeated row would shift every later window)"
        )


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


def eeg_window_context(
    eeg: np.ndarray, offset_s: float, context_s: float, path: str | Path = "<eeg>"
) -> np.ndarray:
    """The 50-s window at ``offset_s`` with ``context_s`` seconds of the recording on each
    side: ``(10000 + 2 * context samples, 20)``. Where the recording ends before the context
    does (a window at the file's start or end; every test file is one window long), the
    missing part is the recording mirrored at its end (reflection), so the signal stays
    continuous. DataError, as ``eeg_window``, when the 50-s window itself is not in the file.
    """
    eeg_window(eeg, offset_s, path)  # the window itself must be there
    pad = int(round(float(context_s) * schema.EEG_RATE_HZ))
    start = eeg_window_start(offset_s) - pad
    stop = start + schema.EEG_WINDOW_SAMPLES + 2 * pad
    lo, hi = max(start, 0), min(stop, eeg.shape[0])
    seg = np.asarray(eeg[lo:hi])
    before, after = lo - start, stop - hi
    while before or after:  # reflection reaches at most the segment's length at a time
        b, a = min(before, len(seg) - 1), min(after, len(seg) - 1)
        seg = np.pad(seg, ((b, a), (0, 0)), mode="reflect")
        before, after = before - b, after - a
    return seg


_BIPOLAR = [
    (schema.CHANNEL_INDEX[a], schema.CHANNEL_INDEX[b])
    for chain in schema.CHAINS.values()
    for a, b in zip(chain[:-1], chain[1:])
]


# a window whose best pair has less than this recorded is predicted from zeros in all but
# a sliver of it: the prior is the safer answer
MIN_PAIR_SAMPLES = schema.EEG_RATE_HZ  # 1 s


def eeg_window_problem(window: np.ndarray) -> str | None:
    """Why a ``(samples, 20)`` EEG window cannot be predicted from, or None when it can.

    Every EEG input is built from the bipolar pairs (``schema.CHAINS``) with NaN read as 0:
    a window where no pair has ``MIN_PAIR_SAMPLES`` (1 s) of samples with both electrodes
    recorded would be predicted from zeros almost alone, confidently and wrongly, so it
    counts as a failed window.
    """
    finite = np.isfinite(np.asarray(window))
    if not finite.any():
        return "every sample is NaN"
    best = max(int((finite[:, a] & finite[:, b]).sum()) for a, b in _BIPOLAR)
    if best < MIN_PAIR_SAMPLES:
        return (
            f"no bipolar pair has {MIN_PAIR_SAMPLES / schema.EEG_RATE_HZ:g} s "
            f"({MIN_PAIR_SAMPLES} samples) with both electrodes recorded (the most: {best})"
        )
    return None


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
