"""Publishing to Kaggle: the wheel dataset, the train/infer kernels, status and submission.

``python -m hms_kit.publish push-dataset | push-kernel [--kernel train|infer|all]
[--folds 0,1,2] | status [--kernel ...] [--folds ...] | submit [--message M] [--version N]``
(the Makefile's ``push-dataset``, ``push-kernel``, ``status`` and ``submit`` targets call it).

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
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hms_kit import __version__, schema
from hms_kit.config import ConfigError, load_config
from hms_kit.io import atomic_write_text
from hms_kit.kernel import ENV_FOLDS

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

# The client reports some failures on stdout with exit status 0; these mark them.
CLIENT_ERROR_MARKERS = (
    "Kernel push error",
    "Dataset creation error",
    "Dataset version creation error",
)

CREDENTIALS_HELP = (
    "Kaggle credentials not found: set KAGGLE_USERNAME and KAGGLE_KEY, or create "
    '~/.kaggle/kaggle.json (or $KAGGLE_CONFIG_DIR/kaggle.json) holding {"username": ..., '
    '"key": ...} from kaggle.com > Settings > API (an access token in KAGGLE_API_TOKEN or '
    "~/.kaggle/access_token also works, with KAGGLE_USERNAME set). Never commit them."
)


class PublishError(Exception):
    """A push that must not go ahead: missing credentials, files or a client failure."""


# ---------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class Credentials:
    """Who pushes: the username goes into the metadata; the key is only checked to exist
    (the client reads it itself) and never leaves this check."""

    username: str
    source: str


def kaggle_config_file(env: Mapping[str, str] | None = None, home: Path | None = None) -> Path:
    """The ``kaggle.json`` the client reads: ``$KAGGLE_CONFIG_DIR``, ``~/.kaggle``, else XDG."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or Path.home()) if home is None else home
    if env.get("KAGGLE_CONFIG_DIR"):
        return Path(env["KAGGLE_CONFIG_DIR"]) / "kaggle.json"
    legacy = home / ".kaggle"
    if legacy.exists():
        return legacy / "kaggle.json"
    # Same fallback as the client: XDG config dir when ~/.kaggle does not exist (Linux).
    xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle"
    return xdg / "kaggle.json" if xdg.exists() else legacy / "kaggle.json"


def find_credentials(env: Mapping[str, str] | None = None, home: Path | None = None) -> Credentials:
    """Username and the presence of a key, resolved as the client does (env overrides file).

    Raises PublishError with the setup instructions when either is missing, so no request is
    ever made without them.
    """
    env = os.environ if env is None else env
    path = kaggle_config_file(env, home)
    values: dict[str, str] = {}
    if path.is_file():
        try:
            values = {k: str(v) for k, v in json.loads(path.read_text() or "{}").items()}
        except (json.JSONDecodeError, AttributeError) as exc:
            raise PublishError(f"{path} is not a JSON object ({exc}). {CREDENTIALS_HELP}") from exc
    username = env.get("KAGGLE_USERNAME") or values.get("username")
    home = Path(env.get("HOME") or Path.home()) if home is None else home
    token_file = home / ".kaggle" / "access_token"  # read by the client whatever the config dir
    has_secret = bool(
        env.get("KAGGLE_KEY")
        or values.get("key")
        or env.get("KAGGLE_API_TOKEN")
        or (token_file.is_file() and token_file.read_text().strip())
    )
    if not username or not has_secret:
        raise PublishError(CREDENTIALS_HELP)
    source = "environment" if env.get("KAGGLE_USERNAME") else str(path)
    return Credentials(username=username, source=source)


def find_username(env: Mapping[str, str] | None = None, home: Path | None = None) -> str:
    """The Kaggle username (see :func:`find_credentials`)."""
    return find_credentials(env, home).username


# ---------------------------------------------------------------------------- rendering


