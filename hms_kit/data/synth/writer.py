"""Draw the planned recordings and write the competition folder in Kaggle's exact format."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hms_kit import schema
from hms_kit.data.synth.labels import (
    PROFILES,
    RecordingPlan,
    default_n_test,
    plan_competition,
    public_test_tables,
    train_table,
)
from hms_kit.data.synth.signals import (
    add_mimics,
    add_nan_run,
    add_patterns,
    add_sporadic,
    background,
    draw_style,
    finish,
)
from hms_kit.data.synth.spectrogram import kaggle_spectrogram

# 3: the test set is high-vote only; 4: realistic difficulty (correlated background,
# ambiguous band powers, patient tendencies, smooth calibrated spectrograms; issue 10)
GENERATOR_VERSION = 4
SPEC_GAP_SHARE = 0.1  # recordings whose spectrogram has a 20-60 s NaN gap outside the EEGs
ANSWERS_DIR = "_synth"  # beside the competition files, never read by a kernel
FS = schema.EEG_RATE_HZ
SPLITS = ("train", "test")


def _write_parquet(table: pa.Table, path: Path) -> None:
    # Snappy like Kaggle's files; no dictionary encoding, which noisy floats never benefit
    # from and which made writing the slowest step.
    pq.write_table(table, path, compression="snappy", use_dictionary=False)


@dataclass
class SynthSummary:
    """What ``generate_competition`` wrote: the folder, its files and its counts."""

    root: Path
    files: int
    n_rows: int
    n_eegs: int
    n_spectrograms: int
    n_patients: int
    n_test: int
    seconds: float

    @property
    def answers_dir(self) -> Path:
        return self.root / ANSWERS_DIR

    def line(self) -> str:
        return (
            f"wrote {self.files} files to {self.root}: train.csv {self.n_rows} rows, "
            f"{self.n_eegs} EEGs, {self.n_spectrograms} spectrograms, {self.n_patients} patients; "
            f"{self.n_test} test EEGs; {self.seconds:.1f} s"
        )


def eeg_table(x: np.ndarray) -> pa.Table:
    """An EEG file's table: ``x`` ``(samples, 20)`` -> 20 float32 columns, schema order."""
    return pa.table(
        [pa.array(x[:, i], type=pa.float32()) for i in range(x.shape[1])],
        names=list(schema.EEG_CHANNELS),
    )


def spectrogram_table(values: np.ndarray, time_type: pa.DataType) -> pa.Table:
    """A spectrogram file's table: ``time`` (1, 3, 5, ... s; int64 in train, int16 in test)
    then the 400 float32 columns of ``values`` ``(rows, 400)`` named ``schema.SPEC_COLUMNS``."""
    times = np.arange(values.shape[0], dtype=np.int64) * schema.SPEC_ROW_S + schema.SPEC_ROW_S // 2
    arrays = [pa.array(times, type=time_type)]
    arrays += [pa.array(values[:, j], type=pa.float32()) for j in range(values.shape[1])]
    return pa.table(arrays, names=[schema.SPEC_TIME_COLUMN, *schema.SPEC_COLUMNS])


