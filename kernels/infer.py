"""HMS inference kernel (internet off): install the hms_kit wheel offline, predict test.csv
with every fold checkpoint attached, write /kaggle/working/submission.csv.

Kaggle's commit run fails (no submission.csv) when no checkpoint predicts or a row would fall
back to the prior, so such a version cannot be submitted. The rerun on the hidden test set
(KAGGLE_IS_COMPETITION_RERUN set) always writes a valid submission: a missing checkpoint or
unreadable test file is logged and its rows get the prior; a wheel that will not install, or
a kit that fails before it wrote anything, gives 1/6 for every row. Root: $HMS_KAGGLE_ROOT
or /kaggle.
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
    """The rerun's last resort without the kit: 1/6 for every row of test.csv, written to a
    temporary name and renamed, so a reader never sees half a file."""
    found = [t for d in range(1, 4) for t in sorted(glob.glob(f"{ROOT}/input/{'*/' * d}test.csv"))]
    os.makedirs(f"{ROOT}/working", exist_ok=True)
    path = f"{ROOT}/working/submission.csv"
    try:
        with open(found[0]) as src, open(path + ".tmp", "w") as out:
            header = src.readline().strip().split(",")
            col = header.index("eeg_id")
            labels = ("seizure", "lpd", "gpd", "lrda", "grda", "other")
            out.write(",".join(["eeg_id"] + [f"{c}_vote" for c in labels]) + "\n")
            for line in src:
                if line.strip():
                    out.write(line.split(",")[col].strip() + (",%.10f" % (1 / 6)) * 6 + "\n")
        os.replace(path + ".tmp", path)
    except BaseException:
        # a test.csv it cannot read leaves no half-written file behind
        if os.path.exists(path + ".tmp"):
            os.remove(path + ".tmp")
        raise


def last_resort() -> None:
    """The rerun without the kit: ``uniform_submission``, which can fail only where no valid
    submission can be written (no test.csv, or one without eeg_id): then a warning."""
    try:
        uniform_submission()
        print("warning: wrote 1/6 for every row", file=sys.stderr)
    except (OSError, IndexError, ValueError) as exc:
        print(f"error: no submission.csv could be written ({exc!r})", file=sys.stderr)


def install(wheel: str) -> None:
    """pip-install ``wheel`` offline into a temporary folder and put it first on sys.path."""
    target = tempfile.mkdtemp(prefix="hms_kit_")
    atexit.register(shutil.rmtree, target, True)  # a local run (make demo, tests) keeps no copy
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
    if subprocess.call([*pip, "--target", target, wheel]) != 0:
        raise RuntimeError(f"pip could not install {wheel}")
    sys.path.insert(0, target)


def main() -> None:
    wheels = [
        w for d in range(1, 5) for w in sorted(glob.glob(f"{ROOT}/input/{'*/' * d}hms_kit-*.whl"))
    ]
    if not wheels:
        message = f"no hms_kit-*.whl under {ROOT}/input: attach the wheel dataset"
        if not RERUN:
            sys.exit(f"error: {message}")
        print(f"warning: {message}", file=sys.stderr)
        last_resort()
        return
    os.environ["HMS_WHEEL"] = wheels[0]
    if not RERUN:
        try:
            install(wheels[0])
        except RuntimeError as exc:
            sys.exit(f"error: {exc}")
        from hms_kit.runtime import CommitRunError, run_infer_kernel

        try:
            run_infer_kernel(ROOT)
        except CommitRunError as exc:
            sys.exit(f"error: {exc}")
        return
    path = f"{ROOT}/working/submission.csv"
    before = os.stat(path).st_mtime_ns if os.path.exists(path) else None
    try:
        install(wheels[0])
        from hms_kit.runtime import run_infer_kernel

        run_infer_kernel(ROOT)
    except (Exception, SystemExit) as exc:  # an exception in the rerun costs the submission
        print(f"warning: the rerun failed ({exc!r})", file=sys.stderr)
        # the kit writes the prior before anything else: keep what it wrote (this run's
        # file, not one an earlier run left in working/)
        if os.path.exists(path) and os.stat(path).st_mtime_ns != before:
            print("warning: kept the submission.csv the kit wrote", file=sys.stderr)
        else:
            last_resort()


# the guard matters: the cache build starts worker processes that re-import this file
if __name__ == "__main__":
    main()