def dataset_ref(username: str, slug: str) -> str:
    """``owner/slug``; a slug already holding an owner is kept as it is."""
    return slug if "/" in slug else f"{username}/{slug}"


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


def fold_line(fold: int, newline: str = "\n") -> str:
    """The line a per-fold train kernel carries: Kaggle kernels cannot set ``HMS_FOLDS``."""
    return f'import os; os.environ.setdefault("{ENV_FOLDS}", "{fold}")  # publish --folds{newline}'


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


def with_fold_line(source: str, fold: int) -> str:
    """``source`` with :func:`fold_line` inserted after its module docstring (and any
    ``from __future__`` imports, which must stay first), or before its first statement when
    it has none (leading comments such as a shebang stay on top). Every other line is kept
    byte for byte. Raises SyntaxError when ``source`` does not parse."""
    body = ast.parse(source).body
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
    return "".join(lines[:after]) + fold_line(fold, newline) + "".join(lines[after:])


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
) -> Path:
    """Render ``template_dir/kernel-metadata.json`` into ``build_dir`` with its code file.

    The code file named by ``code_file`` is copied from ``code_dir``; a weights dataset, if
    given, is appended to ``dataset_sources``. With ``fold`` the kernel trains that fold
    only: ``-fold<k>`` is added to its slug, `` fold<k>`` to its title, and its code gets
    :func:`fold_line`. With ``train_folds`` the train kernel in ``kernel_sources`` (added if
    absent) is replaced by one ``-fold<k>`` kernel per fold. Returns ``build_dir``.
    """
    template_dir = Path(template_dir)
    meta = json.loads((template_dir / KERNEL_METADATA).read_text())
    meta = substitute(meta, {"username": username, "dataset_slug": dataset_slug})
    if weights_dataset:
        sources = meta.setdefault("dataset_sources", [])
        ref = dataset_ref(username, weights_dataset)
        if ref not in sources:
            sources.append(ref)
    if train_folds:
        train_ref = f"{username}/{KERNELS[TRAIN]}"
        fold_refs = [fold_slug(train_ref, k) for k in train_folds]
        sources = [s for s in meta.get("kernel_sources", []) if s not in fold_refs]
        at = sources.index(train_ref) if train_ref in sources else len(sources)
        meta["kernel_sources"] = [*sources[:at], *fold_refs, *sources[at + 1 :]]
    code = Path(code_dir) / meta.get("code_file", "")
    if not meta.get("code_file") or not code.is_file():
        raise PublishError(f"{template_dir / KERNEL_METADATA}: code file {code} not found")
    if fold is None:
        return _render(Path(build_dir), meta, [code], KERNEL_METADATA)
    meta["id"] = fold_slug(str(meta.get("id", "")), fold)
    meta["title"] = fold_title(str(meta.get("title", "")), fold)
    try:
        text = with_fold_line(code.read_text(), fold)
    except SyntaxError as exc:
        raise PublishError(f"{code} does not parse ({exc}): cannot add the fold line") from exc
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
            if ref.count("/") != 1:
                problems.append(f"{key}: {ref!r} is not owner/slug")
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


def run_kaggle(args: Sequence[str], *, dry_run: bool = False) -> subprocess.CompletedProcess:
    """Run the client, echo its output, and raise PublishError on any failure it reports."""
    cmd = kaggle_command(*args)
    print("+ kaggle " + " ".join(args), flush=True)
    if dry_run:
        return subprocess.CompletedProcess(cmd, 0, "", "")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    # The client sometimes ends without a newline ("ready"): keep our next line apart.
    for stream, text in ((sys.stdout, proc.stdout), (sys.stderr, proc.stderr)):
        stream.write(text if not text or text.endswith("\n") else text + "\n")
        stream.flush()
    return proc


def _check_client(proc: subprocess.CompletedProcess, what: str) -> None:
    text = f"{proc.stdout}\n{proc.stderr}"
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
    """One kernel to push: its template, its build folder name and the fold it trains."""

    template: str  # "train" or "infer"
    name: str  # build/kaggle/<name>/ and pushed-<name>.json: "train-fold0" for a fold
    fold: int | None = None  # the one fold this train kernel trains (None: the config's)


