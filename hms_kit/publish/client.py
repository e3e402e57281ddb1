"""The one place that talks to Kaggle: the only module that imports the ``kaggle`` client.

It authenticates once per process (:func:`connect`) and calls ``KaggleApi`` methods
directly, reading their typed answers: ``kernels_push`` gives ``version_number`` and the
sources Kaggle dropped (``invalid_dataset_sources``, ``invalid_kernel_sources``,
``invalid_competition_sources``, ``invalid_model_sources``); ``kernels_status`` gives
``status`` and ``failure_message``; ``get_kernel`` (what ``kaggle kernels pull`` asks) the
kernel's ``current_version_number``; ``dataset_status`` the dataset's state. Every call is
echoed as the equivalent ``kaggle`` command line (``+ kaggle ...``), and with ``dry_run``
only echoed. A failed call becomes a PublishError naming what was asked.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hms_kit.publish.errors import PublishError, PushRefusedError

CREDENTIALS_HELP = (
    "Kaggle credentials not found. Give the kaggle client one of: an API token from "
    "kaggle.com > Settings > API in KAGGLE_API_TOKEN or ~/.kaggle/access_token; "
    "`kaggle auth login`; or a legacy key: set KAGGLE_USERNAME and KAGGLE_KEY, or create "
    '~/.kaggle/kaggle.json (or $KAGGLE_CONFIG_DIR/kaggle.json) holding {"username": ..., '
    '"key": ...}. Never commit them.'
)
# KernelWorkerStatus names, lower case
KERNEL_DONE, KERNEL_FAILED = "complete", "error"
KERNEL_FAILURES = ("error", "cancel_requested", "cancel_acknowledged")
DATASET_READY = "ready"
DATASET_FAILURES = ("failed", "deleted")
# the fields of kernels_push's answer that list sources Kaggle did not attach
DROPPED_SOURCES = {
    "invalid_dataset_sources": "dataset",
    "invalid_kernel_sources": "kernel",
    "invalid_competition_sources": "competition",
    "invalid_model_sources": "model",
}


@dataclass(frozen=True)
class Credentials:
    """Who pushes, as the kaggle client resolved it: the username goes into the metadata;
    the secret stays with the client."""

    username: str
    source: str  # the client's auth method: "ACCESS_TOKEN", "LEGACY_API_KEY", "OAUTH"


_API: Any = None  # the authenticated KaggleApi, once per process


def _authenticate() -> Any:
    """The client's ``KaggleApi``, authenticated (once per process).

    ``KaggleApi.authenticate()`` tries an access token (``KAGGLE_API_TOKEN`` or
    ``~/.kaggle/access_token``, whose username the server reports), then a legacy key
    (``KAGGLE_USERNAME``/``KAGGLE_KEY`` over ``kaggle.json``), then ``kaggle auth login``
    credentials. With nothing configured it makes no request and raises PublishError with
    the setup help.
    """
    global _API
    if _API is not None:
        return _API
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
    if not api.config_values.get("username"):
        raise PublishError(CREDENTIALS_HELP)
    _API = api
    return api


def find_credentials() -> Credentials:
    """The username the kaggle client authenticates as, from the client's own resolution,
    so the kernel ids carry exactly the owner the client will push as."""
    api = _authenticate()
    return Credentials(
        username=str(api.config_values["username"]),
        source=str(api.config_values.get("auth_method")),
    )


def find_username() -> str:
    """The Kaggle username (see :func:`find_credentials`)."""
    return find_credentials().username


def _http_status(exc: BaseException) -> int | None:
    return getattr(getattr(exc, "response", None), "status_code", None)


@contextlib.contextmanager
def _calling(what: str) -> Iterator[None]:
    """Turn a client failure into PublishError naming ``what`` was asked."""
    try:
        yield
    except PublishError:
        raise
    except Exception as exc:
        raise PublishError(f"{what} failed: {exc}") from exc


def _not_found(exc: BaseException) -> bool:
    """Whether a failed call says the kernel or dataset does not exist (a 404), rather than
    an auth or network failure."""
    return _http_status(exc) == 404 or "not found" in str(exc).lower()


def _field(answer: Any, name: str) -> Any:
    """A field of a kagglesdk answer (snake_case property; older answers spell it camelCase)."""
    if hasattr(answer, name):
        return getattr(answer, name)
    head, *rest = name.split("_")
    return getattr(answer, head + "".join(w.title() for w in rest), None)


@dataclass
class KaggleClient:
    """The authenticated client for one command: ``username`` is who pushes; with
    ``dry_run`` each call is echoed and nothing is sent."""

    username: str
    dry_run: bool = False

    @classmethod
    def connect(cls, *, dry_run: bool = False) -> KaggleClient:
        """Authenticate (once per process; PublishError with the setup help when no
        credential is configured, before any request is made)."""
        return cls(find_username(), dry_run)

    @property
    def api(self) -> Any:
        return _authenticate()

    def _echo(self, *args: str) -> bool:
        """Echo the equivalent client command; True when the call is to be made."""
        print("+ kaggle " + " ".join(args), flush=True)
        return not self.dry_run

    # ------------------------------------------------------------------------ kernels

    def push_kernel(self, folder: Path, ref: str, timeout: int | None = None) -> int | None:
        """Push a rendered kernel folder; the new version number (None in a dry run).

        Raises PushRefusedError when Kaggle answers with an error (no version made), and
        PublishError when it dropped a source: it creates (and starts) the version anyway,
        without that source, so such a push is a failure.
        """
        extra = ["--timeout", str(timeout)] if timeout is not None else []
        if not self._echo("kernels", "push", "-p", str(folder), *extra):
            return None
        what = f"push of kernel {ref}"
        with _calling(what):
            answer = self.api.kernels_push(
                str(folder), str(timeout) if timeout is not None else None
            )
        if answer is not None and _field(answer, "error"):
            raise PushRefusedError(f"{what} failed: {_field(answer, 'error')}")
        if answer is None:  # whether a version was made is not known
            raise PublishError(f"{what} failed: no answer")
        dropped = [
            f"not valid {kind} sources: {list(_field(answer, name))}"
            for name, kind in DROPPED_SOURCES.items()
            if _field(answer, name)
        ]
        if dropped:
            raise PublishError(
                f"{what} failed: Kaggle dropped sources ({'; '.join(dropped)}). The version "
                "it created runs without them: check that each exists, that this account can "
                "see it (a private source of another user cannot be attached) and that a "
                "pinned version (owner/slug/N) exists, then push again"
            )
        version = _field(answer, "version_number")
        print(f"Kernel version {version} successfully pushed: {_field(answer, 'url')}")
        return int(version) if version else None

    def kernel_version(self, ref: str) -> int | None:
        """The number of ``ref``'s (``owner/slug``) newest version, asked before a push so
        that a push whose answer was lost can be told from one that never reached Kaggle:
        0 when Kaggle has no such kernel, None in a dry run or when the answer carries no
        number (not echoed: no files are pulled)."""
        if self.dry_run:
            return None
        from kagglesdk.kernels.types.kernels_api_service import ApiGetKernelRequest

        owner, slug = ref.split("/")[:2]
        request = ApiGetKernelRequest()
        request.user_name, request.kernel_slug = owner, slug
        try:
            with self.api.build_kaggle_client() as kaggle:
                answer = kaggle.kernels.kernels_api_client.get_kernel(request)
        except Exception as exc:
            if _not_found(exc):
                return 0
            raise PublishError(f"version of {ref} failed: {exc}") from exc
        number = _field(_field(answer, "metadata"), "current_version_number")
        return int(number) if number else None

    def kernel_status(self, ref: str) -> tuple[str | None, str]:
        """``(state, failure message)``: the state lower case (``complete``, ``running``,
        ``error``, ...), None in a dry run."""
        if not self._echo("kernels", "status", ref):
            return None, ""
        with _calling(f"status of {ref}"):
            answer = self.api.kernels_status(ref)
        status = _field(answer, "status")
        state = str(getattr(status, "name", status) or "").lower() or None
        message = str(_field(answer, "failure_message") or "")
        print(f'{ref} has status "{str(getattr(status, "name", status))}"')
        if message:
            print(f'Failure message: "{message}"')
        return state, message

    def kernel_log(self, ref: str) -> str:
        """The kernel's log as Kaggle stores it (JSON records or text; not echoed)."""
        with _calling(f"log of {ref}"):
            return str(self.api.kernels_logs(ref) or "")

    def kernel_output(self, ref: str, folder: Path) -> list[str]:
        """Download ``ref``'s output files (and log) into ``folder``; the paths written."""
        if not self._echo("kernels", "output", ref, "-p", str(folder), "-o"):
            return []
        with _calling(f"download of {ref}'s output"):
            files, _ = self.api.kernels_output(ref, str(folder), force=True, quiet=True)
        return [str(f) for f in files]

    # ------------------------------------------------------------------------ datasets

    def dataset_status(self, ref: str) -> str | None:
        """The dataset's state, lower case (``ready``, ...); None in a dry run. PublishError
        when Kaggle does not know it."""
        if not self._echo("datasets", "status", ref):
            return None
        with _calling(f"status of dataset {ref}"):
            state = str(self.api.dataset_status(ref) or "").strip().lower()
        print(state)
        return state

    def dataset_exists(self, ref: str) -> bool:
        """Whether Kaggle has the dataset: found, not found (False), or PublishError on other
        failures (an auth or network failure is not mistaken for "does not exist").

        Asking first (rather than trying a version and falling back) means a first push
        uploads the files once."""
        if not self._echo("datasets", "status", ref):
            return False
        try:
            self.api.dataset_status(ref)
        except Exception as exc:
            if _not_found(exc):
                return False
            raise PublishError(f"status of dataset {ref} failed: {exc}") from exc
        return True

    def create_dataset(self, folder: Path, ref: str) -> None:
        """Create the (private) dataset from a rendered folder."""
        if self._echo("datasets", "create", "-p", str(folder)):
            with _calling(f"push of dataset {ref}"):
                answer = self.api.dataset_create_new(str(folder), public=False, quiet=True)
            self._check_dataset_answer(answer, ref)

    def version_dataset(self, folder: Path, ref: str, notes: str) -> None:
        """Add a version to the dataset from a rendered folder."""
        if self._echo("datasets", "version", "-p", str(folder), "-m", notes):
            with _calling(f"push of dataset {ref}"):
                answer = self.api.dataset_create_version(str(folder), notes, quiet=True)
            self._check_dataset_answer(answer, ref)

    @staticmethod
    def _check_dataset_answer(answer: Any, ref: str) -> None:
        error = _field(answer, "error") if answer is not None else "no answer"
        if error or str(_field(answer, "status") or "").lower() != "ok":
            raise PublishError(f"push of dataset {ref} failed: {error or _field(answer, 'status')}")
        print(f"dataset {ref}: {_field(answer, 'url')}")

    # ------------------------------------------------------------------------ submissions

    def submit_code(
        self, competition: str, kernel: str, version: int, file_name: str, message: str
    ) -> None:
        """Submit ``file_name`` of ``kernel`` version ``version`` (a code competition)."""
        args = ["competitions", "submit", competition, "-k", kernel, "-f", file_name]
        if not self._echo(*args, "-v", str(version), "-m", message):
            return
        what = f"submission of {kernel} version {version}"
        with _calling(what):
            answer = self.api.competition_submit_code(
                file_name, message, competition, kernel, int(version), quiet=True
            )
        print(str(_field(answer, "message") or "submitted"))
