"""Upload folders: the metadata templates in ``kernel-metadata/<name>/`` rendered with the
username, the dataset slug, sources, machine shape and pins into ``build/kaggle/<name>/``,
each kernel's code with its ``SETTINGS`` line filled, and the checks a folder passes before
any request. Writes only the build folder (whole, through a staging folder).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hms_kit import __version__, schema
from hms_kit.publish.errors import PublishError
from hms_kit.publish.naming import (
    KERNELS,
    TRAIN,
    check_accelerator,
    config_slug,
    config_title,
    dataset_ref,
    fold_slug,
    fold_title,
    pinned,
    source_problem,
    train_slug,
)
from hms_kit.runtime.settings import SETTING_ENV, SETTINGS_MARK

DEFAULT_DATASET_SLUG = "hms-kit-wheel"
KERNEL_METADATA = "kernel-metadata.json"
DATASET_METADATA = "dataset-metadata.json"
CONFIG_FILE = "config.yaml"
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
PINNING_TYPES = ("original", "latest")  # the client's valid_push_pinning_types
# what a SETTINGS value may be: digits and lower-case words joined by "-" or "," (no quoting)
SETTING_VALUE = re.compile(r"[a-z0-9]+(?:[-,][a-z0-9]+)*")


def substitute(value: Any, mapping: Mapping[str, str]) -> Any:
    """``value`` with every ``{name}`` in its strings replaced (dicts and lists walked)."""
    if isinstance(value, str):
        for key, text in mapping.items():
            value = value.replace("{" + key + "}", text)
        return value
    if isinstance(value, list):
        return [substitute(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, mapping) for k, v in value.items()}
    return value


def _leftover_placeholders(value: Any) -> list[str]:
    return PLACEHOLDER.findall(json.dumps(value))


def replace_folder(staging: Path, target: Path) -> None:
    """Swap a fully written staging folder in for ``target`` (the client uploads every file
    in the folder, so stale files from an earlier render must not survive). The old folder
    is renamed aside first and deleted last: a kill mid-way leaves it beside the target
    (``.<name>.old-<pid>-<ns>``), not half deleted (a pulled run's checkpoints take seconds)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}-{time.time_ns()}")
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _render(
    build_dir: Path,
    meta: Any,
    files: Sequence[Path],
    name: str,
    texts: Mapping[str, str] | None = None,
) -> Path:
    """Write ``meta`` as ``name``, copies of ``files`` and the ``texts`` (file name -> text)
    into a fresh ``build_dir``."""
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{build_dir.name}.tmp-", dir=build_dir.parent))
    try:
        (staging / name).write_text(json.dumps(meta, indent=2) + "\n")
        for src in files:
            shutil.copy2(src, staging / Path(src).name)
        for file_name, text in (texts or {}).items():
            (staging / file_name).write_text(text)
        replace_folder(staging, build_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return build_dir


def check_setting_value(key: str, value: str) -> str:
    """``value`` if it can go into the kernel's ``SETTINGS`` line as it is (a fold number, a
    checked config name); PublishError naming it otherwise."""
    if key not in SETTING_ENV:
        raise PublishError(f"SETTINGS: unknown key {key!r} (known: {sorted(SETTING_ENV)})")
    if not SETTING_VALUE.fullmatch(value):
        raise PublishError(f"{key} {value!r} cannot go into a kernel's SETTINGS line")
    return value


def settings_line(settings: Mapping[str, str | None], newline: str = "\n") -> str:
    """The kernel script's marked line, ``SETTINGS: dict[str, str] = {...}  # <mark>``, holding
    the non-None ``settings`` in :data:`SETTING_ENV`'s key order (config, folds, timeout)."""
    filled = {k: check_setting_value(k, str(settings[k])) for k in SETTING_ENV if settings.get(k)}
    unknown = sorted(k for k in settings if k not in SETTING_ENV)
    if unknown:
        raise PublishError(f"SETTINGS: unknown key(s) {unknown} (known: {sorted(SETTING_ENV)})")
    return f"SETTINGS: dict[str, str] = {json.dumps(filled)}  {SETTINGS_MARK}{newline}"


def with_settings(
    source: str, settings: Mapping[str, str | None], where: str | Path = "kernel script"
) -> str:
    """``source`` with its one marked ``SETTINGS`` line replaced by :func:`settings_line`;
    every other byte is kept (the line's own line end too). With no setting given ``source``
    comes back as it is. Raises PublishError naming ``where`` unless exactly one line ends
    with the mark."""
    if not any(settings.values()):
        return source
    lines = io.StringIO(source, newline="").readlines()
    marked = [i for i, line in enumerate(lines) if line.rstrip("\r\n").endswith(SETTINGS_MARK)]
    if len(marked) != 1:
        raise PublishError(
            f"{where}: expected one line ending with {SETTINGS_MARK!r}, found {len(marked)}"
        )
    line = lines[marked[0]]
    newline = line[len(line.rstrip("\r\n")) :]
    lines[marked[0]] = settings_line(settings, newline)
    return "".join(lines)


def render_kernel_metadata(
    template_dir: str | Path,
    build_dir: str | Path,
    username: str,
    *,
    code_dir: str | Path,
    dataset_slug: str = DEFAULT_DATASET_SLUG,
    weights_dataset: str | None = None,
    fold: int | None = None,
    train_folds: Sequence[int] = (),
    accelerator: str | None = None,
    resume: bool = False,
    pins: Mapping[str, int] | None = None,
    config: str | None = None,
    train_configs: Sequence[str | None] = (),
    timeout: int | None = None,
) -> Path:
    """Render ``template_dir/kernel-metadata.json`` into ``build_dir`` with its code file.

    The code file named by ``code_file`` is copied from ``code_dir``; a weights dataset, if
    given, is appended to ``dataset_sources``. With ``fold`` the kernel trains that fold
    only: ``-fold<k>`` is added to its slug, `` fold<k>`` to its title, and its code's
    ``SETTINGS`` line gets ``"folds": "<k>"``. With ``train_folds`` the train kernel in ``kernel_sources`` (added if
    absent) is replaced by one ``-fold<k>`` kernel per fold. With ``config`` (a packaged
    config name) the train kernel runs that config: ``-<config>`` is added to its slug (before
    any ``-fold<k>``), `` <config>`` to its title, and its ``SETTINGS`` line ``"config"``. With
    ``train_configs`` the train kernel in ``kernel_sources`` is replaced by one kernel per
    config (times ``train_folds``, config by config; None: the plain train kernel). ``accelerator`` replaces the
    template's ``machine_shape``. ``resume`` adds the kernel's own id to its
    ``kernel_sources``, so a new version sees the previous version's output. ``pins`` maps a
    kernel source ``owner/slug`` to the version it is pinned to (``owner/slug/N``). With
    ``timeout`` (the session's seconds, pushed with it) the code's ``SETTINGS`` line gets
    ``"timeout"``, so training stops before Kaggle ends the session. Returns ``build_dir``.
    """
    template_dir = Path(template_dir)
    meta = json.loads((template_dir / KERNEL_METADATA).read_text())
    meta = substitute(meta, {"username": username, "dataset_slug": dataset_slug})
    if weights_dataset:
        sources = meta.setdefault("dataset_sources", [])
        ref = dataset_ref(username, weights_dataset)
        if ref not in sources:
            sources.append(ref)
    if train_folds or train_configs:
        train_ref = f"{username}/{KERNELS[TRAIN]}"
        refs = [
            f"{username}/{train_slug(c, k)}"
            for c in (train_configs or [None])
            for k in (train_folds or [None])
        ]
        sources = [s for s in meta.get("kernel_sources", []) if s not in refs]
        at = sources.index(train_ref) if train_ref in sources else len(sources)
        meta["kernel_sources"] = [*sources[:at], *refs, *sources[at + 1 :]]
    if accelerator:
        meta["machine_shape"] = check_accelerator(accelerator)
    if config is not None:
        check_setting_value("config", config)  # an unsafe name fails before anything is written
        meta["id"] = config_slug(str(meta.get("id", "")), config)
        meta["title"] = config_title(str(meta.get("title", "")), config)
    if fold is not None:
        meta["id"] = fold_slug(str(meta.get("id", "")), fold)
        meta["title"] = fold_title(str(meta.get("title", "")), fold)
    if resume and meta.get("id") not in meta.setdefault("kernel_sources", []):
        meta["kernel_sources"].append(meta["id"])
    if pins:
        meta["kernel_sources"] = [
            pinned(ref, pins.get("/".join(ref.split("/")[:2])))
            for ref in meta.get("kernel_sources", [])
        ]
    code = Path(code_dir) / meta.get("code_file", "")
    if not meta.get("code_file") or not code.is_file():
        raise PublishError(f"{template_dir / KERNEL_METADATA}: code file {code} not found")
    if fold is None and config is None and timeout is None:
        return _render(Path(build_dir), meta, [code], KERNEL_METADATA)
    settings = {"config": config, "folds": None if fold is None else str(int(fold)),
                "timeout": None if timeout is None else str(int(timeout))}  # fmt: skip
    text = with_settings(code.read_text(), settings, code)
    return _render(Path(build_dir), meta, [], KERNEL_METADATA, {code.name: text})


def render_dataset_metadata(
    template_dir: str | Path,
    build_dir: str | Path,
    username: str,
    *,
    files: Sequence[str | Path],
    dataset_slug: str = DEFAULT_DATASET_SLUG,
) -> Path:
    """Render ``template_dir/dataset-metadata.json`` into ``build_dir`` with ``files`` (the
    wheel and the kernels' config). Returns ``build_dir``."""
    template_dir = Path(template_dir)
    meta = json.loads((template_dir / DATASET_METADATA).read_text())
    meta = substitute(meta, {"username": username, "dataset_slug": dataset_slug})
    missing = [str(f) for f in files if not Path(f).is_file()]
    if missing:
        raise PublishError(f"dataset files not found: {', '.join(missing)}")
    return _render(Path(build_dir), meta, [Path(f) for f in files], DATASET_METADATA)


def check_kernel_folder(folder: str | Path, username: str) -> dict[str, Any]:
    """Validate a rendered kernel folder; returns its metadata. Raises PublishError."""
    folder = Path(folder)
    meta = json.loads((folder / KERNEL_METADATA).read_text())
    problems = [f"unfilled placeholder {p}" for p in _leftover_placeholders(meta)]
    owner, _, slug = str(meta.get("id", "")).partition("/")
    if owner != username or not slug:
        problems.append(f"id {meta.get('id')!r} is not {username}/<slug>")
    code = folder / str(meta.get("code_file", ""))
    if not meta.get("code_file") or not code.is_file() or not code.read_text().strip():
        problems.append(f"code file {code} missing or empty")
    if meta.get("language") != "python" or meta.get("kernel_type") != "script":
        problems.append("language must be python and kernel_type script")
    for key in ("is_private", "enable_gpu", "enable_internet"):
        if not isinstance(meta.get(key), bool):
            problems.append(f"{key} must be true or false")
    if schema.COMPETITION_SLUG not in meta.get("competition_sources", []):
        problems.append(f"competition_sources lacks {schema.COMPETITION_SLUG}")
    for key in ("dataset_sources", "kernel_sources"):
        for ref in meta.get(key, []):
            problem = source_problem(ref)
            if problem:
                problems.append(f"{key}: {problem}")
    shape = meta.get("machine_shape")
    if shape is not None:
        try:
            check_accelerator(str(shape))
        except PublishError as exc:
            problems.append(f"machine_shape: {exc}")
    pinning = meta.get("docker_image_pinning_type")
    if pinning is not None and pinning not in PINNING_TYPES:
        problems.append(f"docker_image_pinning_type {pinning!r} is not one of {PINNING_TYPES}")
    if problems:
        raise PublishError(f"{folder / KERNEL_METADATA}: " + "; ".join(problems))
    return meta


def check_dataset_folder(folder: str | Path, username: str) -> dict[str, Any]:
    """Validate a rendered dataset folder (metadata, one wheel, the config); returns metadata."""
    folder = Path(folder)
    meta = json.loads((folder / DATASET_METADATA).read_text())
    problems = [f"unfilled placeholder {p}" for p in _leftover_placeholders(meta)]
    owner, _, slug = str(meta.get("id", "")).partition("/")
    if owner != username or "/" in slug or not 6 <= len(slug) <= 50:
        problems.append(f"id {meta.get('id')!r} is not {username}/<slug of 6-50 characters>")
    if not 6 <= len(str(meta.get("title", ""))) <= 50:
        problems.append("title must have 6-50 characters")
    if len(meta.get("licenses", [])) != 1:
        problems.append("exactly one licence is needed")
    if len(list(folder.glob("hms_kit-*.whl"))) != 1:
        problems.append("exactly one hms_kit wheel is needed")
    if not (folder / CONFIG_FILE).is_file():
        problems.append(f"{CONFIG_FILE} missing")
    if problems:
        raise PublishError(f"{folder / DATASET_METADATA}: " + "; ".join(problems))
    return meta


def wheel_path(dist_dir: str | Path, version: str = __version__) -> Path:
    """``dist/hms_kit-<version>-py3-none-any.whl`` (the version this source tree declares)."""
    return Path(dist_dir) / f"hms_kit-{version}-py3-none-any.whl"
