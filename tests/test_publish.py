"""Publishing to Kaggle with the real ``kaggle`` client against a recording fake server.

With ``KAGGLE_API_ENVIRONMENT=LOCALHOST`` the kaggle 2.x client (kagglesdk) sends every call
as ``POST http://localhost/api/v1/<service>/<method>`` with a JSON body, and uploads file
bytes with a ``PUT`` to the ``createUrl`` that ``StartBlobUpload`` returned. The server here
binds 127.0.0.1:80, records each request and answers just what the client needs to go on.
The commands run in a copy of the repository (Makefile, sources, kernels, templates), so the
tests never write into the working tree other sessions share.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hms_kit import __version__
from hms_kit.config import KAGGLE_CONFIGS
from hms_kit.publish import (
    DATASET_CONFIG,
    PublishError,
    Queued,
    check_kernel_folder,
    log_tail,
    parse_fold_list,
    pushable,
    render_dataset_metadata,
    render_kernel_metadata,
    settings_line,
    with_settings,
)
from hms_kit.runtime.settings import SETTINGS_MARK

REPO = Path(__file__).resolve().parents[1]
COMPETITION = "hms-harmful-brain-activity-classification"
USER = "testuser"
API = "/api/v1/"
SAVE_KERNEL = "kernels.KernelsApiService/SaveKernel"
GET_KERNEL = "kernels.KernelsApiService/GetKernel"


# ---------------------------------------------------------------------------- fake Kaggle


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    @property
    def call(self) -> str:
        """``service/Method`` for API calls, the raw path otherwise."""
        return self.path[len(API) :] if self.path.startswith(API) else self.path


@dataclass
class FakeKaggle:
    """What the fake server remembers: requests, uploads, existing datasets, versions."""

    requests: list[Recorded] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)  # token -> bytes PUT
    blob_names: dict[str, str] = field(default_factory=dict)  # token -> file name
    datasets: set[str] = field(default_factory=set)
    versions: dict[str, int] = field(default_factory=dict)
    # What the tests make Kaggle say: SaveKernel's invalid*Sources lists; per kernel slug the
    # states GetKernelSessionStatus returns in turn (the last one repeats), failure message,
    # log and output files; per dataset the states GetDatasetStatus returns; token -> user.
    invalid: dict[str, list[str]] = field(default_factory=dict)
    kernel_states: dict[str, list[str]] = field(default_factory=dict)
    failure: dict[str, str] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, dict[str, bytes]] = field(default_factory=dict)
    dataset_states: dict[str, list[str]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            for value in (
                self.requests,
                self.uploads,
                self.blob_names,
                self.datasets,
                self.versions,
                self.invalid,
                self.kernel_states,
                self.failure,
                self.logs,
                self.outputs,
                self.dataset_states,
                self.tokens,
            ):
                value.clear()

    @staticmethod
    def _next(states: list[str], default: str) -> str:
        return (states.pop(0) if len(states) > 1 else states[0]) if states else default

    def calls(self) -> list[str]:
        return [r.call for r in self.requests]

    def bodies(self, call: str) -> list[Any]:
        return [r.json for r in self.requests if r.call == call]

    def uploaded_by_name(self) -> dict[str, bytes]:
        return {self.blob_names[t]: data for t, data in self.uploads.items()}

    def answer(self, call: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The response the client expects (shapes read from kagglesdk's types)."""
        with self.lock:
            if call == "kernels.KernelsApiService/SaveKernel":
                slug = body["slug"]
                self.versions[slug] = self.versions.get(slug, 0) + 1
                url = f"http://localhost/code/{slug}"
                return 200, {
                    "ref": f"/code/{slug}",
                    "url": url,
                    "versionNumber": self.versions[slug],
                    "kernelId": 7,
                    **self.invalid,
                }
            if call == "kernels.KernelsApiService/GetKernel":  # `kaggle kernels pull`
                slug = f"{body.get('userName')}/{body.get('kernelSlug')}"
                if slug not in self.versions:
                    return 404, {"code": 404, "message": f"Kernel {slug} not found"}
                meta = {"ref": slug, "currentVersionNumber": self.versions[slug]}
                return 200, {"metadata": meta, "blob": {"source": "", "language": "python"}}
            if call == "kernels.KernelsApiService/GetKernelSessionStatus":
                slug = body.get("kernelSlug", "")
                answer = {"status": self._next(self.kernel_states.get(slug, []), "COMPLETE")}
                if slug in self.failure:
                    answer["failureMessage"] = self.failure[slug]
                return 200, answer
            if call == "kernels.KernelsApiService/ListKernelSessionOutput":
                slug = body.get("kernelSlug", "")
                files = [
                    {"fileName": name, "url": f"http://localhost/output/{slug}/{name}"}
                    for name in self.outputs.get(slug, {})
                ]
                return 200, {"files": files, "log": self.logs.get(slug, "")}
            if call == "security.OAuthService/IntrospectToken":
                user = self.tokens.get(body.get("token", ""))
                return 200, {"active": bool(user), "username": user or ""}
            if call == "datasets.DatasetApiService/GetDatasetStatus":
                ref = f"{body.get('ownerSlug')}/{body.get('datasetSlug')}"
                if ref in self.datasets:
                    return 200, {"status": self._next(self.dataset_states.get(ref, []), "READY")}
                return 404, {"code": 404, "message": f"Dataset {ref} not found"}
            if call == "blobs.BlobApiService/StartBlobUpload":
                token = f"blob{len(self.blob_names) + 1}"
                self.blob_names[token] = body["name"]
                return 200, {"token": token, "createUrl": f"http://localhost/upload/{token}"}
            if call == "datasets.DatasetApiService/CreateDataset":
                ref = f"{body['ownerSlug']}/{body['slug']}"
                self.datasets.add(ref)
                return 200, {"ref": ref, "url": f"http://localhost/{ref}", "status": "ok"}
            if call == "datasets.DatasetApiService/CreateDatasetVersion":
                ref = f"{body['ownerSlug']}/{body['datasetSlug']}"
                return 200, {"ref": ref, "url": f"http://localhost/{ref}", "status": "ok"}
            if call == "competitions.CompetitionApiService/CreateCodeSubmission":
                return 200, {"message": "Submission successful", "ref": 4242}
            if call == "competitions.CompetitionApiService/GetSubmissionLimits":
                return 200, {}
        return 404, {"code": 404, "message": f"unknown call {call}"}


def _make_handler(fake: FakeKaggle) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = bytearray()
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return bytes(out)
                    out += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> Recorded:
            rec = Recorded(self.command, self.path, dict(self.headers), self._read_body())
            with fake.lock:
                fake.requests.append(rec)
            return rec

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            rec = self._record()
            self._reply(*fake.answer(rec.call, rec.json if rec.body else {}))

        def do_PUT(self) -> None:  # noqa: N802
            rec = self._record()
            token = rec.path.rsplit("/", 1)[-1]
            with fake.lock:
                known = token in fake.blob_names
                if known:
                    fake.uploads[token] = rec.body
            self._reply(200 if known else 404, {})

        def do_GET(self) -> None:  # noqa: N802 (recorded so a stray call shows up)
            rec = self._record()
            parts = rec.path.split("/", 3)  # /output/<kernel slug>/<file path>
            with fake.lock:
                data = fake.outputs.get(parts[2], {}).get(parts[3]) if len(parts) == 4 else None
            if data is None or parts[1] != "output":
                self._reply(404, {"code": 404, "message": "GET not served"})
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            pass

    return Handler


@pytest.fixture(scope="module")
def kaggle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeKaggle]:
    """The fake server on 127.0.0.1:80 (the client's LOCALHOST endpoint has no port)."""
    fake = FakeKaggle()
    server = None
    # under pytest-xdist the worker holding the port names itself in the run's base folder,
    # which its workers share: another worker of the run that finds the port taken fails,
    # where a skip would hide this file's tests (make test keeps the file on one worker)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    holder = tmp_path_factory.getbasetemp().parent / "kaggle-port-80.holder"
    for attempt in range(10):
        try:
            server = ThreadingHTTPServer(("127.0.0.1", 80), _make_handler(fake))
            break
        except PermissionError as exc:
            pytest.skip(
                f"cannot bind 127.0.0.1:80 ({exc}); the kaggle client's LOCALHOST "
                "endpoint is http://localhost with no port, so the fake needs port 80"
            )
        except OSError as exc:
            # Another run may still hold the port for a moment; wait briefly before giving up.
            if exc.errno == errno.EADDRINUSE and attempt < 9:
                time.sleep(0.5)
                continue
            if worker and holder.is_file() and holder.read_text() != worker:
                pytest.fail(
                    f"127.0.0.1:80 is held by pytest-xdist worker {holder.read_text()}: run "
                    "this file on one worker (--dist loadfile, as `make test` does)"
                )
            pytest.skip(
                f"cannot bind 127.0.0.1:80 ({exc}); the kaggle client's LOCALHOST "
                "endpoint is http://localhost with no port, so the fake needs port 80"
            )
    assert server is not None
    if worker:
        holder.write_text(worker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        if worker:
            holder.unlink(missing_ok=True)


@pytest.fixture
def fake(kaggle_server: FakeKaggle) -> FakeKaggle:
    kaggle_server.reset()
    return kaggle_server


# ---------------------------------------------------------------------------- the checkout


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of what publishing needs, plus a fresh stamp so make skips the venv setup."""
    root = tmp_path_factory.mktemp("checkout")
    for name in ("Makefile", "setup.py", "pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, root / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("hms_kit", "kernels", "kernel-metadata"):
        shutil.copytree(REPO / name, root / name, ignore=ignore)
    (root / "stamp").touch()  # newer than setup.py/pyproject.toml: make's $(STAMP) is done
    return root


def make_vars(checkout: Path) -> list[str]:
    """Run make with this interpreter and without (re)building .venv."""
    return [f"PY={sys.executable}", f"STAMP={checkout / 'stamp'}"]


@pytest.fixture(scope="module")
def wheel(checkout: Path) -> Path:
    """``make wheel`` in the checkout (offline: no build isolation), with a stale module
    planted in build/lib that must not reach the wheel."""
    stale = checkout / "build" / "lib" / "hms_kit" / "stale_module.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("raise ImportError('stale')\n")
    proc = subprocess.run(
        ["make", "wheel", *make_vars(checkout), "WHEEL_FLAGS=--no-build-isolation"],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    path = checkout / "dist" / f"hms_kit-{__version__}-py3-none-any.whl"
    assert path.is_file(), proc.stdout
    return path


def client_env(tmp_path: Path, credentials: bool = True) -> dict[str, str]:
    """Environment for the client: fake server, an empty HOME, dummy or no credentials."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KAGGLE_") and k.lower() not in ("http_proxy", "https_proxy")
    }
    home = tmp_path / "home"
    (home / ".kaggle").mkdir(parents=True, exist_ok=True)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env.update(
        HOME=str(home),
        KAGGLE_CONFIG_DIR=str(home / ".kaggle"),
        KAGGLE_API_ENVIRONMENT="LOCALHOST",
        # The client keeps resumable-upload state under the temp dir: one per test.
        TMPDIR=str(tmp_path / "tmp"),
        NO_PROXY="localhost,127.0.0.1",
        no_proxy="localhost,127.0.0.1",
    )
    if credentials:
        env.update(KAGGLE_USERNAME=USER, KAGGLE_KEY="dummy")
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def publish(checkout: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "hms_kit.publish", *args], checkout, env)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


