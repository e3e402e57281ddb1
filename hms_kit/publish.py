"""Publishing to Kaggle: the wheel dataset, the train/infer kernels, status and submission.

``python -m hms_kit.publish push-dataset | push-kernel [--kernel train|infer|all]
[--folds 0,1,2] [--configs default,seed] | wait | pull | status [--kernel ...] [--folds ...]
[--configs ...] | submit [--message M] [--version N]`` (the Makefile's ``push-dataset``,
``push-kernel``, ``wait``, ``pull``, ``status`` and ``submit`` targets call it).

Templates live in ``kernel-metadata/<name>/`` with two placeholders, ``{username}`` (the
Kaggle username, found at push time and never committed) and ``{dataset_slug}`` (the wheel
dataset, ``hms-kit-wheel`` unless ``DATASET_SLUG`` / ``--dataset-slug`` says otherwise). Each
push renders a complete upload folder under ``build/kaggle/<name>/`` and checks it before the
``kaggle`` client is called at all, so a missing file or credential stops the push before
anything reaches Kaggle.

The dataset is private and licensed CC0-1.0 (the client's own default licence name, which
Kaggle accepts): it holds only this kit's wheel and its config, no competition data.
``WEIGHTS_DATASET`` (``owner/slug``, or ``slug`` for one of your own datasets) attaches a
dataset of pretrained weights to both kernels.

``--folds 0,1,2`` (``make push-kernel FOLDS=0,1,2``) trains folds in parallel: the train
kernel is pushed once per fold as ``<train slug>-fold<k>`` (rendered in
``build/kaggle/train-fold<k>/``), its code ``kernels/train.py`` with one line after the
docstring that sets ``HMS_FOLDS`` to that fold (a Kaggle kernel cannot set environment
variables); the infer kernel then attaches every fold kernel instead of the single train
kernel. Without ``--folds`` one train kernel trains all the config's folds.

``--configs default,seed`` (``make push-kernel CONFIGS=default,seed``, or ``--config seed`` /
``CONFIG=seed`` for one) trains one model per packaged config (``hms_kit/configs/<name>.yaml``
in the wheel): the train kernel is pushed once per config as ``hms-kit-train-<name>``
(title ``HMS Kit Train <name>``, rendered in ``build/kaggle/train-<name>/``), its code with a
line after the docstring that sets ``HMS_CONFIG`` to the name, so the kernel ignores the
dataset's config.yaml. With ``--folds`` as well each config's kernel is pushed once per fold
(``hms-kit-train-<name>-fold<k>``, both lines), and the folds must exist in every config
given. The infer kernel then attaches every config's train kernel(s), config by config.
Names are checked before any request: packaged, loadable, lower-case words joined by ``-``.

Kaggle runs at most two GPU batch sessions at a time (and about 30 GPU hours a week), so
``push-kernel`` starts at most ``--max-parallel`` (2) GPU kernels and writes the rest to
``build/kaggle/queue.json``; an infer kernel pushed with train kernels always waits there
for them, since it attaches their finished output. ``wait`` polls the pushed dataset
(``kaggle datasets status``: ready) and kernels (``kaggle kernels status``: complete or
error, with the tail of the log on error) and pushes the next queued kernel whenever a
running one finishes (write-ahead: a kernel is marked ``pushing`` in the queue before its
push and removed once the push is recorded, so an interrupted ``wait`` never pushes it
twice). ``pull`` downloads a train kernel's output (``kaggle kernels
output``) into ``runs/<kernel slug>/``.

Each push sends ``machine_shape`` (``NvidiaTeslaT4``, the T4 x2 GPU, unless
``--accelerator`` says otherwise: without it the session type is Kaggle's choice) and pins
the Docker image (``docker_image_pinning_type: original``) so later versions keep the image
the kernel first ran on. Sources may be pinned to a version (``owner/slug/N``).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hms_kit import __version__, schema
from hms_kit.config import CONFIG_DIR, Config, ConfigError, load_config
from hms_kit.io import atomic_write_text
from hms_kit.kernel import ENV_CONFIG, ENV_FOLDS

KERNELS: dict[str, str] = {"train": "hms-kit-train", "infer": "hms-kit-infer"}
DATASET_TEMPLATE = "dataset"
DEFAULT_DATASET_SLUG = "hms-kit-wheel"
ENV_DATASET_SLUG = "DATASET_SLUG"
ENV_WEIGHTS_DATASET = "WEIGHTS_DATASET"
KERNEL_METADATA = "kernel-metadata.json"
DATASET_METADATA = "dataset-metadata.json"
CONFIG_FILE = "config.yaml"
SUBMISSION_FILE = "submission.csv"
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
TRAIN = "train"
INFER = "infer"
# A config name becomes part of a kernel slug and title: lower-case words joined by "-", so
# the title ``HMS Kit Train <name>`` slugifies to the slug; a part such as ``fold1`` would
# make ``hms-kit-train-fold1`` (a fold kernel) ambiguous.
CONFIG_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
FOLD_PART = re.compile(r"(?:^|-)fold[0-9]+(?:-|$)")
MAX_SLUG_LENGTH = 50  # Kaggle's limit for a kernel slug (and its title)

# The client reports some failures on stdout with exit status 0; these mark them.
CLIENT_ERROR_MARKERS = (
    "Kernel push error",
    "Dataset creation error",
    "Dataset version creation error",
)

INVALID_SOURCES = re.compile(r"^The following are not valid (\w+ sources).*$", re.MULTILINE)

CREDENTIALS_HELP = (
    "Kaggle credentials not found. Give the kaggle client one of: an API token from "
    "kaggle.com > Settings > API in KAGGLE_API_TOKEN or ~/.kaggle/access_token; "
    "`kaggle auth login`; or a legacy key: set KAGGLE_USERNAME and KAGGLE_KEY, or create "
    '~/.kaggle/kaggle.json (or $KAGGLE_CONFIG_DIR/kaggle.json) holding {"username": ..., '
    '"key": ...}. Never commit them.'
)

# Shapes the client accepts but Kaggle no longer runs: the session silently gets another.
RETIRED_ACCELERATORS = {"nvidiateslap100": "NvidiaTeslaT4"}
DEFAULT_ACCELERATOR = "NvidiaTeslaT4"  # "GPU T4 x2" in Kaggle's editor
PINNING_TYPES = ("original", "latest")  # the client's valid_push_pinning_types
MAX_SESSION_SECONDS = 12 * 3600  # Kaggle stops any batch session at 12 hours
DEFAULT_MAX_PARALLEL = 2  # Kaggle runs two GPU batch sessions at a time
QUEUE_FILE = "queue.json"
DATASET_RECORD = "pushed-dataset.json"
DEFAULT_RUNS_DIR = "runs"
KERNEL_DONE, KERNEL_FAILED = "complete", "error"
KERNEL_FAILURES = ("error", "cancel_requested", "cancel_acknowledged")
DATASET_READY = "ready"
DATASET_FAILURES = ("failed", "deleted")


class PublishError(Exception):
    """A push that must not go ahead: missing credentials, files or a client failure."""


# ---------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class Credentials:
    """Who pushes, as the kaggle client resolved it: the username goes into the metadata;
    the secret stays with the client."""

    username: str
    source: str  # the client's auth method: "ACCESS_TOKEN", "LEGACY_API_KEY", "OAUTH"


def find_credentials() -> Credentials:
    """The username the kaggle client authenticates as, from the client's own resolution.

    ``KaggleApi.authenticate()`` tries an access token (``KAGGLE_API_TOKEN`` or
    ``~/.kaggle/access_token``, whose username the server reports), then a legacy key
    (``KAGGLE_USERNAME``/``KAGGLE_KEY`` over ``kaggle.json``), then ``kaggle auth login``
    credentials; so the kernel ids carry exactly the owner the client will push as. With
    nothing configured it makes no request and raises PublishError with the setup help.
    """
    # The client prints its own help and calls exit() when nothing is configured, and
    # importing it authenticates once already: keep both out of our output.
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            from kaggle.api.kaggle_api_extended import KaggleApi

            api = KaggleApi()
            api.authenticate()
    except ImportError as exc:
        raise PublishError(
            f"the kaggle client is not installed ({exc}): pip install kaggle"
        ) from exc
    except SystemExit as exc:
        raise PublishError(CREDENTIALS_HELP) from exc
    except Exception as exc:  # a token check that could not reach Kaggle, a bad kaggle.json
        raise PublishError(f"the kaggle client could not authenticate: {exc}") from exc
    username = api.config_values.get("username")
    if not username:
        raise PublishError(CREDENTIALS_HELP)
    return Credentials(username=str(username), source=str(api.config_values.get("auth_method")))


def find_username() -> str:
    """The Kaggle username (see :func:`find_credentials`)."""
    return find_credentials().username


# ---------------------------------------------------------------------------- rendering


def dataset_ref(username: str, slug: str) -> str:
    """``owner/slug`` (or ``owner/slug/N``); a slug already holding an owner is kept as it is."""
    return slug if "/" in slug else f"{username}/{slug}"


def source_problem(ref: Any) -> str | None:
    """Why ``ref`` is not a source the client and Kaggle take, or None: ``owner/slug``, or
    ``owner/slug/N`` pinned to version N (a positive integer)."""
    parts = str(ref).split("/")
    if not isinstance(ref, str) or len(parts) not in (2, 3) or not all(parts[:2]):
        return f"{ref!r} is not owner/slug or owner/slug/N"
    if len(parts) == 3 and not re.fullmatch(r"[1-9][0-9]*", parts[2]):
        return f"{ref!r}: version {parts[2]!r} is not a positive integer"
    return None


def pinned(ref: str, version: int | None) -> str:
    """``owner/slug/N`` for ``owner/slug`` and N (any old pin replaced); ``ref`` if no N."""
    base = "/".join(ref.split("/")[:2])
    return base if version is None else f"{base}/{version}"


def check_accelerator(shape: str) -> str:
    """``shape`` as Kaggle's ``machine_shape``; raises PublishError for a retired or malformed
    one (the client only warns, and Kaggle then runs the session on something else)."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", shape):
        raise PublishError(f"accelerator {shape!r} is not a machine shape such as NvidiaTeslaT4")
    if shape.lower() in RETIRED_ACCELERATORS:
        raise PublishError(
            f"accelerator {shape!r} is retired: Kaggle would run the session on "
            f"{RETIRED_ACCELERATORS[shape.lower()]} instead; ask for that"
        )
    return shape


