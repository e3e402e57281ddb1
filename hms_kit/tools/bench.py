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
from hms_kit.checkpoint import save_checkpoint
from hms_kit.config import Config
from hms_kit.data.competition import Competition
from hms_kit.data.labels import select_rows
from hms_kit.data.readers import eeg_window, read_eeg, read_spectrogram, spec_window
from hms_kit.inputs.cache import FeatureCache, build_cache, default_workers
from hms_kit.inputs.dataset import CustomDataset
from hms_kit.inputs.merge import in_chans, input_shape, merge_batch, stack_to_layout
from hms_kit.models.timm2d import CustomModel

FULL_EEGS = schema.FULL_TRAIN_EEGS
FULL_SPECS = schema.FULL_TRAIN_SPECTROGRAMS
REAL_DEDUP_ROWS = schema.FULL_DEDUP_ROWS
KAGGLE_CPU_CORES = schema.KAGGLE_CPU_CORES


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
        key = (
            ["eeg_id", "eeg_label_offset_seconds"]
            if source == "eeg"
            else ["spectrogram_id", "spectrogram_label_offset_seconds"]
        )
        report.notes.append(
            f"cache build, {source}: {len(rows.drop_duplicates(key)) / n_files:.2f} windows per "
            f"file here; the real train.csv in dedup mode has about "
            f"{REAL_DEDUP_ROWS / (FULL_EEGS if source == 'eeg' else FULL_SPECS):.2f} "
            f"({REAL_DEDUP_ROWS:,} rows), so the projection scales files at this machine's per-file cost."
        )
        total = FULL_EEGS if source == "eeg" else FULL_SPECS
        projected = total / (per_core * KAGGLE_CPU_CORES) / 60
        report.add(
            "1 cache build",
            f"{source}: full competition ({total} files) on Kaggle's 4 cores, projected",
            projected,
            "min",
        )
    # the wavelet panels come from the EEG files too: their own rate, one process
    n_files = rows["eeg_id"].nunique()
    tmp = Path(tempfile.mkdtemp(prefix="hms_bench_cache_"))
    try:
        start = time.perf_counter()
        build_cache(comp, rows, cfg.inputs, tmp, modalities=["wavelet"], workers=1, progress=False)
        rate = n_files / (time.perf_counter() - start)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report.add(
        "1 cache build",
        f"wavelet ({cfg.inputs.wavelet.variant}) from eeg files/s, 1 process(es)",
        rate,
        "files/s",
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
    one = {
        r["what"].split(" ")[0]: r["value"]
        for r in report.rows
        if r["what"].endswith("files/s, 1 process(es)") and not r["what"].startswith("wavelet")
    }
    report.add(
        "1 cache build",
        "full competition in ONE process (no parallel speed-up at all), projected",
        (FULL_EEGS / one["eeg"] + FULL_SPECS / one["spectrogram"]) / 60,
        "min",
        "< 10 min",
    )
    report.notes.append(
        "cache build: the all-cores rate here pays ~2 s of worker start-up (spawn, importing "
        "torch) on a few hundred files, so it can read lower than one process; the "
        "one-process projection is the bound that needs no scaling assumption."
    )


def bench_cache_size(full: FeatureCache, rows, cfg: Config, report: Report) -> None:
    """Bytes per label row on disk, per modality, of ``full`` (every modality built for
    ``rows``), and the full competition's cache size projected from them (dedup rows and
    every row), against Kaggle's 20 GB output limit."""
    per_row = 0.0
    for m in schema.MODALITIES:
        nbytes = sum(f.stat().st_size for f in full.entries[m].path.rglob("*") if f.is_file())
        per_row += nbytes / len(rows) if m in cfg.inputs.modalities else 0.0
        report.add("1 cache build", f"{m}: bytes on disk per label row", nbytes / len(rows), "B")
    for label, n in (
        (f"dedup rows ({REAL_DEDUP_ROWS:,})", REAL_DEDUP_ROWS),
        (f"all rows ({schema.FULL_TRAIN_ROWS:,})", schema.FULL_TRAIN_ROWS),
    ):
        report.add(
            "1 cache build",
            f"full competition cache for {'+'.join(cfg.inputs.modalities)}, {label}, projected",
            per_row * n / 1e9,
            "GB",
            "< 20 GB if kept in /kaggle/working",
        )


def _loader_rate(ds, batch_size: int, workers: int, n_batches: int, layout: str) -> float:
    """Inputs per second through a DataLoader over ``n_batches`` batches (epochs repeated),
    after a first batch that pays the workers' start-up. The loader moves stacked panels;
    the layout is built from each batch here, as the model does on its device."""
    batch_size = max(1, min(batch_size, len(ds) // 2))
    loader = torch.utils.data.DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=workers > 0,
    )

    def batches():
        while True:
            yield from loader

    it = batches()
    next(it)
    n, start = 0, time.perf_counter()
    k = ds.n_modalities
    for _ in range(n_batches):
        x = next(it)[0]
        n += len(merge_batch(x, k, layout).float().contiguous())
    return n / (time.perf_counter() - start)


def bench_inputs(cache: FeatureCache, report: Report, n_batches: int) -> float:
    """Merged inputs per second from ``cache`` (every modality) through the DataLoader, per
    subset and layout; returns the kaggle+eeg tile rate."""
    from hms_kit.tools.experiment import combinations

    workers = default_workers()
    target_rate = 0.0
    n = len(cache)
    for mods in combinations():
        sub = copy.copy(cache)
        sub.modalities = mods
        for layout in ("stack", "tile"):
            ds = CustomDataset(
                sub, np.arange(n), np.zeros((n, 6), np.float32), np.zeros(n, np.float32)
            )
            rate = _loader_rate(ds, 32, workers, n_batches, layout)
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
    # contiguous, as a model needs it (stack_to_layout's tile is a broadcast view)
    return np.ascontiguousarray(stack_to_layout(stack, 2, "tile"))


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
        "cache (DataLoader) / raw-parquet baseline, tile image built on this CPU",
        cached_rate / rate,
        "x",
        ">= 20x",
    )
    stack_rate = next(
        (r["value"] for r in report.rows if r["what"] == "kaggle+eeg stack"), float("nan")
    )
    report.add(
        "2 inputs from cache",
        "cache (DataLoader) / raw-parquet baseline, what a GPU receives (stacked panels; "
        "the model builds the tile on the device)",
        stack_rate / rate,
        "x",
        ">= 20x",
    )


def _train_steps(model, batches, device, opt) -> int:
    """Run a training step on each ``(x, y)`` batch; the samples seen."""
    n = 0
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = torch.nn.functional.kl_div(torch.log_softmax(model(x), 1), y, reduction="batchmean")
        opt.zero_grad()
        loss.backward()
        opt.step()
        n += len(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n


def bench_model(
    cfg: Config, cache, report: Report, steps: int, batch_size: int, workers: int
) -> None:
    """tf_efficientnet_b0 samples/s in both layouts: training and inference fed from memory,
    and training fed by the whole pipeline (cache -> DataLoader -> model), on this device."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    mods = ["kaggle", "eeg"]
    sub = copy.copy(cache)
    sub.modalities = mods
    n = len(cache)
    for layout in ("stack", "tile"):
        c = in_chans(layout, mods)
        ds = CustomDataset(
            sub,
            np.arange(n),
            np.full((n, 6), 1 / 6, np.float32),
            np.ones(n, np.float32),
        )
        shape = input_shape(mods, layout)
        model = CustomModel(
            "tf_efficientnet_b0", in_chans=c, layout=layout, n_modalities=len(mods)
        ).to(device)
        opt = torch.optim.AdamW(model.parameters(), 1e-3)
        x = torch.randn(batch_size, *ds[0][0].shape, device=device)  # stacked panels
        y = torch.softmax(torch.randn(batch_size, 6, device=device), 1)
        model.train()
        _train_steps(model, [(x, y)], device, opt)  # warm-up
        start = time.perf_counter()
        seen = _train_steps(model, [(x, y)] * steps, device, opt)
        memory_rate = seen / (time.perf_counter() - start)
        loader = torch.utils.data.DataLoader(
            ds,
            batch_size=batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
        )
        it = iter(loader)
        first = next(it)
        _train_steps(model, [(first[0], first[1])], device, opt)
        batches = ((xb, yb) for _, (xb, yb, _v) in zip(range(steps), it))
        start = time.perf_counter()
        seen = _train_steps(model, batches, device, opt)
        pipeline_rate = seen / (time.perf_counter() - start)
        model.eval()
        with torch.no_grad():
            model(x)
            start = time.perf_counter()
            for _ in range(steps):
                model(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
        infer_rate = steps * batch_size / (time.perf_counter() - start)
        name = f"tf_efficientnet_b0 {layout} {shape}"
        report.add(
            "3 model", f"{name} train, from memory ({device.type})", memory_rate, "samples/s"
        )
        report.add(
            "3 model",
            f"{name} train, cache -> DataLoader ({workers} workers) -> model ({device.type})",
            pipeline_rate,
            "samples/s",
        )
        report.add(
            "3 model",
            f"{name} train, pipeline / from memory",
            pipeline_rate / memory_rate,
            "x",
            ">= 0.90 on a GPU" if device.type == "cuda" else "",
        )
        report.add(
            "3 model", f"{name} inference, from memory ({device.type})", infer_rate, "samples/s"
        )


def run_inference_kernel(
    comp: Competition, cfg: Config, n_rows: int, work_dir: Path, n_folds: int = 5
) -> tuple[int, float]:
    """The inference kernel's own work: ``predict_test`` with ``n_folds`` fold checkpoints of
    ``cfg.model.name`` (random weights, the config's inputs) on the first ``n_rows`` test EEGs,
    from raw parquet to submission rows, under ``work_dir`` (left there). Returns
    ``(test EEGs predicted, seconds)``."""
    import pandas as pd

    from hms_kit.config import to_dict
    from hms_kit.models import build_model
    from hms_kit.predict import predict_test

    c = copy.deepcopy(cfg)
    c.model.pretrained = False
    tmp = Path(work_dir)
    test = comp.read_test().head(n_rows)
    # a competition folder whose test.csv has the first n_rows rows
    sub_comp = tmp / "competition"
    sub_comp.mkdir(parents=True)
    for name in ("test_eegs", "test_spectrograms", "train.csv"):
        (sub_comp / name).symlink_to(comp.root.resolve() / name)
    test.to_csv(sub_comp / "test.csv", index=False)
    pd.DataFrame({"eeg_id": test["eeg_id"]}).assign(
        **{v: 1 / 6 for v in schema.VOTE_COLUMNS}
    ).to_csv(sub_comp / "sample_submission.csv", index=False)
    chans = in_chans(c.inputs.layout, c.inputs.modalities)
    run = tmp / "run" / "checkpoints"
    run.mkdir(parents=True)
    for k in range(n_folds):
        model = build_model(c, pretrained=False)
        save_checkpoint(
            {
                "model": model.state_dict(),
                "family": c.model.family,
                "config": to_dict(c),
                "in_chans": chans,
                "prior": [1 / 6] * 6,
                "fold": k,
            },
            run / f"fold{k}_best.pt",
            kind="final",
        )
    start = time.perf_counter()
    # one pass a checkpoint, as section 4's figures were measured (the kernel itself now
    # predicts each run with its own views: kaggle's flip doubles the model's share)
    sub, _ = predict_test(Competition(sub_comp), [tmp / "run"], cache_dir=tmp / "cache",
                          tta_flip=False, tta_mirror=False)  # fmt: skip
    return len(sub), time.perf_counter() - start


def bench_inference_kernel(comp, cfg: Config, report: Report, n_rows: int) -> None:
    """The inference kernel's own work, measured: predict_test with 5 fold checkpoints of
    tf_efficientnet_b0 (random weights, the config's inputs) on ``n_rows`` test EEGs, from
    raw parquet to submission rows; projected linearly to 2,000 test EEGs."""
    c = copy.deepcopy(cfg)
    c.model.name = "tf_efficientnet_b0"
    tmp = Path(tempfile.mkdtemp(prefix="hms_bench_infer_"))
    try:
        n_sub, seconds = run_inference_kernel(comp, c, n_rows, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    device = "GPU" if torch.cuda.is_available() else "CPU"
    report.add(
        "4 inference kernel",
        f"{n_sub} test EEGs x 5 folds, {c.inputs.layout} layout, scale {c.inputs.scale} "
        f"({device}, {default_workers()} cores here)",
        seconds,
        "s",
    )
    report.add(
        "4 inference kernel",
        f"2,000 test EEGs x 5 folds on this machine ({device}), projected",
        2000 * seconds / n_sub / 60,
        "min",
    )
    if not torch.cuda.is_available():
        report.notes.append(
            "Inference on Kaggle's T4 is not projected: the projection needs the GPU/CPU ratio "
            "measured on a GPU, and no GPU was lent to this task. The CPU figure above is the "
            "upper bound (the kernel falls back to the CPU when no GPU is present)."
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
        cache = build_cache(
            comp, rows, cfg.inputs, cache_dir, modalities=list(schema.MODALITIES), progress=False
        )
        rate = bench_inputs(cache, report, n_batches=2 if tiny else 20)
        bench_cache_size(cache, rows, cfg, report)
        bench_model(
            cfg,
            cache,
            report,
            steps=1 if tiny else 4,
            batch_size=2 if tiny else 16,
            workers=0 if tiny else default_workers(),
        )
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    bench_raw_baseline(comp, rows, cfg, report, n_rows=4 if tiny else 40, cached_rate=rate)
    bench_inference_kernel(comp, cfg, report, n_rows=2 if tiny else 20)
    if not torch.cuda.is_available():
        report.notes.append(
            "No GPU on this machine: the GPU figures (AMP, channels_last, pipeline vs "
            "model-only at >= 90%) were not measured; no GPU was lent to this task."
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
    for r in sorted(report.rows, key=lambda r: r["section"]):
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
