"""The scale benchmark: a tiny run writes its table (no timing asserted), the slope and the
projection arithmetic, the /proc memory readings, and the BENCHMARKS.md splice."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from hms_kit.cli import main
from hms_kit.cli.bench import SCALE_END, SCALE_START, scale_section, splice_scale
from hms_kit.tools import bench_scale, scale_report


def _cell_figures(line: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?|nan|inf", line.split("|", 2)[2])]


@pytest.mark.slow  # bench --scale end to end: three tiny competitions, each family
def test_tiny_scale_run_writes_the_table(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n\n## 1 cache build\n\nkept\n")
    raw = tmp_path / "scale.json"
    rc = main(
        [
            "bench",
            "--scale",
            "3,6",
            "--row-modes",
            "dedup",
            "--features",
            "kaggle,eeg",
            "--gen-workers",
            "1",
            "--max-test",
            "2",
            "--in-process",
            "--no-full-labels",
            "--work-dir",
            str(tmp_path / "work"),
            "--out",
            str(out),
            "--scale-json",
            str(raw),
        ]
    )
    assert rc == 0
    text = out.read_text()
    assert text.startswith("# Benchmarks") and "kept" in text  # the rest of the file stays
    section = scale_section(text)
    assert (
        "## 5 cost at scale" in section
        and "Made by `python -m hms_kit bench --scale 3,6" in section
    )
    stages = [
        "generate",
        "read train.csv",
        "cache dedup kaggle",
        "cache dedup eeg",
        "loader pass",
        "loader + model",
        "oof + blend",
        "inference kernel",
    ]
    table = section.split("### Slopes")[0]
    for stage in stages:
        line = next(ln for ln in table.splitlines() if ln.startswith(f"| {stage} |"))
        figures = _cell_figures(line)
        # per size: seconds, peak tree GB, anon GB, disk GB
        assert len(figures) == 8, line
        assert all(math.isfinite(v) and v >= 0 for v in figures), line
    slopes = section.split("### Slopes")[1]
    for stage in stages:
        line = next(ln for ln in slopes.splitlines() if ln.startswith(f"| {stage} |"))
        assert len(line.split("|")) == 11, line
    assert "train kernel peak memory" in section
    # the raw figures render the same section again
    report = scale_report.from_json(raw.read_text())
    assert {r["stage"] for r in report.rows} == set(stages)
    assert {r["size"] for r in report.rows} == {3, 6}
    for r in report.rows:  # the unrounded figures
        assert r["seconds"] > 0 and r["peak_tree"] > 0 and r["peak_anon"] > 0, r
        assert r["peak_tree"] >= r["peak_anon"] and r["n"] > 0, r
        assert math.isfinite(r["seconds"]) and r.get("disk", 0) >= 0, r
    for stage in ("generate", "cache dedup kaggle", "cache dedup eeg", "inference kernel"):
        assert all(r["disk"] > 0 for r in report.rows if r["stage"] == stage), stage
    assert scale_report.render(report).split("### Slopes")[0] == table.replace(
        SCALE_START + "\n", ""
    )


def test_slope_and_projection_arithmetic():
    n = np.array([100.0, 200.0, 400.0])
    assert scale_report.slope(n, 3 * n) == pytest.approx(1.0)
    assert scale_report.slope(n, 0.5 * n**2) == pytest.approx(2.0)
    assert math.isnan(scale_report.slope(n[:1], n[:1]))
    # power law: exact
    assert scale_report.project(n, 0.5 * n**2, 1000) == pytest.approx(0.5 * 1000**2)
    # a fixed cost plus a per-EEG cost: the straight line wins over the flattened power law
    y = 50 + 0.1 * n
    assert scale_report.project(n, y, 10_000) == pytest.approx(50 + 0.1 * 10_000)
    assert scale_report.project(n[:1], y[:1], 1000) == pytest.approx(y[0] * 10)


def test_memory_of_a_process_tree():
    code = (
        "import time; x = bytearray(200 * 2**20); x[::4096] = b'1' * len(x[::4096]); time.sleep(30)"
    )
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            mem, anon = bench_scale.rss_bytes(child.pid)
            if anon > 150 * 2**20:
                break
            time.sleep(0.1)
        assert child.pid in bench_scale.tree_pids(os.getpid())
        assert mem >= anon > 150 * 2**20  # the 200 MiB it touched
        with bench_scale.TreeSampler(os.getpid(), interval=0.05) as sampler:
            time.sleep(0.2)
        assert sampler.peak_anon > 150 * 2**20 and sampler.peak_rss >= sampler.peak_anon
    finally:
        child.kill()
        child.wait()
    assert bench_scale.rss_bytes(child.pid) == (0, 0)


def test_measure_reports_a_child_failure():
    with pytest.raises(RuntimeError, match="stage_read_train failed"):
        bench_scale.measure(bench_scale.stage_read_train, isolate=False, root="/nonexistent")


def test_splice_replaces_only_the_scale_section():
    text = "# B\n\n## 1\n\nx\n"
    once = splice_scale(text, "## 5 cost at scale\n\nA\n")
    assert once.startswith(text.rstrip()) and "A" in once and once.count(SCALE_START) == 1
    twice = splice_scale(once + "\ntail\n", "## 5 cost at scale\n\nB\n")
    assert "A" not in twice and "B" in twice and twice.endswith("tail\n")
    assert twice.count(SCALE_START) == 1 and twice.count(SCALE_END) == 1


def test_scale_rejects_bad_sizes(capsys, tmp_path):
    assert main(["bench", "--scale", "10,x", "--out", str(tmp_path / "b.md")]) == 2
    assert "comma-separated integers" in capsys.readouterr().err