# ---------------------------------------------------------------------------- pure functions


def test_render_fills_username_and_copies_files(tmp_path: Path) -> None:
    out = render_kernel_metadata(
        REPO / "kernel-metadata" / "infer",
        tmp_path / "infer",
        "alice",
        code_dir=REPO / "kernels",
        dataset_slug="my-wheel",
        weights_dataset="timm-weights",
    )
    meta = check_kernel_folder(out, "alice")
    assert meta["id"] == "alice/hms-kit-infer"
    assert meta["dataset_sources"] == ["alice/my-wheel", "alice/timm-weights"]
    assert meta["kernel_sources"] == ["alice/hms-kit-train"]
    assert (out / "infer.py").read_text() == (REPO / "kernels" / "infer.py").read_text()
    # The committed template keeps its placeholder: no username is ever written back.
    assert "{username}" in (REPO / "kernel-metadata" / "infer" / "kernel-metadata.json").read_text()
    with pytest.raises(PublishError, match="not found"):
        render_dataset_metadata(
            REPO / "kernel-metadata" / "dataset", tmp_path / "ds", "alice", files=[tmp_path / "x"]
        )
    assert not (tmp_path / "ds").exists()  # nothing half-rendered


TRAIN_SOURCE = (REPO / "kernels" / "train.py").read_text()
PLAIN_SETTINGS = f"SETTINGS: dict[str, str] = {{}}  {SETTINGS_MARK}\n"


def _with(**settings: str) -> str:
    """kernels/train.py as pushed with ``settings``: only its SETTINGS line differs."""
    assert TRAIN_SOURCE.count(PLAIN_SETTINGS) == 1  # the template's one marked line
    return TRAIN_SOURCE.replace(PLAIN_SETTINGS, settings_line(settings), 1)


def test_settings_line_is_filled_and_nothing_else_changes() -> None:
    out = with_settings(TRAIN_SOURCE, {"folds": "3"})
    assert out == _with(folds="3")
    assert 'SETTINGS: dict[str, str] = {"folds": "3"}  # hms_kit.publish fills this line\n' in out
    assert out.replace(settings_line({"folds": "3"}), PLAIN_SETTINGS, 1) == TRAIN_SOURCE
    namespace: dict = {}
    exec(compile(out, "train.py", "exec"), namespace)  # the guarded main() does not run
    assert namespace["SETTINGS"] == {"folds": "3"}
    assert with_settings(TRAIN_SOURCE, {"folds": None, "config": None}) == TRAIN_SOURCE
    # CRLF files keep CRLF; a script without exactly one marked line is refused, named.
    crlf = f'"""Doc."""\r\nSETTINGS = {{}}  {SETTINGS_MARK}\r\nx = 1\r\n'
    assert with_settings(crlf, {"folds": "4"}) == (
        '"""Doc."""\r\n' + settings_line({"folds": "4"}, "\r\n") + "x = 1\r\n"
    )
    with pytest.raises(PublishError, match="script.py: expected one line ending with"):
        with_settings("x = 1\n", {"folds": "1"}, "script.py")
    twice = f"A = 1  {SETTINGS_MARK}\nB = 2  {SETTINGS_MARK}\n"
    with pytest.raises(PublishError, match="found 2"):
        with_settings(twice, {"folds": "1"})


def test_parse_fold_list_names_the_bad_value() -> None:
    assert parse_fold_list("0,1,2") == [0, 1, 2]
    assert parse_fold_list(" 4, 2 ") == [4, 2]
    for text, bad in [("0,x", "'x'"), ("-1", "'-1'"), ("0,,1", "''"), ("1.5", "'1.5'")]:
        with pytest.raises(argparse.ArgumentTypeError, match=f"fold {bad} in"):
            parse_fold_list(text)
    with pytest.raises(argparse.ArgumentTypeError, match="fold 1 appears twice in '0,1,01'"):
        parse_fold_list("0,1,01")
    with pytest.raises(argparse.ArgumentTypeError, match="no fold given"):
        parse_fold_list(" ")


# ---------------------------------------------------------------------------- wheel


