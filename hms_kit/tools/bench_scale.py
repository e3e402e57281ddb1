"""Cost at scale: seconds, peak memory and disk of each pipeline stage against competition size.

``run_scale`` generates a synthetic competition of each size (``profile="real"``: the real
EEG durations and ratios of rows, EEGs, spectrograms and patients) and measures, per size:

- ``generate``: writing the competition (``synth --profile real --workers``);
- ``read train.csv``: reading and validating the label table;
- ``cache <row mode> <feature>``: the feature cache of one modality for one row mode;
- ``loader pass``: one DataLoader pass over every row (the config's row mode) without a model,
  and ``loader + model``: the same pass with a training step of the smallest model;
- ``oof + blend``: three runs' OOF tables over every train row, aligned and blended;
- ``inference kernel``: ``predict_test`` with five fold checkpoints on the test set.

Each stage runs in a fresh process (``spawn``) so its memory is its own: ``peak RSS`` is the
process's ``ru_maxrss`` plus its workers' (``RUSAGE_CHILDREN``: the largest worker, times the
workers it started; an upper bound, since forked workers share pages), ``peak tree`` the
largest memory summed over the process and its live descendants, polled from ``/proc`` every
0.2 s (proportional set size: a shared page counts once), and ``peak anon`` the same sum of
anonymous memory only (the rest is file pages, e.g. of the memory-mapped cache, which the
kernel can drop under pressure; anonymous memory it cannot). ``slopes`` gives each stage's
log-log slope against the number of train EEGs and ``projections`` its value at the full
competition (both, and the rendering, in ``hms_kit.tools.scale_report``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import shutil
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hms_kit.tools.scale_report import (
    FULL_EEGS,
    THIS_MACHINE_CORES,
    ScaleReport,
    _cfg,
    full_items,
    projection_notes,
)

POLL_S = 0.2
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


# --- memory of a process tree -------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    """ppid -> pids of every process readable in /proc."""
    out: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: fields start after the last ')'
        ppid = int(stat[stat.rfind(b")") + 2 :].split()[1])
        out.setdefault(ppid, []).append(int(d))
    return out


def tree_pids(root: int) -> list[int]:
    """``root`` and all its live descendants."""
    kids = _children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def rss_bytes(pid: int) -> tuple[int, int]:
    """``(memory, anonymous memory)`` bytes of one process, (0, 0) if it is gone.

    Proportional set size (``Pss``, ``Pss_Anon`` of /proc/<pid>/smaps_rollup): a page shared
    by n processes counts 1/n in each, so a sum over a process tree is the tree's memory (a
    forked DataLoader worker shares its parent's pages, which plain RSS would count twice).
    Falls back to ``VmRSS`` / ``RssAnon`` of /proc/<pid>/status on older kernels.
    """
    fields = {}
    for name, keys in (("smaps_rollup", ("Pss:", "Pss_Anon:")), ("status", ("VmRSS:", "RssAnon:"))):
        try:
            with open(f"/proc/{pid}/{name}") as f:
                for line in f:
                    if line.startswith(keys):
                        fields[line.split(":")[0]] = int(line.split()[1]) * 1024
        except OSError:
            continue
        mem, anon = keys[0][:-1], keys[1][:-1]
        if mem in fields:
            return fields[mem], fields.get(anon, 0)
    return 0, 0


class TreeSampler:
    """Polls the RSS of a process tree in a thread; ``peak_rss`` / ``peak_anon`` in bytes."""

    def __init__(self, root: int, interval: float = POLL_S) -> None:
        self.root, self.interval = root, interval
        self.peak_rss = self.peak_anon = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        rss = anon = 0
        for pid in tree_pids(self.root):
            r, a = rss_bytes(pid)
            rss, anon = rss + r, anon + a
        self.peak_rss, self.peak_anon = max(self.peak_rss, rss), max(self.peak_anon, anon)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def _stage_child(fn: Callable[..., dict[str, Any]], kwargs: dict[str, Any], queue) -> None:
    """In the fresh process: run ``fn(**kwargs)`` under the sampler, send the figures."""
    try:
        with TreeSampler(os.getpid()) as sampler:
            start = time.perf_counter()
            extra = fn(**kwargs) or {}
            seconds = time.perf_counter() - start
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        workers = int(extra.pop("workers", 0))
        queue.put(
            {
                "seconds": seconds,
                "peak_rss": own + kids * workers,
                "peak_rss_process": own,
                "peak_rss_worker": kids if workers else 0,
                "workers": workers,
                "peak_tree": sampler.peak_rss,
                "peak_anon": sampler.peak_anon,
                **extra,
            }
        )
    except BaseException:
        queue.put({"error": traceback.format_exc()})


class _InlineQueue(list):
    def put(self, item: Any) -> None:
        self.append(item)


def measure(
    fn: Callable[..., dict[str, Any]],
    timeout: float | None = None,
    isolate: bool = True,
    **kwargs,
) -> dict:
    """Run ``fn(**kwargs)`` (a module-level function) in a fresh spawned process and return its
    seconds, peak memory figures (bytes) and whatever ``fn`` returned (``disk`` bytes, ``n``,
    ``workers``: the worker processes it started). RuntimeError with the child's traceback if
    it failed. ``isolate=False`` runs it in this process (quick, for tests: the peaks are then
    this process's peaks so far, not the stage's own)."""
    if not isolate:
        import torch

        inline = _InlineQueue()
        threads = torch.get_num_threads()
        try:
            _stage_child(fn, kwargs, inline)
        finally:  # the stages run on one thread; the caller's process keeps its own setting
            torch.set_num_threads(threads)
        result = inline[0]
        if "error" in result:
            raise RuntimeError(f"stage {fn.__name__} failed:\n{result['error']}")
        return result
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_stage_child, args=(fn, kwargs, queue))
    proc.start()
    try:
        result = queue.get(timeout=timeout)
    finally:
        proc.join(timeout=60)
        if proc.is_alive():
            proc.kill()
    if "error" in result:
        raise RuntimeError(f"stage {fn.__name__} failed:\n{result['error']}")
    return result


def disk_bytes(path: str | Path) -> int:
    """Bytes on disk (allocated blocks) under ``path``; a sparse file counts what it holds."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_blocks * 512
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


