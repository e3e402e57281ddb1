"""The checkpoint format: the one module that writes and reads ``*.pt`` files.

A checkpoint is a dict of tensors and plain data only (numbers, strings, lists, dicts), so
it loads with ``torch.load(weights_only=True)``: a file that needs anything else (a pickled
class, a function) is refused, never unpickled, since unpickling runs code from the file.

Keys every checkpoint written here has:

    model         the model's state dict (absent in nothing but optimizer-free metadata)
    versions      {"torch", "timm", "hms_kit"} of the process that wrote it
    format        FORMAT_VERSION

    kind          "best" (a stage's best epoch), "last" (the state to resume from) or "final"
                  (the fold's model, what ``predict`` uses), when the writer says

plus what the caller stores. A model checkpoint (best, final) also has ``family`` (the
model family, ``hms_kit.models``), ``config`` (the resolved config as nested plain dicts:
``hms_kit.models.load_model`` rebuilds the model from it) and ``run_id``; and, from
training, ``prior``, ``fingerprint``, ``stage``, ``epoch``, ``val_loss``; a last one the
optimizer, scheduler and scaler states.

File names of a fold k (``fold_checkpoint_path``): ``fold{k}_best.pt`` is the final model
(the name predict looks for), ``fold{k}_stage{s}.pt`` stage s's best, ``fold{k}_last.pt``.
"""

from __future__ import annotations

import math
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from hms_kit.io import atomic_write

FORMAT_VERSION = 1
# the oldest torch that trains and resumes: torch.amp.GradScaler is 2.3's, and before 2.4
# OneCycleLR's state held a bound method, so a last checkpoint would not load weights-only
# and a resume would set every trained fold aside (setup.py's floor says the same)
MIN_TORCH = (2, 4)

