"""The feature cache: each input's array for every window the rows need.

Reading 11,138 spectrogram and 17,089 EEG parquet files every epoch is what makes the public
notebooks slow, so the inputs are computed once, after the transform, and stored as one
memory-mapped ``(n_windows, *shape) float16`` array per input (``hms_kit.inputs.registry``
declares each input's source, shape and settings: the panels are ``(4, 128, 256)``, the raw
waveforms ``(pairs, samples)``; any shape is stored the same way):

    <cache_dir>/<input>-<key>/values.npy     the arrays (float16 halves the disk size)
    <cache_dir>/<input>-<key>/windows.csv    one line per window: file id, offset (s)
    <cache_dir>/<input>-<key>/manifest.json  written last: the entry is complete (with shape)

``key`` hashes the input's preprocessing settings, the windows and the size and mtime of
every input file, so a changed setting or file rebuilds and an unchanged one is reused. An
entry is built in a ``.tmp-`` folder and renamed into place only when complete, so an
interrupted build leaves nothing a later run would trust.

Several processes may share one cache folder (two runs with the same ``--cache``): an entry
is built under an exclusive lock (``.<entry>.lock``, ``fcntl.flock``), and a builder that
waited for the lock reuses what the holder finished. A finished entry (one with a manifest)
is never replaced or deleted, since another process may be reading its memory map. The
holder writes its pid in the lock file; a builder that waits logs that pid (and whether the
process is stopped) with the time waited, and gives up after ``LOCK_TIMEOUT_S``. Before a
build, the ``.tmp-<pid>`` folders of builders no longer running are removed (and every one
of the entries being built: their lock says no one else writes them) and the free
disk space is checked against the entries' size (a memory-mapped file written onto a full
disk ends the process with SIGBUS, no message).

A window whose values are not finite (a file with values so large that the transform
overflows) is a failed window like an unreadable one, never stored as a success.

Windows are keyed per input source: ``kaggle`` by (spectrogram_id, spectrogram offset), the
EEG inputs by (eeg_id, eeg offset); label rows sharing a window share its values. (The
inputs are still called ``modalities`` in this module's signatures.)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hms_kit.config import InputConfig
from hms_kit.data.competition import Competition
from hms_kit.data.readers import (
    MIN_PAIR_SAMPLES,
    DataError,
    eeg_window,
    eeg_window_context,
    eeg_window_problem,
    read_eeg,
    read_spectrogram,
    spec_window,
)
from hms_kit.inputs.registry import get_input, input_settings
from hms_kit.runlog import logger

CACHE_VERSION = 2  # 2: values.npy of any shape (1: panels.npy)
VALUES_FILE = "values.npy"
ENTRY_OVERHEAD_BYTES = 1 << 20  # windows.csv, manifest.json and the .npy header, at most
_ID_COL = {"spectrogram": "spectrogram_id", "eeg": "eeg_id"}
_OFFSET_COL = {"spectrogram": "spectrogram_label_offset_seconds", "eeg": "eeg_label_offset_seconds"}


def modality_settings(modality: str, cfg: InputConfig) -> dict[str, Any]:
    """The settings that change an input's values (the part of the config its key hashes)."""
    return input_settings(modality, cfg)


