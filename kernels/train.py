"""HMS train kernel: install the hms_kit wheel offline, then cache, train folds, write outputs.

Settings: config.yaml beside the wheel; SETTINGS below (filled per kernel by
`python -m hms_kit.publish push-kernel --folds/--config`: {"folds": "0,1"} trains some folds,
one kernel per fold can run in parallel; {"config": "seed"} runs a packaged config; the
HMS_FOLDS / HMS_CONFIG variables win where they can be set). Attach this kernel's own
earlier output to continue it. Inputs are found by their contents under either of Kaggle's
mount layouts. Root: $HMS_KAGGLE_ROOT or /kaggle, so the same file runs locally.
"""

import atexit
import glob
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.environ.get("HMS_KAGGLE_ROOT", "/kaggle")
SETTINGS: dict[str, str] = {}  # hms_kit.publish fills this line


def install_wheel() -> None:
    """pip-install the shallowest hms_kit wheel under ROOT/input (no index, no deps)."""
    # input/<slug>/ (2024 layout), then input/datasets/<owner>/<slug>/ and deeper
    wheels = [
        w for d in range(1, 5) for w in sorted(glob.glob(f"{ROOT}/input/{'*/' * d}hms_kit-*.whl"))
    ]
    if not wheels:
        sys.exit(f"error: no hms_kit-*.whl under {ROOT}/input: attach the wheel dataset")
    os.environ["HMS_WHEEL"] = wheels[0]
    target = tempfile.mkdtemp(prefix="hms_kit_")
    atexit.register(shutil.rmtree, target, True)  # a local run (make demo, tests) keeps no copy
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
    subprocess.check_call([*pip, "--target", target, wheels[0]])
    sys.path.insert(0, target)


def main() -> None:
    install_wheel()
    from hms_kit.runtime import run_train_kernel

    run_train_kernel(ROOT, SETTINGS)


# the guard matters: the cache build starts worker processes that re-import this file
if __name__ == "__main__":
    main()
