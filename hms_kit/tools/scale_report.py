"""Cost at scale, the report: slopes (log-log, against the number of train EEGs), the
projection to the full competition, the Markdown section of BENCHMARKS.md and the JSON of a
run. Pure over a :class:`ScaleReport` (``hms_kit.tools.bench_scale`` measures one).
"""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hms_kit import schema

FULL_EEGS = schema.FULL_TRAIN_EEGS
THIS_MACHINE_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
KAGGLE = {
    "ram_gb": schema.KAGGLE_RAM_GB,
    "cpu_cores": schema.KAGGLE_CPU_CORES,
    "gpu_gb": 16.0,
    "disk_gb": schema.KAGGLE_DISK_GB,
    "working_gb": schema.KAGGLE_WORKING_GB,
}
KAGGLE_HOURS = schema.KAGGLE_SESSION_HOURS
TRAIN_RAM_TARGET_GB = 24.0


def _cfg(config: str, overrides: list[str]):
    from hms_kit.config import load_config

    cfg = load_config(config, overrides)
    cfg.model.pretrained = False  # benchmarks never download weights
    return cfg


@dataclass
class ScaleReport:
    """Measured figures: ``rows`` has one dict per (size, stage)."""

    command: str
    machine: str
    load: str
    sizes: list[int]
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    full: dict[str, int] = field(default_factory=dict)  # ``full_items``
    row_mode: str = "dedup"  # the config's, which the loader stages use


# --- slopes and projection ------------------------------------------------------------------

METRICS = ("seconds", "peak_tree", "peak_anon", "disk")


def slope(sizes: np.ndarray, values: np.ndarray) -> float:
    """Least-squares slope of log(value) against log(size); NaN with < 2 positive points."""
    sizes, values = np.asarray(sizes, float), np.asarray(values, float)
    ok = (values > 0) & (sizes > 0)
    if len(np.unique(sizes[ok])) < 2:
        return float("nan")
    return float(np.polyfit(np.log(sizes[ok]), np.log(values[ok]), 1)[0])


def project(sizes: np.ndarray, values: np.ndarray, target: int = FULL_EEGS) -> float:
    """The value at ``target``: the larger of the power law through the points (log-log fit)
    and the straight line ``a + b * size`` (a fixed cost plus a per-EEG cost), so neither a
    large fixed cost (which flattens the slope) nor a curve hides growth."""
    sizes, values = np.asarray(sizes, float), np.asarray(values, float)
    ok = values > 0
    if ok.sum() == 0:
        return 0.0
    if len(np.unique(sizes[ok])) < 2:  # one size: proportional to it
        return float(values[ok].mean() * target / sizes[ok].mean())
    k = slope(sizes, values)
    c = np.polyfit(np.log(sizes[ok]), np.log(values[ok]), 1)[1]
    power = math.exp(c) * target**k
    b, a = np.polyfit(sizes[ok], values[ok], 1)
    return float(max(power, a + b * target))


def stage_table(report: ScaleReport) -> dict[str, dict[int, dict[str, Any]]]:
    """stage -> size -> figures."""
    out: dict[str, dict[int, dict[str, Any]]] = {}
    # pipeline order: the stages measured at every size first (the full-size labels-only
    # stages are measured before the others)
    for r in sorted(report.rows, key=lambda r: r["size"] == FULL_EEGS):
        out.setdefault(r["stage"], {})[r["size"]] = r
    return out


INFER_STAGE = "inference kernel"
FULL_TEST_EEGS = 2000


def full_items(seed: int = 0) -> dict[str, int]:
    """What each stage handles at the full competition, from its planned label table
    (``profile="real"``, no signal): ``rows``, ``rows <mode>`` and ``windows <mode> <source>``
    (source ``spectrogram`` or ``eeg``)."""
    from hms_kit.data.labels import ROW_MODES, select_rows
    from hms_kit.data.synth.labels import plan_competition, train_table
    from hms_kit.inputs.cache import windows_for

    train, _ = train_table(plan_competition(FULL_EEGS, seed, 1, profile="real")[0], seed)
    out = {"rows": len(train)}
    for mode in ROW_MODES:
        rows = select_rows(train, mode)
        out[f"rows {mode}"] = len(rows)
        for feature, source in (("kaggle", "spectrogram"), ("eeg", "eeg")):
            out[f"windows {mode} {source}"] = len(windows_for(rows, feature)[0])
    return out


