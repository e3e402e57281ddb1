"""`make bench` on a tiny input: every section is measured and written (no speed asserted)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from hms_kit.tools.quality import QUALITY_END, QUALITY_START

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # every benchmark section, a minute
def test_make_bench_tiny_writes_every_section(tmp_path):
    out, scratch = tmp_path / "BENCHMARKS.md", tmp_path / "tmp"
    scratch.mkdir()
    # a learning-curve section from its own command, with notes written after it
    notes = "Stop 33: what the table shows.\n"
    out.write_text(f"# old\n\n{QUALITY_START}\n## 7 curves\n{QUALITY_END}\n\n{notes}")
    proc = subprocess.run(
        ["make", "-s", "bench", "BENCH_ARGS=--tiny", f"BENCH_OUT={out}"],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(scratch)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not list(scratch.glob("hms_bench_*")), "scratch competitions or caches left behind"
    text = out.read_text()
    assert "# old" not in text and text.count(QUALITY_START) == 1
    assert text.endswith(f"## 7 curves\n{QUALITY_END}\n\n{notes}")
    for section in ("1 cache build", "2 inputs from cache", "3 model", "4 inference kernel"):
        assert f"## {section}" in text
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and not ln.startswith("| what")]
    values = [float(ln.split("|")[2]) for ln in rows]
    assert len(values) >= 20 and all(v > 0 for v in values)
    assert re.search(r"kaggle\+eeg tile \| [\d.]+ \| inputs/s \| >= 150/s", text)


@pytest.mark.slow  # make, a fresh interpreter and the tiny check: half a minute
def test_make_gpu_check_tiny_writes_the_gpu_section_and_the_json(tmp_path):
    """``make gpu-check`` wiring: BENCH_OUT and GPU_CHECK_JSON reach the command, and
    GPU_CHECK_ARGS=--tiny runs it on the CPU (the venv as it is: PY and STAMP given)."""
    import json
    import sys

    from hms_kit.tools.gpu_check import GPU_END, GPU_START

    out, js, stamp = tmp_path / "BENCHMARKS.md", tmp_path / "g.json", tmp_path / "stamp"
    stamp.touch()
    proc = subprocess.run(
        ["make", "-s", "gpu-check", f"PY={sys.executable}", f"STAMP={stamp}",
         f"BENCH_OUT={out}", f"GPU_CHECK_JSON={js}",
         "GPU_CHECK_ARGS=--tiny --config kaggle-eeg1d"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert text.count(GPU_START) == text.count(GPU_END) == 1, text
    assert "| kaggle-eeg1d | raw_eeg" in text, text
    data = json.loads(js.read_text())
    assert data["tiny"] and data["configs"][0]["full"] > 0