# --- the stages (module level: each runs in a spawned process) ------------------------------


def _threads() -> None:
    import torch

    torch.set_num_threads(1)


def stage_generate(root: str, n_eegs: int, n_test: int, seed: int, workers: int) -> dict:
    from hms_kit.data.synth import generate_competition

    s = generate_competition(
        root, n_eegs=n_eegs, seed=seed, n_test=n_test, profile="real", workers=workers
    )
    return {"disk": disk_bytes(root), "n": s.files, "workers": workers if workers > 1 else 0}


def write_labels_only(root: str, n_eegs: int, seed: int) -> None:
    """A competition folder holding only train.csv (``profile="real"`` plan, no signal): the
    label-table stages can then be measured at the full size without its ~30 GB of files."""
    from hms_kit.data.synth.labels import plan_competition, train_table

    train, _ = train_table(plan_competition(n_eegs, seed, 1, profile="real")[0], seed)
    Path(root).mkdir(parents=True, exist_ok=True)
    train.to_csv(Path(root) / "train.csv", index=False)


def stage_read_train(root: str) -> dict:
    from hms_kit.data.competition import Competition

    train = Competition(Path(root)).read_train()
    return {"disk": disk_bytes(Path(root) / "train.csv"), "n": len(train)}


def stage_cache(
    root: str, cache_dir: str, config: str, overrides: list[str], row_mode: str, feature: str
) -> dict:
    from hms_kit.data.competition import Competition
    from hms_kit.data.labels import select_rows
    from hms_kit.inputs.cache import build_cache, choose_workers, windows_for

    _threads()
    cfg = _cfg(config, overrides)
    comp = Competition(Path(root))
    rows = select_rows(comp.read_train(), row_mode)
    windows, _ = windows_for(rows, feature)
    n_files = windows["file_id"].nunique()
    workers = choose_workers(n_files)
    cache = build_cache(
        comp, rows, cfg.inputs, cache_dir, modalities=[feature], workers=workers, progress=False
    )
    return {
        "disk": disk_bytes(cache.entries[feature].path),
        "n": len(windows),
        "files": n_files,
        "workers": workers if workers > 1 else 0,
    }


def stage_loader(
    root: str, cache_dir: str, config: str, overrides: list[str], with_model: bool
) -> dict:
    import torch

    from hms_kit.data.competition import Competition
    from hms_kit.data.labels import select_rows, total_votes, vote_targets
    from hms_kit.engine.loop import kl_loss, loader_workers, make_loader
    from hms_kit.inputs.cache import build_cache
    from hms_kit.inputs.dataset import InputDataset
    from hms_kit.models import build_model, family_inputs

    _threads()
    cfg = _cfg(config, overrides)
    comp = Competition(Path(root))
    rows = select_rows(comp.read_train(), cfg.data.row_mode)
    # built by the cache stages of this size: reused here (same key), never timed twice
    cache = build_cache(comp, rows, cfg.inputs, cache_dir, workers=1, progress=False)
    ds = InputDataset(
        cache,
        np.arange(len(rows)),
        vote_targets(rows),
        total_votes(rows),
        names=family_inputs(cfg),
    )
    device = torch.device("cpu")
    # the loader a GPU kernel gets (workers beside the model), whose memory this stage
    # measures, not the worker-less one CPU training chooses
    workers = loader_workers(cfg.train.num_workers, torch.device("cuda"))
    loader = make_loader(ds, cfg.train.batch_size, True, 0, device, workers)
    model = opt = None
    if with_model:
        model = build_model(cfg, pretrained=False)
        opt = torch.optim.AdamW(model.parameters(), 1e-3)
        model.train()
    n = 0
    for x, y, votes in loader:
        if model is not None:
            loss = kl_loss(model(x), y, votes)
            opt.zero_grad()
            loss.backward()
            opt.step()
        n += len(y)
    return {"n": n, "workers": loader.num_workers}


