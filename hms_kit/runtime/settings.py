"""Where a kernel's settings come from: the marked ``SETTINGS = {...}`` line of the kernel
script (filled per kernel by ``python -m hms_kit.publish``), environment variables where they
can be set, the config file in the wheel dataset, and Kaggle's rerun flag.

    SETTINGS["config"] / HMS_CONFIG   config file or packaged name (default: config.yaml
                                      found in the inputs, else the packaged ``kaggle``)
    SETTINGS["folds"]  / HMS_FOLDS    folds this train kernel trains, e.g. ``"0,1"``
                                      (default: the config's, else all)
    SETTINGS["timeout"] / HMS_TIMEOUT the session limit pushed with the kernel (``TIMEOUT``,
                                      seconds): training stops in time to write its outputs
    HMS_SET                           extra overrides, ``key=value`` separated by ``;``

An environment variable wins over the script's ``SETTINGS`` (Kaggle kernels cannot set one,
so there the line decides; a local run can still override it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from hms_kit.config import Config, load_config
from hms_kit.paths import ENV_WHEEL, KagglePaths

ENV_CONFIG = "HMS_CONFIG"
ENV_FOLDS = "HMS_FOLDS"
ENV_SET = "HMS_SET"
ENV_TIMEOUT = "HMS_TIMEOUT"
CONFIG_NAME = "config.yaml"
# Kaggle sets it (to "True") when it reruns a submitted notebook on the hidden test set.
ENV_RERUN = "KAGGLE_IS_COMPETITION_RERUN"
# The keys a kernel script's SETTINGS line may hold, and the variable each stands for.
SETTING_ENV = {"config": ENV_CONFIG, "folds": ENV_FOLDS, "timeout": ENV_TIMEOUT}
# of a session, what training leaves for the rest (the OOF gathered, the outputs Kaggle saves):
# a share, and at least this many seconds
SESSION_MARGIN_SHARE, SESSION_MARGIN_S = 0.1, 300.0
# How the line is marked in kernels/train.py; the publisher replaces the whole line.
SETTINGS_MARK = "# hms_kit.publish fills this line"


def resolve_settings(
    settings: Mapping[str, str] | None = None, env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``{"config": ..., "folds": ..., "timeout": ...}`` (absent keys left out): the environment variable
    where set (non-empty), else the script's ``settings``. Raises ValueError naming an
    unknown key, so a typo in a pushed script fails loudly instead of training all folds."""
    env = os.environ if env is None else env
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(SETTING_ENV))
    if unknown:
        raise ValueError(f"SETTINGS: unknown key(s) {unknown} (known: {sorted(SETTING_ENV)})")
    out = {}
    for key, var in SETTING_ENV.items():
        value = env.get(var) or settings.get(key)
        if value not in (None, ""):
            out[key] = str(value)
    return out


def session_limit_hours(limit_hours: float, timeout_s: float) -> float:
    """``train.time_limit_hours`` inside a session Kaggle stops after ``timeout_s`` seconds:
    the config's limit or the session less its margin (``SESSION_MARGIN_SHARE`` of it, at least
    ``SESSION_MARGIN_S``; never under half the session), whichever comes first. A limit of 0
    (none) takes the session's. ValueError for a timeout that is not a positive number."""
    if not timeout_s > 0:
        raise ValueError(f"SETTINGS timeout / {ENV_TIMEOUT}: seconds > 0, got {timeout_s!r}")
    margin = max(SESSION_MARGIN_SHARE * timeout_s, SESSION_MARGIN_S)
    session = max(timeout_s - margin, timeout_s / 2) / 3600
    return session if limit_hours <= 0 else min(limit_hours, session)


def is_competition_rerun(env: dict[str, str] | None = None) -> bool:
    """Whether this is Kaggle's rerun of a submitted notebook on the hidden test set."""
    value = (os.environ if env is None else env).get(ENV_RERUN, "")
    return value.strip().lower() not in ("", "0", "false", "no")


def find_input_config(paths: KagglePaths) -> Path | None:
    """The ``config.yaml`` beside the wheel the kernel installed (``$HMS_WHEEL``), else
    beside the first wheel among the attached inputs, if any."""
    installed = os.environ.get(ENV_WHEEL)
    wheels = [Path(installed)] if installed else paths.wheels()
    for wheel in wheels:
        if (wheel.parent / CONFIG_NAME).is_file():
            return wheel.parent / CONFIG_NAME
    return None


def set_overrides() -> list[str]:
    """The ``KEY=VALUE`` overrides in ``$HMS_SET`` (``;``-separated), in order."""
    return [s for s in os.environ.get(ENV_SET, "").split(";") if s.strip()]


def kernel_config(
    paths: KagglePaths, settings: Mapping[str, str] | None = None
) -> tuple[Config, str]:
    """The kernel's config and where it came from (``settings``: :func:`resolve_settings`)."""
    config = (settings or {}).get("config") if settings is not None else None
    source = config or os.environ.get(ENV_CONFIG) or find_input_config(paths) or "kaggle"
    return load_config(source, set_overrides()), str(source)
