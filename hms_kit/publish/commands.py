"""The publishing commands (``python -m hms_kit.publish <command>``; the Makefile's
``push-dataset``, ``push-kernel``, ``wait``, ``pull``, ``status`` and ``submit`` targets):
each renders and checks what it sends first, then asks Kaggle through :mod:`client`, and
keeps its records and queue in :mod:`state`. See the package docstring for the flow.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from hms_kit import __version__, schema
from hms_kit.publish.client import (
    DATASET_FAILURES,
    DATASET_READY,
    KERNEL_DONE,
    KERNEL_FAILED,
    KERNEL_FAILURES,
    KaggleClient,
)
from hms_kit.publish.errors import PublishError, PushRefusedError
from hms_kit.publish.naming import (
    INFER,
    KERNELS,
    TRAIN,
    KernelTarget,
    check_accelerator,
    check_configs,
    check_session_timeout,
    kernel_targets,
    pinned,
    selected_configs,
)
from hms_kit.publish.render import (
    CONFIG_FILE,
    KERNEL_METADATA,
    check_dataset_folder,
    check_kernel_folder,
    render_dataset_metadata,
    render_kernel_metadata,
    replace_folder,
    wheel_path,
)
from hms_kit.publish.state import (
    DATASET_RECORD,
    PUSHING,
    QUEUE_FILE,
    QUEUED,
    Queued,
    pushable,
    pushed_record,
    read_queue,
    read_record,
    uses_gpu,
    write_queue,
    write_record,
)

DATASET_TEMPLATE = "dataset"
SUBMISSION_FILE = "submission.csv"
DEFAULT_RUNS_DIR = "runs"


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


def log_tail(log: str, lines: int) -> list[str]:
    """The last ``lines`` lines of a kernel log: Kaggle stores it as a JSON list of
    ``{"stream_name", "time", "data"}`` records; other text is taken as it is."""
    try:
        records = json.loads(log)
        text = "".join(str(r.get("data", "")) for r in records if isinstance(r, dict))
    except (json.JSONDecodeError, TypeError, AttributeError):
        text = log
    return text.splitlines()[-lines:] if lines > 0 else []


def _timeout(client_args: Sequence[str]) -> int | None:
    """The session limit in a queued kernel's ``client_args`` (``--timeout N``), if any."""
    args = list(client_args)
    return int(args[args.index("--timeout") + 1]) if "--timeout" in args else None


def push_dataset(args: argparse.Namespace) -> int:
    """Render and check the dataset folder, then create the dataset or add a version."""
    layout = Layout.from_args(args)
    client = KaggleClient.connect(dry_run=args.dry_run)
    user = client.username
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
    if client.dataset_exists(ref):
        client.version_dataset(folder, ref, args.message or git_describe(layout.root))
    else:
        client.create_dataset(folder, ref)
    if not args.dry_run:  # `wait` polls it until Kaggle has processed the files
        write_record(layout.build / DATASET_RECORD, {"id": ref, "status": "pushed"})
    return 0


def push_one(
    client: KaggleClient, layout: Layout, name: str, client_args: Sequence[str]
) -> int | None:
    """Push one rendered folder; record and return the version. ``client_args`` are the
    queue's ``kaggle kernels push`` flags (``--timeout N``).

    The kernel's newest version is asked first and recorded (``before``): should the push
    raise with its answer lost, ``wait`` counts only a version after that one as this push
    (:func:`poll_kernels`). A failure to ask is PushRefusedError: nothing was pushed."""
    folder = layout.build / name
    meta = json.loads((folder / KERNEL_METADATA).read_text())
    if not client.dry_run:
        try:
            before = client.kernel_version(meta["id"])
        except PublishError as exc:
            raise PushRefusedError(f"{exc}: not pushed") from exc
        write_record(
            pushed_record(layout.build, name),
            {"id": meta["id"], "status": "queued", "before": before},
        )
    version = client.push_kernel(folder, meta["id"], timeout=_timeout(client_args))
    if not client.dry_run:
        record = {"id": meta["id"], "version": version, "status": "running", "gpu": uses_gpu(meta)}
        write_record(pushed_record(layout.build, name), record)
    return version