def windows_for(rows: pd.DataFrame, modality: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The distinct windows a modality needs and, per row, the index of its window.

    Returns ``(windows, index)``: windows has columns ``file_id`` and ``offset`` (seconds);
    ``index`` is ``(len(rows),) int64``. Rows without an offset column (test.csv) use 0.
    """
    source = get_input(modality).source
    ids = rows[_ID_COL[source]].to_numpy(dtype=np.int64)
    off_col = _OFFSET_COL[source]
    offsets = rows[off_col].to_numpy(dtype=np.float64) if off_col in rows else np.zeros(len(rows))
    keys = pd.DataFrame({"file_id": ids, "offset": offsets})
    windows = keys.drop_duplicates().reset_index(drop=True)
    lookup = {k: i for i, k in enumerate(zip(windows["file_id"], windows["offset"]))}
    index = np.fromiter((lookup[k] for k in zip(ids, offsets)), dtype=np.int64, count=len(ids))
    return windows, index


def _file_path(comp: Competition, source: str, file_id: int, split: str) -> Path:
    if source == "eeg":
        return comp.eeg_path(file_id, split)
    return comp.spectrogram_path(file_id, split)


def entry_key(
    modality: str, cfg: InputConfig, windows: pd.DataFrame, comp: Competition, split: str
) -> str:
    """Hash of the settings, the windows and each input file's size and mtime (16 hex chars)."""
    h = hashlib.sha1()
    h.update(json.dumps([CACHE_VERSION, modality, modality_settings(modality, cfg)]).encode())
    if split == "test":  # test windows without a usable EEG fail (eeg_window_problem)
        h.update(f"eeg_window_problem:{MIN_PAIR_SAMPLES}".encode())
    h.update(np.ascontiguousarray(windows["file_id"].to_numpy(np.int64)).tobytes())
    h.update(np.ascontiguousarray(windows["offset"].to_numpy(np.float64)).tobytes())
    source = get_input(modality).source
    for fid in windows["file_id"].unique():
        p = _file_path(comp, source, int(fid), split)
        try:
            st = p.stat()
            h.update(f"{fid}:{st.st_size}:{st.st_mtime_ns};".encode())
        except OSError:
            h.update(f"{fid}:missing;".encode())
    return h.hexdigest()[:16]


@dataclass
class CacheEntry:
    """One input's finished cache entry; opens its memory map lazily (picklable)."""

    path: Path
    n: int
    failed: dict[int, str]  # window index -> error message (lenient builds only)

    _values: Any = None

    @property
    def values(self) -> np.ndarray:
        """``(n, *shape) float16`` memory map (panels: ``(n, 4, 128, 256)``)."""
        if self._values is None:
            self._values = np.load(self.path / VALUES_FILE, mmap_mode="r")
        return self._values

    panels = values  # the name from when every input was panels

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_values"] = None  # each DataLoader worker opens its own map
        return state

    @classmethod
    def open(cls, path: Path) -> CacheEntry:
        manifest = json.loads((path / "manifest.json").read_text())
        failed = {int(k): v for k, v in manifest.get("failed", {}).items()}
        return cls(path=path, n=int(manifest["n"]), failed=failed)


@dataclass
class FeatureCache:
    """The inputs (``modalities``: input names) of a table of label rows.

    ``value(name, i)`` gives row i's array of one input; ``get(i)`` row i's panel inputs
    stacked in order: ``(4 * n_panel_inputs, 128, 256) float32``. ``ok`` is False for rows
    whose inputs could not be built (lenient builds: test inference falls back to the prior
    for them).
    """

    modalities: list[str]
    entries: dict[str, CacheEntry]
    index: dict[str, np.ndarray]  # modality -> (n_rows,) window index

    def __len__(self) -> int:
        return len(next(iter(self.index.values())))

    def get(self, i: int, dtype: np.dtype | type = np.float32) -> np.ndarray:
        """Row i's panels, ``(4 * n_modalities, 128, 256)`` in ``dtype`` (float16 is the
        stored precision: no conversion)."""
        parts = [
            self.entries[m].values[self.index[m][i]]
            for m in self.modalities
            if get_input(m).kind == "panels"
        ]
        return np.concatenate(parts, axis=0).astype(dtype, copy=False)

    def value(self, name: str, i: int) -> np.ndarray:
        """Row i's array of input ``name`` (its stored shape, float16)."""
        return self.entries[name].values[self.index[name][i]]

    @property
    def ok(self) -> np.ndarray:
        """``(n_rows,) bool``: True where every modality's window was built."""
        good = np.ones(len(self), dtype=bool)
        for m in self.modalities:
            bad = np.array(sorted(self.entries[m].failed), dtype=np.int64)
            if len(bad):
                good &= ~np.isin(self.index[m], bad)
        return good

    def errors(self) -> list[str]:
        """The messages of the windows that failed, each once (a window that failed for
        several inputs of one file, with one message, is listed once)."""
        msgs = [msg for m in self.modalities for msg in self.entries[m].failed.values()]
        return list(dict.fromkeys(msgs))


def _checked(values: np.ndarray, path: Path, offset: float) -> np.ndarray:
    """The values, or DataError naming the file when they (or their float16 copy) are not
    finite."""
    if not np.isfinite(values).all() or not np.isfinite(values.astype(np.float16)).all():
        raise DataError(
            f"{path}: window at offset {offset:g} s gives non-finite values (too large "
            "for the transform: overflow)"
        )
    return values


def _compute_task(task: dict[str, Any]) -> tuple[str, list[tuple[int, str, str | None]]]:
    """Worker: read one file, write the values of its windows into the inputs' maps. Returns
    the source and the failed windows: ``(window, message, input)``, input None when the
    window failed for every input (the file or the window unreadable)."""
    cfg: InputConfig = task["cfg"]
    failures: list[tuple[int, str, str | None]] = []
    maps = {m: np.load(p, mmap_mode="r+") for m, p in task["maps"].items()}
    path = Path(task["path"])
    try:
        data = read_eeg(path) if task["source"] == "eeg" else read_spectrogram(path)
    except DataError as exc:
        return task["source"], [(w, str(exc), None) for w, _ in task["windows"]]
    for widx, offset in task["windows"]:
        try:
            if task["source"] == "eeg":
                win = eeg_window(data, offset, path)
                why = eeg_window_problem(win) if task["split"] == "test" else None
                if why:  # test only: in training a strict build would stop the run on it
                    raise DataError(f"{path}: window at offset {offset:g} s: {why}")
            else:
                win = spec_window(data, offset)
        except DataError as exc:
            failures.append((widx, str(exc), None))
            continue
        # each input on its own: one that overflows (a wavelet of huge values) must not mark
        # the window failed in another's entry, which a later run may reuse alone
        for m, arr in maps.items():
            try:
                spec = get_input(m)
                ctx = spec.context_s(cfg) if task["source"] == "eeg" else 0
                w = eeg_window_context(data, offset, ctx, path) if ctx > 0 else win
                arr[widx] = _checked(spec.build(w, cfg), path, offset)
            except DataError as exc:
                failures.append((widx, str(exc), m))
    for arr in maps.values():
        arr.flush()
    return task["source"], failures


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)  # one process per core; threads inside would oversubscribe


