"""Benchmarks: cache build, input building, model throughput, inference-kernel projection.

Each function measures one thing on this machine and returns plain numbers; ``run_benchmarks``
collects them and ``render`` writes BENCHMARKS.md. Kept out of the test suite: a test only
runs it on a tiny competition.
"""

from __future__ import annotations

import copy
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from hms_kit import schema
from hms_kit.config import Config
from hms_kit.data.competition import Competition
from hms_kit.data.labels import select_rows
from hms_kit.data.readers import eeg_window, read_eeg, read_spectrogram, spec_window
from hms_kit.inputs.cache import build_cache, default_workers
from hms_kit.inputs.dataset import CustomDataset
from hms_kit.inputs.merge import in_chans, stack_to_layout
from hms_kit.model import CustomModel

FULL_EEGS = 17_089
FULL_SPECS = 11_138
KAGGLE_CPU_CORES = 4
# Assumed rates of a Kaggle T4 for tf_efficientnet_b0 on the 512 x 512 tile (the 150/s
# training figure; inference without backward and with fp16 about three times that).
T4_TRAIN_PER_S = 150.0
T4_INFER_PER_S = 450.0


@dataclass
class Report:
    machine: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, section: str, what: str, value: float, unit: str, target: str = "") -> None:
        self.rows.append(
            {"section": section, "what": what, "value": value, "unit": unit, "target": target}
        )


def machine_description() -> str:
    cores = default_workers()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.node() or 'host'}: {cores} cores, {platform.processor() or platform.machine()}, {gpu}, torch {torch.__version__}"


def bench_cache_build(comp: Competition, rows: pd.DataFrame, cfg: Config, report: Report) -> None:
    """Files per second building the cache, one process and all cores, per source kind."""
    for source, mods in (("eeg", ["eeg"]), ("spectrogram", ["kaggle"])):
        n_files = rows["eeg_id" if source == "eeg" else "spectrogram_id"].nunique()
        rates = {}
        for workers in sorted({1, default_workers()}):
            tmp = Path(tempfile.mkdtemp(prefix="hms_bench_cache_"))
            try:
                start = time.perf_counter()
                build_cache(
                    comp, rows, cfg.inputs, tmp, modalities=mods, workers=workers, progress=False
                )
                rates[workers] = n_files / (time.perf_counter() - start)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            report.add(
                "1 cache build",
                f"{source} files/s, {workers} process(es)",
                rates[workers],
                "files/s",
            )
        per_core = rates[1]
        report.rows[-1]["note"] = ""
        total = FULL_EEGS if source == "eeg" else FULL_SPECS
        projected = total / (per_core * KAGGLE_CPU_CORES) / 60
        report.add(
            "1 cache build",
            f"{source}: full competition ({total} files) on Kaggle's 4 cores, projected",
            projected,
            "min",
        )
    eeg_min = next(r["value"] for r in report.rows if r["what"].startswith("eeg: full"))
    spec_min = next(r["value"] for r in report.rows if r["what"].startswith("spectrogram: full"))
    report.add(
        "1 cache build",
        "full competition, projected total (eeg + spectrogram)",
        eeg_min + spec_min,
        "min",
        "< 10 min",
    )


def _loader_rate(ds, batch_size: int, workers: int, n_batches: int) -> float:
    loader = torch.utils.data.DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=workers > 0,
    )
    it = iter(loader)
    next(it)  # start-up (workers spawning) is not throughput
    n, start = 0, time.perf_counter()
    for i, (x, *_) in enumerate(it):
        n += len(x)
        if i + 1 >= n_batches:
            break
    return n / (time.perf_counter() - start)


def bench_inputs(comp, rows, cfg: Config, cache_dir: Path, report: Report, n_batches: int) -> float:
    """Merged inputs per second from the cache through the DataLoader, per subset and layout."""
    from hms_kit.experiment import combinations

    cache = build_cache(
        comp, rows, cfg.inputs, cache_dir, modalities=list(schema.MODALITIES), progress=False
    )
    workers = default_workers()
    target_rate = 0.0
    n = len(rows)
    for mods in combinations():
        sub = copy.copy(cache)
        sub.modalities = mods
        for layout in ("stack", "tile"):
            ds = CustomDataset(
                sub, np.arange(n), np.zeros((n, 6), np.float32), np.zeros(n, np.float32), layout
            )
            rate = _loader_rate(ds, 32, workers, n_batches)
            is_target = mods == ["kaggle", "eeg"] and layout == "tile"
            if is_target:
                target_rate = rate
            report.add(
                "2 inputs from cache",
                f"{'+'.join(mods)} {layout}",
                rate,
                "inputs/s",
                ">= 150/s" if is_target else "",
            )
    return target_rate


def raw_parquet_row(comp: Competition, row, cfg: Config) -> np.ndarray:
    """The public notebooks' per-row path: read both parquet files, transform, resize, merge."""
    from hms_kit.inputs import row_panels

    sw = spec_window(
        read_spectrogram(comp.spectrogram_path(row.spectrogram_id)),
        row.spectrogram_label_offset_seconds,
    )
    ew = eeg_window(read_eeg(comp.eeg_path(row.eeg_id)), row.eeg_label_offset_seconds)
    stack = np.concatenate(
        [
            row_panels("kaggle", spec_window=sw, cfg=cfg.inputs),
            row_panels("eeg", eeg_window=ew, cfg=cfg.inputs),
        ]
    )
    return stack_to_layout(stack, 2, "tile")


