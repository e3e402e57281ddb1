"""Atomic file writes: write to a temporary name beside the target, then rename.

A killed process leaves at most a ``*.tmp-*`` file that no reader trusts, never a truncated
file under the real name. The file gets the mode a plain ``open()`` would give it (0666 less
the umask), not the 0600 of the temporary file. Nothing is fsynced: the writes guard
against a killed process (a session's time limit, a stopped kernel), whose written pages the
operating system keeps; a machine that loses power mid-run loses its session's files anyway.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd


def _umask() -> int:
    # os.umask can only be read by setting it; put it straight back
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp_path)`` then rename tmp_path to ``path``; returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        writer(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda p: p.write_text(text))


def atomic_write_csv(path: str | Path, frame: pd.DataFrame, **kwargs) -> Path:
    """Write a DataFrame as CSV (no index) atomically."""
    kwargs.setdefault("index", False)
    return atomic_write(path, lambda p: frame.to_csv(p, **kwargs))
