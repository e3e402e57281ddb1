"""A device check before spending GPU hours: a short epoch of each kaggle-* config
(``hms_kit.config.KAGGLE_CONFIGS``) at its real input shapes, on synthetic data.

Per config, on this machine's GPU:

- **model only**: training steps (forward, KL loss, backward, clipping, AdamW) on random
  inputs of the config's shapes already on the device, at the config's batch size, with AMP
  on (fp16 autocast and its scaler, or the config's bf16) and off (fp32), and the peak GPU
  memory of each;
- **data pipeline alone**: batches out of the loader training uses (a cache built for a tiny
  synthetic competition -> ``InputDataset`` with the config's panel augmentation ->
  ``make_loader`` with the config's workers), nothing on the device;
- **pipeline -> model**: the same training steps fed by that loader (batch augmentation on
  the device, AMP as the config says): what an epoch runs at.

Every figure is ``steps`` timed steps after ``warmup`` untimed ones (a figure also stops at
``max_seconds``), so the whole check stays within minutes. Weights are random (never
pretrained: the cost is the same, and a device may have no internet). The counted forward
FLOPs per sample (``hms_kit.tools.plan.model_cost``) turn the pipeline -> model rate into an
effective TFLOP/s, which ``plan`` uses in place of its assumption.

``check_configs`` measures and returns plain data; ``render`` gives the BENCHMARKS.md
section (between ``GPU_START`` and ``GPU_END``), ``to_json`` / ``read_measured`` the file
``plan`` reads. ``tiny`` runs the same code
on the CPU in seconds (small models, two steps) for the test suite.
"""

from __future__ import annotations

import itertools
import json
import platform
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hms_kit.config import CONFIG_DIR, KAGGLE_CONFIGS, Config, load_config
from hms_kit.data.competition import Competition

GPU_START = "<!-- gpu:start -->"
GPU_END = "<!-- gpu:end -->"
GPU_CHECK_FILE = "gpu_check.json"  # what `make gpu-check` writes and `plan` reads
BUDGET_S = 420.0  # the whole check, under `make gpu-check`'s 8 minutes with start-up
# Per family, what --tiny changes so a CPU step takes well under a second: the model only
# (smaller backbone or widths), never the input shapes the pipeline must produce.
TINY_OVERRIDES: dict[str, tuple[str, ...]] = {
    "timm2d": ("model.name=test_efficientnet",),
    "spec2d": ("model.name=test_efficientnet",),
    "eeg1d": (
        "model.eeg1d.widths=[8,8,8,8,8]",
        "model.eeg1d.chain.stem_width=8",
        "model.eeg1d.chain.widths=[8,8,8,8,8]",
        "model.eeg1d.chain.depth=1",
    ),
}
TINY_BATCH = 2
GB = 1e9


@dataclass
class ConfigCheck:
    """One config's figures (samples/s, GB). ``skipped``: why it was not measured (a config
    not packaged, an error), with the figures left None."""

    name: str
    skipped: str = ""
    batch_size: int = 0
    shapes: dict[str, list[int]] = field(default_factory=dict)
    params: int | None = None
    flops: float | None = None  # counted forward FLOPs of one sample
    amp: str = ""  # the autocast dtype of "AMP on" ("float16", "bfloat16"; "" on the CPU)
    model_amp: float | None = None
    model_fp32: float | None = None
    peak_amp_gb: float | None = None
    peak_fp32_gb: float | None = None
    pipeline: float | None = None
    workers: int = 0
    full: float | None = None  # pipeline -> model, AMP as the config says

    @property
    def effective_tflops(self) -> float | None:
        """Counted FLOPs per second of the pipeline -> model rate: forward x 3 (a backward
        costs about two forwards), what ``plan`` divides by."""
        from hms_kit.tools.plan import TRAIN_FLOPS_FACTOR

        if self.flops is None or self.full is None:
            return None
        return self.flops * TRAIN_FLOPS_FACTOR * self.full / 1e12


@dataclass
class GpuCheck:
    """The whole check: where and how it ran, and each config's figures."""

    device: str
    torch: str
    when: str
    tiny: bool
    steps: int
    warmup: int
    command: str
    configs: list[ConfigCheck] = field(default_factory=list)


