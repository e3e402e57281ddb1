"""Atomic writes: the file appears whole under its name, with an ordinary file's mode."""

from __future__ import annotations

import os

import pandas as pd

from hms_kit.io import atomic_write_csv, atomic_write_text


def test_written_files_get_the_umask_mode_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        a = atomic_write_text(tmp_path / "a.txt", "x")
        b = atomic_write_csv(tmp_path / "b.csv", pd.DataFrame({"x": [1]}))
        assert (a.stat().st_mode & 0o777) == 0o644 and (b.stat().st_mode & 0o777) == 0o644
        os.umask(0o027)
        c = atomic_write_text(tmp_path / "c.txt", "x")
        assert (c.stat().st_mode & 0o777) == 0o640
    finally:
        os.umask(old)
    assert a.read_text() == "x" and not list(tmp_path.glob(".*tmp-*"))
