"""What the publisher remembers between commands, under ``build/kaggle/``: a record per
pushed kernel (``pushed-<name>.json``: id, version, status, gpu) and per pushed dataset
(``pushed-dataset.json``), and the queue of kernels waiting for a GPU slot or for the train
kernels they attach (``queue.json``). Written atomically; read with a clear error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hms_kit.io import atomic_write_text
from hms_kit.publish.errors import PublishError

QUEUE_FILE = "queue.json"
DATASET_RECORD = "pushed-dataset.json"
DEFAULT_MAX_PARALLEL = 2  # Kaggle runs two GPU batch sessions at a time


def pushed_record(build: Path, kernel: str) -> Path:
    """``build/pushed-<kernel>.json``: beside, not inside, the kernel folder (a re-render
    replaces that folder whole)."""
    return build / f"pushed-{kernel}.json"


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
