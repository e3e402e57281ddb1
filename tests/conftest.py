"""Shared fixtures: the real competition files and a small synthetic competition."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hms_kit.runlog import LOGGER_NAME

REAL = Path(__file__).parent / "data" / "real"


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
