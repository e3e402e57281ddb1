"""HMS inference kernel (internet off): install the hms_kit wheel offline, predict test.csv
with every fold checkpoint attached, write /kaggle/working/submission.csv.

Kaggle's commit run fails (no submission.csv) when no checkpoint predicts or a row would fall
back to the prior, so such a version cannot be submitted. The rerun on the hidden test set
(KAGGLE_IS_COMPETITION_RERUN set) always writes a valid submission: a missing checkpoint or
unreadable test file is logged and its rows get the prior. Root: $HMS_KAGGLE_ROOT or /kaggle.
"""

import atexit
import glob
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.environ.get("HMS_KAGGLE_ROOT", "/kaggle")
RERUN = os.environ.get("KAGGLE_IS_COMPETITION_RERUN", "").lower() not in ("", "0", "false", "no")


def uniform_submission() -> None:
    """The rerun's last resort without the kit: 1/6 for every row of test.csv."""
    found = [t for d in range(1, 4) for t in sorted(glob.glob(f"{ROOT}/input/{'*/' * d}test.csv"))]
    os.makedirs(f"{ROOT}/working", exist_ok=True)
    with open(found[0]) as src, open(f"{ROOT}/working/submission.csv", "w") as out:
        header = src.readline().strip().split(",")
        col = header.index("eeg_id")
        labels = ("seizure", "lpd", "gpd", "lrda", "grda", "other")
        out.write(",".join(["eeg_id"] + [f"{c}_vote" for c in labels]) + "\n")
        for line in src:
            if line.strip():
                out.write(line.split(",")[col] + (",%.10f" % (1 / 6)) * 6 + "\n")


def main() -> None:
    wheels = [
        w for d in range(1, 5) for w in sorted(glob.glob(f"{ROOT}/input/{'*/' * d}hms_kit-*.whl"))
    ]
    if not wheels:
        message = f"no hms_kit-*.whl under {ROOT}/input: attach the wheel dataset"
        if not RERUN:
            sys.exit(f"error: {message}")
        uniform_submission()  # an exception in the rerun would cost the submission
        print(f"warning: {message} (wrote 1/6 for every row)", file=sys.stderr)
        return
    os.environ["HMS_WHEEL"] = wheels[0]
    target = tempfile.mkdtemp(prefix="hms_kit_")
    atexit.register(shutil.rmtree, target, True)  # a local run (make demo, tests) keeps no copy
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
    subprocess.check_call([*pip, "--target", target, wheels[0]])
    sys.path.insert(0, target)

    from hms_kit.runtime import CommitRunError, run_infer_kernel

    try:
        run_infer_kernel(ROOT)
    except CommitRunError as exc:
        sys.exit(f"error: {exc}")


# the guard matters: the cache build starts worker processes that re-import this file
if __name__ == "__main__":
    main()
