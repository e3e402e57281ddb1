"""Where things live, locally and on Kaggle: the one module that knows the folder layout.

A Kaggle session keeps outputs under ``<root>/working`` (kept, 20 GB) and scratch under
``<root>/temp`` (not kept). Attached inputs are mounted under ``<root>/input`` in one of two
layouts, and both are met in practice:

- the 2024 layout: every input directly under ``input/<slug>/``;
- today's layout: ``input/competitions/<slug>/``, ``input/datasets/<owner>/<slug>/`` and
  ``input/notebooks/<owner>/<slug>/``.

So no input is looked up by its slug: the competition is the attached folder holding
``train.csv`` and ``test_eegs/``, the wheel dataset the one holding ``hms_kit-*.whl``, model
inputs every other attached folder (checkpoints and OOF files are found in them by name).
The old places are searched first. ``root`` is ``/kaggle`` unless ``HMS_KAGGLE_ROOT`` says
otherwise, so the kernels run unchanged in a local tree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hms_kit import schema

ENV_DATA_DIR = "HMS_DATA_DIR"
ENV_KAGGLE_ROOT = "HMS_KAGGLE_ROOT"
# Set by the kernel scripts to the wheel they installed, so its config.yaml is the one used.
ENV_WHEEL = "HMS_WHEEL"
WHEEL_GLOB = "hms_kit-*.whl"
# Today's layout: input/competitions/<slug>, input/{datasets,notebooks}/<owner>/<slug>.
MOUNT_DEPTH = {"competitions": 1, "datasets": 2, "notebooks": 2}


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

    def attached(self) -> list[Path]:
        """Every attached input folder, the 2024 layout's (``input/<slug>``) first, then
        ``input/competitions/*``, ``input/datasets/*/*``, ``input/notebooks/*/*``."""
        if not self.input.is_dir():
            return []
        flat, mounted = [], []
        for d in sorted(p for p in self.input.iterdir() if p.is_dir()):
            if d.name in MOUNT_DEPTH and not _holds_files(d):
                mounted += _dirs_at(d, MOUNT_DEPTH[d.name])
            else:
                flat.append(d)
        return flat + mounted

    @property
    def competition(self) -> Path:
        """The competition folder: the first attached folder holding ``train.csv`` and
        ``test_eegs/`` (the slug-named ones first); the 2024 place when none does, so an
        error names where it looked."""
        old = self.input / schema.COMPETITION_SLUG
        candidates = [old, self.input / "competitions" / schema.COMPETITION_SLUG]
        for d in candidates + self.attached():
            if is_competition_dir(d):
                return d
        return old

    def model_inputs(self) -> list[Path]:
        """Attached folders that may hold checkpoints and OOF files: all but the competition."""
        comp = self.competition.resolve()
        return [d for d in self.attached() if d.resolve() != comp]

    def wheels(self) -> list[Path]:
        """Every ``hms_kit-*.whl`` at the top of an attached folder, in :meth:`attached` order."""
        return [w for d in self.attached() for w in sorted(d.glob(WHEEL_GLOB))]


def _holds_files(d: Path) -> bool:
    # a dataset that happens to be called "datasets" holds files; the mount folder holds folders
    return any(p.is_file() for p in d.iterdir())


def _dirs_at(d: Path, depth: int) -> list[Path]:
    level = [d]
    for _ in range(depth):
        level = [c for p in level for c in sorted(p.iterdir()) if c.is_dir()]
    return level


def is_competition_dir(d: Path) -> bool:
    """Whether ``d`` holds the competition's files (``train.csv`` and ``test_eegs/``)."""
    return (d / "train.csv").is_file() and (d / "test_eegs").is_dir()


def kaggle_paths(root: str | Path | None = None) -> KagglePaths:
    """Kaggle slots under ``root``, ``$HMS_KAGGLE_ROOT`` or ``/kaggle``."""
    return KagglePaths(Path(root or os.environ.get(ENV_KAGGLE_ROOT) or schema.KAGGLE_ROOT))


def find_competition_dir(path: str | Path | None = None) -> Path:
    """The competition folder: ``path``, else ``$HMS_DATA_DIR``, else the one attached to
    the Kaggle session (found by its contents, see :class:`KagglePaths`)."""
    if path:
        return Path(path)
    if os.environ.get(ENV_DATA_DIR):
        return Path(os.environ[ENV_DATA_DIR])
    kaggle = kaggle_paths()
    if is_competition_dir(kaggle.competition):
        return kaggle.competition
    raise FileNotFoundError(
        f"no competition folder: pass a path, set {ENV_DATA_DIR}, or attach the competition "
        f"(a folder with train.csv and test_eegs/ under {kaggle.input})"
    )
