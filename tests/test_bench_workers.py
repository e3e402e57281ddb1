"""``python -m hms_kit.tools.bench_workers`` and the CPU's loader default (issue 21: what the
learning-curve plan costs): a worker beside a CPU model competes with its torch threads."""

from __future__ import annotations

import contextlib
import io

import pandas as pd
import pytest
import torch
from conftest import tiny_overrides

from hms_kit.engine.loop import loader_workers, make_loader
from hms_kit.tools import bench_workers

LOG = """\
2026-12-03 18:27:37 INFO training 1604 rows (all mode) for target population kaggle_hq
2026-12-03 18:27:49 INFO fold 0 stage 1 epoch 0 step 20 loss 1.2727 lr 1.74e-03 samples/s 57.7
2026-12-03 18:27:57 INFO fold 0 stage 1 epoch 0 train_loss 1.1820 val_loss 1.4284 (best) time 19.1 s
2026-12-03 18:28:13 INFO fold 0 stage 1 epoch 1 train_loss 0.8978 val_loss 1.0712 (best) time 15.5 s
2026-12-03 18:28:14 INFO fold 0 stage 1 epoch 2 train_loss 0.8100 val_loss 1.0900 time 13.5 s
"""


def test_epoch_times_reads_the_end_of_epoch_lines_only():
    t = bench_workers.epoch_times(LOG)
    assert t["epoch"].tolist() == [0, 1, 2]
    assert t["val_loss"].tolist() == [1.4284, 1.0712, 1.09]
    assert t["seconds"].tolist() == [19.1, 15.5, 13.5]
    assert bench_workers.epoch_times("no epoch here").empty


def test_summarise_skips_the_first_epoch_and_compares_with_the_first_count():
    runs = {
        0: pd.DataFrame({"epoch": [0, 1, 2], "val_loss": [1, 1, 1], "seconds": [30.0, 10, 12]}),
        1: pd.DataFrame({"epoch": [0, 1, 2], "val_loss": [1, 1, 1], "seconds": [9.0, 15, 13]}),
        2: pd.DataFrame({"epoch": [0], "val_loss": [1], "seconds": [22.0]}),
    }
    table = bench_workers.summarise(runs)
    assert table["s_per_epoch"].tolist() == [11.0, 14.0, 22.0]  # medians after epoch 0
    assert table["ratio"].round(4).tolist() == [1.0, round(14 / 11, 4), 2.0]
    with pytest.raises(ValueError, match="3 workers: no finished epoch"):
        bench_workers.summarise({3: bench_workers.epoch_times("")})


def test_same_losses_compares_every_epoch():
    a = bench_workers.epoch_times(LOG)
    b = a.copy()
    assert bench_workers.same_losses({0: a, 1: b})
    b.loc[2, "val_loss"] = 1.0901
    assert not bench_workers.same_losses({0: a, 1: b})


def test_cpu_training_gets_no_loader_worker_by_default():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert loader_workers(-1, cpu) == 0
    assert loader_workers(3, cpu) == 3  # asked for: as asked
    assert loader_workers(-1, cuda) == loader_workers(-1) >= 0  # beside a GPU: per core
    ds = torch.utils.data.TensorDataset(torch.zeros(4, 2))
    assert make_loader(ds, 2, True, 0, cpu, -1).num_workers == 0
    assert make_loader(ds, 2, True, 0, cpu, 1).num_workers == 1


@pytest.mark.slow
def test_bench_workers_times_each_count_on_the_same_batches(shared, tmp_path):
    """The tool on the tiny shared competition: one line per worker count, and the runs'
    validation losses identical (the loader's order does not depend on the workers)."""
    sets = [o for o in tiny_overrides(2) if not o.startswith("train.num_workers")]
    args = ["--competition", str(shared.root), "--out", str(tmp_path), "--epochs", "2",
            "--workers", "0,1", *sum((["--set", o] for o in sets), [])]  # fmt: skip
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert bench_workers.main(args) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("default, fold 0, 2 stage-1 epochs, 2 torch threads")
    assert lines[1].startswith("  0 workers: ") and "(1.00 x 0 workers')" in lines[1]
    assert lines[2].startswith("  1 workers: ")
    assert lines[3] == "validation losses identical across worker counts"
    for w in (0, 1):
        assert f"num_workers: {w}" in (tmp_path / f"workers{w}" / "config.yaml").read_text()