_SOURCE = {"kaggle": "spectrogram", "eeg": "eeg", "wavelet": "eeg"}


def _axis(
    stage: str, by_size: dict[int, dict[str, Any]], full: dict[str, int], row_mode: str
) -> tuple[np.ndarray, list[int], int]:
    """A stage's x values (what it handles: EEGs generated, rows read or passed, cache
    windows, test EEGs), their sizes in order, and the x at the full competition."""
    order = sorted(by_size)
    items = np.array([by_size[s].get("n", 0) for s in order], float)
    if stage == INFER_STAGE:
        return items, order, FULL_TEST_EEGS
    if stage in ("read train.csv", "oof + blend"):
        return items, order, full["rows"]
    if stage.startswith("cache "):
        _, mode, feature = stage.split(" ")
        return items, order, full[f"windows {mode} {_SOURCE[feature]}"]
    if stage.startswith("loader"):
        return items, order, full[f"rows {row_mode}"]
    return np.array(order, float), order, FULL_EEGS


def _per_process(stage: str) -> bool:
    # generate and the cache build start up to one worker per core (a fixed ~0.4 GB each for
    # its imports) once there are files enough: their memory is fitted per process and
    # projected for Kaggle's cores, else the step from 1 to 2 processes reads as growth
    return stage == "generate" or stage.startswith("cache ")


def _values(stage: str, by_size: dict[int, dict[str, Any]], order: list[int], m: str) -> np.ndarray:
    vals = np.array([by_size[s].get(m, 0) for s in order], float)
    if _per_process(stage) and m in ("peak_tree", "peak_anon"):
        vals /= 1 + np.array([by_size[s]["workers"] for s in order], float)
    return vals


def slopes(report: ScaleReport) -> dict[str, dict[str, float]]:
    """stage -> metric -> log-log slope against what the stage handles (``_axis``); memory of
    generate and the cache build per process."""
    out = {}
    for stage, by_size in stage_table(report).items():
        x, order, _ = _axis(stage, by_size, report.full, report.row_mode)
        out[stage] = {m: slope(x, _values(stage, by_size, order, m)) for m in METRICS}
    return out


def projections(report: ScaleReport) -> dict[str, dict[str, float]]:
    """stage -> metric -> value projected at the full competition (``_axis``: 17,089 EEGs,
    its rows or cache windows; the inference kernel at 2,000 test EEGs). Memory of generate
    and the cache build: per process, times one process per Kaggle core plus the main one."""
    out = {}
    for stage, by_size in stage_table(report).items():
        x, order, target = _axis(stage, by_size, report.full, report.row_mode)
        out[stage] = {m: project(x, _values(stage, by_size, order, m), target) for m in METRICS}
        if _per_process(stage):
            for m in ("peak_tree", "peak_anon"):
                out[stage][m] *= 1 + KAGGLE["cpu_cores"]
    return out


def projection_notes(report: ScaleReport) -> list[str]:
    notes = []
    for stage, sl in slopes(report).items():
        for m in METRICS:
            if sl[m] > 1.1:
                notes.append(
                    f"{stage}: {m} grows with slope {sl[m]:.2f} (> 1.1) between the sizes measured"
                )
    return notes


# --- rendering ------------------------------------------------------------------------------


def _fmt_s(x: float) -> str:
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 1000 else f"{x:,.0f}"


def _gb(x: float) -> str:
    return f"{x / 1e9:.2f}"


def _stage_table(
    table: dict[str, dict[int, dict]], sizes: list[int], what: str, cell: Callable[[dict], str]
) -> str:
    """One Markdown row per stage, one column per size (``-`` where a size has no figure)."""
    import pandas as pd

    from hms_kit.report import markdown_table

    columns = [f"n={s}" + (f": {what}" if what else "") for s in sizes]
    frame = pd.DataFrame(
        [
            [stage, *("-" if s not in by else cell(by[s]) for s in sizes)]
            for stage, by in table.items()
        ],
        columns=["stage", *columns],
    )
    return markdown_table(frame)


