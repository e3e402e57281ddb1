"""The checkpoint format: weights_only loading, versions, clear errors."""

from __future__ import annotations

import pytest
import timm
import torch
from torch import nn

import hms_kit
from hms_kit.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_model_state,
    save_checkpoint,
)


class _Payload:
    """Unpickling this runs code: it creates the file named in ``marker``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_round_trip_records_versions_and_plain_config(tmp_path):
    model = nn.Linear(3, 2)
    path = save_checkpoint(
        {"model": model.state_dict(), "config": {"model": {"name": "x"}}, "prior": [0.5, 0.5]},
        tmp_path / "fold0_best.pt",
    )
    state = load_checkpoint(path)
    assert state["versions"] == {
        "torch": str(torch.__version__),
        "timm": timm.__version__,
        "hms_kit": hms_kit.__version__,
    }
    assert state["config"] == {"model": {"name": "x"}} and state["prior"] == [0.5, 0.5]
    # the file loads with torch's safe loader alone
    assert torch.load(path, weights_only=True)["format"] == state["format"]
    other = nn.Linear(3, 2)
    load_model_state(other, state, path)
    assert torch.equal(other.weight, model.weight)


def test_a_pickled_object_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "fold0_best.pt"
    torch.save({"model": nn.Linear(3, 2).state_dict(), "x": _Payload(str(marker))}, path)
    with pytest.raises(
        CheckpointError, match=r"fold0_best.pt: cannot be loaded safely \(it refers to \S*open\)"
    ):
        load_checkpoint(path)
    assert not marker.exists()


def test_non_finite_weights_are_refused(tmp_path):
    model = nn.Linear(3, 2)
    with torch.no_grad():
        model.weight[0, 0] = float("nan")
    path = save_checkpoint({"model": model.state_dict()}, tmp_path / "fold0_last.pt")
    with pytest.raises(CheckpointError, match=r"fold0_last.pt: 1 weight tensors hold NaN.*weight"):
        load_checkpoint(path)
    assert load_checkpoint(path, check_finite=False)["model"]["weight"].isnan().any()


def test_unreadable_file_is_named(tmp_path):
    path = tmp_path / "fold0_best.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"fold0_best.pt: not a readable checkpoint"):
        load_checkpoint(path)


def test_key_mismatch_names_keys_and_versions(tmp_path):
    state = {
        "model": {"renamed.weight": torch.zeros(2, 3), "bias": torch.zeros(5)},
        "versions": {"torch": "1.0", "timm": "0.1", "hms_kit": "0"},
    }
    with pytest.raises(CheckpointError) as err:
        load_model_state(nn.Linear(3, 2), state, tmp_path / "fold1_best.pt")
    msg = str(err.value)
    assert "fold1_best.pt" in msg and "missing keys: weight" in msg
    assert "unexpected keys: renamed.weight" in msg and "bias (5,) vs (2,)" in msg
    assert "trained with timm 0.1 / torch 1.0" in msg
    assert f"this environment has timm {timm.__version__} / torch {torch.__version__}" in msg


def test_an_older_torch_than_the_kit_resumes_with_stops_before_training(
    shared_comp, tmp_path, monkeypatch
) -> None:
    """The wheel installs with --no-deps: on an image with torch 2.3 a run must stop at
    once (its resume could not read its own last checkpoints), naming the version."""
    from hms_kit.checkpoint import MIN_TORCH, require_torch

    assert MIN_TORCH == (2, 4)
    for ok in ("2.4.0", "2.14.1+cu130", "10.0", None):
        require_torch(ok)
    with pytest.raises(
        RuntimeError, match=r"torch 2\.3\.1\+cu121: hms_kit trains with torch >= 2\.4"
    ):
        require_torch("2.3.1+cu121")
    with pytest.raises(RuntimeError, match="torch 1.13.1"):
        require_torch("1.13.1")
    # train_folds asks before anything is written
    from hms_kit.config import load_config
    from hms_kit.train import train_folds

    monkeypatch.setattr(torch, "__version__", "2.3.1")
    with pytest.raises(RuntimeError, match="torch 2.3.1"):
        train_folds(shared_comp, load_config("eeg1d"), tmp_path / "run")
    # a repeated run too: before its seeds' folders or an earlier run's folds are judged
    with pytest.raises(RuntimeError, match="torch 2.3.1"):
        train_folds(shared_comp, load_config("eeg1d", ["train.seeds=[1,2]"]), tmp_path / "run")
    assert not (tmp_path / "run").exists()