def default_workers() -> int:
    """Worker processes for a build: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


# A spawned worker pays ~2 s before its first file (a fresh interpreter importing numpy, scipy
# and torch), while one process builds ~60 files/s: below a few hundred files per worker the
# start-up costs more than the parallel build saves (measured: 58 files/s in one process, 28
# with two, on 120 files). Fewer files than this per worker -> fewer workers.
MIN_FILES_PER_WORKER = 256


def choose_workers(n_files: int, workers: int | None = None) -> int:
    """Processes for building ``n_files`` files: ``workers`` when given (>= 1), else one per
    core but no more than one per ``MIN_FILES_PER_WORKER`` files (at least 1)."""
    if workers is not None and workers >= 1:
        return max(1, min(workers, n_files))
    return max(1, min(default_workers(), n_files // MIN_FILES_PER_WORKER))


def build_cache(
    comp: Competition,
    rows: pd.DataFrame,
    cfg: InputConfig,
    cache_dir: str | Path,
    split: str = "train",
    modalities: Iterable[str] | None = None,
    workers: int | None = None,
    strict: bool = True,
    progress: bool = True,
) -> FeatureCache:
    """Build (or reuse) the cache entries the rows need and return the cache over them.

    strict: a file or window that cannot be read raises DataError naming the file, the
    label row and the eeg_id; otherwise it is recorded (``FeatureCache.ok`` / ``errors``)
    and its panels stay zero. workers: processes (default: ``choose_workers``, one per core
    when there are enough files to pay for their start-up; 1 = in-process).
    """
    from hms_kit.runlog import progress_bar as tqdm

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    mods = list(modalities or cfg.modalities)
    entries: dict[str, CacheEntry] = {}
    index: dict[str, np.ndarray] = {}
    todo: dict[str, tuple[Path, pd.DataFrame]] = {}
    for m in mods:
        windows, index[m] = windows_for(rows, m)
        final = cache_dir / f"{m}-{entry_key(m, cfg, windows, comp, split)}"
        if (final / "manifest.json").is_file():
            entries[m] = CacheEntry.open(final)
        else:
            todo[m] = (final, windows)
    if todo:
        with _locked([final for final, _ in todo.values()]):
            # another builder may have finished an entry while this one waited for its lock
            for m in list(todo):
                final = todo[m][0]
                if (final / "manifest.json").is_file():
                    entries[m] = CacheEntry.open(final)
                    del todo[m]
            if todo:
                _build_entries(comp, cfg, todo, split, workers, progress, tqdm)
            for m, (final, _) in todo.items():
                entries[m] = CacheEntry.open(final)
    cache = FeatureCache(modalities=mods, entries=entries, index=index)
    if strict:
        for m in mods:
            if entries[m].failed:
                widx, msg = next(iter(sorted(entries[m].failed.items())))
                row = int(np.flatnonzero(index[m] == widx)[0])
                raise DataError(f"{msg} (label row {row}, eeg_id {int(rows['eeg_id'].iloc[row])})")
    return cache


LOCK_TIMEOUT_S = 6 * 3600.0  # longer than any build: a holder still there is stopped or hung
LOCK_LOG_S = 60.0  # seconds between "still waiting" lines


def _pid_state(pid: int) -> str:
    """``running``, ``stopped`` (SIGSTOP, Ctrl-Z) or ``gone``: what a lock file's pid is."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "gone"
    except PermissionError:  # another user's process: it exists
        return "running"
    try:  # Linux: the state letter follows the ")" that closes the command name
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "running"
    return "stopped" if state in ("T", "t") else "running"