def draw_recording(rng: np.random.Generator, rec: RecordingPlan) -> np.ndarray:
    """The whole recording ``(length_s * 200, 20) float32`` microvolts on the 0.01 grid:
    background in the recording's style, each EEG's patterns over its share of the
    recording (split halfway between EEGs), sporadic discharges, pattern-like artefacts,
    then gains and DC offsets."""
    n = rec.length_s * FS
    main = schema.CLASSES[int(np.argmax(rec.eegs[0].probs))]
    style = draw_style(rng, main)
    x = background(rng, n, style)
    bounds = [0]
    for a, b in zip(rec.eegs[:-1], rec.eegs[1:]):
        bounds.append((a.start_s + a.length_s + b.start_s) * FS // 2)
    bounds.append(n)
    for eeg, start, stop in zip(rec.eegs, bounds[:-1], bounds[1:]):
        add_patterns(rng, x, start, stop, eeg.probs)
    add_sporadic(rng, x, style.discharges_per_min)
    if style.mimic_rate > 0:
        add_mimics(rng, x, style.mimic_rate)
    return finish(x, style)


def add_spectrogram_gap(rng: np.random.Generator, spec: np.ndarray, free_rows: int) -> None:
    """A 20-60 s gap of NaN rows with an all-zero row at each edge, inside the first
    ``free_rows`` rows (before any EEG of the recording), in place: the recording paused,
    as in a real spectrogram."""
    rows = int(rng.uniform(10, 30))
    if free_rows < rows + 4:
        return
    a = int(rng.integers(1, free_rows - rows - 2))
    spec[a] = 0
    spec[a + 1 : a + 1 + rows] = np.nan
    spec[a + 1 + rows] = 0


def _write_split(
    rng: np.random.Generator, recordings: list[RecordingPlan], root: Path, split: str
) -> int:
    # Called for train then test with one generator: the test signals depend on the train
    # ones, which is fine since both come from the same seed.
    """Draw and write every recording's spectrogram and EEG files; returns files written."""
    return sum(_write_recording(rng, rec, root, split) for rec in recordings)


def recording_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The signal generator of one recording (``profile="real"``): its own stream, so the
    files do not depend on which process draws them or in what order."""
    return np.random.default_rng(np.random.SeedSequence([seed, 2, SPLITS.index(split), index]))


def _write_chunk(task: tuple[int, str, list[tuple[int, RecordingPlan]], str]) -> int:
    """Worker: draw and write a chunk of ``(index, recording)``; returns files written."""
    seed, split, chunk, root = task
    return sum(
        _write_recording(recording_rng(seed, split, i), rec, Path(root), split) for i, rec in chunk
    )


def _write_split_parallel(
    seed: int, recordings: list[RecordingPlan], root: Path, split: str, workers: int
) -> int:
    """Every recording with its own stream (``recording_rng``), in ``workers`` processes
    (1: in this one); the bytes do not depend on ``workers``."""
    indexed = list(enumerate(recordings))
    if workers <= 1 or len(indexed) < 2:
        return _write_chunk((seed, split, indexed, str(root)))
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # longest first, dealt round-robin into many small chunks: the long tail (EEGs of up to
    # ~3,400 s) would otherwise leave one worker drawing alone at the end
    indexed.sort(key=lambda t: -t[1].length_s)
    n_chunks = min(len(indexed), workers * 8)
    chunks = [indexed[k::n_chunks] for k in range(n_chunks)]
    ctx = mp.get_context("spawn")  # no fork: the caller may hold threads (torch, pyarrow)
    with ProcessPoolExecutor(min(workers, n_chunks), mp_context=ctx) as pool:
        return sum(pool.map(_write_chunk, [(seed, split, c, str(root)) for c in chunks]))


def _write_recording(rng: np.random.Generator, rec: RecordingPlan, root: Path, split: str) -> int:
    """Draw one recording and write its spectrogram and EEG files; returns files written."""
    time_type = pa.int64() if split == "train" else pa.int16()
    x = draw_recording(rng, rec)
    for eeg in rec.eegs:
        if eeg.nan_run:  # a gap in the recording: NaN in the EEG and in the spectrogram
            a = eeg.start_s * FS
            add_nan_run(rng, x, a, a + eeg.length_s * FS)
    # stored with 2 decimals like the real files: small powers become 0
    spec = np.round(kaggle_spectrogram(x), 2)
    if split == "train" and rng.random() < SPEC_GAP_SHARE:
        add_spectrogram_gap(rng, spec, (rec.eegs[0].start_s - 6) // schema.SPEC_ROW_S)
    path = root / f"{split}_spectrograms" / f"{rec.spectrogram_id}.parquet"
    _write_parquet(spectrogram_table(spec, time_type), path)
    for eeg in rec.eegs:
        a = eeg.start_s * FS
        excerpt = x[a : a + eeg.length_s * FS]
        if eeg.nan_channel >= 0:  # an electrode off during this file only
            excerpt = excerpt.copy()
            excerpt[:, eeg.nan_channel] = np.nan
        _write_parquet(eeg_table(excerpt), root / f"{split}_eegs" / f"{eeg.eeg_id}.parquet")
    return 1 + len(rec.eegs)


def _prepare_target(out: Path, overwrite: bool) -> None:
    """Refuse to replace a folder that is neither empty nor an earlier synthetic competition."""
    if not out.exists():
        return
    if not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    ours = (out / ANSWERS_DIR / "synth.json").is_file()
    if any(out.iterdir()) and not (ours or overwrite):
        raise FileExistsError(
            f"{out} is not empty and is not a synthetic competition: choose another folder"
        )


def generate_competition(
    out_dir: str | Path,
    n_eegs: int = 300,
    seed: int = 42,
    n_test: int | None = None,
    overwrite: bool = False,
    profile: str = "demo",
    workers: int = 1,
) -> SynthSummary:
    """Write a synthetic competition in Kaggle's format at ``out_dir``.

    Writes train.csv, test.csv, sample_submission.csv, ``{train,test}_eegs/<eeg_id>.parquet``
    (20 float32 columns, microvolts at 200 Hz; test EEGs exactly 10000 rows) and
    ``{train,test}_spectrograms/<spectrogram_id>.parquet`` (``time`` int64 in train, int16 in
    test, + 400 float32 columns; test spectrograms exactly 300 rows), and in ``_synth/``:
    test_answers.csv (integer votes per test eeg_id), train_true_probs.csv and
    test_true_probs.csv (the probabilities each row's votes were drawn from) and synth.json.

    The folder is built beside ``out_dir`` and renamed into place when complete, so an
    interrupted run leaves no folder that looks complete. An existing ``out_dir`` is replaced
    when it is empty or an earlier synthetic competition (or when ``overwrite``).
    Deterministic per seed: same seed, byte-identical CSVs and identical arrays.

    Parameters
    ----------
    n_eegs : training EEGs (>= 1); n_test : test EEGs (default ``max(20, n_eegs // 10)``).
    profile : ``demo`` (default; what every figure so far was measured on) or ``real``: the
        real EEG durations (long tail up to ~3,400 s) and the real ratios of rows, EEGs,
        spectrograms and patients, each recording drawn from its own random stream.
    workers : processes drawing the signals; ``profile="real"`` only (the demo profile draws
        every recording from one stream in order, which keeps its files as they were). The
        files do not depend on ``workers``.
    """
    if n_eegs < 1:
        raise ValueError(f"n_eegs must be >= 1, got {n_eegs}")
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers > 1 and profile == "demo":
        raise ValueError(
            "workers > 1 needs profile 'real': the demo profile draws all recordings from one "
            "random stream in order (so its files stay as they were)"
        )
    start = time.perf_counter()
    out = Path(out_dir)
    _prepare_target(out, overwrite)
    n_test = default_n_test(n_eegs) if n_test is None else n_test
    train_recs, test_recs = plan_competition(n_eegs, seed, n_test, profile)
    train, train_truth = train_table(train_recs, seed)
    tables = public_test_tables(test_recs)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for d in ("train_eegs", "train_spectrograms", "test_eegs", "test_spectrograms"):
            (tmp / d).mkdir(parents=True)
        (tmp / ANSWERS_DIR).mkdir()
        if profile == "demo":
            signal_rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
            files = _write_split(signal_rng, train_recs, tmp, "train")
            files += _write_split(signal_rng, test_recs, tmp, "test")
        else:
            files = sum(
                _write_split_parallel(seed, recs, tmp, split, workers)
                for split, recs in zip(SPLITS, (train_recs, test_recs))
            )
        csvs = {
            "train.csv": train,
            "test.csv": tables["test"],
            "sample_submission.csv": tables["sample_submission"],
            f"{ANSWERS_DIR}/test_answers.csv": tables["answers"],
            f"{ANSWERS_DIR}/train_true_probs.csv": train_truth,
            f"{ANSWERS_DIR}/test_true_probs.csv": tables["true_probs"],
        }
        for name, frame in csvs.items():
            frame.to_csv(tmp / name, index=False)
        meta = {
            "generator": "hms_kit.data.synth",
            "generator_version": GENERATOR_VERSION,
            "seed": seed,
            "n_eegs": n_eegs,
            "n_test": n_test,
            "n_rows": len(train),
            "n_spectrograms": len(train_recs),
            "n_patients": int(train["patient_id"].nunique()),
        }
        if profile != "demo":  # the demo's synth.json stays byte-identical
            meta["profile"] = profile
        (tmp / ANSWERS_DIR / "synth.json").write_text(json.dumps(meta, indent=1) + "\n")
        files += len(csvs) + 1
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SynthSummary(
        root=out,
        files=files,
        n_rows=len(train),
        n_eegs=n_eegs,
        n_spectrograms=len(train_recs),
        n_patients=meta["n_patients"],
        n_test=n_test,
        seconds=time.perf_counter() - start,
    )
