"""Run logging: one named logger per run writing ``training_record.log`` in its folder.

Nothing here configures logging at import time; ``get_run_logger`` is called by the CLI or a
kernel when a run starts.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

LOG_NAME = "training_record.log"
LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
LOGGER_NAME = "hms_kit"
LOG_REDRAW_S = 30.0  # seconds between progress-bar lines in a log file
# marks the file handlers ensure_run_log adds: the next run's call retires them
_ADDED_FOR_A_RUN = "_hms_kit_run_log"

F = TypeVar("F", bound=Callable[..., Any])


def get_run_logger(run_dir: str | Path | None = None, console: bool = True) -> logging.Logger:
    """The ``hms_kit`` logger, writing to ``run_dir/training_record.log`` (appending).

    Calling it again for another folder moves the file handler there; a console handler
    writes the same lines to stderr when ``console`` is true.
    """
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    fmt = logging.Formatter(LOG_FORMAT, datefmt=DATE_FORMAT)
    if run_dir is not None:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(Path(run_dir) / LOG_NAME)
        fh.setFormatter(fmt)
        logger.addHandler(fh)
    if console:
        ch = logging.StreamHandler(sys.stderr)
        ch.setFormatter(fmt)
        logger.addHandler(ch)
    return logger


def ensure_run_log(run_dir: str | Path) -> logging.Logger:
    """The kit's logger, also writing ``run_dir/training_record.log`` if it does not already.

    Library entry points (``train_folds``, ``predict_test``) call this so a run folder always
    has its log, whether the run came from the CLI, a kernel or a notebook cell. The file it
    adds replaces the ones it added for earlier runs (a notebook training runs A then B
    writes B's lines to B's log only) but for the folders that hold ``run_dir`` (a repeated
    run's seed folders log to the run's file too); a handler ``get_run_logger`` set up stays.
    """
    log = logging.getLogger(LOGGER_NAME)
    target = (Path(run_dir) / LOG_NAME).resolve()
    for h in log.handlers:
        if isinstance(h, logging.FileHandler) and Path(h.baseFilename).resolve() == target:
            return log
    for h in [h for h in log.handlers if getattr(h, _ADDED_FOR_A_RUN, False)
              and not target.is_relative_to(Path(h.baseFilename).resolve().parent)]:  # fmt: skip
        log.removeHandler(h)
        h.close()
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    log.setLevel(logging.INFO)
    log.propagate = False
    fh = logging.FileHandler(target)
    fh.setFormatter(logging.Formatter(LOG_FORMAT, datefmt=DATE_FORMAT))
    setattr(fh, _ADDED_FOR_A_RUN, True)
    log.addHandler(fh)
    return log


def logger() -> logging.Logger:
    """The kit's logger (unconfigured until a run calls get_run_logger: then it is silent)."""
    return logging.getLogger(LOGGER_NAME)


def log_time(func: F) -> F:
    """Log and print ``<function> took X.XXXX seconds.`` around a heavy stage."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            msg = f"{func.__name__} took {time.perf_counter() - start:.4f} seconds."
            log = logger()
            if log.handlers:
                log.info(msg)
            else:
                print(msg, file=sys.stderr)

    return wrapper  # type: ignore[return-value]


def progress_bar(iterable: Any = None, **kwargs: Any) -> Any:
    """A tqdm bar that redraws often on a terminal and at most every 30 s in a log file (a
    Kaggle kernel's log or CI output would otherwise get a line per update), each redraw with
    the real count. Callers must not force redraws (``set_postfix`` refreshes by default:
    pass ``refresh=False``)."""
    from tqdm.auto import tqdm

    out = kwargs.get("file") or sys.stderr
    tty = bool(getattr(out, "isatty", lambda: False)())
    kwargs.setdefault("mininterval", 0.5 if tty else LOG_REDRAW_S)
    if not tty:
        # tqdm's default redraws on a count of iterations too (miniters, adjusted to the
        # rate): in a log only the clock decides
        kwargs.setdefault("miniters", 1)
        kwargs.setdefault("maxinterval", LOG_REDRAW_S)
        # a log keeps the last count (leave=False would end on a cleared line)
        kwargs["leave"] = True
    if hasattr(iterable, "__len__") and not hasattr(iterable, "__next__"):
        # tqdm.auto's bar (tqdm.asyncio) calls iter() in its constructor and again when
        # iterated: a DataLoader would start an iterator it throws away, which draws from
        # its generator (and, with workers, prefetches batches), so the epoch's order
        # depended on the worker count (issue 21). One iterator, the count given.
        kwargs.setdefault("total", len(iterable))
        iterable = iter(iterable)
    return tqdm(iterable, **kwargs)