__all__ = [
    "CheckpointError",
    "FORMAT_VERSION",
    "KINDS",
    "MIN_TORCH",
    "STALE_DIR",
    "fold_checkpoint_path",
    "load_checkpoint",
    "load_model_state",
    "non_finite_tensors",
    "require_torch",
    "save_checkpoint",
    "versions",
]


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: unsafe, unreadable, non-finite or not fitting the
    model. The message names the file."""


def require_torch(version: str | None = None) -> None:
    """RuntimeError when ``version`` (default: this process's torch) is older than
    ``MIN_TORCH``. The wheel installs with ``--no-deps`` onto whatever a Kaggle image holds:
    an old one must stop at once, not train and then lose its folds on resume."""
    text = str(torch.__version__ if version is None else version)
    parts = re.match(r"(\d+)\.(\d+)", text)
    if parts and tuple(int(p) for p in parts.groups()) < MIN_TORCH:
        need = ".".join(map(str, MIN_TORCH))
        raise RuntimeError(
            f"torch {text}: hms_kit trains with torch >= {need} (a resume could not read its "
            "own last checkpoints); on Kaggle, push the kernel on a newer image"
        )


def versions() -> dict[str, str]:
    """The versions of torch, timm and hms_kit in this process."""
    import timm

    from hms_kit import __version__

    # str(): torch.__version__ is a TorchVersion, which weights_only loading refuses
    return {"torch": str(torch.__version__), "timm": str(timm.__version__), "hms_kit": __version__}


KINDS = ("best", "last", "final")
# a run's fold files that a later training set aside (made by other folds or another config)
# go under <run>/stale/<time>/: predict and the kernels never use a checkpoint there
STALE_DIR = "stale"
MODEL_KEYS = ("model", "family", "config")


def fold_checkpoint_path(ckpt_dir: str | Path, fold: int, kind: str, stage: int = 1) -> Path:
    """Where fold ``fold``'s checkpoint of ``kind`` lives (see the module docstring)."""
    d = Path(ckpt_dir)
    if kind == "final":
        return d / f"fold{fold}_best.pt"
    if kind == "best":
        return d / f"fold{fold}_stage{stage}.pt"
    if kind == "last":
        return d / f"fold{fold}_last.pt"
    raise ValueError(f"checkpoint kind must be one of {KINDS}, got {kind!r}")


def save_checkpoint(state: dict[str, Any], path: str | Path, kind: str | None = None) -> Path:
    """Write ``state`` (tensors and plain data) with the versions of this process, atomically.

    ``kind`` (best, last, final) is recorded; a best or final checkpoint must carry
    ``MODEL_KEYS`` (ValueError otherwise: a model file that cannot be rebuilt is not written).
    """
    if kind is not None:
        if kind not in KINDS:
            raise ValueError(f"checkpoint kind must be one of {KINDS}, got {kind!r}")
        missing = [k for k in MODEL_KEYS if k not in state] if kind != "last" else []
        if missing:
            raise ValueError(f"{path}: a {kind} checkpoint needs {missing}")
        state = {**state, "kind": kind}
    full = {**state, "versions": versions(), "format": FORMAT_VERSION}
    return atomic_write(Path(path), lambda p: torch.save(full, p))


def non_finite_tensors(state: dict[str, Any]) -> list[str]:
    """Names of the floating-point tensors of a state dict holding NaN or +-inf."""
    return [
        k
        for k, v in state.items()
        if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(v.isfinite().all())
    ]


def load_checkpoint(path: str | Path, check_finite: bool = True) -> dict[str, Any]:
    """A checkpoint's dict, loaded with ``weights_only=True`` on the CPU.

    Raises CheckpointError naming the file when it is missing or unreadable, when it holds
    objects that only full unpickling could rebuild (it is then not loaded at all), or
    (``check_finite``) when the model weights or the recorded losses are not finite.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message is a page long; its 'WeightsUnpickler error' line says what failed
        why = [ln.strip() for ln in str(exc).splitlines() if "Unpickler error" in ln]
        reason = why[0] if why else str(exc).strip().splitlines()[0]
        if "Unsupported global" in reason or "Unsupported class" in reason:
            # name what the file asks for, not torch's advice on how to allow it
            named = re.search(r"GLOBAL (\S+)", reason)
            what = f"it refers to {named.group(1)}" if named else reason
            raise CheckpointError(
                f"{path}: cannot be loaded safely ({what}): it holds objects other than "
                "tensors and plain data, which only full unpickling (running code from the "
                "file) could rebuild; hms_kit does not write such files, so it was not loaded"
            ) from None
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason})") from None
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not an hms_kit checkpoint (a {type(state).__name__})")
    if check_finite:
        bad = non_finite_tensors(state.get("model") or {})
        if bad:
            raise CheckpointError(
                f"{path}: {len(bad)} weight tensors hold NaN or inf (first: {bad[0]}); "
                "a model trained on a non-finite loss is not used"
            )
        for key in ("val_loss", "best_loss"):
            v = state.get(key)
            # inf is a legitimate 'nothing yet' best loss; NaN never is
            if isinstance(v, float) and math.isnan(v):
                raise CheckpointError(f"{path}: {key} is NaN; the checkpoint is not used")
    return state


def load_model_state(model: torch.nn.Module, state: dict[str, Any], path: str | Path) -> None:
    """Load ``state['model']`` into ``model`` (strict).

    On missing, unexpected or differently shaped keys, raises CheckpointError naming the
    file, the first keys of each kind and the torch/timm versions that wrote the file next
    to this process's (a timm upgrade that renames layers shows up here).
    """
    weights = state["model"]
    own = model.state_dict()
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    shapes = [
        f"{k} {tuple(weights[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in weights and tuple(weights[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        for label, keys in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatch (file vs model)", shapes),
        ):
            if keys:
                more = f" ... ({len(keys)} in all)" if len(keys) > 3 else ""
                parts.append(f"{label}: {', '.join(keys[:3])}{more}")
        saved = state.get("versions") or {}
        here = versions()
        raise CheckpointError(
            f"{path}: the weights do not fit the model ({'; '.join(parts)}). The checkpoint was "
            f"trained with timm {saved.get('timm', '?')} / torch {saved.get('torch', '?')}; "
            f"this environment has timm {here['timm']} / torch {here['torch']}"
        )
    model.load_state_dict(weights)