def kernel_targets(choice: str, folds: Sequence[int] | None = None) -> list[KernelTarget]:
    """The kernels ``--kernel choice --folds ...`` pushes: one train kernel per fold."""
    targets = []
    for name in _kernel_names(choice):
        if name == TRAIN and folds:
            targets += [KernelTarget(name, fold_slug(name, k), k) for k in folds]
        else:
            targets.append(KernelTarget(name, name))
    return targets


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
    _check_client(proc, f"push of dataset {ref}")
    return 0


def _pushed_record(layout: Layout, kernel: str) -> Path:
    # Beside, not inside, the kernel folder: a re-render replaces that folder whole.
    return layout.build / f"pushed-{kernel}.json"


def push_kernel(args: argparse.Namespace) -> int:
    """Render and check every selected kernel first, then push them one by one.

    With ``--folds`` the train kernel is pushed once per fold and the infer kernel attaches
    those fold kernels (see the module docstring).
    """
    layout = Layout.from_args(args)
    folds = args.folds or []
    if folds:
        check_folds_exist(layout.kernels / CONFIG_FILE, folds)
    user = find_username()
    folders = {}
    for target in kernel_targets(args.kernel, folds):
        folders[target.name] = render_kernel_metadata(
            layout.templates / target.template,
            layout.build / target.name,
            user,
            code_dir=layout.kernels,
            dataset_slug=args.dataset_slug,
            weights_dataset=args.weights_dataset or None,
            fold=target.fold,
            train_folds=folds if target.template == INFER else (),
        )
    metas = {name: check_kernel_folder(folder, user) for name, folder in folders.items()}
    for name, folder in folders.items():
        proc = run_kaggle(["kernels", "push", "-p", str(folder)], dry_run=args.dry_run)
        _check_client(proc, f"push of kernel {metas[name]['id']}")
        found = re.search(r"Kernel version (\d+) successfully", proc.stdout or "")
        if found:
            record = {"id": metas[name]["id"], "version": int(found.group(1))}
            atomic_write_text(_pushed_record(layout, name), json.dumps(record) + "\n")
    return 0


def status(args: argparse.Namespace) -> int:
    """``kaggle kernels status`` for each selected kernel (each fold's with ``--folds``)."""
    user = find_username()
    for target in kernel_targets(args.kernel, args.folds):
        slug = KERNELS[target.template]
        ref = f"{user}/{slug if target.fold is None else fold_slug(slug, target.fold)}"
        proc = run_kaggle(["kernels", "status", ref], dry_run=args.dry_run)
        _check_client(proc, f"status of {ref}")
    return 0


def submit(args: argparse.Namespace) -> int:
    """Submit the inference kernel's ``submission.csv`` (code competition: kernel + version)."""
    layout = Layout.from_args(args)
    user = find_username()
    kernel = f"{user}/{KERNELS['infer']}"
    version = args.version
    record = _pushed_record(layout, "infer")
    if version is None and record.is_file():
        pushed = json.loads(record.read_text())
        if pushed.get("id") == kernel:
            version = pushed.get("version")
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
    _check_client(proc, f"submission of {kernel} version {version}")
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
    for name, func, help_text in (
        ("push-kernel", push_kernel, "push the train and/or infer kernel(s)"),
        ("status", status, "status of the kernels' latest runs"),
    ):
        p = sub.add_parser(name, parents=[common], help=help_text)
        p.add_argument("--kernel", choices=[*KERNELS, "all"], default="all")
        p.add_argument(
            "--folds",
            type=parse_fold_list,
            metavar="K,K,...",
            help="one train kernel per fold (<train slug>-fold<k>), attached to the infer "
            "kernel (default: one train kernel for all folds)",
        )
        p.set_defaults(func=func)
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
