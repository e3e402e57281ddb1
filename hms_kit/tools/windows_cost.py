"""Cost of windowed prediction on MLE-bench's layout: windows per second, end to end.

    python -m hms_kit.tools.windows_cost --competition COMP --run RUN [--stride-s 2 --max-windows 64]

Times ``predict_test`` (input building from the parquet files + every checkpoint's forward
pass) on the competition's test set with the given window settings, a fresh cache each time,
and prints the windows planned, the seconds and windows per second. Run it with
OMP_NUM_THREADS set and note the machine's load beside the figure.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from hms_kit.config import PredictConfig
from hms_kit.data import Competition
from hms_kit.predict import find_checkpoints, predict_test
from hms_kit.scoring.windows import window_rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--competition", type=Path, required=True)
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--stride-s", type=float, default=PredictConfig.stride_s)
    p.add_argument("--max-windows", type=int, default=PredictConfig.max_windows)
    args = p.parse_args()
    comp = Competition(args.competition)
    cfg = PredictConfig(stride_s=args.stride_s, max_windows=args.max_windows)
    plan = window_rows(comp, comp.read_test(), cfg)
    n = len(plan) if plan is not None else len(comp.read_test())
    n_ckpt = len(find_checkpoints([args.run]))
    with tempfile.TemporaryDirectory(prefix="hms_win_cost_") as cache:
        start = time.perf_counter()
        _, report = predict_test(comp, [args.run], cache_dir=cache, windows=cfg)
        seconds = time.perf_counter() - start
    views = ", ".join(sorted(set(report["views"].values()))) or "none"
    print(
        f"{n} windows x {n_ckpt} checkpoints in {seconds:.1f} s: {n / seconds:.2f} windows/s "
        f"(stride {args.stride_s} s, at most {args.max_windows} per EEG; the run's views: "
        f"{views})"
    )


if __name__ == "__main__":
    main()
