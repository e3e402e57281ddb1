"""Where things live, locally and on Kaggle: the one module that knows the folder layout.

On Kaggle the competition is under ``<root>/input/<slug>``, outputs under
``<root>/working`` (kept, 20 GB) and scratch under ``<root>/temp`` (not kept). ``root`` is
``/kaggle`` unless ``HMS_KAGGLE_ROOT`` says otherwise, so the kernels run unchanged in a
local tree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hms_kit import schema

ENV_DATA_DIR = "HMS_DATA_DIR"
ENV_KAGGLE_ROOT = "HMS_KAGGLE_ROOT"


@dataclass(frozen=True)
class KagglePaths:
    """The slots of a Kaggle session (or a local tree laid out the same way)."""

    root: Path

    @property
    def input(self) -> Path:
        return self.root / "input"

    @property
    def working(self) -> Path:
        return self.root / "working"

    @property
    def temp(self) -> Path:
        return self.root / "temp"

    @property
    def competition(self) -> Path:
        return self.input / schema.COMPETITION_SLUG


def kaggle_paths(root: str | Path | None = None) -> KagglePaths:
    """Kaggle slots under ``root``, ``$HMS_KAGGLE_ROOT`` or ``/kaggle``."""
    return KagglePaths(Path(root or os.environ.get(ENV_KAGGLE_ROOT) or schema.KAGGLE_ROOT))


def find_competition_dir(path: str | Path | None = None) -> Path:
    """The competition folder: ``path``, else ``$HMS_DATA_DIR``, else Kaggle's input folder."""
    if path:
        return Path(path)
    if os.environ.get(ENV_DATA_DIR):
        return Path(os.environ[ENV_DATA_DIR])
    kaggle = kaggle_paths().competition
    if kaggle.is_dir():
        return kaggle
    raise FileNotFoundError(
        f"no competition folder: pass a path, set {ENV_DATA_DIR}, or run where {kaggle} exists"
    )
