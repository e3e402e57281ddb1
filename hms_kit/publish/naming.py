"""Names on Kaggle: kernel slugs and titles per config and fold, source references
(``owner/slug[/N]``), machine shapes and session limits, packaged config names (by default
``hms_kit.config.KAGGLE_CONFIGS``), and which kernels a ``--kernel/--folds/--configs``
choice means. Pure: no request, no file written.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hms_kit.config import CONFIG_DIR, KAGGLE_CONFIGS, Config, ConfigError, load_config
from hms_kit.publish.errors import PublishError

KERNELS: dict[str, str] = {"train": "hms-kit-train", "infer": "hms-kit-infer"}
TRAIN = "train"
INFER = "infer"
CONFIG_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
FOLD_PART = re.compile(r"(?:^|-)fold[0-9]+(?:-|$)")
MAX_SLUG_LENGTH = 50  # Kaggle's limit for a kernel slug (and its title)
# ``--config dataset``: the config.yaml uploaded beside the wheel (kernels/config.yaml), run
# by the plain train kernel ``hms-kit-train`` (a target's config None), as every push did
# before the packaged kaggle-* configs became the default
DATASET_CONFIG = "dataset"

RETIRED_ACCELERATORS = {"nvidiateslap100": "NvidiaTeslaT4"}
DEFAULT_ACCELERATOR = "NvidiaTeslaT4"  # "GPU T4 x2" in Kaggle's editor
MAX_SESSION_SECONDS = 12 * 3600  # Kaggle stops any batch session at 12 hours


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


def parse_fold_list(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``: non-negative integers, each once, at least one
    (``data.folds.fold_list``'s rules, with no "all folds" for a blank).

    Raises ``argparse.ArgumentTypeError`` (a usage error naming the bad value), so it serves
    as the ``--folds`` type and the error comes before any file is rendered or request made.
    """
    from hms_kit.data.folds import fold_list

    try:
        folds = fold_list(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if folds is None:
        raise argparse.ArgumentTypeError(f"no fold given in {text!r} (expected e.g. 0,1,2)")
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
    choice: str,
    folds: Sequence[int] | None = None,
    configs: Sequence[str | None] | None = None,
) -> list[KernelTarget]:
    """The kernels ``--kernel choice --folds ... --configs ...`` pushes: one train kernel per
    config (None, or no configs: one for the dataset's config.yaml), each once per fold; one
    infer kernel."""
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


def check_configs(
    configs: Sequence[str | None], folds: Sequence[int], dataset_config: Path | None = None
) -> None:
    """Every config must be packaged (:func:`check_config_name`) and have every fold asked
    for, so no kernel is pushed to fail on Kaggle; None (``--config dataset``) is checked
    against ``dataset_config`` (kernels/config.yaml) when folds are asked for. Makes no
    request."""
    for config in configs:
        if config is None:
            if folds and dataset_config is not None:
                check_folds_exist(dataset_config, folds)
            continue
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


def selected_configs(args: argparse.Namespace) -> list[str | None]:
    """The ``--config``/``--configs`` names in order, each once (both options add to one
    list); without either, the packaged kaggle-* configs (``KAGGLE_CONFIGS``). The name
    ``dataset`` (``DATASET_CONFIG``) comes back as None: the dataset's config.yaml, run by
    the plain ``hms-kit-train`` kernel."""
    names = getattr(args, "configs", None) or list(KAGGLE_CONFIGS)
    seen: set[str] = set()
    configs: list[str | None] = []
    for name in names:
        if name in seen:
            raise PublishError(f"--configs: config {name!r} is given twice")
        seen.add(name)
        configs.append(None if name == DATASET_CONFIG else name)
    return configs
