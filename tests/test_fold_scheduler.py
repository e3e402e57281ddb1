"""Folds side by side (Kaggle's T4 x2): the scheduler, and a run on two CPU processes
standing in for the two GPUs that gives the same OOF as the sequential run."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from hms_kit.config import load_config
from hms_kit.fold_scheduler import (
    FoldWorkerError,
    fold_devices,
    longest_first,
    run_side_by_side,
)
from hms_kit.train import train_folds


def test_fold_devices() -> None:
    assert fold_devices(0, cuda_devices=0) == ["cpu"]
    assert fold_devices(0, cuda_devices=1) == ["cuda:0"]
    assert fold_devices(0, cuda_devices=2) == ["cuda:0", "cuda:1"]
    assert fold_devices(3, cuda_devices=2) == ["cuda:0", "cuda:1", "cuda:0"]
    assert fold_devices(2, cuda_devices=0) == ["cpu", "cpu"]


def test_longest_first() -> None:
    assert longest_first([0, 1, 2, 3], {0: 10, 1: 30, 2: 20, 3: 30}) == [1, 3, 2, 0]


def _echo(fold: int, device: str) -> dict:
    if fold == 13:
        raise ValueError("unlucky fold")
    return {"fold": fold, "device": device, "pid": os.getpid()}


@pytest.mark.slow  # spawns two processes twice; the worker loop alone: the test below
def test_side_by_side_uses_every_process_and_names_a_failed_fold() -> None:
    done = run_side_by_side(_echo, [0, 1, 2, 3], ["cpu", "cpu"], {0: 4, 1: 3, 2: 2, 3: 1})
    assert sorted(done) == [0, 1, 2, 3]
    assert all(s["fold"] == k for k, s in done.items())
    assert os.getpid() not in {s["pid"] for s in done.values()}
    with pytest.raises(FoldWorkerError, match="fold 13 failed:(.|\n)*unlucky fold"):
        run_side_by_side(_echo, [12, 13, 14], ["cpu", "cpu"])


def test_a_worker_waits_for_the_queue_while_another_holds_it() -> None:
    """A worker asking for its next fold while another holds the queue's read lock (mid
    ``get``) waits for it: it used to take that for an empty queue and quit, leaving the
    other device to train every fold left."""
    import multiprocessing as mp
    import threading
    import time

    import torch

    from hms_kit.fold_scheduler import _worker

    ctx = mp.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    for k in (0, 1, 2, None):
        tasks.put(k)
    time.sleep(0.2)  # the queue's feeder thread has the items in the pipe
    tasks._rlock.acquire()  # another worker mid-get
    threading.Timer(0.3, tasks._rlock.release).start()
    _worker(_echo, "cpu", tasks, results, torch.get_num_threads())
    assert sorted(results.get(timeout=5)[0] for _ in range(3)) == [0, 1, 2]


@pytest.mark.slow  # two training processes side by side
def test_two_processes_give_the_sequential_oof(shared_comp, cnn_run, shared_cache, tmp_path):
    """The session's tiny CNN run (two folds, one after the other) again with
    ``train.fold_workers=2``: the same folds and OOF."""
    cfg = load_config(cnn_run.path / "config.yaml", ["train.fold_workers=2"])
    par = train_folds(shared_comp, cfg, tmp_path / "par", cache_dir=shared_cache, workers=1)
    seq = json.loads((cnn_run.path / "scores.json").read_text())
    assert seq["complete"] and par["complete"]
    log = (tmp_path / "par" / "training_record.log").read_text()
    assert "side by side on ['cpu', 'cpu']" in log
    # every fold trained, each logged by a worker process into the run's log
    assert sum(f"fold {k}: OOF KL" in log for k in range(2)) == 2
    a = pd.read_csv(cnn_run.path / "oof.csv").sort_values(["eeg_id", "eeg_sub_id"])
    b = pd.read_csv(tmp_path / "par" / "oof.csv").sort_values(["eeg_id", "eeg_sub_id"])
    assert (a["fold"].to_numpy() == b["fold"].to_numpy()).all()
    pred = [c for c in a.columns if c.startswith("pred_")]
    np.testing.assert_allclose(a[pred].to_numpy(), b[pred].to_numpy(), atol=1e-4)
    assert abs(seq["kl_all"] - par["kl_all"]) < 1e-4