def _holder(lock: Path) -> str:
    """Who holds ``lock``, from the pid its holder wrote there."""
    try:
        pid = int(lock.read_text().strip())
    except (OSError, ValueError):
        return "another process (pid unknown)"
    return f"pid {pid} ({_pid_state(pid)})"


def _acquire(f: Any, lock: Path) -> None:
    """Take the exclusive lock on open file ``f``, logging who holds it and for how long this
    builder has waited; TimeoutError after ``LOCK_TIMEOUT_S`` seconds."""
    start = time.monotonic()
    pause, logged = 0.05, -LOCK_LOG_S
    while True:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        waited = time.monotonic() - start
        if waited >= LOCK_TIMEOUT_S:
            raise TimeoutError(
                f"{lock}: the cache entry is still being built by {_holder(lock)} after "
                f"{waited:.0f} s of waiting: if that process is stopped or hung, end it and run "
                "again (or give another --cache folder)"
            )
        if waited - logged >= LOCK_LOG_S:
            logger().info(
                "cache entry %s is being built by %s: waited %.0f s (giving up after %g s)",
                lock.name[1 : -len(".lock")],
                _holder(lock),
                waited,
                LOCK_TIMEOUT_S,
            )
            logged = waited
        time.sleep(pause)
        pause = min(2 * pause, 1.0)


@contextlib.contextmanager
def _locked(finals: list[Path]) -> Iterator[None]:
    """Hold an exclusive lock per entry (sorted: two builders never wait on each other); the
    holder writes its pid in the lock file for those who wait."""
    with contextlib.ExitStack() as stack:
        for final in sorted(finals):
            lock = final.parent / f".{final.name}.lock"
            f = stack.enter_context(open(lock, "a+b"))
            _acquire(f, lock)
            stack.callback(fcntl.flock, f.fileno(), fcntl.LOCK_UN)
            f.truncate(0)
            f.write(f"{os.getpid()}\n".encode())
            f.flush()
        yield


def remove_dead_builds(cache_dir: Path, held: Sequence[Path] = ()) -> list[Path]:
    """Remove the ``.<entry>.tmp-<pid>`` folders of builders that are no longer running (a
    killed build leaves its part-written arrays behind, which may fill the disk): those of
    a pid that is gone, and every one of an entry in ``held`` (entries whose build lock the
    caller holds: no other builder can be writing them, even when a killed builder's pid now
    names another process). Returns the folders removed."""
    removed = []
    mine = {f".{final.name}.tmp-" for final in held}
    for tmp in Path(cache_dir).glob(".*.tmp-*"):
        head, pid = tmp.name.rsplit("-", 1)
        if not (tmp.is_dir() and pid.isdigit()):
            continue
        if f"{head}-" in mine and int(pid) != os.getpid():
            why = "its entry's build lock is held here"
        elif _pid_state(int(pid)) == "gone":
            why = "no longer running"
        else:
            continue
        shutil.rmtree(tmp, ignore_errors=True)
        logger().info("removed %s: left by pid %s (%s)", tmp, pid, why)
        removed.append(tmp)
    return removed


def check_free_space(folder: Path, needed: int) -> None:
    """OSError (ENOSPC) naming ``folder`` unless ``needed`` bytes are free there: writing a
    memory-mapped file onto a full disk kills the process with SIGBUS and no message."""
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise OSError(
            errno.ENOSPC,
            f"{folder}: the cache needs {needed:,} bytes ({needed / 2**30:.2f} GiB) but "
            f"{free:,} are free: free disk space there or give another --cache folder",
        )


