"""What DataLoader workers cost or save a CPU training run (issue 21's plan time)

    python -m hms_kit.tools.bench_workers --competition COMP --out DIR [--config default]
        [--workers 0,1] [--epochs 3] [--threads 2] [--set k=v ...]

Trains fold 0 of ``--config`` for ``--epochs`` stage-1 epochs (no stage 2) once per worker
count, each in its own process with ``--threads`` torch threads, on one shared feature cache
(built by the first run, outside the timed epochs). Prints each count's seconds per epoch
(the median of the epochs after the first, which pays the workers' start) and whether the
runs' validation losses agree: since issue 21's loader fix they must, to the last digit.
Run it on an idle machine: the figure is a ratio of wall times.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

# the engine's end-of-epoch line (engine/stage.py): "... epoch 2 train_loss 0.78 val_loss 0.95
# (best) time 14.1 s"
EPOCH_LINE = re.compile(r"epoch (\d+) train_loss \S+ val_loss (\S+).* time ([\d.]+) s")


def epoch_times(log_text: str) -> pd.DataFrame:
    """The end-of-epoch lines of a training_record.log: columns epoch, val_loss, seconds."""
    rows = [
        {"epoch": int(m[1]), "val_loss": float(m[2]), "seconds": float(m[3])}
        for m in EPOCH_LINE.finditer(log_text)
    ]
    return pd.DataFrame(rows, columns=["epoch", "val_loss", "seconds"])


def summarise(runs: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """Per worker count: epochs, median seconds per epoch after the first (all of them when
    there is one), and that time as a ratio of the first count's. Columns: workers, epochs,
    s_per_epoch, ratio. ValueError naming a count whose log has no epoch line."""
    rows = []
    for workers, t in runs.items():
        if t.empty:
            raise ValueError(f"{workers} workers: no finished epoch in the training log")
        later = t["seconds"].iloc[1:] if len(t) > 1 else t["seconds"]
        rows.append({"workers": workers, "epochs": len(t), "s_per_epoch": float(np.median(later))})
    out = pd.DataFrame(rows)
    out["ratio"] = out["s_per_epoch"] / out["s_per_epoch"].iloc[0]
    return out


def same_losses(runs: dict[int, pd.DataFrame]) -> bool:
    """Whether every run logged the same validation losses, epoch by epoch."""
    losses = [tuple(t["val_loss"]) for t in runs.values()]
    return all(x == losses[0] for x in losses)


def train_epochs(
    competition: Path, run_dir: Path, cache: Path, config: str, workers: int, epochs: int,
    threads: int, overrides: list[str],
) -> pd.DataFrame:  # fmt: skip
    """Train fold 0 for ``epochs`` stage-1 epochs in a child process; its epoch lines."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "hms_kit", "train", "--competition", str(competition),
           "--out", str(run_dir), "--cache", str(cache), "--config", config, "--folds", "0",
           "--set", f"train.num_workers={workers}", "--set", f"train.stage1.epochs={epochs}",
           "--set", "train.stage2.epochs=0"]  # fmt: skip
    for kv in overrides:
        cmd += ["--set", kv]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"train with {workers} workers exited {proc.returncode}:\n"
                           f"{proc.stderr[-2000:]}")  # fmt: skip
    return epoch_times((run_dir / "training_record.log").read_text())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--competition", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="folder for the runs (replaced)")
    p.add_argument("--config", default="default")
    p.add_argument("--workers", default="0,1", help="worker counts, e.g. 0,1,2")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V")
    args = p.parse_args(argv)
    try:
        counts = [int(w) for w in args.workers.split(",")]
    except ValueError:
        p.error(f"--workers: comma-separated integers, got {args.workers!r}")
    if any(w < 0 for w in counts) or len(set(counts)) != len(counts):
        p.error(f"--workers: distinct counts >= 0, got {args.workers!r}")
    if args.epochs < 1:
        p.error(f"--epochs must be >= 1, got {args.epochs}")
    runs = {}
    for w in counts:
        run_dir = args.out / f"workers{w}"
        if run_dir.exists():  # a fresh log: a resumed run would not time its epochs
            shutil.rmtree(run_dir)
        runs[w] = train_epochs(args.competition, run_dir, args.out / "cache", args.config, w,
                               args.epochs, args.threads, args.overrides)  # fmt: skip
    table = summarise(runs)
    print(f"{args.config}, fold 0, {args.epochs} stage-1 epochs, {args.threads} torch threads:")
    for r in table.itertuples():
        print(f"  {r.workers} workers: {r.s_per_epoch:.1f} s an epoch ({r.ratio:.2f} x "
              f"{counts[0]} workers')")  # fmt: skip
    print("validation losses " + ("identical" if same_losses(runs) else "DIFFER") + " across "
          "worker counts")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