def train_pins(layout: Layout, targets: Sequence[KernelTarget], user: str) -> dict[str, int]:
    """``owner/slug`` -> version of each train kernel the infer kernel attaches, from the
    records ``wait`` completed; raises PublishError when one is not known to be complete."""
    pins = {}
    for target in targets:
        record = read_record(pushed_record(layout.build, target.name))
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

    The train kernel is pushed once per config (``--configs``, by default the packaged
    kaggle-* configs; ``dataset``: the dataset's config.yaml), times ``--folds``, and the
    infer kernel attaches all of them (see the package docstring). At most
    ``--max-parallel`` GPU kernels run at once, counting those earlier pushes left running,
    and none starts before a pushed dataset is ready (the kernels install its wheel); the
    rest, kernels Kaggle refused now, and an infer kernel pushed with its train kernels go
    to the queue that ``wait`` works through, behind what an earlier push queued.
    """
    layout = Layout.from_args(args)
    if args.pin_train and args.kernel != INFER:
        # the pins are read from the records before anything is pushed: with the train
        # kernels pushed in the same command, infer would attach their previous versions
        raise PublishError(
            f"--pin-train with --kernel {args.kernel}: it pins the infer kernel to train "
            "versions `wait` saw complete, so it cannot push the train kernels too; push them "
            "(make push-kernel KERNEL=train), run `make wait`, then "
            "`make push-kernel KERNEL=infer PIN_TRAIN=1`"
        )
    folds = args.folds or []
    configs = selected_configs(args)
    check_configs(configs, folds, layout.kernels / CONFIG_FILE)
    if args.max_parallel < 1:
        raise PublishError(f"--max-parallel {args.max_parallel}: at least 1 kernel must run")
    client_args: list[str] = []
    if args.session_timeout is not None:
        client_args += ["--timeout", str(check_session_timeout(args.session_timeout))]
    if args.accelerator:
        check_accelerator(args.accelerator)
    client = KaggleClient.connect(dry_run=args.dry_run)
    user = client.username
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
            timeout=args.session_timeout if target.template == TRAIN else None,
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
    names = {t.name for t in targets}
    queue_path = layout.build / QUEUE_FILE
    # Kernels an earlier push left queued stay queued (for `wait` to push), unless this push
    # replaced them; those ready to start hold their places ahead of these.
    kept = [q for q in read_queue(queue_path) if q.name not in names]
    # what earlier pushes left running, asked of Kaggle (a record says running until a
    # `wait` saw it end); a failed one is reported (and fails `wait` until it is pushed again
    # or its record removed), not a reason to push nothing
    records = kernel_records(layout)
    if not args.dry_run:
        others = {n: r for n, r in records.items() if n not in names}
        for ref, state, message in poll_kernels(client, layout, others):
            reason = f": {message.strip()}" if message.strip() else ""
            print(f"kernel {ref} ended with status {state}{reason}")
    # a kernel pushed again now is not done, whatever its earlier version did: an infer
    # kernel pushed with its train kernels waits for the new ones
    done = {n for n, r in records.items() if n not in names and r.get("status") == KERNEL_DONE}
    running = {n for n, r in records.items() if n not in names and r.get("status") == "running"}
    running_gpu = sum(1 for n in running if records[n].get("gpu")) + sum(
        1 for q in kept if q.gpu and (q.state == PUSHING and _push_unrecorded(records, q)
                                      or q.state != PUSHING and set(q.after) <= done)
    )  # fmt: skip
    # the kernels install the wheel from the dataset: none starts on its previous version
    dataset_state = None if args.dry_run else _poll_dataset(client, layout)
    now = [] if dataset_state else pushable(queue, done, running_gpu, args.max_parallel)
    if dataset_state:
        print(f"the dataset is {dataset_state}, not ready: every kernel queued")
    later = [q for q in queue if q not in now]

    def say_queued() -> None:
        verb = "would queue" if args.dry_run else "queued"
        for item in later:
            print(f"{verb} {item.id}: `make wait` pushes it when a GPU slot or its inputs are free")

    if args.dry_run:
        for item in now:
            print(f"would push {item.id}")
            push_one(client, layout, item.name, client_args)
        say_queued()
        return 0
    # an old record (say version N, complete) of a kernel pushed or queued now must not
    # count as this push's result, should its push not happen or not be recorded
    for item in [*now, *later]:
        write_record(pushed_record(layout.build, item.name), {"id": item.id, "status": "queued"})
    # Write-ahead, as `wait` does: the kernels to push now are in the queue marked `pushing`
    # before any push, so a push that fails mid-way leaves the rest queued and that one
    # marked (taken as pushed by `wait`, never pushed twice)
    marked = [replace(q, state=PUSHING) for q in now]
    pending = [*kept, *marked, *later]
    write_queue(queue_path, pending)
    for i, (item, mark) in enumerate(zip(now, marked, strict=True)):
        try:
            push_one(client, layout, item.name, client_args)
        except PushRefusedError as exc:  # no version made: queued, unmarked, for `wait`
            print(f"{item.id}: {exc}; queued")
            pending = [item if q == mark else q for q in pending]
        except BaseException:
            # The kernels after this one were never pushed: unmarked, `wait` pushes them.
            # This one stays marked: the error (no answer, a 5xx, Ctrl-C) may have come after
            # Kaggle made the version, and a second push would train twice. `wait` takes it
            # as pushed with no version known (its record says queued), says so, and waits
            # for the version after the one recorded before the push (`poll_kernels`).
            unpushed = dict(zip(marked[i + 1 :], now[i + 1 :], strict=True))
            write_queue(queue_path, [unpushed.get(q, q) for q in pending])
            raise
        else:
            pending = [q for q in pending if q != mark]
        write_queue(queue_path, pending)
    say_queued()
    return 0


def poll_kernels(
    client: KaggleClient, layout: Layout, records: dict[str, dict], dry_run: bool = False
) -> list[tuple[str, str, str]]:
    """Ask Kaggle once for each of ``records`` still ``running``: the version pushed (not
    the kernel's latest session, which may be another), its record updated in place (and on
    disk unless ``dry_run``) once complete or failed. Returns ``(ref, state, message)`` of
    each failed one.

    A push whose answer was lost has no version recorded: it is the version after the one
    its record says came ``before`` the push (Kaggle numbers a kernel's versions one after
    another, so a later push by hand does not stand in for it), and until Kaggle shows one
    the kernel is waited for (polling the newest instead took an older, complete version for
    this push and released the kernels that attach it). Where no ``before`` is known (a
    record from before the kit asked, a push stopped while asking) or Kaggle's answer
    carries no version number, the newest is polled, as before."""
    failed = []
    for name, record in records.items():
        if record.get("status") != "running":
            continue
        before = record.get("before")
        if record.get("version") is None and type(before) is int:
            newest = client.kernel_version(record["id"])
            if newest is not None and newest <= before:
                print(
                    f"{record['id']}: no version after {before} yet (if its push never "
                    "reached Kaggle, none comes: push it again with make push-kernel)"
                )
                continue
            if newest is not None:
                record["version"] = before + 1
                if not dry_run:
                    write_record(pushed_record(layout.build, name), record)
        ref = pinned(record["id"], record.get("version"))
        state, message = client.kernel_status(ref)
        if state == KERNEL_DONE or state in KERNEL_FAILURES:
            record["status"] = KERNEL_DONE if state == KERNEL_DONE else KERNEL_FAILED
            if not dry_run:
                write_record(pushed_record(layout.build, name), record)
        if state in KERNEL_FAILURES:
            failed.append((ref, state, message))
    return failed


def kernel_records(layout: Layout) -> dict[str, dict]:
    """Every kernel's ``pushed-<name>.json`` record by name (unreadable ones left out)."""
    records = {
        p.name[len("pushed-") : -len(".json")]: read_record(p)
        for p in sorted(layout.build.glob("pushed-*.json"))
        if p.name != DATASET_RECORD
    }
    return {n: r for n, r in records.items() if r}


def _poll_dataset(client: KaggleClient, layout: Layout) -> str | None:
    """Poll the pushed dataset once: its state while it is not ready, else None (ready, or
    nothing pushed to wait for)."""
    path = layout.build / DATASET_RECORD
    record = read_record(path)
    if not record or record.get("status") == DATASET_READY:
        return None
    state_text = client.dataset_status(record["id"]) or ""
    if state_text == DATASET_READY and not client.dry_run:
        write_record(path, {**record, "status": DATASET_READY})
    if state_text in DATASET_FAILURES:
        raise PublishError(f"dataset {record['id']} is {state_text}: push it again")
    return None if state_text == DATASET_READY else state_text or "not known yet"


def _kernel_failure(client: KaggleClient, ref: str, state: str, message: str, lines: int) -> str:
    """The error for a failed kernel: its status line(s) and the tail of its log."""
    tail = log_tail(client.kernel_log(ref), lines)
    detail = "\n".join(f"    {line}" for line in tail) or "    (no log)"
    reason = message.strip()
    return f"kernel {ref} ended with status {state}{': ' + reason if reason else ''}\n" + (
        f"  last {len(tail)} log lines:\n{detail}"
    )


def _failed_records(layout: Layout, records: dict[str, dict]) -> str:
    """What ``wait`` reports of the kernels whose record says they failed ('' when none):
    one an earlier command saw fail (``push-kernel`` polls too) is never polled again, so
    without this a later ``wait`` would end with status 0 and the failure unreported."""
    lines = [
        f"  {r['id']} version {r.get('version') or '(not known)'}: {r.get('status')} "
        f"({pushed_record(layout.build, n)})"
        for n, r in records.items()
        if r.get("status") in KERNEL_FAILURES
    ]
    if not lines:
        return ""
    return (
        "kernels that failed in an earlier run:\n"
        + "\n".join(lines)
        + "\npush each again (make push-kernel), or remove its pushed-<name>.json to give it up"
    )


def _push_unrecorded(records: dict[str, dict], item: Queued) -> bool:
    """Whether a kernel marked ``pushing`` has no record of that push (the push may have
    reached Kaggle all the same); one with a record is counted by it."""
    record = records.get(item.name, {})
    return record.get("id") != item.id or record.get("status") in (None, QUEUED)


def _settle_interrupted_push(
    layout: Layout, queue_path: Path, queue: list[Queued], item: Queued
) -> list[Queued]:
    """A queue entry an earlier ``wait`` or ``push-kernel`` marked ``pushing`` and never
    confirmed: its push may
    have reached Kaggle, so it is taken as pushed (a second push would train twice) and
    polled from now on. Returns the queue without it."""
    record = read_record(pushed_record(layout.build, item.name)) or {}
    if _push_unrecorded({item.name: record}, item):
        before = record.get("before") if record.get("id") == item.id else None
        after = f" once Kaggle shows a version after {before}" if before is not None else ""
        print(
            f"{item.id}: an earlier push stopped while pushing it; taken as pushed{after}, "
            "not pushed again (if Kaggle shows no new version, run push-kernel for it)"
        )
        record = {
            "id": item.id, "version": None, "status": "running", "gpu": item.gpu,
            "before": before,
        }  # fmt: skip
        write_record(pushed_record(layout.build, item.name), record)
    queue = [q for q in queue if q != item]
    write_queue(queue_path, queue)
    return queue


def wait(args: argparse.Namespace) -> int:
    """Poll the pushed dataset and kernels until all are ready/complete, pushing queued kernels
    as GPU slots free up; raise PublishError on a failure (with its log tail) or timeout, and
    at the end while a kernel's record says it failed earlier (see :func:`_failed_records`)."""
    layout = Layout.from_args(args)
    client = KaggleClient.connect(dry_run=args.dry_run)  # a clear error before any request
    if args.poll <= 0 or args.timeout <= 0:
        raise PublishError("--poll and --timeout must be positive (seconds)")
    queue_path = layout.build / QUEUE_FILE
    deadline = time.monotonic() + args.timeout
    while True:
        dataset_state = _poll_dataset(client, layout)
        records = kernel_records(layout)
        failures = [
            _kernel_failure(client, ref, state, message, args.log_lines)
            for ref, state, message in poll_kernels(client, layout, records, args.dry_run)
        ]
        if failures:
            raise PublishError("\n".join(failures))
        if args.dry_run:
            return 0
        done = {n for n, r in records.items() if r.get("status") == KERNEL_DONE}
        running = [r for r in records.values() if r.get("status") == "running"]
        queue = read_queue(queue_path)
        for item in [q for q in queue if q.state == PUSHING]:
            unrecorded = _push_unrecorded(records, item)
            queue = _settle_interrupted_push(layout, queue_path, queue, item)
            if unrecorded:  # else its record counts it (running) or it ran already
                running.append({"id": item.id, "gpu": item.gpu})
        running_gpu = sum(1 for r in running if r.get("gpu"))
        dataset_pending = dataset_state is not None
        # the kernels install the wheel from the dataset: none starts on its previous version
        for item in (
            [] if dataset_pending else pushable(queue, done, running_gpu, args.max_parallel)
        ):
            # Write-ahead: marked before the push, removed once the push is recorded.
            marked = replace(item, state=PUSHING)
            queue = [marked if q == item else q for q in queue]
            write_queue(queue_path, queue)
            try:
                push_one(client, layout, item.name, item.client_args)
            except PushRefusedError as exc:  # no version was made: it stays queued, unmarked
                queue = [item if q == marked else q for q in queue]
                write_queue(queue_path, queue)
                raise PushRefusedError(
                    f"{exc}\n{item.id} stays queued: run `make wait` again once Kaggle "
                    "takes it (e.g. a GPU session is free)"
                ) from exc
            queue = [q for q in queue if q != marked]
            write_queue(queue_path, queue)
            running.append({"id": item.id, "gpu": item.gpu})
        failed = _failed_records(layout, records)
        if not running and not queue and not dataset_pending:
            if failed:
                raise PublishError(failed)
            return 0
        if not running and queue and not dataset_pending:
            raise PublishError(
                "queued kernels cannot start (their train kernels did not complete): "
                + ", ".join(q.id for q in queue)
                + (f"\n{failed}" if failed else "")
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


def pull_output(client: KaggleClient, ref: str, dest: Path) -> list[Path]:
    """Download kernel ``ref``'s output and put it in ``dest``
    whole: into a staging folder first, so a failed download leaves ``dest`` as it was.
    Returns the files now in ``dest``; raises PublishError when there are none."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        client.kernel_output(ref, staging)
        if client.dry_run:
            shutil.rmtree(staging)
            return []
        log_name = ref.split("/")[1] + ".log"
        if not any(p.is_file() and p.name != log_name for p in staging.rglob("*")):
            raise PublishError(
                f"{ref} has no output files: has it run to completion? (`make wait`)"
            )
        replace_folder(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(p for p in dest.rglob("*") if p.is_file())


def pull_ref(layout: Layout, target: KernelTarget, user: str, version: int | None) -> str:
    """The kernel version ``pull`` downloads: ``version`` when given, else the one
    ``push-kernel`` or ``wait`` recorded pushing (so a later push by hand or from another
    machine is not pulled in its place), else the kernel's latest (``owner/slug``).
    PublishError when this checkout queued the kernel (or its push is not recorded yet):
    its latest version is an earlier push's."""
    ref = f"{user}/{target.slug}"
    if version is None:
        record = read_record(pushed_record(layout.build, target.name))
        if record and record.get("id") == ref:
            if not record.get("version"):
                raise PublishError(
                    f"{ref} is {record.get('status') or 'pushed'} with no version recorded "
                    "(queued, or its push not settled): run `make wait` first, or pass "
                    "PULL_VERSION=N"
                )
            version = int(record["version"])
    return pinned(ref, version)


def pull_refusal(ref: str, state: str | None, allow_failed: bool) -> str | None:
    """Why ``ref``'s output is not pulled, given its Kaggle state (None: not known); None to
    pull it. A kernel still running has no output yet (or a partial one); a failed one's
    output may be a fold short, so it replaces the folder only when asked for
    (``allow_failed``)."""
    if state == KERNEL_DONE:
        return None
    if state in KERNEL_FAILURES:
        if allow_failed:
            return None
        return (
            f"{ref} ended with status {state}: its output may be partial; pull it anyway "
            "with --allow-failed (make pull PULL_FAILED=1)"
        )
    return f"{ref} is {state or 'of no known state'}, not complete: run `make wait` first"


def pull(args: argparse.Namespace) -> int:
    """Download each selected kernel's output into ``<runs dir>/<kernel slug>/``.

    Asks Kaggle for each kernel version's state first: only a complete one replaces the
    folder (a failed one with ``--allow-failed``); the folder of one refused is left as it
    was, the others are pulled, and the command fails naming each refused kernel.
    """
    layout = Layout.from_args(args)
    configs = selected_configs(args)
    check_configs(configs, args.folds or [], layout.kernels / CONFIG_FILE)
    client = KaggleClient.connect(dry_run=args.dry_run)
    user = client.username
    runs = Path(args.runs_dir)
    runs = runs if runs.is_absolute() else layout.root / runs
    targets = kernel_targets(args.kernel, args.folds, configs)
    if args.version is not None and len(targets) > 1:
        # each Kaggle kernel numbers its own versions: N of one is another run of the next
        raise PublishError(
            f"--version {args.version} (PULL_VERSION) is one kernel's version, and "
            f"{len(targets)} are selected ("
            + ", ".join(f"{user}/{t.slug}" for t in targets)
            + "): pick one with --kernel, --configs and --folds (KERNEL=, CONFIG=, FOLDS=)"
        )
    refused = []
    for target in targets:
        dest = runs / target.slug
        try:
            ref = pull_ref(layout, target, user, args.version)
        except PublishError as exc:
            print(f"not pulled: {exc}", flush=True)
            refused.append(f"{user}/{target.slug}")
            continue
        state, _ = client.kernel_status(ref)
        why = None if client.dry_run else pull_refusal(ref, state, args.allow_failed)
        if why:
            kept = f" ({dest} left as it was)" if dest.exists() else ""
            print(f"not pulled: {why}{kept}", flush=True)
            refused.append(ref)
            continue
        files = pull_output(client, ref, dest)
        if files:
            print(f"{ref}: {len(files)} files in {dest}")
    if refused:
        raise PublishError("not pulled: " + ", ".join(refused) + " (see above)")
    return 0


def status(args: argparse.Namespace) -> int:
    """The status of each selected kernel (each fold's with ``--folds``, each
    config's: ``--configs``, by default the packaged kaggle-* configs)."""
    configs = selected_configs(args)
    check_configs(configs, args.folds or [], Layout.from_args(args).kernels / CONFIG_FILE)
    client = KaggleClient.connect(dry_run=args.dry_run)
    user = client.username
    for target in kernel_targets(args.kernel, args.folds, configs):
        ref = f"{user}/{target.slug}"
        client.kernel_status(ref)
    return 0


def submit(args: argparse.Namespace) -> int:
    """Submit the inference kernel's ``submission.csv`` (code competition: kernel + version)."""
    layout = Layout.from_args(args)
    client = KaggleClient.connect(dry_run=args.dry_run)
    user = client.username
    kernel = f"{user}/{KERNELS['infer']}"
    version = args.version
    pushed = read_record(pushed_record(layout.build, "infer"))
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
    client.submit_code(schema.COMPETITION_SLUG, kernel, int(version), SUBMISSION_FILE, message)
    return 0