def render(report: ScaleReport) -> str:
    """The BENCHMARKS.md section: command, table, slopes, projection against Kaggle's limits."""
    table = stage_table(report)
    sizes = report.sizes
    lines = [
        "## 5 cost at scale",
        "",
        f"Made by `{report.command}`.",
        "",
        f"Machine: {report.machine}; load average at the start {report.load} "
        f"({THIS_MACHINE_CORES} cores, shared; 1 thread per process, OMP_NUM_THREADS=1). "
        "Each stage runs in a fresh process; sizes are train EEGs of a `synth --profile real` "
        "competition. Peak tree: the largest memory summed over the stage's process and its "
        "workers (proportional set size, shared pages counted once, polled from /proc every "
        "0.2 s); anon: the same without file-backed pages (the memory-mapped cache, which the "
        "kernel can drop); disk: bytes the stage leaves on disk.",
        "",
        _stage_table(
            table,
            sizes,
            "s / tree GB / anon GB / disk GB",
            lambda r: (
                f"{_fmt_s(r['seconds'])} / {_gb(r['peak_tree'])} / {_gb(r['peak_anon'])} "
                f"/ {_gb(r.get('disk', 0))}"
            ),
        ),
    ]
    if FULL_EEGS in sizes:
        lines += [
            "",
            f"n={FULL_EEGS}: only the stages that read train.csv alone, measured on the full "
            "competition's label table (planned with `profile=real`, no signal files).",
        ]
    lines += [
        "",
        "Items per stage (files written, rows read, cache windows, rows passed, test EEGs) "
        "and worker processes:",
        "",
        _stage_table(
            table, sizes, "", lambda r: f"{r.get('n', 0)} {r['unit']}, {r['workers']} workers"
        ),
    ]
    sl, pr = slopes(report), projections(report)
    lines += [
        "",
        "### Slopes and the full competition (17,089 EEGs)",
        "",
        "Slopes: log-log, against what the stage handles (generate: train EEGs; read, blend "
        "and loader: rows; cache: windows; inference: test EEGs), so a slope above 1 is cost "
        "growing faster than the work. Projection: the larger of the power law and the "
        "straight line through the points, at the full competition's count of the same "
        f"thing ({report.full.get('rows', 0):,} rows; cache windows per row mode from its "
        f"planned label table; {FULL_TEST_EEGS:,} test EEGs). Minutes on Kaggle's "
        f"{KAGGLE['cpu_cores']} cores: a stage that ran parallel workers at the largest size "
        f"scaled by {THIS_MACHINE_CORES}/{KAGGLE['cpu_cores']}, the others as measured (one "
        "process). Model stages ran on this CPU: a GPU changes their seconds, not the host "
        "memory of the loader.",
        "",
        "Memory of generate and the cache build: fitted per process (their workers each pay "
        f"the same imports), projected for {KAGGLE['cpu_cores']} workers and the main process.",
        "",
        "| stage | slope s | slope tree | slope anon | slope disk | full: min (Kaggle 4 cores) "
        "| full: peak tree GB | full: anon GB | full: disk GB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for stage in table:
        s, p = sl[stage], pr[stage]
        parallel = table[stage][max(table[stage])]["workers"] > 1 and (
            stage == "generate" or stage.startswith("cache")
        )
        minutes = p["seconds"] / 60 * (THIS_MACHINE_CORES / KAGGLE["cpu_cores"] if parallel else 1)
        lines.append(
            f"| {stage} | {s['seconds']:.2f} | {s['peak_tree']:.2f} | {s['peak_anon']:.2f} | "
            f"{s['disk']:.2f} | {minutes:.1f} | {_gb(p['peak_tree'])} | {_gb(p['peak_anon'])} | "
            f"{_gb(p['disk'])} |"
        )
    lines += ["", *kaggle_limits(report, pr)]
    if report.notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in report.notes]
    return "\n".join(lines) + "\n"