def test_make_wheel_is_fresh_and_has_the_configs(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = sorted(p.name for p in (REPO / "hms_kit" / "configs").glob("*.yaml"))
    assert configs, "hms_kit/configs holds no *.yaml to check"
    assert {f"hms_kit/configs/{n}" for n in configs} <= names
    assert "hms_kit/publish/client.py" in names and "hms_kit/cli/__init__.py" in names
    assert "hms_kit/runtime/train.py" in names and "hms_kit/tools/bench.py" in names
    assert "hms_kit/stale_module.py" not in names  # make wheel cleared build/lib


def _deps_view(dest: Path) -> list[Path]:
    """Per site-packages dir of this interpreter, a folder of symlinks to everything in it
    except hms_kit itself (its editable-install finder, .pth and dist-info)."""
    views = []
    site_dirs = [Path(p) for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    for i, site in enumerate(d for d in site_dirs if d.is_dir()):
        view = dest / f"deps{i}"
        view.mkdir(parents=True)
        for entry in site.iterdir():
            low = entry.name.lower()
            if "hms_kit" in low or "hms-kit" in low or entry.suffix == ".pth":
                continue
            (view / entry.name).symlink_to(entry)
        views.append(view)
    return views


def test_wheel_installs_offline_in_a_fresh_venv(wheel: Path, tmp_path: Path) -> None:
    """``pip install --no-index --no-deps`` of the wheel into a fresh venv, then import it.

    Method: ``python -m venv --without-pip`` makes an empty venv. Kaggle's image already has
    the dependencies; here a ``deps.pth`` in the new venv lists, for each site-packages dir
    of the interpreter running the tests, a folder of symlinks to its packages minus hms_kit
    (its editable finder, ``.pth`` files and dist-info are left out, and the repository is
    never on the path). So before the install ``import hms_kit`` fails; pip (imported from
    those dependencies, running as the new venv's interpreter) installs offline; and the
    import afterwards, from a cwd outside the repository, comes from the new venv's own
    site-packages, configs included.
    """
    venv = tmp_path / "venv"
    ok(run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, dict(os.environ)))
    py = venv / "bin" / "python"
    site = Path(
        ok(
            run(
                [str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                tmp_path,
                {},
            )
        ).stdout.strip()
    )
    views = _deps_view(tmp_path / "view")
    (site / "deps.pth").write_text("".join(f"{v}\n" for v in views))
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PIP_NO_INDEX": "1"}
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()

    before = run([str(py), "-c", "import hms_kit"], cwd, env)
    assert before.returncode != 0 and "No module named 'hms_kit'" in before.stderr

    pip = [str(py), "-m", "pip", "install", "-q", "--no-index", "--no-deps", str(wheel)]
    ok(run(pip + ["--disable-pip-version-check"], cwd, env))

    code = (
        "import importlib.resources as r, hms_kit, hms_kit.cli, hms_kit.publish, yaml;"
        "print(hms_kit.__version__); print(hms_kit.__file__);"
        "print(sorted(p.name for p in (r.files('hms_kit') / 'configs').iterdir()))"
    )
    version, file, configs = ok(run([str(py), "-c", code], cwd, env)).stdout.splitlines()
    assert version == __version__
    assert Path(file).resolve().is_relative_to(site.resolve())
    expected = sorted(p.name for p in (REPO / "hms_kit" / "configs").glob("*.yaml"))
    assert all(name in configs for name in expected)


# ---------------------------------------------------------------------------- pushes


def test_make_push_kernel_train_end_to_end(fake: FakeKaggle, checkout: Path, tmp_path: Path):
    proc = ok(
        run(
            ["make", "push-kernel", "KERNEL=train", "CONFIG=dataset", *make_vars(checkout)],
            checkout,
            client_env(tmp_path),
        )
    )
    # its newest version asked first (none: 404), then the push
    assert fake.calls() == [GET_KERNEL, SAVE_KERNEL], proc.stdout
    assert fake.bodies(GET_KERNEL) == [{"userName": USER, "kernelSlug": "hms-kit-train"}]
    (body,) = fake.bodies("kernels.KernelsApiService/SaveKernel")
    assert body["slug"] == f"{USER}/hms-kit-train"
    assert body["newTitle"] == "HMS Kit Train"
    assert body["text"] == (REPO / "kernels" / "train.py").read_text()
    assert body["language"] == "python" and body["kernelType"] == "script"
    assert body["isPrivate"] is True
    assert body["enableGpu"] is True
    assert body["enableInternet"] is True
    assert body["datasetDataSources"] == [f"{USER}/hms-kit-wheel"]
    assert body["competitionDataSources"] == [COMPETITION]
    assert body.get("kernelDataSources", []) == []  # the client drops empty lists
    # T4 x2 asked for by name (P100 is retired), on the image the kernel first ran on.
    assert body["machineShape"] == "NvidiaTeslaT4"
    assert body["dockerImagePinningType"] == "original"
    assert "sessionTimeoutSeconds" not in body
    (req,) = [r for r in fake.requests if r.call == SAVE_KERNEL]
    assert req.headers["Authorization"].startswith("Basic ")  # the dummy key went along
    assert "Kernel version 1 successfully pushed" in proc.stdout
    pushed = json.loads((checkout / "build" / "kaggle" / "pushed-train.json").read_text())
    assert pushed == {"id": f"{USER}/hms-kit-train", "version": 1, "status": "running", "gpu": True}


def test_push_kernel_infer_flags_and_sources(fake: FakeKaggle, checkout: Path, tmp_path: Path):
    env = {**client_env(tmp_path), "WEIGHTS_DATASET": "someone/timm-weights"}
    args = ["push-kernel", "--kernel", "infer", "--config", "dataset", "--dataset-slug", "my-wheel"]
    ok(publish(checkout, env, *args))
    (body,) = fake.bodies("kernels.KernelsApiService/SaveKernel")
    assert body["slug"] == f"{USER}/hms-kit-infer"
    assert body["text"] == (REPO / "kernels" / "infer.py").read_text()
    assert body["isPrivate"] is True
    assert body["enableGpu"] is True
    assert body["enableInternet"] is False
    assert body["datasetDataSources"] == [f"{USER}/my-wheel", "someone/timm-weights"]
    assert body["competitionDataSources"] == [COMPETITION]
    assert body["kernelDataSources"] == [f"{USER}/hms-kit-train"]


def test_make_push_kernel_train_one_kernel_per_fold(
    fake: FakeKaggle, checkout: Path, tmp_path: Path
) -> None:
    env = client_env(tmp_path)
    _clear_build(checkout)  # no kernel of an earlier test still running
    cmd = ["make", "push-kernel", "KERNEL=train", "CONFIG=dataset", "FOLDS=0,1,2", "MAX_PARALLEL=3"]
    proc = ok(run([*cmd, *make_vars(checkout)], checkout, env))
    assert fake.calls() == [GET_KERNEL, SAVE_KERNEL] * 3, proc.stdout
    bodies = fake.bodies(SAVE_KERNEL)
    build = checkout / "build" / "kaggle"
    for k, body in enumerate(bodies):
        assert body["slug"] == f"{USER}/hms-kit-train-fold{k}"
        assert body["newTitle"] == f"HMS Kit Train fold{k}"
        assert body["text"] == _with(folds=str(k))  # otherwise byte for byte
        assert body["enableGpu"] is True and body["enableInternet"] is True
        assert body["datasetDataSources"] == [f"{USER}/hms-kit-wheel"]
        assert body["competitionDataSources"] == [COMPETITION]
        assert (build / f"train-fold{k}" / "train.py").read_text() == body["text"]
        pushed = json.loads((build / f"pushed-train-fold{k}.json").read_text())
        assert (pushed["id"], pushed["version"]) == (f"{USER}/hms-kit-train-fold{k}", 1)
    # The title resolves to the slug, so Kaggle names each new kernel as pushed.
    assert "does not resolve" not in proc.stdout
    # each kernel's newest version as the next push records it first (none: 0)
    ask = (
        "from hms_kit.publish.client import KaggleClient; c = KaggleClient.connect(); "
        f"print(c.kernel_version('{USER}/hms-kit-train-fold1'), "
        f"c.kernel_version('{USER}/hms-kit-never-pushed'))"
    )
    assert ok(run([sys.executable, "-c", ask], checkout, env)).stdout.split()[-2:] == ["1", "0"]
    # The pushed file's SETTINGS choose the fold (Kaggle sets no environment variable) ...
    code = (
        "import train; from hms_kit.runtime.settings import resolve_settings; "
        "print(resolve_settings(train.SETTINGS)['folds'])"
    )
    fold_dir = build / "train-fold2"
    plain = {k: v for k, v in env.items() if k != "HMS_FOLDS"}
    plain["PYTHONDONTWRITEBYTECODE"] = "1"
    assert ok(run([sys.executable, "-c", code], fold_dir, plain)).stdout.strip() == "2"
    # ... and an explicit HMS_FOLDS still wins when it runs somewhere that can set one.
    explicit = {**plain, "HMS_FOLDS": "0,1"}
    assert ok(run([sys.executable, "-c", code], fold_dir, explicit)).stdout.strip() == "0,1"


def test_push_kernel_infer_with_folds_attaches_every_fold_kernel(
    fake: FakeKaggle, checkout: Path, tmp_path: Path
) -> None:
    env = {**client_env(tmp_path), "WEIGHTS_DATASET": "someone/timm-weights"}
    dataset = ["--config", "dataset"]
    ok(publish(checkout, env, "push-kernel", "--kernel", "infer", "--folds", "0,1,2", *dataset))
    (body,) = fake.bodies(SAVE_KERNEL)
    assert body["slug"] == f"{USER}/hms-kit-infer"
    assert body["text"] == (REPO / "kernels" / "infer.py").read_text()
    assert body["kernelDataSources"] == [f"{USER}/hms-kit-train-fold{k}" for k in (0, 1, 2)]
    assert body["datasetDataSources"] == [f"{USER}/hms-kit-wheel", "someone/timm-weights"]

    # --kernel all: the fold kernels now; the infer kernel that attaches them waits in the
    # queue for their output (`wait` pushes it), rendered with them as sources.
    fake.reset()
    proc = ok(publish(checkout, env, "push-kernel", "--folds", "3,1", *dataset))
    slugs = [b["slug"] for b in fake.bodies(SAVE_KERNEL)]
    assert slugs == [f"{USER}/hms-kit-train-fold3", f"{USER}/hms-kit-train-fold1"]
    assert f"queued {USER}/hms-kit-infer" in proc.stdout
    build = checkout / "build" / "kaggle"
    (queued,) = json.loads((build / "queue.json").read_text())
    assert (queued["name"], queued["after"]) == ("infer", ["train-fold3", "train-fold1"])
    infer = json.loads((build / "infer" / "kernel-metadata.json").read_text())
    assert infer["kernel_sources"] == [f"{USER}/hms-kit-train-fold{k}" for k in (3, 1)]
    (build / "queue.json").unlink()

    fake.reset()
    ok(publish(checkout, env, "status", "--folds", "0,1", *dataset))
    bodies = fake.bodies("kernels.KernelsApiService/GetKernelSessionStatus")
    assert [b["kernelSlug"] for b in bodies] == [
        "hms-kit-train-fold0",
        "hms-kit-train-fold1",
        "hms-kit-infer",
    ]


@pytest.mark.parametrize(
    ("folds", "message"),
    [
        ("0,1,1", "fold 1 appears twice in '0,1,1'"),
        ("0,x", "fold 'x' in '0,x' is not a non-negative integer"),
        ("-1,2", "fold '-1' in '-1,2' is not a non-negative integer"),
        ("0,,2", "fold '' in '0,,2' is not a non-negative integer"),
        ("0,7", "fold 7 does not exist"),  # kernels/config.yaml has 5 folds
    ],
)
def test_bad_folds_fail_before_any_request(
    fake: FakeKaggle, checkout: Path, tmp_path: Path, folds: str, message: str
) -> None:
    cmd = ["make", "push-kernel", "KERNEL=train", "CONFIG=dataset", f"FOLDS={folds}"]
    cmd += make_vars(checkout)
    build = checkout / "build" / "kaggle"
    before = sorted(p.name for p in build.iterdir()) if build.is_dir() else []
    proc = run(cmd, checkout, client_env(tmp_path))
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
    assert "--folds" in proc.stderr
    assert fake.requests == []
    assert (sorted(p.name for p in build.iterdir()) if build.is_dir() else []) == before


def test_push_dataset_creates_then_versions(
    fake: FakeKaggle, checkout: Path, wheel: Path, tmp_path: Path
):
    env = client_env(tmp_path)
    config = (checkout / "kernels" / "config.yaml").read_bytes()
    expected = {wheel.name: wheel.read_bytes(), "config.yaml": config}

    ok(publish(checkout, env, "push-dataset"))
    status, create = "datasets.DatasetApiService/GetDatasetStatus", "datasets.DatasetApiService/"
    assert fake.calls()[0] == status  # asked first: 404, so create
    assert fake.calls()[-1] == create + "CreateDataset"
    assert fake.calls().count("blobs.BlobApiService/StartBlobUpload") == 2
    assert fake.uploaded_by_name() == expected
    (body,) = fake.bodies(create + "CreateDataset")
    assert (body["ownerSlug"], body["slug"]) == (USER, "hms-kit-wheel")
    assert body["title"] == "hms-kit wheel" and body["licenseName"] == "CC0-1.0"
    assert body["isPrivate"] is True
    assert sorted(f["token"] for f in body["files"]) == sorted(fake.uploads)
    puts = [r for r in fake.requests if r.method == "PUT"]
    assert sorted(r.path for r in puts) == sorted(f"/upload/{t}" for t in fake.uploads)

    # Second push: the dataset exists now, so a new version with the given notes.
    existing = set(fake.datasets)
    fake.reset()
    fake.datasets |= existing
    ok(publish(checkout, env, "push-dataset", "--message", "v-test"))
    assert fake.calls()[0] == status
    assert create + "CreateDataset" not in fake.calls()
    (body,) = fake.bodies(create + "CreateDatasetVersion")
    assert (body["ownerSlug"], body["datasetSlug"]) == (USER, "hms-kit-wheel")
    assert body["body"]["versionNotes"] == "v-test"
    assert fake.uploaded_by_name() == expected


def test_status_and_submit(fake: FakeKaggle, checkout: Path, tmp_path: Path) -> None:
    env = client_env(tmp_path)
    proc = ok(publish(checkout, env, "status", "--config", "dataset"))
    bodies = fake.bodies("kernels.KernelsApiService/GetKernelSessionStatus")
    assert [(b["userName"], b["kernelSlug"]) for b in bodies] == [
        (USER, "hms-kit-train"),
        (USER, "hms-kit-infer"),
    ]
    assert "COMPLETE" in proc.stdout

    fake.reset()
    _clear_build(checkout)
    ok(publish(checkout, env, "push-kernel", "--kernel", "infer", "--config", "dataset"))
    proc = publish(checkout, env, "submit", "--message", "too early")
    assert proc.returncode == 2 and "is running, not complete: run `make wait`" in proc.stderr
    ok(publish(checkout, env, "wait", "--poll", "0.05", "--timeout", "60"))
    ok(publish(checkout, env, "submit", "--message", "first try"))  # version from the push
    ok(publish(checkout, env, "submit", "--message", "pinned", "--version", "5"))
    subs = fake.bodies("competitions.CompetitionApiService/CreateCodeSubmission")
    assert [(s["kernelVersion"], s["submissionDescription"]) for s in subs] == [
        (1, "first try"),
        (5, "pinned"),
    ]
    for s in subs:
        assert s["competitionName"] == COMPETITION
        assert (s["kernelOwner"], s["kernelSlug"]) == (USER, "hms-kit-infer")
        assert s["fileName"] == "submission.csv"


@pytest.mark.parametrize(
    "args",
    [
        ["push-dataset"],
        ["push-kernel", "--kernel", "all", "--config", "dataset"],
        ["status", "--config", "dataset"],
        ["wait", "--poll", "0.01", "--timeout", "1"],
        ["pull", "--config", "dataset"],
        ["submit", "--version", "1"],
    ],
)
def test_missing_credentials_stop_before_any_request(
    fake: FakeKaggle, checkout: Path, wheel: Path, tmp_path: Path, args: list[str]
) -> None:
    proc = publish(checkout, client_env(tmp_path, credentials=False), *args)
    assert proc.returncode != 0
    assert "set KAGGLE_USERNAME and KAGGLE_KEY" in proc.stderr
    assert "~/.kaggle/kaggle.json" in proc.stderr
    assert fake.requests == []


def test_make_push_kernel_without_credentials_fails(
    fake: FakeKaggle, checkout: Path, tmp_path: Path
) -> None:
    env = client_env(tmp_path, credentials=False)
    proc = run(["make", "push-kernel", "CONFIG=dataset", *make_vars(checkout)], checkout, env)
    assert proc.returncode != 0
    assert "KAGGLE_USERNAME and KAGGLE_KEY" in proc.stderr
    assert fake.requests == []


def test_dry_run_renders_but_sends_nothing(fake: FakeKaggle, checkout: Path, tmp_path: Path):
    args = ["push-kernel", "--config", "dataset", "--dry-run"]
    proc = ok(publish(checkout, client_env(tmp_path), *args))
    assert "+ kaggle kernels push -p" in proc.stdout
    assert fake.requests == []
    meta = json.loads((checkout / "build/kaggle/infer/kernel-metadata.json").read_text())
    assert meta["id"] == f"{USER}/hms-kit-infer"


# ---------------------------------------------------------------------------- credentials

WHOAMI = "from hms_kit.publish import find_credentials as f; c = f(); print(c.username, c.source)"


def test_credentials_come_from_the_client(fake: FakeKaggle, tmp_path: Path) -> None:
    """The username is the one the kaggle client resolves: kaggle.json, then the
    environment over it, then an access token whose user the server reports."""
    env = client_env(tmp_path, credentials=False)
    conf = Path(env["KAGGLE_CONFIG_DIR"]) / "kaggle.json"
    conf.write_text(json.dumps({"username": "fileuser", "key": "k"}))
    conf.chmod(0o600)
    assert ok(run([sys.executable, "-c", WHOAMI], tmp_path, env)).stdout.split()[0] == "fileuser"
    env_user = {**env, "KAGGLE_USERNAME": "envuser"}
    assert ok(run([sys.executable, "-c", WHOAMI], tmp_path, env_user)).stdout.split()[0] == (
        "envuser"
    )
    assert fake.requests == []  # a legacy key is not checked with the server

    conf.unlink()
    fake.tokens["tok-123"] = "tokenuser"
    (Path(env["HOME"]) / ".kaggle" / "access_token").write_text("tok-123\n")
    out = ok(run([sys.executable, "-c", WHOAMI], tmp_path, env)).stdout.split()
    assert out[0] == "tokenuser" and "ACCESS_TOKEN" in out[1]
    assert fake.bodies("security.OAuthService/IntrospectToken")[-1] == {"token": "tok-123"}

    # A username alone, or nothing: the setup help, and no request at all.
    (Path(env["HOME"]) / ".kaggle" / "access_token").unlink()
    fake.reset()
    for bare in (env, {**env, "KAGGLE_USERNAME": "u"}):
        proc = run([sys.executable, "-c", WHOAMI], tmp_path, bare)
        assert proc.returncode != 0 and "Kaggle credentials not found" in proc.stderr
        assert "KAGGLE_API_TOKEN" in proc.stderr
    assert fake.requests == []


def test_token_only_user_can_push(fake: FakeKaggle, checkout: Path, tmp_path: Path) -> None:
    env = {**client_env(tmp_path, credentials=False), "KAGGLE_API_TOKEN": "tok-abc"}
    fake.tokens["tok-abc"] = "tokenuser"
    cmd = ["make", "push-kernel", "KERNEL=train", "CONFIG=dataset", *make_vars(checkout)]
    ok(run(cmd, checkout, env))
    (body,) = fake.bodies(SAVE_KERNEL)
    assert body["slug"] == "tokenuser/hms-kit-train"
    assert body["datasetDataSources"] == ["tokenuser/hms-kit-wheel"]
    (save,) = [r for r in fake.requests if r.call == SAVE_KERNEL]
    assert save.headers["Authorization"] == "Bearer tok-abc"


# ---------------------------------------------------------------------------- pure checks


def test_sources_may_be_pinned_to_a_version(tmp_path: Path) -> None:
    out = render_kernel_metadata(
        REPO / "kernel-metadata" / "infer",
        tmp_path / "infer",
        "alice",
        code_dir=REPO / "kernels",
        weights_dataset="bob/timm-weights/3",
        pins={"alice/hms-kit-train": 4},
    )
    meta = check_kernel_folder(out, "alice")
    assert meta["dataset_sources"] == ["alice/hms-kit-wheel", "bob/timm-weights/3"]
    assert meta["kernel_sources"] == ["alice/hms-kit-train/4"]
    for bad, why in [
        ("bob/w/0", "version '0' is not a positive integer"),
        ("bob/w/x", "version 'x' is not a positive integer"),
        ("bob/w/1/2", "is not owner/slug or owner/slug/N"),
        ("w", "is not owner/slug or owner/slug/N"),
    ]:
        broken = {**meta, "dataset_sources": [bad]}
        (out / "kernel-metadata.json").write_text(json.dumps(broken))
        with pytest.raises(PublishError, match=f"dataset_sources: '{bad}'.*{why}"):
            check_kernel_folder(out, "alice")
    for key, value, why in [
        ("machine_shape", "NvidiaTeslaP100", "retired"),
        ("docker_image_pinning_type", "pinned", "is not one of"),
    ]:
        (out / "kernel-metadata.json").write_text(json.dumps({**meta, key: value}))
        with pytest.raises(PublishError, match=f"kernel-metadata.json: {key}.*{why}"):
            check_kernel_folder(out, "alice")


def test_log_tail_reads_kaggles_log_records() -> None:
    records = json.dumps(
        [{"stream_name": "stdout", "time": 1, "data": f"line {i}\n"} for i in range(9)]
    )
    assert log_tail(records, 2) == ["line 7", "line 8"]
    assert log_tail("a\nb\nc", 2) == ["b", "c"]


def test_pushable_keeps_two_gpu_kernels_and_order() -> None:
    queue = [Queued(f"train-fold{k}", f"u/f{k}", True) for k in range(4)]
    infer = Queued("infer", "u/i", True, after=("train-fold0", "train-fold1"))
    assert pushable([*queue, infer], set(), 0, 2) == queue[:2]
    assert pushable([*queue, infer], set(), 1, 2) == queue[:1]
    assert pushable([*queue[2:], infer], {"train-fold0"}, 2, 2) == []
    assert pushable([infer], {"train-fold0", "train-fold1"}, 0, 2) == [infer]
    cpu = Queued("cpu", "u/c", False)
    assert pushable([queue[0], cpu], set(), 2, 2) == [cpu]


# ---------------------------------------------------------------------------- flags, failures


def test_accelerator_and_timeout_reach_kaggle(
    fake: FakeKaggle, checkout: Path, tmp_path: Path
) -> None:
    env = client_env(tmp_path)
    cmd = ["make", "push-kernel", "KERNEL=infer", "CONFIG=dataset", "ACCELERATOR=NvidiaL4"]
    cmd.append("TIMEOUT=3600")
    ok(run([*cmd, *make_vars(checkout)], checkout, env))
    (body,) = fake.bodies(SAVE_KERNEL)
    assert body["machineShape"] == "NvidiaL4"
    assert body["sessionTimeoutSeconds"] == 3600
    assert body["dockerImagePinningType"] == "original"
    assert body["text"] == (REPO / "kernels" / "infer.py").read_text()
    # a train kernel is told its session's limit: its training stops before Kaggle's does
    fake.reset()
    _clear_build(checkout)
    cmd = ["make", "push-kernel", "KERNEL=train", "CONFIG=dataset", "TIMEOUT=3600"]
    ok(run([*cmd, *make_vars(checkout)], checkout, env))
    (body,) = fake.bodies(SAVE_KERNEL)
    assert body["sessionTimeoutSeconds"] == 3600 and body["text"] == _with(timeout="3600")

    fake.reset()
    for bad, message in [
        (["ACCELERATOR=NvidiaTeslaP100"], "is retired"),
        (["TIMEOUT=99999"], "timeout 99999"),
        (["MAX_PARALLEL=0"], "--max-parallel 0"),
    ]:
        cmd = ["make", "push-kernel", "CONFIG=dataset", *bad, *make_vars(checkout)]
        proc = run(cmd, checkout, env)
        assert proc.returncode != 0 and message in proc.stderr, proc.stderr
    assert fake.requests == []


def test_invalid_source_reply_fails_the_push(
    fake: FakeKaggle, checkout: Path, tmp_path: Path
) -> None:
    env = client_env(tmp_path)
    record = checkout / "build" / "kaggle" / "pushed-infer.json"
    record.unlink(missing_ok=True)
    fake.invalid["invalidKernelSources"] = [f"{USER}/hms-kit-train"]
    proc = publish(checkout, env, "push-kernel", "--kernel", "infer", "--config", "dataset")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "successfully pushed" not in proc.stdout  # Kaggle made the version, but not so
    assert "push of kernel testuser/hms-kit-infer failed: Kaggle dropped sources" in proc.stderr
    assert "not valid kernel sources" in proc.stderr
    # written ahead of the push, it holds no version: `make submit` cannot pick this one;
    # `before`: the kernel's newest version before this push (none), for `wait`
    assert json.loads(record.read_text()) == {
        "id": f"{USER}/hms-kit-infer", "status": "queued", "before": 0,
    }  # fmt: skip

    fake.reset()
    fake.invalid["invalidDatasetSources"] = ["someone/gone"]
    proc = publish(checkout, env, "push-kernel", "--kernel", "train", "--config", "dataset")
    assert proc.returncode == 2 and "not valid dataset sources" in proc.stderr


def test_resume_attaches_the_train_kernels_own_output(
    fake: FakeKaggle, checkout: Path, tmp_path: Path
) -> None:
    env = client_env(tmp_path)
    train = ["push-kernel", "--kernel", "train", "--config", "dataset", "--resume"]
    ok(publish(checkout, env, *train))
    ok(publish(checkout, env, *train, "--folds", "2"))
    first, fold = fake.bodies(SAVE_KERNEL)
    assert first["kernelDataSources"] == [f"{USER}/hms-kit-train"]
    assert fold["kernelDataSources"] == [f"{USER}/hms-kit-train-fold2"]


def _run_wait(checkout: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    return publish(checkout, env, "wait", "--poll", "0.05", "--timeout", "60", *extra)


def _clear_build(checkout: Path) -> Path:
    build = checkout / "build" / "kaggle"
    for stale in [*build.glob("pushed-*.json"), build / "queue.json"]:
        stale.unlink(missing_ok=True)
    return build


def test_five_folds_run_two_at_a_time_and_wait_pushes_the_rest(
    fake: FakeKaggle, checkout: Path, tmp_path: Path
) -> None:
    env = client_env(tmp_path)
    build = _clear_build(checkout)
    ok(publish(checkout, env, "push-kernel", "--folds", "0,1,2", "--config", "dataset"))
    assert [b["slug"] for b in fake.bodies(SAVE_KERNEL)] == [
        f"{USER}/hms-kit-train-fold0",
        f"{USER}/hms-kit-train-fold1",
    ]
    queue = json.loads((build / "queue.json").read_text())
    assert [q["name"] for q in queue] == ["train-fold2", "infer"]

    script = {
        "hms-kit-train-fold0": ["RUNNING", "COMPLETE"],
        "hms-kit-train-fold1": ["RUNNING", "RUNNING", "RUNNING", "COMPLETE"],
        "hms-kit-train-fold2": ["RUNNING", "COMPLETE"],
    }
    fake.kernel_states.update({k: list(v) for k, v in script.items()})
    fake.requests.clear()
    proc = ok(_run_wait(checkout, env))
    # Replay the requests with the states the fake gave: at no time more than two train
    # kernels running, the infer kernel only after all three completed.
    running = {"hms-kit-train-fold0", "hms-kit-train-fold1"}
    done: set[str] = set()
    order = []
    for req in fake.requests:
        if req.call == "kernels.KernelsApiService/GetKernelSessionStatus":
            slug = req.json["kernelSlug"]
            states = script.get(slug, ["COMPLETE"])
            if (states.pop(0) if len(states) > 1 else states[0]) == "COMPLETE":
                running.discard(slug)
                done.add(slug)
        elif req.call == SAVE_KERNEL:
            slug = req.json["slug"].split("/")[1]
            order.append(slug)
            if slug == "hms-kit-infer":
                assert done >= {f"hms-kit-train-fold{k}" for k in range(3)}, order
            running.add(slug)
            assert len(running - {"hms-kit-infer"}) <= 2, order
    assert order == ["hms-kit-train-fold2", "hms-kit-infer"]
    assert not (build / "queue.json").exists(), proc.stdout
    for name in ("train-fold0", "train-fold1", "train-fold2", "infer"):
        assert json.loads((build / f"pushed-{name}.json").read_text())["status"] == "complete"


def test_wait_fails_with_the_log_tail(fake: FakeKaggle, checkout: Path, tmp_path: Path) -> None:
    env = client_env(tmp_path)
    build = _clear_build(checkout)
    ok(publish(checkout, env, "push-kernel", "--kernel", "train", "--config", "dataset"))
    fake.kernel_states["hms-kit-train"] = ["RUNNING", "ERROR"]
    fake.failure["hms-kit-train"] = "Your notebook tried to allocate more memory"
    lines = [{"stream_name": "stderr", "time": i, "data": f"log line {i}\n"} for i in range(40)]
    fake.logs["hms-kit-train"] = json.dumps(lines)
    proc = _run_wait(checkout, env, "--log-lines", "5")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    # the version pushed, named as polled
    assert f"kernel {USER}/hms-kit-train/1 ended with status error" in proc.stderr
    assert "tried to allocate more memory" in proc.stderr
    assert "log line 39" in proc.stderr and "log line 35" in proc.stderr
    assert "log line 34" not in proc.stderr
    statuses = fake.bodies("kernels.KernelsApiService/GetKernelSessionStatus")
    assert len(statuses) == 2  # polled until the error, then stopped
    assert json.loads((build / "pushed-train.json").read_text())["status"] == "error"


def test_wait_gives_up_after_its_timeout(fake: FakeKaggle, checkout: Path, tmp_path: Path):
    env = client_env(tmp_path)
    _clear_build(checkout)
    ok(publish(checkout, env, "push-kernel", "--kernel", "train", "--config", "dataset"))
    fake.kernel_states["hms-kit-train"] = ["RUNNING"]
    start = time.monotonic()
    proc = publish(checkout, env, "wait", "--poll", "0.2", "--timeout", "0.5")
    assert proc.returncode == 2
    assert f"gave up after 0.5 s (--timeout): still waiting for {USER}/hms-kit-train" in (
        proc.stderr
    )
    assert time.monotonic() - start < 30
    assert len(fake.bodies("kernels.KernelsApiService/GetKernelSessionStatus")) >= 1


def test_wait_polls_the_dataset_until_ready(
    fake: FakeKaggle, checkout: Path, wheel: Path, tmp_path: Path
) -> None:
    env = client_env(tmp_path)
    _clear_build(checkout)
    ok(publish(checkout, env, "push-dataset"))
    ref = f"{USER}/hms-kit-wheel"
    fake.dataset_states[ref] = ["BLOBS_RECEIVED", "BLOBS_DECOMPRESSED", "READY"]
    fake.requests.clear()
    ok(_run_wait(checkout, env))
    assert fake.calls() == ["datasets.DatasetApiService/GetDatasetStatus"] * 3
    fake.requests.clear()
    ok(_run_wait(checkout, env))  # ready is remembered: nothing left to ask
    assert fake.requests == []

    fake.dataset_states[ref] = ["FAILED"]
    ok(publish(checkout, env, "push-dataset"))
    proc = _run_wait(checkout, env)
    assert proc.returncode == 2 and f"dataset {ref} is failed" in proc.stderr


def test_pull_writes_the_output_into_a_run_folder(
    fake: FakeKaggle, checkout: Path, tmp_path: Path
) -> None:
    env = client_env(tmp_path)
    _clear_build(checkout)
    runs = tmp_path / "runs"
    stale = runs / "hms-kit-train" / "stale.txt"
    stale.parent.mkdir(parents=True)
    stale.write_text("from an older pull")
    files = {"oof.csv": b"eeg_id,seizure_vote\n1,0.5\n", "fold0/scores.json": b'{"kl": 0.9}'}
    fake.outputs["hms-kit-train"] = files
    fake.logs["hms-kit-train"] = "training log"
    cmd = ["make", "pull", "CONFIG=dataset", f"RUNS_DIR={runs}", *make_vars(checkout)]
    ok(run(cmd, checkout, env))
    got = {
        str(p.relative_to(runs / "hms-kit-train")): p.read_bytes()
        for p in (runs / "hms-kit-train").rglob("*")
        if p.is_file()
    }
    assert got == {**files, "hms-kit-train.log": b"training log"}
    assert [
        b["kernelSlug"] for b in fake.bodies("kernels.KernelsApiService/ListKernelSessionOutput")
    ] == ["hms-kit-train"]

    # A pinned version is asked for; a kernel with no output fails and leaves the folder.
    fake.reset()
    fake.outputs["hms-kit-train-fold1"] = {}
    (runs / "hms-kit-train-fold1").mkdir()
    (runs / "hms-kit-train-fold1" / "keep.txt").write_text("keep")
    proc = run([*cmd, "FOLDS=1", "PULL_VERSION=3"], checkout, env)
    assert proc.returncode != 0
    assert f"{USER}/hms-kit-train-fold1/3 has no output files" in proc.stderr
    (body,) = fake.bodies("kernels.KernelsApiService/ListKernelSessionOutput")
    assert body["kernelSlug"] == "hms-kit-train-fold1" and body.get("versionLabel")
    assert [p.name for p in (runs / "hms-kit-train-fold1").iterdir()] == ["keep.txt"]
    assert not [p for p in runs.iterdir() if ".tmp-" in p.name]


def test_pull_takes_the_recorded_version_and_only_once_it_completed(
    fake: FakeKaggle, checkout: Path, tmp_path: Path
) -> None:
    env = client_env(tmp_path)
    build = _clear_build(checkout)
    runs = tmp_path / "runs"
    good = runs / "hms-kit-train" / "oof.csv"
    good.parent.mkdir(parents=True)
    good.write_text("an earlier, good pull")
    # Pushed from here as version 2; a later version (pushed elsewhere) is not pulled.
    record = {"id": f"{USER}/hms-kit-train", "version": 2, "status": "running", "gpu": True}
    build.mkdir(parents=True, exist_ok=True)
    (build / "pushed-train.json").write_text(json.dumps(record))
    fake.outputs["hms-kit-train"] = {"oof.csv": b"new"}
    pull = ["pull", "--config", "dataset", "--runs-dir", str(runs)]
    for state, said in [
        ("RUNNING", f"{USER}/hms-kit-train/2 is running, not complete: run `make wait` first"),
        ("ERROR", f"{USER}/hms-kit-train/2 ended with status error: its output may be partial"),
    ]:
        fake.reset()
        fake.kernel_states["hms-kit-train"] = [state]
        fake.outputs["hms-kit-train"] = {"oof.csv": b"new"}
        proc = publish(checkout, env, *pull)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert said in proc.stdout and f"not pulled: {USER}/hms-kit-train/2" in proc.stderr
        assert fake.calls() == ["kernels.KernelsApiService/GetKernelSessionStatus"]
        (asked,) = fake.bodies("kernels.KernelsApiService/GetKernelSessionStatus")
        assert asked["kernelSlug"] == "hms-kit-train" and "2" in str(asked.get("versionLabel"))
        assert good.read_text() == "an earlier, good pull"
    # queued by this checkout, not pushed yet: its latest version is an earlier push's
    queued = {"id": f"{USER}/hms-kit-train", "status": "queued"}
    (build / "pushed-train.json").write_text(json.dumps(queued))
    fake.reset()
    proc = publish(checkout, env, *pull)
    assert proc.returncode == 2 and fake.requests == []
    assert f"{USER}/hms-kit-train is queued with no version recorded" in proc.stdout
    assert good.read_text() == "an earlier, good pull"
    (build / "pushed-train.json").write_text(json.dumps(record))
    fake.kernel_states["hms-kit-train"] = ["ERROR"]
    fake.outputs["hms-kit-train"] = {"oof.csv": b"new"}
    # As the README types it: `make pull PULL_FAILED=1`.
    cmd = ["make", "pull", "CONFIG=dataset", f"RUNS_DIR={runs}", "PULL_FAILED=1"]
    ok(run([*cmd, *make_vars(checkout)], checkout, env))
    assert good.read_text() == "new"
    (body,) = fake.bodies("kernels.KernelsApiService/ListKernelSessionOutput")
    assert "2" in str(body.get("versionLabel"))


def test_pin_train_attaches_the_versions_wait_saw_complete(
    fake: FakeKaggle, checkout: Path, tmp_path: Path
) -> None:
    env = client_env(tmp_path)
    _clear_build(checkout)
    pin = ["push-kernel", "--kernel", "infer", "--config", "dataset", "--pin-train"]
    ok(publish(checkout, env, "push-kernel", "--kernel", "train", "--config", "dataset"))
    ok(
        publish(checkout, env, "push-kernel", "--kernel", "train", "--config", "dataset")
    )  # version 2
    proc = publish(checkout, env, *pin)
    assert proc.returncode == 2 and "is running, not complete: run `make wait`" in proc.stderr
    ok(_run_wait(checkout, env))
    ok(publish(checkout, env, *pin))
    infer = fake.bodies(SAVE_KERNEL)[-1]
    assert infer["kernelDataSources"] == [f"{USER}/hms-kit-train/2"]


# ---------------------------------------------------------------------------- one kernel per config


def _settings_after_import(folder: Path, env: dict[str, str]) -> list[str]:
    """The config and folds the pushed ``folder/train.py`` would run (no HMS_* set)."""
    code = (
        "import train; from hms_kit.runtime.settings import resolve_settings; "
        "s = resolve_settings(train.SETTINGS); print(s.get('config'), s.get('folds'))"
    )
    plain = {k: v for k, v in env.items() if k not in ("HMS_CONFIG", "HMS_FOLDS")}
    plain["PYTHONDONTWRITEBYTECODE"] = "1"
    return ok(run([sys.executable, "-c", code], folder, plain)).stdout.split()


def test_settings_line_holds_config_then_folds() -> None:
    assert settings_line({"folds": "2", "config": "seed"}) == (
        'SETTINGS: dict[str, str] = {"config": "seed", "folds": "2"}'
        "  # hms_kit.publish fills this line\n"
    )
    assert with_settings(TRAIN_SOURCE, {"config": "seed", "folds": "2"}) == (
        _with(config="seed", folds="2")
    )
    # A name that would need escaping, or an unknown key, never reaches the code.
    with pytest.raises(PublishError, match="'a\"b'"):
        settings_line({"config": 'a"b'})
    with pytest.raises(PublishError, match="unknown key"):
        settings_line({"fold": "1"})


def test_make_push_kernel_train_one_kernel_per_config(
    fake: FakeKaggle, checkout: Path, tmp_path: Path
) -> None:
    from slugify import slugify  # the client's own title -> slug rule

    env = client_env(tmp_path)
    build = _clear_build(checkout)
    proc = ok(
        run(
            ["make", "push-kernel", "KERNEL=train", "CONFIG=seed", *make_vars(checkout)],
            checkout,
            env,
        )
    )
    (body,) = fake.bodies(SAVE_KERNEL)
    assert body["slug"] == f"{USER}/hms-kit-train-seed"
    assert body["newTitle"] == "HMS Kit Train seed"
    assert slugify(body["newTitle"]) == "hms-kit-train-seed"
    assert "does not resolve" not in proc.stdout
    assert body["text"] == _with(config="seed")
    assert body["datasetDataSources"] == [f"{USER}/hms-kit-wheel"]
    assert body.get("kernelDataSources", []) == []
    pushed = json.loads((build / "pushed-train-seed.json").read_text())
    assert (pushed["id"], pushed["version"]) == (f"{USER}/hms-kit-train-seed", 1)
    assert not (build / "pushed-train.json").exists()  # the plain train kernel is untouched
    assert _settings_after_import(build / "train-seed", env) == ["seed", "None"]

    # With folds: one kernel per fold of that config, both lines, the config line first.
    fake.reset()
    cmd = ["make", "push-kernel", "KERNEL=train", "CONFIG=default", "FOLDS=0,2"]
    proc = ok(run([*cmd, *make_vars(checkout)], checkout, env))
    bodies = fake.bodies(SAVE_KERNEL)
    assert [b["slug"] for b in bodies] == [
        f"{USER}/hms-kit-train-default-fold0",
        f"{USER}/hms-kit-train-default-fold2",
    ]
    for k, body in zip((0, 2), bodies, strict=True):
        assert body["newTitle"] == f"HMS Kit Train default fold{k}"
        assert slugify(body["newTitle"]) == f"hms-kit-train-default-fold{k}"
        assert body["text"] == _with(config="default", folds=str(k))
    assert "does not resolve" not in proc.stdout
    assert _settings_after_import(build / "train-default-fold2", env) == ["default", "2"]
    # Folds are checked against the named config (default: 3), not kernels/config.yaml (5).
    fake.reset()
    proc = run([*cmd[:-1], "FOLDS=4", *make_vars(checkout)], checkout, env)
    assert proc.returncode != 0
    assert "fold 4 does not exist: config 'default' has train.n_folds = 3" in proc.stderr
    assert fake.requests == []


def test_infer_attaches_every_config_times_every_fold(
    fake: FakeKaggle, checkout: Path, tmp_path: Path
) -> None:
    env = client_env(tmp_path)
    _clear_build(checkout)
    cmd = ["make", "push-kernel", "KERNEL=infer", "CONFIGS=default,seed", "FOLDS=0,1"]
    ok(run([*cmd, *make_vars(checkout)], checkout, env))
    (body,) = fake.bodies(SAVE_KERNEL)
    assert body["slug"] == f"{USER}/hms-kit-infer"
    assert body["text"] == (REPO / "kernels" / "infer.py").read_text()  # no line added
    assert body["kernelDataSources"] == [
        f"{USER}/hms-kit-train-default-fold0",
        f"{USER}/hms-kit-train-default-fold1",
        f"{USER}/hms-kit-train-seed-fold0",
        f"{USER}/hms-kit-train-seed-fold1",
    ]

    fake.reset()
    ok(
        run(
            ["make", "status", "CONFIGS=default,seed", "FOLDS=1", *make_vars(checkout)],
            checkout,
            env,
        )
    )
    bodies = fake.bodies("kernels.KernelsApiService/GetKernelSessionStatus")
    assert [b["kernelSlug"] for b in bodies] == [
        "hms-kit-train-default-fold1",
        "hms-kit-train-seed-fold1",
        "hms-kit-infer",
    ]


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (["CONFIG=nope"], "--config 'nope' is not a packaged config (packaged: baseline, default,"),
        (["CONFIG=Seed"], "--config 'Seed': a config name in a kernel slug must be lower-case"),
        (["CONFIG=../seed"], "--config '../seed': a config name in a kernel slug"),
        (["CONFIG=seed", "CONFIGS=default,seed"], "--configs: config 'seed' is given twice"),
        (["CONFIGS=default,,seed"], "empty config name in 'default,,seed'"),
        (["CONFIGS=seed,default", "FOLDS=0,4"], "fold 4 does not exist: config 'default'"),
        (["KERNEL=infer", "CONFIGS=default,nope"], "--config 'nope' is not a packaged config"),
    ],
)
def test_bad_config_fails_before_any_request(
    fake: FakeKaggle, checkout: Path, tmp_path: Path, variables: list[str], message: str
) -> None:
    build = checkout / "build" / "kaggle"
    before = sorted(p.name for p in build.iterdir()) if build.is_dir() else []
    kernel = [] if any(v.startswith("KERNEL=") for v in variables) else ["KERNEL=train"]
    cmd = ["make", "push-kernel", *kernel, *variables, *make_vars(checkout)]
    proc = run(cmd, checkout, client_env(tmp_path))
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
    assert fake.requests == []
    assert (sorted(p.name for p in build.iterdir()) if build.is_dir() else []) == before


def test_queue_holds_infer_until_every_config_completes(
    fake: FakeKaggle, checkout: Path, tmp_path: Path
) -> None:
    env = client_env(tmp_path)
    build = _clear_build(checkout)
    cmd = ["make", "push-kernel", "CONFIGS=default,seed", "MAX_PARALLEL=1"]
    proc = ok(run([*cmd, *make_vars(checkout)], checkout, env))
    # One GPU slot: the default kernel now, the seed kernel and the infer kernel queued.
    assert [b["slug"] for b in fake.bodies(SAVE_KERNEL)] == [f"{USER}/hms-kit-train-default"]
    assert f"queued {USER}/hms-kit-train-seed" in proc.stdout
    queue = json.loads((build / "queue.json").read_text())
    assert [(q["name"], q["after"]) for q in queue] == [
        ("train-seed", []),
        ("infer", ["train-default", "train-seed"]),
    ]
    infer = json.loads((build / "infer" / "kernel-metadata.json").read_text())
    assert infer["kernel_sources"] == [
        f"{USER}/hms-kit-train-default",
        f"{USER}/hms-kit-train-seed",
    ]

    script = {
        "hms-kit-train-default": ["RUNNING", "COMPLETE"],
        "hms-kit-train-seed": ["RUNNING", "RUNNING", "RUNNING", "COMPLETE"],
    }
    fake.kernel_states.update({k: list(v) for k, v in script.items()})
    fake.requests.clear()
    ok(
        run(
            [
                "make",
                "wait",
                "MAX_PARALLEL=1",
                "POLL=0.05",
                "WAIT_TIMEOUT=60",
                *make_vars(checkout),
            ],
            checkout,
            env,
        )
    )
    # Replay: seed starts only once default completed (one slot); infer only once both did.
    done: set[str] = set()
    order = []
    for req in fake.requests:
        if req.call == "kernels.KernelsApiService/GetKernelSessionStatus":
            slug = req.json["kernelSlug"]
            states = script.get(slug, ["COMPLETE"])
            if (states.pop(0) if len(states) > 1 else states[0]) == "COMPLETE":
                done.add(slug)
        elif req.call == SAVE_KERNEL:
            slug = req.json["slug"].split("/")[1]
            order.append(slug)
            if slug == "hms-kit-train-seed":
                assert done == {"hms-kit-train-default"}, order
            if slug == "hms-kit-infer":
                assert done >= {"hms-kit-train-default", "hms-kit-train-seed"}, order
                assert req.json["kernelDataSources"] == infer["kernel_sources"]
    assert order == ["hms-kit-train-seed", "hms-kit-infer"]
    assert not (build / "queue.json").exists()
    for name in ("train-default", "train-seed", "infer"):
        assert json.loads((build / f"pushed-{name}.json").read_text())["status"] == "complete"

    # PIN_TRAIN pins each member at the version `wait` saw complete.
    fake.reset()
    cmd = ["make", "push-kernel", "KERNEL=infer", "CONFIGS=default,seed", "PIN_TRAIN=1"]
    ok(run([*cmd, *make_vars(checkout)], checkout, env))
    (body,) = fake.bodies(SAVE_KERNEL)
    assert body["kernelDataSources"] == [
        f"{USER}/hms-kit-train-default/1",
        f"{USER}/hms-kit-train-seed/1",
    ]

    # pull writes each member's output into runs/<its slug>/.
    fake.reset()
    runs = tmp_path / "runs"
    fake.outputs["hms-kit-train-seed"] = {"oof.csv": b"eeg_id\n1\n"}
    ok(
        run(
            ["make", "pull", "CONFIG=seed", f"RUNS_DIR={runs}", *make_vars(checkout)], checkout, env
        )
    )
    assert (runs / "hms-kit-train-seed" / "oof.csv").read_bytes() == b"eeg_id\n1\n"
    (listed,) = fake.bodies("kernels.KernelsApiService/ListKernelSessionOutput")
    assert listed["kernelSlug"] == "hms-kit-train-seed"


# ---------------------------------------------------------------------------- the default (issue 20)

MISSING_KAGGLE_CONFIGS = [
    f"hms_kit/configs/{name}.yaml"
    for name in KAGGLE_CONFIGS
    if not (REPO / "hms_kit" / "configs" / f"{name}.yaml").is_file()
]
needs_kaggle_configs = pytest.mark.skipif(
    bool(MISSING_KAGGLE_CONFIGS),
    reason=f"not packaged yet: {', '.join(MISSING_KAGGLE_CONFIGS)}",
)


@needs_kaggle_configs
def test_push_kernel_all_without_configs_trains_and_blends_the_kaggle_configs(
    fake: FakeKaggle, checkout: Path, tmp_path: Path
) -> None:
    """``make push-kernel KERNEL=all`` with no CONFIG/CONFIGS: one train kernel per
    ``KAGGLE_CONFIGS`` name, two started, the rest and the infer kernel queued; the infer
    kernel attaches all of them. The dry run says so and sends nothing."""
    env = client_env(tmp_path)
    build = _clear_build(checkout)
    slugs = [f"hms-kit-train-{name}" for name in KAGGLE_CONFIGS]
    cmd = ["make", "push-kernel", "KERNEL=all", *make_vars(checkout)]
    proc = ok(run([*cmd, "DRY_RUN=1"], checkout, env))
    assert fake.requests == []
    said = [line.split(":")[0] for line in proc.stdout.splitlines() if line.startswith("would ")]
    assert said == [
        *(f"would push {USER}/{slug}" for slug in slugs[:2]),
        *(f"would queue {USER}/{slug}" for slug in slugs[2:]),
        f"would queue {USER}/hms-kit-infer",
    ], proc.stdout
    assert not (build / "queue.json").exists()  # a dry run records nothing

    proc = ok(run(cmd, checkout, env))
    assert [b["slug"] for b in fake.bodies(SAVE_KERNEL)] == [f"{USER}/{s}" for s in slugs[:2]]
    for name, body in zip(KAGGLE_CONFIGS, fake.bodies(SAVE_KERNEL), strict=False):
        assert body["text"] == _with(config=name)
    queue = json.loads((build / "queue.json").read_text())
    trains = [f"train-{name}" for name in KAGGLE_CONFIGS]
    assert [(q["name"], q["after"]) for q in queue] == [
        *((t, []) for t in trains[2:]),
        ("infer", trains),
    ]
    infer = json.loads((build / "infer" / "kernel-metadata.json").read_text())
    assert infer["kernel_sources"] == [f"{USER}/{s}" for s in slugs]
    assert (build / trains[-1] / "train.py").read_text() == _with(config=KAGGLE_CONFIGS[-1])

    # status takes the same default
    fake.reset()
    ok(run(["make", "status", *make_vars(checkout)], checkout, env))
    bodies = fake.bodies("kernels.KernelsApiService/GetKernelSessionStatus")
    assert [b["kernelSlug"] for b in bodies] == [*slugs, "hms-kit-infer"]
    _clear_build(checkout)


def test_the_default_configs_are_the_kaggle_ones_and_dataset_is_config_yaml() -> None:
    """Without --configs the publisher chooses ``KAGGLE_CONFIGS``; ``dataset`` is the plain
    train kernel (None), which may sit beside packaged ones."""
    from hms_kit.publish import kernel_targets
    from hms_kit.publish.naming import selected_configs

    assert selected_configs(argparse.Namespace(configs=None)) == list(KAGGLE_CONFIGS)
    chosen = selected_configs(argparse.Namespace(configs=["seed", DATASET_CONFIG]))
    assert chosen == ["seed", None]
    targets = kernel_targets("all", [1], chosen)
    assert [(t.name, t.slug) for t in targets] == [
        ("train-seed-fold1", "hms-kit-train-seed-fold1"),
        ("train-fold1", "hms-kit-train-fold1"),
        ("infer", "hms-kit-infer"),
    ]
    with pytest.raises(PublishError, match="'dataset' is given twice"):
        selected_configs(argparse.Namespace(configs=["dataset", "dataset"]))


# ---------------------------------------------------------------------------- queue (issue 23)


class _FakeClient:
    """The Kaggle client without a server: pushes are counted, every kernel is complete
    unless ``states`` says otherwise (by ``owner/slug/N`` or ``owner/slug``; the refs asked
    are kept). ``interrupt`` stops the first push after Kaggle took it (Ctrl-C before the
    record); ``refuse`` pushes are answered with Kaggle's error (no version made); the push
    of the folder named ``lose`` reaches Kaggle but its answer is lost; that of ``unsent``
    fails before it reaches Kaggle. Every kernel has an older version 3 (complete unless
    ``states`` says otherwise); a push that reaches Kaggle makes the next."""

    def __init__(
        self, interrupt: bool = False, refuse: int = 0, states: dict | None = None,
        lose: str = "", unsent: str = "", ask_fails: int = 0,
    ) -> None:  # fmt: skip
        self.pushes: list[str] = []
        self.interrupt = interrupt
        self.refuse = refuse
        self.lose = lose
        self.unsent = unsent
        self.ask_fails = ask_fails  # this many kernel_version calls fail (no answer)
        self.versions: dict[str, int] = {}
        self.states = states or {}
        self.asked: list[str] = []
        self.username = USER
        self.dry_run = False

    def push_kernel(self, folder: Path, ref: str, timeout: int | None = None) -> int:
        from hms_kit.publish.errors import PushRefusedError

        if self.refuse:
            self.refuse -= 1
            raise PushRefusedError(f"push of kernel {ref} failed: Maximum batch GPU session "
                                   "count of 2 reached")  # fmt: skip
        if self.unsent == Path(folder).name:  # the connection failed before Kaggle took it
            self.unsent = ""
            raise PublishError(f"push of kernel {ref} failed: connection reset")
        self.pushes.append(Path(folder).name)
        self.versions[ref] = self.kernel_version(ref) + 1
        if self.lose == Path(folder).name:  # Kaggle took it; its answer never came
            self.lose = ""
            raise PublishError(f"push of kernel {ref} failed: no answer")
        if self.interrupt:
            self.interrupt = False
            raise KeyboardInterrupt
        return self.versions[ref]

    def kernel_version(self, ref: str) -> int:
        if self.ask_fails:
            self.ask_fails -= 1
            raise PublishError(f"version of {ref} failed: no answer")
        return self.versions.get(ref, 3)

    def kernel_status(self, ref: str) -> tuple[str, str]:
        self.asked.append(ref)
        base = "/".join(ref.split("/")[:2])
        return self.states.get(ref, self.states.get(base, "complete")), ""

    def kernel_log(self, ref: str) -> str:
        return ""

    def dataset_status(self, ref: str) -> str:
        return self.states.get(ref, "ready")


def _one_queued_kernel(root: Path, *more: str, pushing: str = "") -> Path:
    """A rendered GPU kernel train-fold2 in the queue ``wait`` reads, and ``more`` after it;
    ``pushing``: the one an earlier ``wait`` marked and never confirmed."""
    from hms_kit.publish import write_queue, write_record
    from hms_kit.publish.state import PUSHING

    build = root / "build" / "kaggle"
    queue = []
    for name in ("train-fold2", *more):
        (build / name).mkdir(parents=True)
        meta = {"id": f"{USER}/hms-kit-{name}", "enable_gpu": True}
        (build / name / "kernel-metadata.json").write_text(json.dumps(meta))
        write_record(build / f"pushed-{name}.json", {"id": meta["id"], "status": "queued"})
        queue.append(Queued(name, meta["id"], True, state=PUSHING if name == pushing else "queued"))
    write_queue(build / "queue.json", queue)
    return build


@pytest.mark.parametrize("fault", ["queue write fails after the push", "ctrl-c in the push"])
def test_an_interrupted_wait_never_pushes_a_kernel_twice(tmp_path, monkeypatch, fault) -> None:
    from hms_kit.publish import cli
    from hms_kit.publish import commands as publish_mod

    build = _one_queued_kernel(tmp_path)
    client = _FakeClient(interrupt=fault.startswith("ctrl-c"))
    monkeypatch.setattr(publish_mod.KaggleClient, "connect", lambda **_: client)
    write_queue = publish_mod.write_queue

    def full_disk_after_a_push(path, queue):
        if client.pushes:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        write_queue(path, queue)

    if fault.startswith("queue"):
        monkeypatch.setattr(publish_mod, "write_queue", full_disk_after_a_push)
    argv = ["wait", "--root", str(tmp_path), "--poll", "0.01", "--timeout", "30"]
    with pytest.raises((OSError, KeyboardInterrupt)):
        cli.main(argv)
    monkeypatch.setattr(publish_mod, "write_queue", write_queue)
    assert cli.main(argv) == 0
    assert client.pushes == ["train-fold2"]
    assert not (build / "queue.json").exists()
    assert json.loads((build / "pushed-train-fold2.json").read_text())["status"] == "complete"


@pytest.mark.parametrize(
    "text, named",
    [
        ("{}", "not a kernel queue"),
        ('[{"name": "infer", "id": "u/i", "gpu": true, "after": "train"}]', "entry 0: 'after'"),
        ('[{"name": "infer", "gpu": true}]', "entry 0: 'id'"),
        ("[1", "not a kernel queue"),
    ],
)
def test_a_queue_file_off_the_schema_is_an_error_naming_it(tmp_path, text, named) -> None:
    from hms_kit.publish import read_queue

    path = tmp_path / "queue.json"
    path.write_text(text)
    with pytest.raises(PublishError, match=named) as err:
        read_queue(path)
    assert str(path) in str(err.value)


def test_a_push_kaggle_refuses_stays_queued_for_the_next_wait(tmp_path, monkeypatch, capsys):
    """Kaggle answered the push with an error (no version made): the kernel goes back to
    the queue unmarked, so the next ``wait`` pushes it (it used to be taken as pushed, then
    polled as the kernel's latest, older session and reported complete)."""
    from hms_kit.publish import cli, read_queue
    from hms_kit.publish import commands as publish_mod

    build = _one_queued_kernel(tmp_path)
    client = _FakeClient(refuse=1)
    monkeypatch.setattr(publish_mod.KaggleClient, "connect", lambda **_: client)
    argv = ["wait", "--root", str(tmp_path), "--poll", "0.01", "--timeout", "30"]
    assert cli.main(argv) == 2
    assert "Maximum batch GPU session count of 2 reached" in capsys.readouterr().err
    assert [(q.name, q.state) for q in read_queue(build / "queue.json")] == [
        ("train-fold2", "queued")
    ]
    assert cli.main(argv) == 0
    assert client.pushes == ["train-fold2"]
    record = json.loads((build / "pushed-train-fold2.json").read_text())
    assert record["status"] == "complete" and record["version"] == 4
    # polled as the version pushed, not as the kernel's latest session
    assert client.asked == [f"{USER}/hms-kit-train-fold2/4"]


def test_a_kernel_an_earlier_wait_was_pushing_holds_a_gpu_slot(tmp_path, monkeypatch) -> None:
    """Settled as pushed (it may have reached Kaggle), it counts as a running GPU kernel: of
    two more queued, one starts beside it (two used to, three GPU sessions at once)."""
    from hms_kit.publish import cli
    from hms_kit.publish import commands as publish_mod

    _one_queued_kernel(tmp_path, "train-fold3", "train-fold4", pushing="train-fold2")
    client = _FakeClient(states={f"{USER}/hms-kit-{n}": "running" for n in
                                 ("train-fold2", "train-fold3", "train-fold4")})  # fmt: skip
    monkeypatch.setattr(publish_mod.KaggleClient, "connect", lambda **_: client)
    argv = ["wait", "--root", str(tmp_path), "--poll", "0.01", "--timeout", "0.05"]
    assert cli.main(argv) == 2  # gave up waiting: everything keeps running
    assert client.pushes == ["train-fold3"]


def _kernel_checkout(root: Path) -> Path:
    """What push-kernel renders from: the kernels and their metadata templates."""
    for name in ("kernels", "kernel-metadata"):
        shutil.copytree(REPO / name, root / name)
    return root / "build" / "kaggle"


def test_push_kernel_counts_the_gpu_kernels_earlier_pushes_left_running(tmp_path, monkeypatch):
    """Two train kernels still running on Kaggle (asked, not taken from their records):
    a third is queued, not pushed into a third GPU session; once they completed, it goes."""
    from hms_kit.publish import cli, read_queue, write_record
    from hms_kit.publish import commands as publish_mod

    build = _kernel_checkout(tmp_path)
    build.mkdir(parents=True)
    for k in (0, 1):
        write_record(build / f"pushed-train-fold{k}.json", {
            "id": f"{USER}/hms-kit-train-fold{k}", "version": 3, "status": "running",
            "gpu": True,
        })  # fmt: skip
    client = _FakeClient(states={f"{USER}/hms-kit-train-fold{k}/3": "running" for k in (0, 1)})
    monkeypatch.setattr(publish_mod.KaggleClient, "connect", lambda **_: client)
    argv = ["push-kernel", "--root", str(tmp_path), "--kernel", "train", "--folds", "2",
            "--config", "dataset"]  # fmt: skip
    assert cli.main(argv) == 0
    assert client.pushes == []
    assert [q.name for q in read_queue(build / "queue.json")] == ["train-fold2"]
    client.states.clear()  # both completed: the next push asks, and pushes
    assert cli.main(argv) == 0
    assert client.pushes == ["train-fold2"] and not (build / "queue.json").exists()
    assert json.loads((build / "pushed-train-fold0.json").read_text())["status"] == "complete"


def test_no_kernel_is_pushed_before_the_dataset_is_ready(tmp_path, monkeypatch) -> None:
    """The kernels install the wheel from the dataset: pushed while Kaggle still processes
    its new version, a kernel would run the previous one. push-kernel queues, and wait
    pushes once the dataset is ready."""
    from hms_kit.publish import cli, read_queue, write_record
    from hms_kit.publish import commands as publish_mod

    build = _kernel_checkout(tmp_path)
    build.mkdir(parents=True)
    dataset = f"{USER}/hms-kit"
    write_record(build / "pushed-dataset.json", {"id": dataset, "status": "pushed"})
    client = _FakeClient(states={dataset: "blobs_received"})
    monkeypatch.setattr(publish_mod.KaggleClient, "connect", lambda **_: client)
    argv = ["push-kernel", "--root", str(tmp_path), "--kernel", "train", "--folds", "0",
            "--config", "dataset"]  # fmt: skip
    assert cli.main(argv) == 0
    assert client.pushes == [] and [q.name for q in read_queue(build / "queue.json")] == [
        "train-fold0"
    ]
    wait = ["wait", "--root", str(tmp_path), "--poll", "0.01", "--timeout", "0.05"]
    assert cli.main(wait) == 2 and client.pushes == []  # still processing: nothing pushed
    client.states[dataset] = "ready"
    assert cli.main([*wait[:-1], "30"]) == 0
    assert client.pushes == ["train-fold0"]


def test_replace_folder_keeps_the_old_one_until_the_new_one_is_in(tmp_path, monkeypatch):
    """A pulled run replaced by a newer pull: the old folder is renamed aside, then deleted
    once the new one is in; if the swap fails, the old one is still on disk, whole."""
    from hms_kit.publish import render

    target, staging = tmp_path / "runs" / "train", tmp_path / "staging"
    target.mkdir(parents=True)
    (target / "fold0_best.pt").write_text("old")
    staging.mkdir()
    (staging / "fold0_best.pt").write_text("new")
    real = os.replace

    def fail_the_swap(src, dst):
        if Path(src) == staging:
            raise OSError(errno.EIO, "I/O error")
        real(src, dst)

    monkeypatch.setattr(render.os, "replace", fail_the_swap)
    with pytest.raises(OSError):
        render.replace_folder(staging, target)
    (kept,) = (tmp_path / "runs").glob(".train.old-*")
    assert (kept / "fold0_best.pt").read_text() == "old"
    monkeypatch.setattr(render.os, "replace", real)
    render.replace_folder(staging, target)  # the pull again: in, the failed try's copy kept
    assert (target / "fold0_best.pt").read_text() == "new" and kept.is_dir()
    newer = tmp_path / "newer"
    newer.mkdir()
    render.replace_folder(newer, target)  # a clean swap leaves the target alone
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [kept.name, "train"]
    assert not list(target.iterdir())


def test_a_push_kernel_cut_short_leaves_every_kernel_queued_or_marked(tmp_path, monkeypatch):
    """push-kernel writes its queue ahead, as wait does: a push whose answer is lost leaves
    that kernel marked (taken as pushed, never pushed twice) and the earlier queue as it was
    (push-kernel leaves it to wait); wait then pushes each kernel exactly once."""
    from hms_kit.publish import cli, read_queue
    from hms_kit.publish import commands as publish_mod

    build = _kernel_checkout(tmp_path)
    _one_queued_kernel(tmp_path)  # train-fold2, queued by an earlier push
    client = _FakeClient(lose="train-fold3")
    monkeypatch.setattr(publish_mod.KaggleClient, "connect", lambda **_: client)
    argv = ["push-kernel", "--root", str(tmp_path), "--kernel", "train", "--folds", "3",
            "--config", "dataset", "--max-parallel", "2"]  # fmt: skip
    assert cli.main(argv) == 2  # the lost answer is an error
    assert client.pushes == ["train-fold3"]
    assert [(q.name, q.state) for q in read_queue(build / "queue.json")] == [
        ("train-fold2", "queued"), ("train-fold3", "pushing"),
    ]  # fmt: skip
    wait = ["wait", "--root", str(tmp_path), "--poll", "0.01", "--timeout", "30"]
    assert cli.main(wait) == 0
    assert client.pushes == ["train-fold3", "train-fold2"]
    assert not (build / "queue.json").exists()


def test_a_push_that_errors_leaves_no_old_record_standing_in_for_the_next(tmp_path, monkeypatch):
    """Two kernels to push; the first push's answer is lost (a generic error, not a refusal).
    The second was never pushed: its record from an earlier push (complete, version 3) must
    not be taken for this push's result (``wait`` used to count it done and release its
    dependents, ``pull`` took version 3); ``wait`` pushes it, and the first exactly once."""
    from hms_kit.publish import cli, read_queue, write_record
    from hms_kit.publish import commands as publish_mod

    build = _kernel_checkout(tmp_path)
    build.mkdir(parents=True)
    old = {"id": f"{USER}/hms-kit-train-fold1", "version": 3, "status": "complete", "gpu": True}
    write_record(build / "pushed-train-fold1.json", old)
    client = _FakeClient(lose="train-fold0")
    monkeypatch.setattr(publish_mod.KaggleClient, "connect", lambda **_: client)
    argv = ["push-kernel", "--root", str(tmp_path), "--kernel", "train", "--folds", "0,1",
            "--config", "dataset"]  # fmt: skip
    assert cli.main(argv) == 2
    assert client.pushes == ["train-fold0"]
    assert [(q.name, q.state) for q in read_queue(build / "queue.json")] == [
        ("train-fold0", "pushing"), ("train-fold1", "queued"),
    ]  # fmt: skip
    assert json.loads((build / "pushed-train-fold1.json").read_text())["status"] == "queued"
    wait = ["wait", "--root", str(tmp_path), "--poll", "0.01", "--timeout", "30"]
    assert cli.main(wait) == 0
    assert client.pushes == ["train-fold0", "train-fold1"]
    record = json.loads((build / "pushed-train-fold1.json").read_text())
    assert (record["version"], record["status"]) == (4, "complete")


def test_a_push_that_never_reached_kaggle_does_not_release_the_kernels_after_it(
    tmp_path, monkeypatch, capsys
):
    """The train kernel's push fails before Kaggle takes it (a reset connection), so its
    newest version is still an older complete one (3). ``wait`` used to take that one for
    this push and push the infer kernel on the old weights; now it waits for a version after
    3, says so, and pushes nothing. A push whose answer alone was lost is the next version."""
    from hms_kit.publish import cli, read_queue
    from hms_kit.publish import commands as publish_mod

    build = _kernel_checkout(tmp_path)
    client = _FakeClient(unsent="train-fold0")
    monkeypatch.setattr(publish_mod.KaggleClient, "connect", lambda **_: client)
    argv = ["push-kernel", "--root", str(tmp_path), "--kernel", "all", "--folds", "0",
            "--config", "dataset"]  # fmt: skip
    assert cli.main(argv) == 2
    assert client.pushes == []
    queue = [(q.name, q.state) for q in read_queue(build / "queue.json")]
    assert ("train-fold0", "pushing") in queue and ("infer", "queued") in queue
    wait = ["wait", "--root", str(tmp_path), "--poll", "0.01", "--timeout", "0.05"]
    assert cli.main(wait) == 2  # gave up waiting, infer still queued
    out = capsys.readouterr()
    assert "no version after 3 yet" in out.out and "push it again" in out.out
    assert client.pushes == []
    assert not [ref for ref in client.asked if "train-fold0" in ref]  # version 3 never polled
    record = json.loads((build / "pushed-train-fold0.json").read_text())
    assert (record["version"], record["status"], record["before"]) == (None, "running", 3)

    # the same push, its answer lost after Kaggle took it: version 4 is this push's
    client.lose = "train-fold0"
    assert cli.main(argv) == 2
    assert cli.main(["wait", "--root", str(tmp_path), "--poll", "0.01", "--timeout", "30"]) == 0
    assert client.pushes == ["train-fold0", "infer"]
    assert f"{USER}/hms-kit-train-fold0/4" in client.asked
    record = json.loads((build / "pushed-train-fold0.json").read_text())
    assert (record["version"], record["status"]) == (4, "complete")


def test_a_push_whose_version_cannot_be_asked_first_is_not_made(tmp_path, monkeypatch, capsys):
    """Without the kernel's newest version a lost answer could not be told from an old
    version, so nothing is pushed: the kernel stays queued, unmarked, for ``wait``."""
    from hms_kit.publish import cli, read_queue
    from hms_kit.publish import commands as publish_mod

    build = _kernel_checkout(tmp_path)
    client = _FakeClient(ask_fails=1)
    monkeypatch.setattr(publish_mod.KaggleClient, "connect", lambda **_: client)
    argv = ["push-kernel", "--root", str(tmp_path), "--kernel", "train", "--folds", "0",
            "--config", "dataset"]  # fmt: skip
    assert cli.main(argv) == 0
    assert "version of" in capsys.readouterr().out and client.pushes == []
    assert [(q.name, q.state) for q in read_queue(build / "queue.json")] == [
        ("train-fold0", "queued")
    ]
    assert cli.main(["wait", "--root", str(tmp_path), "--poll", "0.01", "--timeout", "30"]) == 0
    assert client.pushes == ["train-fold0"]


def test_pin_train_is_refused_unless_only_the_infer_kernel_is_pushed(tmp_path, monkeypatch, capsys):
    """The pins are read before anything is pushed: with the train kernels pushed in the same
    command, infer would be pinned to their previous versions (here version 2)."""
    from hms_kit.publish import cli, write_record
    from hms_kit.publish import commands as publish_mod

    build = _kernel_checkout(tmp_path)
    build.mkdir(parents=True)
    done = {"id": f"{USER}/hms-kit-train", "version": 2, "status": "complete", "gpu": True}
    write_record(build / "pushed-train.json", done)
    client = _FakeClient()
    monkeypatch.setattr(publish_mod.KaggleClient, "connect", lambda **_: client)
    for kernel in ("all", "train"):
        argv = ["push-kernel", "--root", str(tmp_path), "--kernel", kernel, "--config",
                "dataset", "--pin-train"]  # fmt: skip
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert f"--pin-train with --kernel {kernel}" in err
        assert "`make push-kernel KERNEL=infer PIN_TRAIN=1`" in err
    assert client.pushes == [] and not (build / "queue.json").exists()
    assert cli.main([*argv[:4], "infer", *argv[5:]]) == 0
    assert client.pushes == ["infer"]


def test_wait_fails_while_a_kernel_record_says_it_failed(tmp_path, monkeypatch, capsys) -> None:
    """A kernel an earlier push left running fails; the next push-kernel's poll records it
    failed (and says so), and no later ``wait`` polls it again: ``wait`` used to exit 0 once
    the other kernels completed. It fails naming it until its record is removed."""
    from hms_kit.publish import cli, write_record
    from hms_kit.publish import commands as publish_mod

    build = _kernel_checkout(tmp_path)
    build.mkdir(parents=True)
    seed = {"id": f"{USER}/hms-kit-train-seed", "version": 2, "status": "running", "gpu": True}
    write_record(build / "pushed-train-seed.json", seed)
    client = _FakeClient(states={f"{USER}/hms-kit-train-seed/2": "error"})
    monkeypatch.setattr(publish_mod.KaggleClient, "connect", lambda **_: client)
    argv = ["push-kernel", "--root", str(tmp_path), "--kernel", "train", "--config", "dataset"]
    assert cli.main(argv) == 0
    assert f"kernel {USER}/hms-kit-train-seed/2 ended with status error" in capsys.readouterr().out
    assert client.pushes == ["train"]
    wait = ["wait", "--root", str(tmp_path), "--poll", "0.01", "--timeout", "30"]
    assert cli.main(wait) == 2
    err = capsys.readouterr().err
    assert f"{USER}/hms-kit-train-seed version 2: error" in err
    assert "remove its pushed-<name>.json to give it up" in err
    assert json.loads((build / "pushed-train.json").read_text())["status"] == "complete"
    (build / "pushed-train-seed.json").unlink()
    assert cli.main(wait) == 0


def test_pull_version_is_refused_for_more_than_one_kernel(tmp_path, monkeypatch, capsys):
    """Each Kaggle kernel numbers its own versions: version 3 of one fold kernel is not
    version 3 of the other's run."""
    from hms_kit.publish import cli
    from hms_kit.publish import commands as publish_mod

    _kernel_checkout(tmp_path)
    client = _FakeClient()
    monkeypatch.setattr(publish_mod.KaggleClient, "connect", lambda **_: client)
    argv = ["pull", "--root", str(tmp_path), "--config", "dataset", "--folds", "0,1",
            "--version", "3", "--runs-dir", str(tmp_path / "runs")]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"{USER}/hms-kit-train-fold0, {USER}/hms-kit-train-fold1" in err
    assert "pick one" in err and "FOLDS=" in err
    assert client.asked == []
