"""A plan before spending GPU hours: what each config costs at the full competition's size.

For each config: the model's parameters and forward FLOPs per sample (built as training
builds it, on the CPU, never pretrained; ``FlopCounterMode`` on one sample of the config's
input shapes; it counts FFTs such as spec2d's ``torch.stft`` as 0, by estimate under a tenth
of spec2d's FLOPs at the packaged settings), the training samples per epoch of each stage
(the row mode's rows at full size, the other folds' share, the stage's ``min_votes`` share),
epochs, folds and seeds; the cache's
disk and memory from bytes per row MEASURED on a cache built for a few rows of a tiny
synthetic competition; and projected T4 hours, training and inference, against Kaggle's
limits (``hms_kit.schema.KAGGLE_*``).

The hours are a projection: FLOPs x 3 (forward and backward) x samples / an effective T4
throughput: per config, the one ``make gpu-check`` measured (``measured``: effective TFLOP/s
by config name, from ``hms_kit.tools.gpu_check.read_measured``), else an assumption
(``ASSUMED_T4_TFLOPS``); the table says which each column used. The arithmetic is in small
pure functions; ``plan_configs`` measures and ``render`` writes the table the ``plan``
command prints.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hms_kit import schema
from hms_kit.config import Config, load_config, resolve_config_path
from hms_kit.data.competition import Competition
from hms_kit.scoring.populations import training_stages

# An assumption, not a measurement: the throughput one T4 sustains on these models under AMP,
# in TFLOP/s of counted FLOPs. Its fp16 tensor-core peak is 65 and fp32 8.1; depthwise
# convolutions, small batches and a 4-core data pipeline keep real training far below.
ASSUMED_T4_TFLOPS = 2.0
# a training step is the forward pass and a backward pass of about twice its cost
TRAIN_FLOPS_FACTOR = 3.0
# files of float32 weights a fold leaves in /kaggle/working: each stage's best, the final model
# and the last state (weights and AdamW's two moments: 3), an estimate
CHECKPOINT_COPIES = 6
ROW_MODE_ROWS = {
    "all": schema.FULL_TRAIN_ROWS,
    "dedup": schema.FULL_DEDUP_ROWS,
    "per_eeg": schema.FULL_TRAIN_EEGS,
}
UNNAMED_FAMILIES = ("eeg1d",)  # families whose model.name means nothing
MEASURE_ROWS = 4  # label rows of the tiny competition whose cache entries are measured
GB = 1e9


def full_rows(row_mode: str) -> int:
    """Training rows of the full competition under ``data.row_mode`` (ValueError otherwise)."""
    if row_mode not in ROW_MODE_ROWS:
        raise ValueError(f"data.row_mode must be one of {list(ROW_MODE_ROWS)}, got {row_mode!r}")
    return ROW_MODE_ROWS[row_mode]


def vote_share(min_votes: int) -> float:
    """Share of the real rows with >= ``min_votes`` votes (an upper bound between the
    thresholds of ``schema.FULL_VOTE_SHARE_AT_LEAST``)."""
    return schema.FULL_VOTE_SHARE_AT_LEAST[
        max(t for t in schema.FULL_VOTE_SHARE_AT_LEAST if t <= max(min_votes, 0))
    ]


@dataclass(frozen=True)
class StagePlan:
    """One stage of one fold: training samples per epoch, validation samples per epoch
    (forward only), epochs."""

    stage: int
    samples: int
    val_samples: int
    epochs: int


def stage_plans(cfg: Config, rows: int | None = None) -> list[StagePlan]:
    """The stages a fold of a torch family trains at full size (none for other families):
    ``rows`` (default: the row mode's full count) split into ``train.n_folds`` folds; a stage
    trains on the other folds' rows with >= ``min_votes`` votes and validates on the fold's
    (the same share) every epoch. With ``train.sampler: per_eeg`` an epoch trains on one row
    per EEG: at most ``schema.FULL_TRAIN_EEGS`` rows in place of ``rows``."""
    from hms_kit.models import is_torch_family

    if not is_torch_family(cfg):  # trained in one go by its family's own ``train``
        return []
    rows = full_rows(cfg.data.row_mode) if rows is None else rows
    drawn = min(rows, schema.FULL_TRAIN_EEGS) if cfg.train.sampler == "per_eeg" else rows
    k = cfg.train.n_folds
    out = []
    for stage, scfg in training_stages(cfg):
        share = vote_share(scfg.min_votes)
        out.append(
            StagePlan(
                stage=stage,
                samples=round(drawn * (k - 1) / k * share),
                val_samples=round(rows / k * share),
                epochs=scfg.epochs,
            )
        )
    return out


def t4_hours(flops: float, tflops: float = ASSUMED_T4_TFLOPS) -> float:
    """Hours one T4 takes for ``flops`` at ``tflops`` effective TFLOP/s."""
    if tflops <= 0:
        raise ValueError(f"the T4 throughput must be > 0 TFLOP/s, got {tflops}")
    return flops / (tflops * 1e12) / 3600


def fold_flops(flops_per_sample: float, stages: Sequence[StagePlan]) -> float:
    """FLOPs of training one fold: per epoch, each training sample's forward and backward
    (x ``TRAIN_FLOPS_FACTOR``) and each validation sample's forward."""
    return sum(
        s.epochs * flops_per_sample * (TRAIN_FLOPS_FACTOR * s.samples + s.val_samples)
        for s in stages
    )


def inference_flops(flops_per_sample: float, test_rows: int, models: int, tta: bool) -> float:
    """FLOPs of predicting ``test_rows`` with ``models`` checkpoints (flip TTA: twice)."""
    return flops_per_sample * test_rows * models * (2 if tta else 1)


def session_hours(fold_hours: float, folds: int, seeds: int, gpus: int) -> float:
    """Wall hours of a train kernel: folds side by side on ``gpus`` (rounds of equal folds),
    once per seed."""
    return math.ceil(folds / max(1, min(gpus, folds))) * fold_hours * seeds


def scale_bytes(bytes_per_row: float, rows: int) -> float:
    """Bytes at ``rows`` rows from the bytes of one row."""
    return bytes_per_row * rows


@dataclass
class ConfigPlan:
    """One config's figures at full size (None: not a torch model). ``bytes_per_row``:
    measured cache bytes per row and input; ``cache_rows``: rows the full cache holds (one
    window per row, an upper bound: rows sharing a window share its bytes)."""

    name: str
    family: str
    model: str
    row_mode: str
    params: int | None
    flops: float | None
    stages: list[StagePlan]
    folds: int
    seeds: int
    gpus: int
    tta: bool
    time_limit_hours: float
    bytes_per_row: dict[str, float]
    cache_rows: int
    test_rows: int = schema.PLANNED_TEST_EEGS

    @property
    def cache_bytes(self) -> float:
        return scale_bytes(sum(self.bytes_per_row.values()), self.cache_rows)

    @property
    def working_bytes(self) -> float | None:
        if self.params is None:
            return None
        return self.params * 4 * CHECKPOINT_COPIES * self.folds * self.seeds


@dataclass
class Projection:
    """Hours of one config, or of the whole ensemble (``name`` ``ensemble``)."""

    name: str
    fold_hours: float | None
    train_hours: float | None  # T4 hours, every fold and seed
    session_hours: float | None  # wall hours of the train kernel(s)
    inference_hours: float | None
    breaks: list[str] = field(default_factory=list)


def project(plan: ConfigPlan, tflops: float = ASSUMED_T4_TFLOPS) -> Projection:
    """The config's hours at ``tflops`` and the Kaggle limits it breaks."""
    if plan.flops is None:
        proj = Projection(plan.name, None, None, None, None)
    else:
        fold = t4_hours(fold_flops(plan.flops, plan.stages), tflops)
        models = plan.folds * plan.seeds
        proj = Projection(
            plan.name,
            fold_hours=fold,
            train_hours=fold * models,
            session_hours=session_hours(fold, plan.folds, plan.seeds, plan.gpus),
            inference_hours=t4_hours(
                inference_flops(plan.flops, plan.test_rows, models, plan.tta), tflops
            ),
        )
    proj.breaks = limit_breaks(plan, proj)
    return proj


def split_remedy(plan: ConfigPlan, proj: Projection) -> str:
    """What to do about a train kernel over the session limit: one kernel per fold
    (``FOLDS=``, queued two at a time by ``make wait``) where one fold fits a session."""
    one = session_hours(proj.fold_hours or 0.0, 1, plan.seeds, plan.gpus)
    if one <= schema.KAGGLE_SESSION_HOURS:
        folds = ",".join(str(k) for k in range(plan.folds))
        return f"FOLDS={folds} trains one kernel per fold, {one:.1f} h each"
    return f"one fold alone needs {one:.1f} h: fewer epochs, seeds or samples"


def limit_breaks(plan: ConfigPlan, proj: Projection) -> list[str]:
    """The limits ``plan`` would break, each named with its figure and the limit."""
    out = []
    if proj.session_hours is not None:
        if proj.session_hours > schema.KAGGLE_SESSION_HOURS:
            out.append(
                f"{schema.KAGGLE_SESSION_HOURS:g} h per session: its train kernel needs "
                f"{proj.session_hours:.1f} h; {split_remedy(plan, proj)}"
            )
        elif 0 < plan.time_limit_hours < proj.session_hours:
            out.append(
                f"its train.time_limit_hours ({plan.time_limit_hours:g} h): training needs "
                f"{proj.session_hours:.1f} h"
            )
        weekly = weekly_hours(proj) or 0.0
        if weekly > schema.KAGGLE_WEEKLY_GPU_HOURS:
            out.append(
                f"{schema.KAGGLE_WEEKLY_GPU_HOURS:g} GPU hours a week: it needs {weekly:.1f} h"
            )
    if proj.inference_hours is not None and proj.inference_hours > schema.KAGGLE_INFERENCE_HOURS:
        out.append(
            f"{schema.KAGGLE_INFERENCE_HOURS:g} h for inference: it needs "
            f"{proj.inference_hours:.1f} h"
        )
    cache = plan.cache_bytes
    if cache > schema.KAGGLE_DISK_GB * GB:
        out.append(f"{schema.KAGGLE_DISK_GB:g} GB of disk: its cache is {cache / GB:.1f} GB")
    if cache > schema.KAGGLE_RAM_GB * GB:
        out.append(
            f"{schema.KAGGLE_RAM_GB:g} GB of RAM: its {cache / GB:.1f} GB memory-mapped cache "
            "is read from disk every epoch"
        )
    work = plan.working_bytes
    if work is not None and work > schema.KAGGLE_WORKING_GB * GB:
        out.append(
            f"{schema.KAGGLE_WORKING_GB:g} GB in /kaggle/working: its checkpoints are "
            f"{work / GB:.1f} GB"
        )
    return out


def weekly_hours(proj: Projection) -> float | None:
    """Hours of Kaggle's weekly GPU quota: the train kernel's session and the inference."""
    if proj.session_hours is None:
        return None
    return proj.session_hours + (proj.inference_hours or 0.0)


def ensemble_projection(projs: Sequence[Projection]) -> Projection:
    """The whole ensemble: every config's training (each its own train kernel, one after
    another within the weekly quota) and one inference kernel predicting with all of them."""
    torch_ones = [p for p in projs if p.train_hours is not None]
    total = Projection(
        "ensemble",
        fold_hours=None,
        train_hours=sum(p.train_hours or 0.0 for p in torch_ones),
        session_hours=sum(p.session_hours or 0.0 for p in torch_ones),
        inference_hours=sum(p.inference_hours or 0.0 for p in torch_ones),
    )
    weekly = weekly_hours(total) or 0.0
    if weekly > schema.KAGGLE_WEEKLY_GPU_HOURS:
        total.breaks.append(
            f"{schema.KAGGLE_WEEKLY_GPU_HOURS:g} GPU hours a week: training and inference "
            f"need {weekly:.1f} h"
        )
    if total.inference_hours > schema.KAGGLE_INFERENCE_HOURS:
        total.breaks.append(
            f"{schema.KAGGLE_INFERENCE_HOURS:g} h for inference: the blend needs "
            f"{total.inference_hours:.1f} h"
        )
    return total


# ----------------------------------------------------------------------------- measuring
def input_shapes(cfg: Config) -> dict[str, tuple[int, ...]]:
    """Each input the configured family reads -> one sample's stored shape (e.g. ``raw_eeg``
    -> ``(18, 2000)``, 18 pairs x 50 s at 40 Hz)."""
    from hms_kit.inputs.registry import get_input
    from hms_kit.models import family_inputs

    return {n: tuple(get_input(n).shape(cfg.inputs)) for n in family_inputs(cfg)}


def model_cost(cfg: Config) -> tuple[int | None, float | None, dict[str, tuple[int, ...]]]:
    """``(parameters, forward FLOPs of one sample, input shapes)`` of the configured model,
    built on the CPU without pretrained weights and run on one zero sample of each input's
    stored shape; ``(None, None, shapes)`` for a family without a torch model."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from hms_kit.models import build_model, is_torch_family

    shapes = input_shapes(cfg)
    if not is_torch_family(cfg):
        return None, None, shapes
    model = build_model(cfg, pretrained=False).eval()
    params = sum(p.numel() for p in model.parameters())
    batch = {n: torch.zeros(1, *s) for n, s in shapes.items()}
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(batch)
    return params, float(counter.get_total_flops()), shapes


PROBE_STEPS = 5  # timed training steps after one warm-up: their median is the step's time


def step_seconds(cfg: Config, steps: int = PROBE_STEPS, threads: int | None = None) -> float | None:
    """Wall seconds of one training step of the configured model on this machine's CPU:
    forward, the KL loss, backward and an AdamW step on a batch of ``train.batch_size``
    random samples of each input's stored shape; the median of ``steps`` (>= 1) after one
    warm-up, on ``threads`` torch threads (None: this process's; restored after). None for a
    family without a torch model. The caller's random streams and grad mode are untouched.

    The model's part of a fold only: the loader, validation and the cache build are not
    timed, so the ratio of two configs' steps lies further from 1 than the ratio of their
    minutes where those weigh (timm2d at half its pixels: 1.9x a step here, 1.5x an epoch
    where stop 35 measured it).
    """
    import statistics
    import time

    import torch

    from hms_kit.engine.loop import kl_loss
    from hms_kit.models import build_model, is_torch_family

    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not is_torch_family(cfg):
        return None
    shapes = input_shapes(cfg)
    b = cfg.train.batch_size
    times = []
    before = torch.get_num_threads()
    try:
        if threads:
            torch.set_num_threads(threads)
        # the weights' init draws come from the CPU stream alone: forked, not the caller's
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            torch.default_generator.manual_seed(0)
            model = build_model(cfg, pretrained=False).train()
            batch = {n: torch.randn(b, *s) for n, s in shapes.items()}
            target = torch.full((b, len(schema.CLASSES)), 1.0 / len(schema.CLASSES))
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
            for _ in range(steps + 1):
                start = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                kl_loss(model(batch), target).backward()
                opt.step()
                times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(before)
    return float(statistics.median(times[1:]))


def measure_bytes_per_row(cfg: Config, comp: Competition, cache_dir: Path) -> dict[str, float]:
    """Cache bytes per row of each input the config caches, measured: the entries built for
    the first ``MEASURE_ROWS`` rows of ``comp`` (each row its own window), ``values.npy``'s
    size over its windows. Baseline-like families cache nothing: ``{}``."""
    from hms_kit.inputs.cache import VALUES_FILE, build_cache
    from hms_kit.models import family_inputs, is_torch_family

    if not is_torch_family(cfg):
        return {}
    rows = comp.read_train().head(MEASURE_ROWS)
    cache = build_cache(
        comp, rows, cfg.inputs, cache_dir, modalities=family_inputs(cfg), workers=1,
        progress=False,
    )  # fmt: skip
    return {m: (e.path / VALUES_FILE).stat().st_size / e.n for m, e in cache.entries.items()}


def config_label(name: str) -> str:
    """A config's column name: a packaged name as given, a file by its stem."""
    p = Path(name)
    return p.stem if p.suffix in (".yaml", ".yml") else name


def plan_config(
    name: str,
    cfg: Config,
    comp: Competition,
    cache_dir: Path,
    tflops: float = ASSUMED_T4_TFLOPS,
) -> tuple[ConfigPlan, Projection, dict[str, tuple[int, ...]]]:
    """Measure and project one config (``comp``: the tiny competition the cache is measured
    on); returns its plan, projection and input shapes."""
    from hms_kit.repeats import seed_list

    params, flops, shapes = model_cost(cfg)
    rows = full_rows(cfg.data.row_mode)
    folds = len(cfg.train.folds) or cfg.train.n_folds
    plan = ConfigPlan(
        name=config_label(name),
        family=cfg.model.family,
        model="" if cfg.model.family in UNNAMED_FAMILIES else cfg.model.name,
        row_mode=cfg.data.row_mode,
        params=params,
        flops=flops,
        stages=stage_plans(cfg, rows),
        folds=folds,
        seeds=max(1, len(seed_list(cfg))),
        gpus=min(
            cfg.train.fold_workers or schema.KAGGLE_T4_PER_SESSION, schema.KAGGLE_T4_PER_SESSION
        ),
        tta=cfg.predict.tta_flip,
        time_limit_hours=cfg.train.time_limit_hours,
        bytes_per_row=measure_bytes_per_row(cfg, comp, cache_dir),
        cache_rows=rows,
    )
    return plan, project(plan, tflops), shapes


@dataclass
class Plan:
    """Every config's plan and projection, and the ensemble's. ``tflops``: the assumed
    throughput; ``throughputs``: the one each config's hours use, ``measured[i]`` whether
    it came from a gpu-check (``measured_on``: its device and time)."""

    tflops: float
    plans: list[ConfigPlan]
    projections: list[Projection]
    shapes: list[dict[str, tuple[int, ...]]]
    ensemble: Projection
    throughputs: list[float] = field(default_factory=list)
    measured: list[bool] = field(default_factory=list)
    measured_on: str = ""


def plan_configs(
    names: Sequence[str],
    overrides: Sequence[str] = (),
    tflops: float = ASSUMED_T4_TFLOPS,
    workdir: str | Path | None = None,
    measured: Mapping[str, float] | None = None,
    measured_on: str = "",
) -> Plan:
    """Plan each config (a packaged name or a YAML path; ``overrides``: ``key=value`` applied
    to every one). The cache is measured on a 2-EEG synthetic competition written under
    ``workdir`` (default: a temporary folder, removed after). ``measured``: effective TFLOP/s
    by config name (a gpu-check's, made on ``measured_on``), used in place of ``tflops`` for
    the configs it names."""
    measured = dict(measured or {})
    for label, value in measured.items():
        if value <= 0:
            raise ValueError(f"measured throughput of {label!r} must be > 0, got {value}")
    labels = [config_label(n) for n in names]
    throughputs = [measured.get(label, tflops) for label in labels]
    from hms_kit.data.synth import generate_competition

    for n in names:
        resolve_config_path(n)  # ConfigError naming a missing config before any work
    cfgs = [load_config(n, list(overrides)) for n in names]
    with tempfile.TemporaryDirectory(prefix="hms_plan_", dir=workdir) as tmp:
        root = Path(tmp)
        generate_competition(root / "competition", n_eegs=2, seed=0, n_test=1)
        comp = Competition(root / "competition")
        results = [
            plan_config(n, cfg, comp, root / "cache", t)
            for n, cfg, t in zip(names, cfgs, throughputs, strict=True)
        ]
    plans = [r[0] for r in results]
    projs = [r[1] for r in results]
    return Plan(
        tflops, plans, projs, [r[2] for r in results], ensemble_projection(projs),
        throughputs=throughputs, measured=[label in measured for label in labels],
        measured_on=measured_on,
    )  # fmt: skip


# ----------------------------------------------------------------------------- rendering
def _h(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.3g}" if x >= 0.01 or x == 0 else "< 0.01"


def _shape(shapes: dict[str, tuple[int, ...]]) -> str:
    return ", ".join(f"{n} {tuple(s)}" for n, s in shapes.items()) or "-"


def _throughputs(plan: Plan) -> list[float]:
    return plan.throughputs or [plan.tflops] * len(plan.plans)


def _measured(plan: Plan) -> list[bool]:
    return plan.measured or [False] * len(plan.plans)


def _throughput_line(plan: Plan) -> str:
    """Which throughput the hours use: the assumption, a gpu-check's measurement, or both."""
    measured = [p.name for p, m in zip(plan.plans, _measured(plan), strict=True) if m]
    assumed = f"assumes one T4 sustains {plan.tflops:.1f} effective TFLOP/s"
    if not measured:
        return f"projection, {assumed}"
    where = f"`make gpu-check` measured on {plan.measured_on or 'a GPU'}"
    if "T4" not in plan.measured_on:
        where += " (not a T4: Kaggle's T4 is slower, so these hours are too few)"
    line = f"projection at the effective TFLOP/s {where} for {', '.join(measured)}"
    if len(measured) < len(plan.plans):
        line += f"; for the others it {assumed}"
    return line


def render(plan: Plan) -> str:
    """The plan as text: assumptions, one table (a column per config and the ensemble) and
    the limits each config and the ensemble break."""
    cols = [p.name for p in plan.plans]
    n_stages = max((len(p.stages) for p in plan.plans), default=0)
    table: list[tuple[str, list[str], str]] = []

    def row(label: str, values: list[str], total: str = "") -> None:
        table.append((label, values, total))

    P, J, E = plan.plans, plan.projections, plan.ensemble
    row("family (model)", [p.family + (f" ({p.model})" if p.model else "") for p in P])
    row("inputs (shape per sample)", [_shape(s) for s in plan.shapes])
    row("parameters (M)", ["n/a" if p.params is None else f"{p.params / 1e6:.2f}" for p in P])
    row("GFLOPs per sample (forward)", ["n/a" if p.flops is None else f"{p.flops / 1e9:.3f}" for p in P])  # fmt: skip
    row("row mode (rows at full size)", [f"{p.row_mode} ({p.cache_rows:,})" for p in P])
    for i in range(n_stages):
        cells = []
        for p in P:
            s = p.stages[i] if i < len(p.stages) else None
            cells.append("-" if s is None else f"{s.samples:,} x {s.epochs}")
        row(f"stage {i + 1}: samples per epoch x epochs", cells)
    row("folds x seeds", [f"{p.folds} x {p.seeds}" for p in P])
    row(
        "cache bytes per row (measured)",
        [f"{sum(p.bytes_per_row.values()) / 1024:.1f} KiB" if p.bytes_per_row else "-" for p in P],
    )
    row(
        "cache at full size, disk = memory (GB)",
        [f"{p.cache_bytes / GB:.1f}" if p.bytes_per_row else "-" for p in P],
    )
    row(
        "checkpoints in /kaggle/working (GB)",
        ["n/a" if p.working_bytes is None else f"{p.working_bytes / GB:.2f}" for p in P],
    )
    row(
        "T4 throughput, effective TFLOP/s",
        [
            "n/a" if p.flops is None else f"{t:.3g} ({'measured' if m else 'assumed'})"
            for p, t, m in zip(P, _throughputs(plan), _measured(plan), strict=True)
        ],
    )
    row("T4 hours per fold", [_h(j.fold_hours) for j in J])
    row("T4 hours, every fold and seed", [_h(j.train_hours) for j in J], _h(E.train_hours))
    row("train kernel hours (T4 x2)", [_h(j.session_hours) for j in J], _h(E.session_hours))
    row("inference T4 hours", [_h(j.inference_hours) for j in J], _h(E.inference_hours))
    row(
        "GPU quota hours (train + inference)", [_h(weekly_hours(j)) for j in J], _h(weekly_hours(E))
    )
    row(
        "fits Kaggle's limits",
        ["no" if j.breaks else "yes" for j in J],
        "no" if E.breaks else "yes",
    )

    header = ["", *cols, "ensemble"]
    body = [[label, *values, total] for label, values, total in table]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [
        f"plan at the full competition's size: {schema.FULL_TRAIN_ROWS:,} train rows "
        f"({schema.FULL_DEDUP_ROWS:,} dedup, {schema.FULL_TRAIN_EEGS:,} EEGs, "
        f"{schema.FULL_TRAIN_PATIENTS:,} patients); {schema.PLANNED_TEST_EEGS:,} test EEGs "
        "(assumed: Kaggle does not publish it)",
        f"{_throughput_line(plan)} (training: "
        f"FLOPs x {TRAIN_FLOPS_FACTOR:g} for forward + backward, plus a validation forward "
        "per epoch); a train kernel runs its folds side by side on Kaggle's 2 T4s; the "
        "weekly quota counts session hours; the data pipeline (4 CPU cores) is not modelled"
        + (", except in a measured throughput" if any(_measured(plan)) else ""),
        f"rows with >= min_votes votes: the real share ({vote_share(schema.HIGH_VOTE_THRESHOLD):.0%} "
        f"at >= {schema.HIGH_VOTE_THRESHOLD}) in every row mode; cache: "
        "one window per row (an upper bound), memory-mapped in /kaggle/temp (the train "
        "kernel's cache folder), so memory = disk when all of it is paged in",
        "",
        line(header),
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
        *[line(r) for r in body],
        "",
    ]
    broken = [(j.name, b) for j in [*J, E] for b in j.breaks]
    if broken:
        out.append("would not fit:")
        out.extend(f"- {name}: breaks {b}" for name, b in broken)
    else:
        out.append("every config and the ensemble fit Kaggle's limits")
    return "\n".join(out)


__all__ = [
    "ASSUMED_T4_TFLOPS",
    "ConfigPlan",
    "Plan",
    "Projection",
    "StagePlan",
    "ensemble_projection",
    "fold_flops",
    "full_rows",
    "inference_flops",
    "limit_breaks",
    "measure_bytes_per_row",
    "model_cost",
    "plan_configs",
    "project",
    "render",
    "scale_bytes",
    "session_hours",
    "stage_plans",
    "t4_hours",
    "vote_share",
    "weekly_hours",
]
