"""HMS train kernel: install the hms_kit wheel offline, then cache, train folds, write outputs.

Settings: config.yaml beside the wheel; HMS_FOLDS=0,1 trains some folds (one kernel per fold
can run in parallel). Root: $HMS_KAGGLE_ROOT or /kaggle, so the same file runs locally.
"""

import glob
import os
import subprocess
import sys
import tempfile

ROOT = os.environ.get("HMS_KAGGLE_ROOT", "/kaggle")


def main() -> None:
    wheels = sorted(glob.glob(f"{ROOT}/input/*/hms_kit-*.whl"))
    if not wheels:
        sys.exit(f"no hms_kit wheel in {ROOT}/input/*/: attach the wheel dataset")
    target = tempfile.mkdtemp(prefix="hms_kit_")
    subprocess.check_call(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            "--target",
            target,
            wheels[-1],
        ]
    )
    sys.path.insert(0, target)

    from hms_kit.kernel import run_train_kernel

    run_train_kernel(ROOT)


# the guard matters: the cache build starts worker processes that re-import this file
if __name__ == "__main__":
    main()