def device_name() -> str:
    """The GPU's name (``torch.cuda.get_device_name``), or ``cpu (<machine>)``."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu ({platform.processor() or platform.machine()})"


def missing_config(name: str) -> str:
    """Why ``name`` cannot be measured yet ('' when it is packaged)."""
    path = CONFIG_DIR / f"{name}.yaml"
    return "" if path.is_file() else f"not packaged: hms_kit/configs/{path.name} does not exist"


def check_overrides(cfg: Config, tiny: bool) -> list[str]:
    """What the check changes in a config: never pretrained; with ``tiny`` a small model
    (``TINY_OVERRIDES``), batch ``TINY_BATCH`` and no loader workers."""
    out = ["model.pretrained=false"]
    if tiny:
        out += [*TINY_OVERRIDES.get(cfg.model.family, ()), f"train.batch_size={TINY_BATCH}"]
        out += ["train.num_workers=0"]
    return out


def _cycle(loader: Iterable) -> Iterator:
    """Batches of ``loader`` epoch after epoch (a short check may want more than one)."""
    while True:
        yield from loader


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(run: Callable[[int], int], steps: int, warmup: int, max_seconds: float, device) -> float:
    """Samples per second of ``run(n)`` (runs n steps, returns the samples seen) over
    ``steps`` steps after ``warmup`` untimed ones, one step at a time once ``max_seconds``
    would pass."""
    if warmup:
        run(warmup)
    _sync(device)
    seen, start = 0, time.perf_counter()
    for _ in range(steps):
        seen += run(1)
        if time.perf_counter() - start > max_seconds:
            break
    _sync(device)
    return seen / (time.perf_counter() - start)


def _train_runner(cfg: Config, batches: Iterator, device, amp: str) -> Callable[[int], int]:
    """``run(n)``: n training steps of a fresh model of ``cfg`` on ``batches`` (the loop of
    ``hms_kit.engine.train_one_epoch``, the family's batch augmentation, AMP ``amp``)."""
    import torch

    from hms_kit.engine.loop import amp_dtype, make_optimizer, train_one_epoch
    from hms_kit.models import build_model, get_family

    model = build_model(cfg, pretrained=False).to(device)
    if cfg.train.channels_last and hasattr(model, "channels_last"):
        model = model.to(memory_format=torch.channels_last)
        model.channels_last = True
    # a schedule long enough for any check; its rate is the stage's, as in an epoch
    opt, sched = make_optimizer(model, cfg.train.stage1, 10_000)
    dtype = amp_dtype(amp, device)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    augment = get_family(cfg.model.family).batch_augment(cfg)
    gen = torch.Generator().manual_seed(0)

    def run(n: int) -> int:
        result = train_one_epoch(
            model, list(itertools.islice(batches, n)), opt, sched, scaler, device,
            grad_clip=cfg.train.grad_clip, amp=amp, vote_weighting=cfg.train.vote_weighting,
            augment=augment, generator=gen, desc="gpu-check",
        )  # fmt: skip
        return result.n_rows

    return run


def _random_batch(shapes: dict[str, tuple[int, ...]], batch_size: int, device) -> tuple:
    """A batch as the loader gives it, on ``device``: float16 inputs of ``shapes``, vote
    distributions, total votes."""
    import torch

    gen = torch.Generator().manual_seed(0)
    x = {n: torch.randn(batch_size, *s, generator=gen).half().to(device) for n, s in shapes.items()}
    y = torch.softmax(torch.randn(batch_size, 6, generator=gen), 1).to(device)
    return x, y, torch.full((batch_size,), 10.0, device=device)


def _peak_gb(device) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated(device) / GB if device.type == "cuda" else None


def _reset_peak(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def check_config(
    name: str,
    cfg: Config,
    comp: Competition,
    cache_dir: Path,
    device,
    steps: int,
    warmup: int,
    max_seconds: float,
) -> ConfigCheck:
    """Measure one config (already with :func:`check_overrides`) on ``device``; ``comp`` is
    the synthetic competition its pipeline reads."""
    import numpy as np
    import torch

    from hms_kit.data.labels import total_votes, vote_targets
    from hms_kit.engine.loop import amp_dtype, loader_workers, make_loader
    from hms_kit.inputs.augment import build_augment
    from hms_kit.inputs.cache import build_cache
    from hms_kit.inputs.dataset import InputDataset
    from hms_kit.models import family_inputs
    from hms_kit.tools.plan import model_cost
    from hms_kit.train import training_rows

    params, flops, shapes = model_cost(cfg)
    b = cfg.train.batch_size
    out = ConfigCheck(name, batch_size=b, shapes={n: list(s) for n, s in shapes.items()})
    out.params, out.flops = params, flops
    on = cfg.train.amp if cfg.train.amp in ("fp16", "bf16") else "auto"
    dtype = amp_dtype(on, device)
    out.amp = "" if dtype is None else str(dtype).replace("torch.", "")
    batch = _random_batch(shapes, b, device)
    for amp, attr in ((on, "amp"), ("off", "fp32")):
        if amp != "off" and dtype is None:
            continue  # the CPU has no autocast here: "AMP on" would be fp32 again
        _reset_peak(device)
        rate = _timed(
            _train_runner(cfg, itertools.repeat(batch), device, amp),
            steps, warmup, max_seconds, device,
        )  # fmt: skip
        setattr(out, f"model_{attr}", rate)
        setattr(out, f"peak_{attr}_gb", _peak_gb(device))
    del batch

    rows = training_rows(comp, cfg)
    cache = build_cache(
        comp, rows, cfg.inputs, cache_dir / name, split="train", modalities=family_inputs(cfg),
        workers=1, progress=False, strict=True,
    )  # fmt: skip
    # a dataset of at least two batches: the tiny competition's rows, repeated
    idx = np.resize(np.arange(len(rows)), max(len(rows), 2 * b))
    panel_aug = build_augment(cfg.augment, len(cfg.inputs.modalities))
    ds = InputDataset(
        cache, idx, vote_targets(rows)[idx], total_votes(rows).astype(np.float32)[idx],
        names=family_inputs(cfg), augment=panel_aug, seed=cfg.train.seed,
    )  # fmt: skip
    out.workers = loader_workers(cfg.train.num_workers, device)
    loader = make_loader(ds, b, True, cfg.train.seed, device, cfg.train.num_workers)

    stream = _cycle(loader)

    def drain(n: int) -> int:
        return sum(len(y) for _x, y, _v in itertools.islice(stream, n))

    out.pipeline = _timed(drain, steps, 1, max_seconds, torch.device("cpu"))
    out.full = _timed(
        _train_runner(cfg, _cycle(loader), device, cfg.train.amp),
        steps, warmup, max_seconds, device,
    )  # fmt: skip
    return out


def check_configs(
    names: Sequence[str] = KAGGLE_CONFIGS,
    overrides: Sequence[str] = (),
    tiny: bool = False,
    steps: int | None = None,
    warmup: int | None = None,
    max_seconds: float = 20.0,
    budget_s: float = BUDGET_S,
    workdir: str | Path | None = None,
    command: str = "",
    log: Callable[[str], None] = lambda line: None,
    competition: Competition | None = None,
    on_config: Callable[[GpuCheck], None] = lambda report: None,
) -> GpuCheck:
    """Check each config (a packaged name; ``overrides``: ``key=value`` for every one) on the
    GPU, or with ``tiny`` on the CPU. The pipeline reads ``competition`` (default: a
    synthetic one of 16 EEGs, 4 with ``tiny``, written under ``workdir``). A config not
    packaged yet, one that fails, and those left when ``budget_s`` seconds have passed are
    reported with the reason, not raised. ``on_config(report)`` after each config (the
    command writes what it has, so a check stopped from outside keeps the configs done).
    Raises RuntimeError without CUDA unless ``tiny``."""
    import torch

    if not tiny and not torch.cuda.is_available():
        raise RuntimeError(
            "gpu-check needs a CUDA GPU and torch.cuda finds none here; "
            "--tiny runs the same check on the CPU in seconds (small models, for tests)"
        )
    device = torch.device("cpu" if tiny else "cuda")
    steps = steps or (2 if tiny else 20)
    warmup = (1 if tiny else 3) if warmup is None else warmup
    report = GpuCheck(
        device=device_name() if not tiny else f"{device_name()}, --tiny",
        torch=torch.__version__,
        when=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        tiny=tiny,
        steps=steps,
        warmup=warmup,
        command=command,
    )
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hms_gpu_check_", dir=workdir) as tmp:
        comp = competition
        for name in names:
            why = missing_config(name)
            if not why and time.monotonic() - start > budget_s:
                why = f"not measured: the check's {budget_s:.0f}-s budget had passed"
            if why:
                log(f"{name}: {why}")
                report.configs.append(ConfigCheck(name, skipped=why))
                on_config(report)
                continue
            if comp is None:  # one tiny competition for every config's pipeline
                from hms_kit.data.synth import generate_competition

                n_eegs = 4 if tiny else 16
                generate_competition(Path(tmp) / "competition", n_eegs=n_eegs, seed=0, n_test=1)
                comp = Competition(Path(tmp) / "competition")
            try:
                cfg = load_config(name, list(overrides))
                cfg = load_config(name, [*check_overrides(cfg, tiny), *overrides])
                result = check_config(
                    name, cfg, comp, Path(tmp) / "cache", device, steps, warmup, max_seconds
                )
            except Exception as exc:  # one config's failure must not hide the others' figures
                result = ConfigCheck(name, skipped=f"failed: {type(exc).__name__}: {exc}")
            log(f"{name}: {result.skipped or 'measured'}")
            report.configs.append(result)
            on_config(report)
    return report


# ----------------------------------------------------------------------------- writing
def _f(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def render(report: GpuCheck) -> str:
    """The BENCHMARKS.md section (between ``GPU_START`` and ``GPU_END`` once spliced)."""
    cpu = "on the CPU (--tiny: small models, for tests; no AMP, no GPU memory)"
    lines = [
        "## 6 GPU check: the kaggle-* configs",
        "",
        f"Made by `make gpu-check` (`{report.command or 'python -m hms_kit gpu-check'}`) on "
        f"{report.device}, torch {report.torch}, {report.when}"
        + (f", {cpu}" if report.tiny else "")
        + f". Each figure: {report.steps} timed training steps after {report.warmup} "
        "untimed ones, at the config's batch size and input shapes, random weights, synthetic "
        "data. "
        "Model only: random inputs already on the device. Pipeline: the loader alone (a tiny "
        "synthetic competition's cache, the config's augmentation and workers). Pipeline -> "
        "model: an epoch's steps; its rate times the counted forward FLOPs x 3 is the "
        "effective TFLOP/s `plan` uses for that config.",
        "",
        "| config | inputs (shape per sample) | batch | model only, AMP (samples/s) "
        "| peak GPU memory, AMP (GB) | model only, fp32 (samples/s) "
        "| peak GPU memory, fp32 (GB) | data pipeline alone (samples/s) "
        "| pipeline -> model (samples/s) | effective TFLOP/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in report.configs:
        if c.skipped:
            lines.append(f"| {c.name} | {c.skipped} |" + " |" * 8)
            continue
        shapes = ", ".join(f"{n} {tuple(s)}" for n, s in c.shapes.items())
        amp = f" ({c.amp})" if c.amp else ""
        lines.append(
            f"| {c.name} | {shapes} | {c.batch_size} | {_f(c.model_amp)}{amp} "
            f"| {_f(c.peak_amp_gb, 2)} | {_f(c.model_fp32)} | {_f(c.peak_fp32_gb, 2)} "
            f"| {_f(c.pipeline)} ({c.workers} workers) | {_f(c.full)} "
            f"| {_f(c.effective_tflops, 3)} |"
        )
    return "\n".join(lines) + "\n"


def to_json(report: GpuCheck) -> str:
    """The report as JSON, each config with its effective TFLOP/s (what ``plan`` reads)."""
    data = asdict(report)
    for c, d in zip(report.configs, data["configs"], strict=True):
        d["effective_tflops"] = c.effective_tflops
    return json.dumps(data, indent=1) + "\n"


@dataclass(frozen=True)
class Measured:
    """Effective TFLOP/s per config from a gpu-check file, and the device it ran on."""

    path: str
    device: str
    when: str
    tflops: dict[str, float]


def read_measured(path: str | Path) -> Measured:
    """The measured throughputs in ``path`` (written by :func:`to_json`). Raises ValueError
    naming the file when it is not one, or when it is a ``--tiny`` run (a CPU with small
    models says nothing about a GPU)."""
    path = Path(path)
    try:
        data: Any = json.loads(path.read_text())
        device, when, configs = data["device"], data["when"], data["configs"]
        tflops = {
            str(c["name"]): float(c["effective_tflops"])
            for c in configs
            if c.get("effective_tflops") is not None
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a gpu-check file ({exc}): run `make gpu-check`") from exc
    if data.get("tiny"):
        raise ValueError(f"{path} is a --tiny run on the CPU: it measures no GPU")
    return Measured(str(path), str(device), str(when), tflops)


__all__ = [
    "GPU_CHECK_FILE",
    "GPU_END",
    "GPU_START",
    "ConfigCheck",
    "GpuCheck",
    "Measured",
    "check_config",
    "check_configs",
    "read_measured",
    "render",
    "to_json",
]
