"""Shared fixtures: the real competition files, and one tiny synthetic competition with its
folds file and one tiny trained run per family, each built once per session by the README's
own commands (``python -m hms_kit synth``, ``folds``, ``train``) so that tests/test_commands.py
asserts on what those commands printed and wrote, and every other test reuses them.

The session's objects are shared: a test that damages or retrains copies first
(``damaged_copy``, its own ``tmp_path``)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from hms_kit.cli import main
from hms_kit.data import Competition
from hms_kit.runlog import LOGGER_NAME

REAL = Path(__file__).parent / "data" / "real"
# The shared competition: small enough to train on in seconds, with every class, two vote
# populations, 4 patients (2 folds) and a test set of 6 EEGs.
SHARED_N_EEGS, SHARED_SEED, SHARED_N_TEST = 24, 3, 6
SHARED_SYNTH = ["--n-eegs", SHARED_N_EEGS, "--seed", SHARED_SEED, "--n-test", SHARED_N_TEST]


# Slow-tier tests of a file another branch is reorganising (hms_kit/publish -> a package):
# marked here rather than in the file, by name; the hook below fails the run when a name
# goes missing, so the list cannot silently stop working. Each is a long `make wait` or
# queue story against the fake Kaggle server; the fast tier keeps push, wait, pull, status
# and submit (test_status_and_submit, test_pull_writes_the_output_into_a_run_folder, ...).
SLOW_ELSEWHERE = {
    "test_publish.py": (
        "test_queue_holds_infer_until_every_config_completes",
        "test_infer_attaches_every_config_times_every_fold",
        "test_wait_polls_the_dataset_until_ready",
        "test_push_kernel_infer_with_folds_attaches_every_fold_kernel",
        "test_five_folds_run_two_at_a_time_and_wait_pushes_the_rest",
    ),
}


def pytest_configure(config) -> None:
    # `make test` runs the suite on pytest-xdist workers, a test file per worker at a time
    # (``--dist loadfile``: test_publish.py's fake Kaggle server binds 127.0.0.1:80, which one
    # process at a time can hold; xdist's ``loadgroup`` no longer groups under pytest 9.2)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # a worker per core: torch's own threads on top would oversubscribe the cores (torch
        # slows ~10x when another process competes); subprocesses inherit the setting. Set
        # here, before any test module imports torch.
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = "1"


@pytest.hookimpl(tryfirst=True)  # before -m / -k deselect anything
def pytest_collection_modifyitems(config, items) -> None:
    found: dict[str, set[str]] = {}
    for item in items:
        names = SLOW_ELSEWHERE.get(item.path.name)
        if names is None:
            continue
        found.setdefault(item.path.name, set()).add(item.originalname)
        if item.originalname in names:
            item.add_marker(pytest.mark.slow)
    for file, seen in found.items():
        missing = set(SLOW_ELSEWHERE[file]) - seen
        if missing:
            raise pytest.UsageError(f"conftest.SLOW_ELSEWHERE: {file} has no {sorted(missing)}")


@pytest.fixture(scope="session")
def real_dir() -> Path:
    """tests/data/real: real Kaggle files laid out as a competition folder (see NOTICE.md)."""
    return REAL


def tiny_overrides(n_folds: int = 2) -> list[str]:
    """``--set`` overrides for a tiny, fast training: the test model at a quarter scale, one
    epoch per stage, stage 2 on rows with >= 5 votes, no DataLoader workers."""
    return [
        "model.name=test_efficientnet",
        f"train.n_folds={n_folds}",
        "train.stage1.epochs=1",
        "train.stage2.epochs=1",
        "train.stage2.min_votes=5",
        "train.batch_size=8",
        "train.num_workers=0",
        "inputs.scale=0.25",
    ]


@dataclass(frozen=True)
class Printed:
    """What one ``python -m hms_kit`` command returned and printed."""

    rc: int
    out: str
    err: str

    def last(self) -> str:
        """The last line printed on stdout."""
        return self.out.strip().splitlines()[-1]


def run_command(*args: object) -> Printed:
    """``python -m hms_kit *args`` in this process (an import saved per call), its stdout and
    stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in args])
    return Printed(rc, out.getvalue(), err.getvalue())


def ok(printed: Printed) -> Printed:
    """``printed``, after checking the command succeeded (its stderr tail otherwise)."""
    assert printed.rc == 0, printed.err[-3000:] + printed.out[-2000:]
    return printed