def stage_blend(root: str, work: str, n_runs: int = 3) -> dict:
    from hms_kit.data.competition import Competition
    from hms_kit.data.folds import fold_groups, make_folds
    from hms_kit.data.labels import total_votes, vote_targets
    from hms_kit.ensemble import blend_runs
    from hms_kit.scoring.oof import PRED_COLS, TARGET_COLS

    # OOF files as training writes them (every train row), from a made-up model per run:
    # the blend's cost depends on the rows, not on how good the predictions are
    train = Competition(Path(root)).read_train()
    n_groups = len(np.unique(fold_groups(train)))
    # a tiny competition may hold one patient: rows alternate folds then (cost, not quality)
    folds = make_folds(train, min(5, n_groups), 0) if n_groups >= 2 else np.arange(len(train)) % 2
    targets = vote_targets(train)
    rng = np.random.default_rng(0)
    runs = []
    for r in range(n_runs):
        logits = np.log(np.clip(targets, 1e-3, 1)) + rng.normal(0, 1 + r, targets.shape)
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        oof = train[["eeg_id", "eeg_sub_id", "patient_id"]].copy()
        oof["fold"] = folds
        oof["total_votes"] = total_votes(train)
        oof[PRED_COLS] = p
        oof[TARGET_COLS] = targets
        run = Path(work) / f"run{r}"
        run.mkdir(parents=True, exist_ok=True)
        oof.to_csv(run / "oof.csv", index=False)
        runs.append(run)
    start = time.perf_counter()
    # population "all": every row, the larger (MLE-bench) fit; "hq" fits a subset of them
    blend_runs(runs, population="all", method="logit")
    seconds_blend = time.perf_counter() - start
    return {"disk": disk_bytes(work), "n": len(train), "blend_s": seconds_blend}


def stage_infer(root: str, work: str, config: str, overrides: list[str], n_test: int) -> dict:
    from hms_kit.data.competition import Competition
    from hms_kit.tools.bench import run_inference_kernel

    _threads()
    cfg = _cfg(config, overrides)
    n, _ = run_inference_kernel(Competition(Path(root)), cfg, n_test, Path(work))
    return {"n": n, "disk": disk_bytes(work)}


# --- the run --------------------------------------------------------------------------------