def _build_entries(comp, cfg, todo, split, workers, progress, tqdm) -> None:
    tmp_dirs: dict[str, Path] = {}
    maps: dict[str, str] = {}
    folder = next(iter(todo.values()))[0].parent
    remove_dead_builds(folder, [final for final, _ in todo.values()])
    needed = sum(
        int(np.prod(get_input(m).shape(cfg))) * np.dtype(get_input(m).dtype).itemsize * len(w)
        + ENTRY_OVERHEAD_BYTES
        for m, (_, w) in todo.items()
    )
    check_free_space(folder, needed)
    try:
        for m, (final, windows) in todo.items():
            tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            tmp_dirs[m] = tmp
            spec = get_input(m)
            arr = np.lib.format.open_memmap(
                tmp / VALUES_FILE,
                mode="w+",
                dtype=spec.dtype,
                shape=(len(windows), *spec.shape(cfg)),
            )
            del arr
            maps[m] = str(tmp / VALUES_FILE)
            windows.to_csv(tmp / "windows.csv", index=False)
        tasks = _make_tasks(comp, cfg, todo, maps, split)
        failed: dict[str, dict[int, str]] = {m: {} for m in todo}
        n_workers = choose_workers(len(tasks), workers)
        start = time.perf_counter()
        bar = tqdm(
            total=len(tasks), desc=f"cache {'+'.join(todo)}", unit="file", disable=not progress
        )
        if n_workers <= 1:
            import torch

            # one thread like a worker, so the bytes do not depend on the worker count
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                for t in tasks:
                    _record(failed, t, _compute_task(t)[1])
                    bar.update()
            finally:
                torch.set_num_threads(threads)
        else:
            import multiprocessing as mp

            with ProcessPoolExecutor(
                n_workers, mp_context=mp.get_context("spawn"), initializer=_init_worker
            ) as pool:
                # chunks amortise the per-task pickling and round trips over many files
                chunk = max(1, min(16, len(tasks) // (n_workers * 4)))
                for t, (_, fails) in zip(tasks, pool.map(_compute_task, tasks, chunksize=chunk)):
                    _record(failed, t, fails)
                    bar.update()
        bar.close()
        seconds = time.perf_counter() - start
        for m, (final, windows) in todo.items():
            manifest = {
                "version": CACHE_VERSION,
                "modality": m,
                "n": len(windows),
                "settings": modality_settings(m, cfg),
                "shape": list(get_input(m).shape(cfg)),
                "split": split,
                "seconds": round(seconds, 3),
                "failed": {str(k): v for k, v in sorted(failed[m].items())},
            }
            (tmp_dirs[m] / "manifest.json").write_text(json.dumps(manifest, indent=1))
            if (final / "manifest.json").is_file():
                # finished by another builder (one that took no lock): a reader may have it
                # open, so it stays and this build is dropped
                continue
            if final.exists():  # a stale entry without manifest from an older crash
                shutil.rmtree(final)
            os.replace(tmp_dirs[m], final)
    finally:
        for tmp in tmp_dirs.values():
            shutil.rmtree(tmp, ignore_errors=True)


def _record(failed: dict[str, dict[int, str]], task: dict[str, Any], fails) -> None:
    """Each failed window into the entries of the inputs it failed for (all the task's when
    its input is None)."""
    for widx, msg, m in fails:
        for name in task["maps"] if m is None else [m]:
            failed[name][widx] = msg


def _make_tasks(comp, cfg, todo, maps, split) -> list[dict[str, Any]]:
    """One task per input file: every window of every pending modality that reads it."""
    by_file: dict[tuple[str, int], dict[str, Any]] = {}
    for m, (_, windows) in todo.items():
        source = get_input(m).source
        for widx, (fid, off) in enumerate(zip(windows["file_id"], windows["offset"])):
            key = (source, int(fid))
            task = by_file.setdefault(
                key,
                {
                    "source": source,
                    "path": str(_file_path(comp, source, int(fid), split)),
                    "cfg": cfg,
                    "split": split,
                    "maps": {},
                    "windows": [],
                    "_seen": set(),
                },
            )
            task["maps"][m] = maps[m]
            if (widx, off) not in task["_seen"]:
                task["_seen"].add((widx, off))
                task["windows"].append((widx, float(off)))
    tasks = []
    for t in by_file.values():
        del t["_seen"]
        tasks.append(t)
    return tasks
