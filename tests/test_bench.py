"""`make bench` on a tiny input: every section is measured and written (no speed asserted)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # every benchmark section, a minute
def test_make_bench_tiny_writes_every_section(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    proc = subprocess.run(
        ["make", "-s", "bench", "BENCH_ARGS=--tiny", f"BENCH_OUT={out}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    for section in ("1 cache build", "2 inputs from cache", "3 model", "4 inference kernel"):
        assert f"## {section}" in text
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and not ln.startswith("| what")]
    values = [float(ln.split("|")[2]) for ln in rows]
    assert len(values) >= 20 and all(v > 0 for v in values)
    assert re.search(r"kaggle\+eeg tile \| [\d.]+ \| inputs/s \| >= 150/s", text)