def bench_raw_baseline(
    comp, rows, cfg: Config, report: Report, n_rows: int, cached_rate: float
) -> None:
    sample = rows.head(n_rows)
    start = time.perf_counter()
    for row in sample.itertuples():
        raw_parquet_row(comp, row, cfg)
    rate = len(sample) / (time.perf_counter() - start)
    report.add(
        "2 inputs from cache",
        "kaggle+eeg tile, raw parquet per row (baseline, 1 process)",
        rate,
        "inputs/s",
    )
    report.add(
        "2 inputs from cache",
        "cache (DataLoader) / raw-parquet baseline",
        cached_rate / rate,
        "x",
        ">= 20x",
    )


def bench_model(cfg: Config, report: Report, steps: int, batch_size: int) -> None:
    """tf_efficientnet_b0 samples/s, training and inference, both layouts, fed from memory."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    mods = ["kaggle", "eeg"]
    for layout in ("stack", "tile"):
        c = in_chans(layout, mods)
        shape = (c, 128, 256 * len(mods)) if layout == "stack" else (3, 512, 256 * len(mods))
        shape = (4 * len(mods), 128, 256) if layout == "stack" else shape
        model = CustomModel("tf_efficientnet_b0", in_chans=c).to(device)
        x = torch.randn(batch_size, *shape, device=device)
        y = torch.softmax(torch.randn(batch_size, 6, device=device), 1)
        opt = torch.optim.AdamW(model.parameters(), 1e-3)
        model.train()
        for i in range(steps + 1):
            if i == 1:
                start = time.perf_counter()
            loss = torch.nn.functional.kl_div(
                torch.log_softmax(model(x), 1), y, reduction="batchmean"
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_rate = steps * batch_size / (time.perf_counter() - start)
        model.eval()
        with torch.no_grad():
            model(x)
            start = time.perf_counter()
            for _ in range(steps):
                model(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
        infer_rate = steps * batch_size / (time.perf_counter() - start)
        report.add(
            "3 model",
            f"tf_efficientnet_b0 {layout} {tuple(shape)} train, from memory ({device.type})",
            train_rate,
            "samples/s",
        )
        report.add(
            "3 model",
            f"tf_efficientnet_b0 {layout} {tuple(shape)} inference, from memory ({device.type})",
            infer_rate,
            "samples/s",
        )


def bench_inference_kernel(comp, cfg: Config, report: Report, n_rows: int) -> None:
    """Per-test-EEG cost of the inference kernel here, projected to 2,000 EEGs x 5 folds on a T4.

    Measured: building the test inputs (all cores here, scaled to Kaggle's 4 cores). Assumed:
    the T4's tf_efficientnet_b0 inference rate on the tile (T4_INFER_PER_S).
    """
    test = comp.read_test().head(n_rows)
    c = copy.deepcopy(cfg)
    c.inputs.modalities = ["kaggle", "eeg"]
    tmp = Path(tempfile.mkdtemp(prefix="hms_bench_test_"))
    try:
        start = time.perf_counter()
        build_cache(comp, test, c.inputs, tmp, split="test", strict=False, progress=False)
        per_eeg = (time.perf_counter() - start) / len(test)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    cores_here = default_workers()
    features_min = 2000 * per_eeg * cores_here / KAGGLE_CPU_CORES / 60
    model_min = 2000 * 5 / T4_INFER_PER_S / 60
    report.add(
        "4 inference kernel", "test inputs built per EEG here (all cores)", per_eeg * 1000, "ms"
    )
    report.add(
        "4 inference kernel",
        "2,000 EEGs x 5 folds on Kaggle (4 CPU cores + T4), projected",
        features_min + model_min,
        "min",
    )


def run_benchmarks(comp: Competition, cfg: Config, tiny: bool = False) -> Report:
    """Every benchmark; ``tiny`` shrinks the work so a test can run it in seconds."""
    report = Report(machine=machine_description())
    rows = select_rows(comp.read_train(), cfg.data.row_mode)
    if tiny:
        rows = rows.head(8)
    bench_cache_build(comp, rows, cfg, report)
    cache_dir = Path(tempfile.mkdtemp(prefix="hms_bench_inputs_"))
    try:
        rate = bench_inputs(comp, rows, cfg, cache_dir, report, n_batches=2 if tiny else 20)
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    bench_raw_baseline(comp, rows, cfg, report, n_rows=4 if tiny else 40, cached_rate=rate)
    bench_model(cfg, report, steps=1 if tiny else 3, batch_size=2 if tiny else 16)
    bench_inference_kernel(comp, cfg, report, n_rows=2 if tiny else 40)
    if not torch.cuda.is_available():
        report.notes.append(
            "No GPU on this machine: GPU figures (AMP, channels_last, pipeline vs model-only) "
            "need a run with the device tool; see the note in BENCHMARKS.md."
        )
    return report


def render(report: Report) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Machine: {report.machine}",
        "",
        "Made by `make bench` (`python -m hms_kit bench`).",
        "",
    ]
    section = None
    for r in report.rows:
        if r["section"] != section:
            section = r["section"]
            lines += [
                "",
                f"## {section}",
                "",
                "| what | value | unit | target |",
                "|---|---|---|---|",
            ]
        lines.append(f"| {r['what']} | {r['value']:.2f} | {r['unit']} | {r['target']} |")
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report.notes]
    return "\n".join(lines) + "\n"