def load_average() -> str:
    """``uptime``'s load averages (1, 5, 15 min)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def run_scale(
    sizes: list[int],
    work_dir: str | Path,
    config: str = "kaggle",
    overrides: list[str] | None = None,
    model_overrides: list[str] | None = None,
    row_modes: list[str] | None = None,
    features: list[str] | None = None,
    gen_workers: int | None = None,
    max_test: int = 2000,
    seed: int = 0,
    full_labels: bool = True,
    isolate: bool = True,
    command: str = "",
    log: Callable[[str], None] = lambda s: None,
    on_size: Callable[[ScaleReport], None] = lambda r: None,
) -> ScaleReport:
    """Measure every stage at every size (train EEGs) under ``work_dir`` (emptied per size).

    The cache stages use ``config`` with ``overrides``; the model stages (loader + model, inference) use
    it with ``model_overrides`` (default: stacked panels at scale 0.25, the smallest input,
    since a CPU cannot run the tiled 512 x 512 image over thousands of rows). ``isolate``:
    each stage in a fresh process (False: in this one, for a quick test). ``on_size`` is
    called with the report so far after each size (to save partial results).
    ``full_labels``: also measure the stages that read only train.csv (read, OOF + blend) on
    the label table of the full competition (17,089 EEGs, planned without signals).
    """
    from hms_kit import schema
    from hms_kit.data.labels import ROW_MODES
    from hms_kit.tools.bench import machine_description

    model_overrides = (
        ["inputs.layout=stack", "inputs.scale=0.25"] if model_overrides is None else model_overrides
    )
    row_modes = list(row_modes or ROW_MODES)
    features = list(features or schema.MODALITIES)
    gen_workers = gen_workers or THIS_MACHINE_CORES
    base = list(overrides or [])
    cfg = _cfg(config, base)
    report = ScaleReport(command, machine_description(), load_average(), sorted(sizes))
    report.full, report.row_mode = full_items(seed), cfg.data.row_mode
    work_dir = Path(work_dir)
    if full_labels and FULL_EEGS > max(sizes):
        labels_dir = work_dir / "full_labels"
        shutil.rmtree(labels_dir, ignore_errors=True)
        write_labels_only(str(labels_dir), FULL_EEGS, seed)
        for stage, fn, kw in (
            ("read train.csv", stage_read_train, {}),
            ("oof + blend", stage_blend, {"work": str(labels_dir / "oof")}),
        ):
            res = measure(fn, isolate=isolate, root=str(labels_dir), **kw)
            report.rows.append({"size": FULL_EEGS, "stage": stage, "unit": "rows", **res})
            log(f"n={FULL_EEGS} (labels only) {stage}: {res['seconds']:.1f} s")
        shutil.rmtree(labels_dir, ignore_errors=True)
        report.sizes.append(FULL_EEGS)
    for n in sorted(sizes):
        size_dir = work_dir / f"n{n}"
        shutil.rmtree(size_dir, ignore_errors=True)
        size_dir.mkdir(parents=True)
        root, cache_dir = size_dir / "competition", size_dir / "cache"
        n_test = min(max_test, max(20, n // 5))

        def add(stage: str, res: dict[str, Any], n_items: str, size: int = n) -> None:
            row = {"size": size, "stage": stage, "unit": n_items, **res}
            report.rows.append(row)
            log(
                f"n={size} {stage}: {res['seconds']:.1f} s, tree {res['peak_tree'] / 1e9:.2f} GB, "
                f"anon {res['peak_anon'] / 1e9:.2f} GB, disk {res.get('disk', 0) / 1e9:.3f} GB "
                f"(load {load_average()})"
            )

        add(
            "generate",
            measure(
                stage_generate,
                isolate=isolate,
                root=str(root),
                n_eegs=n,
                n_test=n_test,
                seed=seed,
                workers=gen_workers,
            ),
            "files",
        )
        add("read train.csv", measure(stage_read_train, isolate=isolate, root=str(root)), "rows")
        for mode in row_modes:
            # a feature's cost per window does not depend on the row mode, only the number of
            # windows does: the other row modes build the config's modalities only
            mode_features = [
                f for f in features if mode == cfg.data.row_mode or f in cfg.inputs.modalities
            ]
            for feat in mode_features:
                res = measure(
                    stage_cache,
                    isolate=isolate,
                    root=str(root),
                    cache_dir=str(cache_dir / mode),
                    config=config,
                    overrides=base,
                    row_mode=mode,
                    feature=feat,
                )
                add(f"cache {mode} {feat}", res, "windows")
                needed = mode == cfg.data.row_mode and feat in cfg.inputs.modalities
                if not needed:  # keep only what the loader stages read
                    shutil.rmtree(res_path(cache_dir / mode, feat), ignore_errors=True)
        loader_cfg = base
        if cfg.data.row_mode in row_modes and set(cfg.inputs.modalities) <= set(features):
            for with_model, name in ((False, "loader pass"), (True, "loader + model")):
                add(
                    name,
                    measure(
                        stage_loader,
                        isolate=isolate,
                        root=str(root),
                        cache_dir=str(cache_dir / cfg.data.row_mode),
                        config=config,
                        overrides=loader_cfg + (model_overrides if with_model else []),
                        with_model=with_model,
                    ),
                    "rows",
                )
        shutil.rmtree(cache_dir, ignore_errors=True)
        add(
            "oof + blend",
            measure(stage_blend, isolate=isolate, root=str(root), work=str(size_dir / "oof")),
            "rows",
        )
        add(
            "inference kernel",
            measure(
                stage_infer,
                isolate=isolate,
                root=str(root),
                work=str(size_dir / "infer"),
                config=config,
                overrides=base + model_overrides,
                n_test=n_test,
            ),
            "test EEGs",
        )
        shutil.rmtree(size_dir, ignore_errors=True)
        on_size(report)
    report.notes += projection_notes(report)
    return report


def res_path(mode_dir: Path, feature: str) -> Path:
    """The cache entry folder of ``feature`` under one row mode's cache folder (any key)."""
    found = sorted(Path(mode_dir).glob(f"{feature}-*"))
    return found[0] if found else Path(mode_dir) / f"{feature}-missing"