@dataclass(frozen=True)
class Shared:
    """The session's competition: ``root`` in Kaggle's layout (answers in ``root/_synth``),
    ``split`` MLE-bench's split of it (``public/``, ``private/answers.csv``), ``synth`` what
    ``synth ... --layout mlebench`` printed."""

    root: Path
    split: Path
    synth: Printed

    @property
    def comp(self) -> Competition:
        return Competition(self.root)


@pytest.fixture(scope="session")
def shared(tmp_path_factory) -> Shared:
    """The one tiny competition of the session (``synth --layout mlebench``)."""
    out = tmp_path_factory.mktemp("shared")
    printed = ok(run_command("synth", out, *SHARED_SYNTH, "--layout", "mlebench"))
    return Shared(out / "source", out / "mlebench", printed)


@pytest.fixture(scope="session")
def shared_comp(shared) -> Competition:
    """The shared competition, as the kit opens it."""
    return shared.comp


@dataclass(frozen=True)
class Made:
    """A file or folder a command made, and what the command printed."""

    path: Path
    printed: Printed


@pytest.fixture(scope="session")
def shared_folds(shared, tmp_path_factory) -> Made:
    """``folds --n-folds 2`` on the shared competition: the folds file every shared run uses."""
    out = tmp_path_factory.mktemp("shared_folds") / "folds.csv"
    printed = ok(run_command("folds", "--competition", shared.root, "--out", out, "--n-folds", 2))
    return Made(out, printed)


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """The feature cache folder the shared runs (and tests that train alike) build and reuse."""
    return tmp_path_factory.mktemp("shared_cache")


def _train_shared(shared, folds: Made, cache: Path, out: Path, *settings: str) -> Made:
    args = ["train", "--competition", shared.root, "--out", out, "--folds-file", folds.path]
    args += ["--cache", cache, "--workers", 1]
    for item in settings:
        args += ["--set", item]
    return Made(out, ok(run_command(*args)))


@pytest.fixture(scope="session")
def cnn_run(shared, shared_folds, shared_cache, tmp_path_factory) -> Made:
    """``train`` of the default family (timm2d) at ``tiny_overrides(2)`` on the shared folds:
    two folds, two stages of one epoch each. Read it, never write into it."""
    out = tmp_path_factory.mktemp("cnn_run") / "run"
    return _train_shared(shared, shared_folds, shared_cache, out, *tiny_overrides(2))


@pytest.fixture(scope="session")
def baseline_run(shared, shared_folds, shared_cache, tmp_path_factory) -> Made:
    """``train --config baseline`` on the shared folds (band powers, logistic regression)."""
    out = tmp_path_factory.mktemp("baseline_run") / "run"
    args = ["train", "--competition", shared.root, "--out", out, "--config", "baseline"]
    args += ["--folds-file", shared_folds.path, "--set", "train.n_folds=2"]
    return Made(out, ok(run_command(*args)))


@pytest.fixture(scope="session")
def mlebench_run(shared, tmp_path_factory) -> Made:
    """The README's MLE-bench block's ``train`` on the shared split's public half, for
    ``target.population=all_rows`` (the baseline family, two folds, for time)."""
    out = tmp_path_factory.mktemp("mlebench_run") / "run"
    args = ["train", "--competition", shared.split / "public", "--config", "baseline"]
    args += ["--set", "target.population=all_rows", "--set", "train.n_folds=2", "--out", out]
    return Made(out, ok(run_command(*args)))


def damaged_copy(src: Path, dst: Path, folder: str, changes: dict[int, bytes | None]) -> Path:
    """A competition folder at ``dst`` that links to ``src`` except in ``folder`` (e.g.
    ``test_eegs``), where the parquet of each id in ``changes`` is replaced by the given bytes,
    or left out when they are None. Returns ``dst``."""
    dst.mkdir(parents=True)
    for item in src.iterdir():
        if item.name != folder:
            (dst / item.name).symlink_to(item)
    (dst / folder).mkdir()
    for f in (src / folder).iterdir():
        new = changes.get(int(f.stem), f) if f.stem.isdigit() else f
        if isinstance(new, bytes):
            (dst / folder / f.name).write_bytes(new)
        elif new is not None:
            (dst / folder / f.name).symlink_to(f)
    return dst


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def kit_log():
    """The lines the kit logs (the ``hms_kit`` logger does not propagate to caplog) while
    the test runs, as a list of messages."""
    handler = _Collect()
    log = logging.getLogger(LOGGER_NAME)
    level = log.level
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    yield handler.lines
    log.removeHandler(handler)
    log.setLevel(level)