def check_session_timeout(seconds: int) -> int:
    """A kernel session limit in seconds: 1 to Kaggle's 12 hours."""
    if not 0 < seconds <= MAX_SESSION_SECONDS:
        raise PublishError(
            f"timeout {seconds}: a session limit is 1 to {MAX_SESSION_SECONDS} seconds (12 hours)"
        )
    return seconds


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


def _replace_folder(staging: Path, target: Path) -> None:
    """Swap a fully written staging folder in for ``target`` (the client uploads every file
    in the folder, so stale files from an earlier render must not survive)."""
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)


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
        _replace_folder(staging, build_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return build_dir


def parse_fold_list(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``: non-negative integers, each once, at least one.

    Raises ``argparse.ArgumentTypeError`` (a usage error naming the bad value), so it serves
    as the ``--folds`` type and the error comes before any file is rendered or request made.
    """
    items = [item.strip() for item in str(text).split(",")]
    if not any(items):
        raise argparse.ArgumentTypeError(f"no fold given in {text!r} (expected e.g. 0,1,2)")
    folds: list[int] = []
    for item in items:
        if not re.fullmatch(r"[0-9]+", item):
            raise argparse.ArgumentTypeError(
                f"fold {item!r} in {text!r} is not a non-negative integer (expected e.g. 0,1,2)"
            )
        fold = int(item)
        if fold in folds:
            raise argparse.ArgumentTypeError(f"fold {fold} appears twice in {text!r}")
        folds.append(fold)
    return folds


def fold_slug(slug: str, fold: int) -> str:
    """The slug (or ``owner/slug``) of the kernel training one fold: ``<slug>-fold<k>``."""
    return f"{slug}-fold{fold}"


def fold_title(title: str, fold: int) -> str:
    """``<title> fold<k>``: the client warns, and Kaggle names a new kernel after its title,
    unless the title slugifies to the slug (``HMS Kit Train fold0`` -> ``hms-kit-train-fold0``;
    ``fold 0`` would give ``fold-0``)."""
    return f"{title} fold{fold}"


def config_slug(slug: str, config: str) -> str:
    """The slug (or ``owner/slug``) of the train kernel for one packaged config:
    ``<slug>-<config>`` (a fold kernel of it adds ``-fold<k>`` after that)."""
    return f"{slug}-{config}"


def config_title(title: str, config: str) -> str:
    """``<title> <config>``, which slugifies to :func:`config_slug` for a checked name
    (``HMS Kit Train seed`` -> ``hms-kit-train-seed``; see :func:`fold_title`)."""
    return f"{title} {config}"


def train_slug(config: str | None = None, fold: int | None = None) -> str:
    """The train kernel's slug for ``config`` (None: the dataset's config.yaml) and ``fold``
    (None: all the config's folds): ``hms-kit-train[-<config>][-fold<k>]``."""
    slug = KERNELS[TRAIN] if config is None else config_slug(KERNELS[TRAIN], config)
    return slug if fold is None else fold_slug(slug, fold)


def parse_config_list(text: str) -> list[str]:
    """``"default,seed"`` -> ``["default", "seed"]``: names, each once, at least one.

    Raises ``argparse.ArgumentTypeError`` naming the bad value (the ``--configs`` type); that
    each is a packaged config is checked by :func:`check_config_name`.
    """
    items = [item.strip() for item in str(text).split(",")]
    if not any(items):
        raise argparse.ArgumentTypeError(
            f"no config given in {text!r} (expected e.g. default,seed)"
        )
    names: list[str] = []
    for item in items:
        if not item:
            raise argparse.ArgumentTypeError(f"empty config name in {text!r}")
        if item in names:
            raise argparse.ArgumentTypeError(f"config {item!r} appears twice in {text!r}")
        names.append(item)
    return names


def packaged_configs() -> list[str]:
    """The names of the configs the wheel carries (``hms_kit/configs/<name>.yaml``)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def check_config_name(name: str) -> Config:
    """The packaged config ``name`` as loaded; raises PublishError naming ``name`` when it is
    not one of the wheel's configs, does not load, or cannot be part of a kernel slug.

    Only packaged names: the kernel finds the config by name in the installed wheel, so a
    local file would not exist on Kaggle.
    """
    known = ", ".join(packaged_configs())
    if not CONFIG_NAME.fullmatch(name):
        raise PublishError(
            f"--config {name!r}: a config name in a kernel slug must be lower-case letters and "
            f"digits, words joined by '-' (packaged configs: {known})"
        )
    if FOLD_PART.search(name):
        raise PublishError(
            f"--config {name!r}: a 'fold<k>' part would read as a fold kernel's slug"
        )
    path = CONFIG_DIR / f"{name}.yaml"
    if not path.is_file():
        raise PublishError(f"--config {name!r} is not a packaged config (packaged: {known})")
    try:
        return load_config(path)
    except (ConfigError, OSError, ValueError) as exc:
        raise PublishError(f"--config {name!r}: {path} does not load: {exc}") from exc


def env_line(name: str, value: str, flag: str, newline: str = "\n") -> str:
    """``import os; os.environ.setdefault("<name>", "<value>")  # publish <flag>``: how a pushed
    kernel gets a setting, since Kaggle kernels cannot set environment variables (an explicit
    variable still wins where one can be set). ``value`` must need no escaping (a fold
    number, a checked config name)."""
    return f'import os; os.environ.setdefault("{name}", "{value}")  # publish {flag}{newline}'


def fold_line(fold: int, newline: str = "\n") -> str:
    """The line a per-fold train kernel carries: Kaggle kernels cannot set ``HMS_FOLDS``."""
    return env_line(ENV_FOLDS, str(int(fold)), "--folds", newline)


def config_line(config: str, newline: str = "\n") -> str:
    """The line a per-config train kernel carries: it sets ``HMS_CONFIG`` to the packaged
    config name (checked by :func:`check_config_name`)."""
    if not CONFIG_NAME.fullmatch(config):
        raise PublishError(f"config name {config!r} cannot go into a kernel's code line")
    return env_line(ENV_CONFIG, config, "--config", newline)


def _stays_on_top(node: ast.stmt, first: bool) -> bool:
    """The module docstring (first statement) and ``from __future__`` imports."""
    if isinstance(node, ast.ImportFrom) and node.module == "__future__":
        return True
    return (
        first
        and isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def with_kernel_lines(source: str, *, config: str | None = None, fold: int | None = None) -> str:
    """``source`` with :func:`config_line` (for ``config``) then :func:`fold_line` (for
    ``fold``) inserted after its module docstring (and any ``from __future__`` imports, which
    must stay first), or before its first statement when it has none (leading comments such
    as a shebang stay on top). Every other line is kept byte for byte; with neither,
    ``source`` comes back as it is. Raises SyntaxError when ``source`` does not parse."""
    body = ast.parse(source).body
    if config is None and fold is None:
        return source
    # Split only where the parser counts lines (str.splitlines also splits at \f and others).
    lines = io.StringIO(source, newline="").readlines()
    after = None
    for i, node in enumerate(body):
        if not _stays_on_top(node, first=i == 0):
            break
        after = node.end_lineno or node.lineno
    if after is None:
        after = body[0].lineno - 1 if body else len(lines)
    newline = "\n"
    if after:
        previous = lines[after - 1]
        if previous.endswith(("\n", "\r")):
            newline = "\r\n" if previous.endswith("\r\n") else previous[-1]
        else:  # the last line had no line end
            lines[after - 1] = previous + newline
    added = (config_line(config, newline) if config is not None else "") + (
        fold_line(fold, newline) if fold is not None else ""
    )
    return "".join(lines[:after]) + added + "".join(lines[after:])


def with_fold_line(source: str, fold: int) -> str:
    """``source`` with :func:`fold_line` inserted (see :func:`with_kernel_lines`)."""
    return with_kernel_lines(source, fold=fold)


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
    train_configs: Sequence[str] = (),
) -> Path:
    """Render ``template_dir/kernel-metadata.json`` into ``build_dir`` with its code file.

    The code file named by ``code_file`` is copied from ``code_dir``; a weights dataset, if
    given, is appended to ``dataset_sources``. With ``fold`` the kernel trains that fold
    only: ``-fold<k>`` is added to its slug, `` fold<k>`` to its title, and its code gets
    :func:`fold_line`. With ``train_folds`` the train kernel in ``kernel_sources`` (added if
    absent) is replaced by one ``-fold<k>`` kernel per fold. With ``config`` (a packaged
    config name) the train kernel runs that config: ``-<config>`` is added to its slug (before
    any ``-fold<k>``), `` <config>`` to its title, and its code gets :func:`config_line`. With
    ``train_configs`` the train kernel in ``kernel_sources`` is replaced by one kernel per
    config (times ``train_folds``, config by config). ``accelerator`` replaces the
    template's ``machine_shape``. ``resume`` adds the kernel's own id to its
    ``kernel_sources``, so a new version sees the previous version's output. ``pins`` maps a
    kernel source ``owner/slug`` to the version it is pinned to (``owner/slug/N``).
    Returns ``build_dir``.
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
        config_line(config)  # an unsafe name fails here, before anything is written
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
    if fold is None and config is None:
        return _render(Path(build_dir), meta, [code], KERNEL_METADATA)
    try:
        text = with_kernel_lines(code.read_text(), config=config, fold=fold)
    except SyntaxError as exc:
        what = "fold line" if config is None else "config line"
        raise PublishError(f"{code} does not parse ({exc}): cannot add the {what}") from exc
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


# ---------------------------------------------------------------------------- checks


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


# ---------------------------------------------------------------------------- the client


def wheel_path(dist_dir: str | Path, version: str = __version__) -> Path:
    """``dist/hms_kit-<version>-py3-none-any.whl`` (the version this source tree declares)."""
    return Path(dist_dir) / f"hms_kit-{version}-py3-none-any.whl"


def git_describe(repo: str | Path) -> str:
    """``git describe --always --dirty`` of ``repo``, or the package version outside git."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip() or f"hms_kit {__version__}"
    except (OSError, subprocess.CalledProcessError):
        return f"hms_kit {__version__}"


def kaggle_command(*args: str) -> list[str]:
    """The client as ``python -m kaggle`` from this interpreter (no reliance on PATH)."""
    return [sys.executable, "-m", "kaggle", *args]


def run_kaggle(
    args: Sequence[str], *, dry_run: bool = False, echo: bool = True
) -> subprocess.CompletedProcess:
    """Run the client and echo its output (``echo=False``: the caller shows what matters).

    Failures are judged by the caller (:func:`check_client`): the client reports some of
    them on stdout with exit status 0.
    """
    cmd = kaggle_command(*args)
    print("+ kaggle " + " ".join(args), flush=True)
    if dry_run:
        return subprocess.CompletedProcess(cmd, 0, "", "")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if echo:
        # The client sometimes ends without a newline ("ready"): keep our next line apart.
        for stream, text in ((sys.stdout, proc.stdout), (sys.stderr, proc.stderr)):
            stream.write(text if not text or text.endswith("\n") else text + "\n")
            stream.flush()
    return proc


def invalid_sources(text: str) -> list[str]:
    """The client's "The following are not valid ... sources ..." lines in ``text``.

    Kaggle creates (and starts) the kernel version anyway, without those sources, and the
    client then prints "successfully pushed" and exits 0: such a push is a failure.
    """
    return [m.group(0).strip() for m in INVALID_SOURCES.finditer(text)]


def check_client(proc: subprocess.CompletedProcess, what: str) -> None:
    """Raise PublishError when the client failed, said so on stdout, or dropped sources."""
    text = f"{proc.stdout}\n{proc.stderr}"
    dropped = invalid_sources(text)
    if dropped:
        raise PublishError(
            f"{what} failed: Kaggle dropped sources ({'; '.join(dropped)}). The version it "
            "created runs without them: check that each exists, that this account can see it "
            "(a private source of another user cannot be attached) and that a pinned version "
            "(owner/slug/N) exists, then push again"
        )
    if proc.returncode != 0 or any(marker in text for marker in CLIENT_ERROR_MARKERS):
        raise PublishError(f"{what} failed (kaggle exit status {proc.returncode})")


def dataset_exists(ref: str, *, dry_run: bool = False) -> bool:
    """Ask ``kaggle datasets status``: found, not found (False), or raise on other failures.

    Asking first (rather than trying a version and falling back) means a first push uploads
    the files once, and an auth or network failure is not mistaken for "does not exist".
    """
    proc = run_kaggle(["datasets", "status", ref], dry_run=dry_run)
    if proc.returncode == 0:
        return True
    if "not found" in f"{proc.stdout}\n{proc.stderr}".lower():
        return False
    raise PublishError(f"kaggle datasets status {ref} failed (exit status {proc.returncode})")


def kernel_state(text: str) -> str | None:
    """The state in ``kaggle kernels status`` output (``... has status
    "KernelWorkerStatus.COMPLETE"``), lower case: ``complete``, ``running``, ``error``..."""
    found = re.search(r'has status "(?:[A-Za-z]+\.)?([A-Za-z_]+)"', text)
    return found.group(1).lower() if found else None


def log_tail(log: str, lines: int) -> list[str]:
    """The last ``lines`` lines of a kernel log: Kaggle stores it as a JSON list of
    ``{"stream_name", "time", "data"}`` records; other text is taken as it is."""
    try:
        records = json.loads(log)
        text = "".join(str(r.get("data", "")) for r in records if isinstance(r, dict))
    except (json.JSONDecodeError, TypeError, AttributeError):
        text = log
    return text.splitlines()[-lines:] if lines > 0 else []


# ---------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class Layout:
    """Where the publishing inputs and outputs live (paths from the command line)."""

    root: Path
    templates: Path
    kernels: Path
    build: Path
    dist: Path

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Layout:
        root = Path(args.root).resolve()

        def under(p: str) -> Path:
            return (root / p) if not Path(p).is_absolute() else Path(p)

        return cls(
            root,
            under(args.templates),
            under(args.kernels_dir),
            under(args.build_dir),
            under(args.dist_dir),
        )


def _kernel_names(choice: str) -> list[str]:
    return list(KERNELS) if choice == "all" else [choice]


@dataclass(frozen=True)
class KernelTarget:
    """One kernel to push: its template, its build folder name, the fold it trains and the
    packaged config it runs."""

    template: str  # "train" or "infer"
    name: str  # build/kaggle/<name>/ and pushed-<name>.json: "train-seed-fold0", "infer"
    fold: int | None = None  # the one fold this train kernel trains (None: the config's)
    config: str | None = None  # packaged config name (None: config.yaml from the dataset)

    @property
    def slug(self) -> str:
        """The kernel's slug (without the owner)."""
        if self.template == TRAIN:
            return train_slug(self.config, self.fold)
        return KERNELS[self.template]


def kernel_targets(
    choice: str, folds: Sequence[int] | None = None, configs: Sequence[str] | None = None
) -> list[KernelTarget]:
    """The kernels ``--kernel choice --folds ... --configs ...`` pushes: one train kernel per
    config (or one for the dataset's config.yaml), each once per fold; one infer kernel."""
    targets = []
    for name in _kernel_names(choice):
        if name != TRAIN:
            targets.append(KernelTarget(name, name))
            continue
        for config in configs or [None]:
            for fold in folds or [None]:
                build_name = name if config is None else config_slug(name, config)
                build_name = build_name if fold is None else fold_slug(build_name, fold)
                targets.append(KernelTarget(name, build_name, fold, config))
    return targets


def check_configs(configs: Sequence[str], folds: Sequence[int]) -> None:
    """Every config must be packaged (:func:`check_config_name`) and have every fold asked
    for, so no kernel is pushed to fail on Kaggle. Makes no request."""
    for config in configs:
        n_folds = check_config_name(config).train.n_folds
        longest = train_slug(config, max(folds) if folds else None)
        if len(longest) > MAX_SLUG_LENGTH:
            raise PublishError(
                f"--config {config!r}: kernel slug {longest!r} is longer than Kaggle's "
                f"{MAX_SLUG_LENGTH} characters: use a shorter config name"
            )
        bad = [k for k in folds if k >= n_folds]
        if bad:
            raise PublishError(
                f"--folds: fold {bad[0]} does not exist: config {config!r} has "
                f"train.n_folds = {n_folds} (folds 0 to {n_folds - 1})"
            )


def check_folds_exist(config: Path, folds: Sequence[int]) -> None:
    """Every fold asked for must exist in the config the kernels run (``kernels/config.yaml``,
    uploaded with the wheel), so no kernel is pushed to fail on Kaggle."""
    try:
        n_folds = load_config(config).train.n_folds
    except (ConfigError, OSError, ValueError) as exc:
        raise PublishError(f"--folds: cannot read the fold count from {config}: {exc}") from exc
    bad = [k for k in folds if k >= n_folds]
    if bad:
        raise PublishError(
            f"--folds: fold {bad[0]} does not exist: {config} has train.n_folds = {n_folds} "
            f"(folds 0 to {n_folds - 1})"
        )


def selected_configs(args: argparse.Namespace) -> list[str]:
    """The ``--config``/``--configs`` names in order, each once (both options add to one
    list); empty without either."""
    configs: list[str] = []
    for name in getattr(args, "configs", None) or []:
        if name in configs:
            raise PublishError(f"--configs: config {name!r} is given twice")
        configs.append(name)
    return configs


def push_dataset(args: argparse.Namespace) -> int:
    """Render and check the dataset folder, then create the dataset or add a version."""
    layout = Layout.from_args(args)
    user = find_username()
    wheel = Path(args.wheel) if args.wheel else wheel_path(layout.dist)
    if not wheel.is_file():
        raise PublishError(f"wheel {wheel} not found: run `make wheel` first")
    config = layout.kernels / CONFIG_FILE
    folder = render_dataset_metadata(
        layout.templates / DATASET_TEMPLATE,
        layout.build / DATASET_TEMPLATE,
        user,
        files=[wheel, config],
        dataset_slug=args.dataset_slug,
    )
    ref = check_dataset_folder(folder, user)["id"]
    if dataset_exists(ref, dry_run=args.dry_run):
        message = args.message or git_describe(layout.root)
        proc = run_kaggle(
            ["datasets", "version", "-p", str(folder), "-m", message], dry_run=args.dry_run
        )
    else:
        proc = run_kaggle(["datasets", "create", "-p", str(folder)], dry_run=args.dry_run)
    check_client(proc, f"push of dataset {ref}")
    if not args.dry_run:  # `wait` polls it until Kaggle has processed the files
        write_record(layout.build / DATASET_RECORD, {"id": ref, "status": "pushed"})
    return 0


# ---------------------------------------------------------------------------- records, queue


def _pushed_record(layout: Layout, kernel: str) -> Path:
    # Beside, not inside, the kernel folder: a re-render replaces that folder whole.
    return layout.build / f"pushed-{kernel}.json"


def read_record(path: Path) -> dict[str, Any] | None:
    """A ``pushed-*.json`` record, or None when there is none."""
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PublishError(f"{path} is not JSON ({exc}): delete it and push again") from exc
    if not isinstance(record, dict) or not record.get("id"):
        raise PublishError(f"{path} has no kernel or dataset id: delete it and push again")
    return record


def write_record(path: Path, record: Mapping[str, Any]) -> None:
    """Write a record atomically (a killed ``wait`` leaves the last good state)."""
    atomic_write_text(path, json.dumps(dict(record), sort_keys=True) + "\n")


def uses_gpu(meta: Mapping[str, Any]) -> bool:
    """Whether a kernel takes one of Kaggle's (two) GPU batch slots."""
    shape = str(meta.get("machine_shape") or "").lower()
    return bool(meta.get("enable_gpu")) and not shape.startswith("tpu")


QUEUED, PUSHING = "queued", "pushing"  # a queue entry's state (``wait`` writes ahead)


@dataclass(frozen=True)
class Queued:
    """A rendered kernel waiting for a GPU slot or for the kernels it attaches.

    ``state`` is ``pushing`` from just before ``wait`` pushes it until the push is recorded:
    a ``wait`` stopped in between finds the mark and never pushes the kernel a second time.
    """

    name: str  # build/kaggle/<name>/
    id: str
    gpu: bool
    after: tuple[str, ...] = ()  # names that must be complete first
    client_args: tuple[str, ...] = ()  # extra `kaggle kernels push` flags (--timeout N)
    state: str = QUEUED

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id": self.id,
            "gpu": self.gpu,
            "after": list(self.after),
            "client_args": list(self.client_args),
            "state": self.state,
        }


def _queue_entry(path: Path, i: int, item: Any) -> Queued:
    """Entry ``i`` of a queue file, checked against the schema :meth:`Queued.to_json` writes."""
    where = f"{path}: entry {i}"
    if not isinstance(item, dict):
        raise PublishError(f"{where} is {type(item).__name__}, not an object")
    for key, kind in (("name", str), ("id", str), ("gpu", bool)):
        if not isinstance(item.get(key), kind):
            raise PublishError(f"{where}: {key!r} is {item.get(key)!r}, not a {kind.__name__}")
    lists = {}
    for key in ("after", "client_args"):
        value = item.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PublishError(f"{where}: {key!r} is {value!r}, not a list of strings")
        lists[key] = tuple(value)
    state = item.get("state", QUEUED)
    if state not in (QUEUED, PUSHING):
        raise PublishError(f"{where}: 'state' is {state!r}, not {QUEUED!r} or {PUSHING!r}")
    return Queued(
        item["name"], item["id"], item["gpu"], lists["after"], lists["client_args"], state
    )


def read_queue(path: Path) -> list[Queued]:
    """The queue ``push-kernel`` left (empty when there is no file); a file that is not a
    list of entries as :meth:`Queued.to_json` writes them raises PublishError naming it."""
    if not path.is_file():
        return []
    try:
        items = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PublishError(f"{path} is not a kernel queue ({exc}): push the kernels again") from exc
    if not isinstance(items, list):
        raise PublishError(
            f"{path} is not a kernel queue (a list of kernels, got {items!r}): "
            "push the kernels again"
        )
    return [_queue_entry(path, i, item) for i, item in enumerate(items)]


def write_queue(path: Path, queue: Sequence[Queued]) -> None:
    """Write the queue atomically, or remove the file when nothing is left."""
    if queue:
        atomic_write_text(path, json.dumps([q.to_json() for q in queue], indent=2) + "\n")
    else:
        path.unlink(missing_ok=True)


def pushable(
    queue: Sequence[Queued], done: set[str], running_gpu: int, max_parallel: int
) -> list[Queued]:
    """Which queued kernels may start now, in queue order: those whose ``after`` kernels are
    all in ``done``, GPU ones only while fewer than ``max_parallel`` GPU kernels run."""
    out = []
    for item in queue:
        if not set(item.after) <= done:
            continue
        if item.gpu:
            if running_gpu >= max_parallel:
                continue
            running_gpu += 1
        out.append(item)
    return out


def push_one(layout: Layout, name: str, client_args: Sequence[str], *, dry_run: bool) -> int | None:
    """``kaggle kernels push`` one rendered folder; record and return the version."""
    folder = layout.build / name
    meta = json.loads((folder / KERNEL_METADATA).read_text())
    proc = run_kaggle(["kernels", "push", "-p", str(folder), *client_args], dry_run=dry_run)
    check_client(proc, f"push of kernel {meta['id']}")
    found = re.search(r"Kernel version (\d+) successfully", proc.stdout or "")
    version = int(found.group(1)) if found else None
    if not dry_run:
        record = {"id": meta["id"], "version": version, "status": "running", "gpu": uses_gpu(meta)}
        write_record(_pushed_record(layout, name), record)
    return version


def train_pins(layout: Layout, targets: Sequence[KernelTarget], user: str) -> dict[str, int]:
    """``owner/slug`` -> version of each train kernel the infer kernel attaches, from the
    records ``wait`` completed; raises PublishError when one is not known to be complete."""
    pins = {}
    for target in targets:
        record = read_record(_pushed_record(layout, target.name))
        ref = f"{user}/{target.slug}"
        if not record or record.get("id") != ref or not record.get("version"):
            raise PublishError(f"--pin-train: no pushed version of {ref} recorded: push it first")
        if record.get("status") != KERNEL_DONE:
            raise PublishError(
                f"--pin-train: {ref} version {record['version']} is {record.get('status')}, "
                "not complete: run `make wait` first"
            )
        pins[ref] = int(record["version"])
    return pins


def push_kernel(args: argparse.Namespace) -> int:
    """Render and check every selected kernel first, then push them.

    With ``--folds`` the train kernel is pushed once per fold, with ``--configs`` once per
    packaged config (times folds), and the infer kernel attaches all of them (see the module
    docstring). At most ``--max-parallel`` GPU kernels
    start now; the rest, and an infer kernel pushed with its train kernels, go to the queue
    that ``wait`` works through.
    """
    layout = Layout.from_args(args)
    folds = args.folds or []
    configs = selected_configs(args)
    if configs:
        check_configs(configs, folds)
    elif folds:
        check_folds_exist(layout.kernels / CONFIG_FILE, folds)
    if args.max_parallel < 1:
        raise PublishError(f"--max-parallel {args.max_parallel}: at least 1 kernel must run")
    client_args: list[str] = []
    if args.session_timeout is not None:
        client_args += ["--timeout", str(check_session_timeout(args.session_timeout))]
    if args.accelerator:
        check_accelerator(args.accelerator)
    user = find_username()
    targets = kernel_targets(args.kernel, folds, configs)
    train_targets = kernel_targets(TRAIN, folds, configs)
    pins = train_pins(layout, train_targets, user) if args.pin_train else {}
    folders = {}
    for target in targets:
        folders[target.name] = render_kernel_metadata(
            layout.templates / target.template,
            layout.build / target.name,
            user,
            code_dir=layout.kernels,
            dataset_slug=args.dataset_slug,
            weights_dataset=args.weights_dataset or None,
            fold=target.fold,
            train_folds=folds if target.template == INFER else (),
            accelerator=args.accelerator or None,
            resume=args.resume and target.template == TRAIN,
            pins=pins if target.template == INFER else None,
            config=target.config,
            train_configs=configs if target.template == INFER else (),
        )
    metas = {name: check_kernel_folder(folder, user) for name, folder in folders.items()}
    pushed_trains = [t.name for t in targets if t.template == TRAIN]
    queue = [
        Queued(
            t.name,
            metas[t.name]["id"],
            uses_gpu(metas[t.name]),
            tuple(pushed_trains) if t.template == INFER else (),
            tuple(client_args),
        )
        for t in targets
    ]
    now = pushable(queue, set(), 0, args.max_parallel)
    later = [q for q in queue if q not in now]
    for item in now:
        push_one(layout, item.name, client_args, dry_run=args.dry_run)
    for item in later:
        verb = "would queue" if args.dry_run else "queued"
        print(f"{verb} {item.id}: `make wait` pushes it when a GPU slot or its inputs are free")
    if not args.dry_run:
        for item in later:  # an old record of a queued kernel must not count as its result
            write_record(_pushed_record(layout, item.name), {"id": item.id, "status": "queued"})
        # Kernels an earlier push left queued stay queued, unless this push replaced them.
        queue_path = layout.build / QUEUE_FILE
        kept = [q for q in read_queue(queue_path) if q.name not in {t.name for t in targets}]
        write_queue(queue_path, [*kept, *later])
    return 0


# ---------------------------------------------------------------------------- wait, pull


def _poll_dataset(layout: Layout, dry_run: bool) -> str | None:
    """Poll the pushed dataset once: its state, or None when there is nothing to wait for."""
    path = layout.build / DATASET_RECORD
    record = read_record(path)
    if not record or record.get("status") == DATASET_READY:
        return None
    proc = run_kaggle(["datasets", "status", record["id"]], dry_run=dry_run)
    check_client(proc, f"status of dataset {record['id']}")
    state = (proc.stdout or "").strip().splitlines()[-1:] or [""]
    state_text = state[0].strip().lower()
    if state_text == DATASET_READY and not dry_run:
        write_record(path, {**record, "status": DATASET_READY})
    if state_text in DATASET_FAILURES:
        raise PublishError(f"dataset {record['id']} is {state_text}: push it again")
    return state_text


def _kernel_failure(ref: str, state: str, status_text: str, lines: int) -> str:
    """The error for a failed kernel: its status line(s) and the tail of its log."""
    proc = run_kaggle(["kernels", "logs", ref], echo=False)
    tail = log_tail(proc.stdout or "", lines)
    detail = "\n".join(f"    {line}" for line in tail) or "    (no log)"
    reason = "; ".join(line.strip() for line in status_text.splitlines() if "Failure" in line)
    return f"kernel {ref} ended with status {state}{': ' + reason if reason else ''}\n" + (
        f"  last {len(tail)} log lines:\n{detail}"
    )


def _settle_interrupted_push(
    layout: Layout, queue_path: Path, queue: list[Queued], item: Queued
) -> list[Queued]:
    """A queue entry an earlier ``wait`` marked ``pushing`` and never confirmed: its push may
    have reached Kaggle, so it is taken as pushed (a second push would train twice) and
    polled from now on. Returns the queue without it."""
    record = read_record(_pushed_record(layout, item.name)) or {}
    if record.get("id") != item.id or record.get("status") in (None, QUEUED):
        print(
            f"{item.id}: an earlier `wait` stopped while pushing it; taken as pushed, not "
            "pushed again (if Kaggle shows no new version, run push-kernel for it)"
        )
        record = {"id": item.id, "version": None, "status": "running", "gpu": item.gpu}
        write_record(_pushed_record(layout, item.name), record)
    queue = [q for q in queue if q != item]
    write_queue(queue_path, queue)
    return queue


def wait(args: argparse.Namespace) -> int:
    """Poll the pushed dataset and kernels until all are ready/complete, pushing queued kernels
    as GPU slots free up; raise PublishError on a failure (with its log tail) or timeout."""
    layout = Layout.from_args(args)
    find_username()  # a clear error before any request when nothing is configured
    if args.poll <= 0 or args.timeout <= 0:
        raise PublishError("--poll and --timeout must be positive (seconds)")
    queue_path = layout.build / QUEUE_FILE
    deadline = time.monotonic() + args.timeout
    while True:
        dataset_state = _poll_dataset(layout, args.dry_run)
        records = {
            p.name[len("pushed-") : -len(".json")]: read_record(p)
            for p in sorted(layout.build.glob("pushed-*.json"))
            if p.name != DATASET_RECORD
        }
        failures = []
        for name, record in records.items():
            if not record or record.get("status") != "running":
                continue
            proc = run_kaggle(["kernels", "status", record["id"]], dry_run=args.dry_run)
            check_client(proc, f"status of {record['id']}")
            state = kernel_state(proc.stdout or "")
            if state == KERNEL_DONE or state in KERNEL_FAILURES:
                record["status"] = KERNEL_DONE if state == KERNEL_DONE else KERNEL_FAILED
                if not args.dry_run:
                    write_record(_pushed_record(layout, name), record)
            if state in KERNEL_FAILURES:
                failures.append(_kernel_failure(record["id"], state, proc.stdout, args.log_lines))
        if failures:
            raise PublishError("\n".join(failures))
        if args.dry_run:
            return 0
        done = {n for n, r in records.items() if r and r.get("status") == KERNEL_DONE}
        running = [r for r in records.values() if r and r.get("status") == "running"]
        queue = read_queue(queue_path)
        running_gpu = sum(1 for r in running if r.get("gpu"))
        for item in [q for q in queue if q.state == PUSHING]:
            queue = _settle_interrupted_push(layout, queue_path, queue, item)
            running.append({"id": item.id})
        for item in pushable(queue, done, running_gpu, args.max_parallel):
            # Write-ahead: marked before the push, removed once the push is recorded.
            marked = replace(item, state=PUSHING)
            queue = [marked if q == item else q for q in queue]
            write_queue(queue_path, queue)
            push_one(layout, item.name, item.client_args, dry_run=False)
            queue = [q for q in queue if q != marked]
            write_queue(queue_path, queue)
            running.append({"id": item.id})
        dataset_pending = dataset_state not in (None, DATASET_READY)
        if not running and not queue and not dataset_pending:
            return 0
        if not running and queue and not dataset_pending:
            raise PublishError(
                "queued kernels cannot start (their train kernels did not complete): "
                + ", ".join(q.id for q in queue)
            )
        if time.monotonic() + args.poll > deadline:
            waiting = [r["id"] for r in running] + [q.id for q in queue]
            if dataset_pending:
                waiting.append(f"dataset ({dataset_state})")
            raise PublishError(
                f"gave up after {args.timeout:g} s (--timeout): still waiting for "
                + ", ".join(waiting)
                + "; run `make wait` again to go on"
            )
        time.sleep(args.poll)


def pull_output(ref: str, dest: Path, *, dry_run: bool = False) -> list[Path]:
    """Download kernel ``ref``'s output (``kaggle kernels output``) and put it in ``dest``
    whole: into a staging folder first, so a failed download leaves ``dest`` as it was.
    Returns the files now in ``dest``; raises PublishError when there are none."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        proc = run_kaggle(["kernels", "output", ref, "-p", str(staging), "-o"], dry_run=dry_run)
        check_client(proc, f"download of {ref}'s output")
        if dry_run:
            shutil.rmtree(staging)
            return []
        log_name = ref.split("/")[1] + ".log"
        if not any(p.is_file() and p.name != log_name for p in staging.rglob("*")):
            raise PublishError(
                f"{ref} has no output files: has it run to completion? (`make wait`)"
            )
        _replace_folder(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(p for p in dest.rglob("*") if p.is_file())


def pull(args: argparse.Namespace) -> int:
    """Download each selected kernel's output into ``<runs dir>/<kernel slug>/``."""
    layout = Layout.from_args(args)
    configs = selected_configs(args)
    check_configs(configs, args.folds or [])
    user = find_username()
    runs = Path(args.runs_dir)
    runs = runs if runs.is_absolute() else layout.root / runs
    for target in kernel_targets(args.kernel, args.folds, configs):
        slug = target.slug
        ref = pinned(f"{user}/{slug}", args.version)
        files = pull_output(ref, runs / slug, dry_run=args.dry_run)
        if files:
            print(f"{ref}: {len(files)} files in {runs / slug}")
    return 0


def status(args: argparse.Namespace) -> int:
    """``kaggle kernels status`` for each selected kernel (each fold's with ``--folds``, each
    config's with ``--configs``)."""
    configs = selected_configs(args)
    check_configs(configs, args.folds or [])
    user = find_username()
    for target in kernel_targets(args.kernel, args.folds, configs):
        ref = f"{user}/{target.slug}"
        proc = run_kaggle(["kernels", "status", ref], dry_run=args.dry_run)
        check_client(proc, f"status of {ref}")
    return 0


def submit(args: argparse.Namespace) -> int:
    """Submit the inference kernel's ``submission.csv`` (code competition: kernel + version)."""
    layout = Layout.from_args(args)
    user = find_username()
    kernel = f"{user}/{KERNELS['infer']}"
    version = args.version
    pushed = read_record(_pushed_record(layout, "infer"))
    if version is None and pushed and pushed.get("id") == kernel:
        version = pushed.get("version")
        # A submission reruns the kernel: spend one only on a version that ran to the end.
        state = pushed.get("status", KERNEL_DONE)
        if version is not None and state != KERNEL_DONE:
            raise PublishError(
                f"{kernel} version {version} is {state}, not complete: run `make wait` first "
                "(or pass --version N to submit another version)"
            )
    if version is None:
        raise PublishError(
            f"no version of {kernel} known: pass --version N (make submit KERNEL_VERSION=N)"
        )
    message = args.message or f"hms_kit {__version__} ({git_describe(layout.root)})"
    proc = run_kaggle(
        [
            "competitions",
            "submit",
            schema.COMPETITION_SLUG,
            "-k",
            kernel,
            "-f",
            SUBMISSION_FILE,
            "-v",
            str(version),
            "-m",
            message,
        ],
        dry_run=args.dry_run,
    )
    check_client(proc, f"submission of {kernel} version {version}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", default=".", help="repository root (default: .)")
    common.add_argument("--templates", default="kernel-metadata", help="metadata templates")
    common.add_argument("--kernels-dir", default="kernels", help="kernel code and config.yaml")
    common.add_argument("--build-dir", default="build/kaggle", help="rendered upload folders")
    common.add_argument("--dist-dir", default="dist", help="where `make wheel` writes the wheel")
    common.add_argument(
        "--dataset-slug",
        default=os.environ.get(ENV_DATASET_SLUG) or DEFAULT_DATASET_SLUG,
        help=f"wheel dataset slug (default: ${ENV_DATASET_SLUG} or {DEFAULT_DATASET_SLUG})",
    )
    common.add_argument(
        "--weights-dataset",
        default=os.environ.get(ENV_WEIGHTS_DATASET, ""),
        help=f"extra dataset of pretrained weights for the kernels (${ENV_WEIGHTS_DATASET})",
    )
    common.add_argument("--dry-run", action="store_true", help="print the client calls only")

    parser = argparse.ArgumentParser(prog="python -m hms_kit.publish", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("push-dataset", parents=[common], help="upload the wheel + config.yaml")
    p.add_argument("--wheel", help="wheel to upload (default: dist/hms_kit-<version>-...whl)")
    p.add_argument("--message", help="version notes (default: git describe --always --dirty)")
    p.set_defaults(func=push_dataset)
    parallel = argparse.ArgumentParser(add_help=False)
    parallel.add_argument(
        "--max-parallel",
        type=int,
        default=DEFAULT_MAX_PARALLEL,
        help=f"GPU kernels running at once (default {DEFAULT_MAX_PARALLEL}, Kaggle's limit)",
    )
    pushers: dict[str, argparse.ArgumentParser] = {}
    for name, func, help_text, default_kernel, parents in (
        ("push-kernel", push_kernel, "push the train and/or infer kernel(s)", "all", [parallel]),
        ("status", status, "status of the kernels' latest runs", "all", []),
        ("pull", pull, "download a kernel's output into runs/<slug>/", TRAIN, []),
    ):
        p = sub.add_parser(name, parents=[common, *parents], help=help_text)
        p.add_argument("--kernel", choices=[*KERNELS, "all"], default=default_kernel)
        p.add_argument(
            "--folds",
            type=parse_fold_list,
            metavar="K,K,...",
            help="one train kernel per fold (<train slug>-fold<k>), attached to the infer "
            "kernel (default: one train kernel for all folds)",
        )
        p.add_argument(
            "--configs",
            "--config",
            dest="configs",
            type=parse_config_list,
            action="extend",
            metavar="NAME,NAME,...",
            help="one train kernel per packaged config (hms-kit-train-<name>, its code sets "
            "HMS_CONFIG), all attached to the infer kernel (default: one train kernel "
            "running the dataset's config.yaml)",
        )
        p.set_defaults(func=func)
        pushers[name] = p
    p = pushers["push-kernel"]
    p.add_argument(
        "--accelerator",
        help=f"machine_shape of the sessions (default: the template's, {DEFAULT_ACCELERATOR})",
    )
    p.add_argument(
        "--session-timeout",
        type=int,
        metavar="SECONDS",
        help="stop each session after this long (the client's kernels push --timeout)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="attach each train kernel's own output, so a new version continues the last",
    )
    p.add_argument(
        "--pin-train",
        action="store_true",
        help="attach the train kernels at the versions `wait` saw complete (owner/slug/N)",
    )
    p = pushers["pull"]
    p.add_argument("--runs-dir", default=DEFAULT_RUNS_DIR, help="where run folders go (runs)")
    p.add_argument("--version", type=int, help="kernel version to pull (default: latest)")
    p = sub.add_parser(
        "wait", parents=[common, parallel], help="wait for the pushed dataset and kernels"
    )
    p.add_argument("--poll", type=float, default=60.0, help="seconds between polls (60)")
    p.add_argument(
        "--timeout", type=float, default=12 * 3600.0, help="give up after seconds (43200)"
    )
    p.add_argument("--log-lines", type=int, default=30, help="log lines shown on error (30)")
    p.set_defaults(func=wait)
    p = sub.add_parser("submit", parents=[common], help="submit the infer kernel's output")
    p.add_argument("--message", help="submission description")
    p.add_argument("--version", type=int, help="infer kernel version (default: last pushed)")
    p.set_defaults(func=submit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns its exit status (2 on PublishError)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PublishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
