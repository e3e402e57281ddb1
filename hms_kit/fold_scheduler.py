"""Folds side by side: one process per device, each taking the next fold, longest first.

A Kaggle "T4 x2" session has two GPUs billed as one session; training one fold on each at
once halves the wall time of a run. The cache is built once before (the processes share it
read-only), and each fold is seeded as it is in the sequential loop, so the folds' results do
not depend on which process trained them.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

FoldJob = Callable[[int, str], dict[str, Any]]  # (fold, device) -> the fold's summary
POLL_SECONDS = 1.0


class FoldWorkerError(RuntimeError):
    """A fold failed (or its process died) in a side-by-side run."""


def fold_devices(requested: int, cuda_devices: int | None = None) -> list[str]:
    """The devices folds train on side by side.

    ``requested`` is ``train.fold_workers``: 0 means one process per CUDA GPU when there are
    two or more, else none (the sequential loop); ``n >= 1`` means ``n`` processes, each on a
    GPU in turn, or all on the CPU without one. One device means the sequential loop.
    """
    gpus = torch.cuda.device_count() if cuda_devices is None else cuda_devices
    n = requested if requested > 0 else (gpus if gpus > 1 else 1)
    if gpus == 0:
        return ["cpu"] * n
    return [f"cuda:{i % gpus}" for i in range(n)]


def longest_first(folds: Sequence[int], cost: Mapping[int, float]) -> list[int]:
    """``folds`` ordered by decreasing ``cost`` (e.g. training rows), ties by fold number."""
    return sorted(folds, key=lambda k: (-cost.get(k, 0.0), k))


def _worker(job: FoldJob, device: str, tasks: Any, results: Any, threads: int) -> None:
    # side-by-side CPU processes would otherwise each start one thread per core
    torch.set_num_threads(threads)
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    while True:
        # a blocking get: get_nowait also raises Empty while another worker holds the
        # queue's read lock, which ended this worker with folds still queued
        fold = tasks.get()
        if fold is None:  # one sentinel per worker, after the folds
            return
        try:
            results.put((fold, job(fold, device), None))
        except BaseException:  # reported to the parent, which raises after the others finish
            results.put((fold, None, traceback.format_exc()))
            return


def run_side_by_side(
    job: FoldJob,
    folds: Sequence[int],
    devices: Sequence[str],
    cost: Mapping[int, float] | None = None,
) -> dict[int, dict[str, Any]]:
    """Run ``job(fold, device)`` for every fold, one spawned process per device; each process
    takes the next fold from a queue ordered longest first (by ``cost``).

    ``job`` must be picklable (a module-level function or an object with ``__call__``).
    Returns each fold's summary by fold. Raises :class:`FoldWorkerError` naming the folds that
    failed, with their tracebacks, once the other processes have finished.
    """
    ctx = mp.get_context("spawn")
    tasks = ctx.Queue()
    results = ctx.Queue()
    for k in longest_first(folds, cost or {}):
        tasks.put(k)
    for _ in devices:
        tasks.put(None)
    cores = torch.get_num_threads()
    threads = max(1, cores // len(devices))
    procs = [
        ctx.Process(target=_worker, args=(job, d, tasks, results, threads), daemon=False)
        for d in devices
    ]
    for p in procs:
        p.start()
    done: dict[int, dict[str, Any]] = {}
    failed: dict[int, str] = {}
    while len(done) + len(failed) < len(folds):
        try:
            fold, summary, error = results.get(timeout=POLL_SECONDS)
        except queue.Empty:
            if not any(p.is_alive() for p in procs):
                try:  # a result put just before the process ended
                    fold, summary, error = results.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    break
            else:
                continue
        if error is None:
            done[fold] = summary
        else:
            failed[fold] = error
    for p in procs:
        p.join()
    lost = [k for k in folds if k not in done and k not in failed]
    if failed or lost:
        lines = [f"fold {k} failed:\n{tb}" for k, tb in sorted(failed.items())]
        if lost:
            codes = [p.exitcode for p in procs]
            lines.append(f"folds {lost} never finished (worker exit codes {codes})")
        raise FoldWorkerError("\n".join(lines))
    return done