def kaggle_limits(report: ScaleReport, pr: dict[str, dict[str, float]]) -> list[str]:
    """The full-competition projection next to Kaggle's limits, as table lines."""
    cfg_mode = _cfg("kaggle", []).data.row_mode
    cache_disk = {
        mode: sum(v["disk"] for k, v in pr.items() if k.startswith(f"cache {mode} "))
        for mode in ("all", "per_eeg", "dedup")
    }
    # the train kernel builds its cache, then loops the loader and model, then scores OOF
    train_stages = [
        k
        for k in pr
        if k in ("loader pass", "loader + model", "oof + blend", "read train.csv")
        or k.startswith(f"cache {cfg_mode} ")
    ]
    train_mem = max((pr[k]["peak_tree"] for k in train_stages), default=0.0)
    train_anon = max((pr[k]["peak_anon"] for k in train_stages), default=0.0)
    worst = max(train_stages, key=lambda k: pr[k]["peak_tree"], default="-")
    # Kaggle's 4 cores give loader_workers(-1) = 3 DataLoader workers where this machine ran
    # 1: add two more workers at the largest peak RSS one reached here (an upper bound: a
    # forked worker shares most of its pages with the main process)
    table = stage_table(report)
    worker = max(
        (
            r.get("peak_rss_worker", 0)
            for k in ("loader pass", "loader + model")
            if k in table
            for r in table[k].values()
        ),
        default=0,
    )
    extra = 2 * worker
    lines = [
        "| full competition | projected | Kaggle's limit |",
        "|---|---|---|",
        f"| train kernel peak memory (`kaggle` config, rows: {cfg_mode}; the largest of its "
        f"stages: {worst}) | {_gb(train_mem)} GB ({_gb(train_anon)} GB anonymous) | "
        f"{KAGGLE['ram_gb']:.0f} GB RAM (target < {TRAIN_RAM_TARGET_GB:.0f} GB) |",
        f"| the same with Kaggle's 3 loader workers (+2 x {_gb(worker)} GB, a worker's peak "
        f"RSS here) | {_gb(train_mem + extra)} GB ({_gb(train_anon + extra)} GB anonymous) | "
        f"{KAGGLE['ram_gb']:.0f} GB RAM (target < {TRAIN_RAM_TARGET_GB:.0f} GB) |",
    ]
    if INFER_STAGE in pr:
        lines.append(
            f"| inference kernel peak memory, {FULL_TEST_EEGS:,} test EEGs | "
            f"{_gb(pr[INFER_STAGE]['peak_tree'])} GB | {KAGGLE['ram_gb']:.0f} GB RAM |"
        )
    cfg_mods = _cfg("kaggle", []).inputs.modalities
    limit = f"{KAGGLE['working_gb']:.0f} GB /kaggle/working, {KAGGLE['disk_gb']:.0f} GB disk"
    for mode in cache_disk:
        feats = [k.split(" ")[2] for k in pr if k.startswith(f"cache {mode} ")]
        cfg_b = sum(pr[f"cache {mode} {f}"]["disk"] for f in feats if f in cfg_mods)
        if feats:
            lines.append(
                f"| cache on disk, row mode {mode}, {'+'.join(feats)} | "
                f"{_gb(cache_disk[mode])} GB (the `kaggle` config's {'+'.join(cfg_mods)}: "
                f"{_gb(cfg_b)} GB) | {limit} |"
            )
    return lines


def from_json(text: str) -> ScaleReport:
    """A report saved by ``to_json`` (to render it again without measuring)."""
    d = json.loads(text)
    report = ScaleReport(d["command"], d["machine"], d["load"], d["sizes"], d["rows"])
    report.full = d.get("full") or full_items(d.get("seed", 0))
    report.row_mode = d.get("row_mode", "dedup")
    report.notes += projection_notes(report)
    return report


def to_json(report: ScaleReport) -> str:
    """The raw figures (for a later comparison)."""
    return json.dumps(
        {
            "command": report.command,
            "machine": report.machine,
            "load": report.load,
            "platform": platform.platform(),
            "sizes": report.sizes,
            "rows": report.rows,
            "full": report.full,
            "row_mode": report.row_mode,
        },
        indent=1,
    )
