"""Finding Kaggle inputs by what they hold, in today's mount layout and in 2024's."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from hms_kit import schema
from hms_kit.data import Competition
from hms_kit.paths import ENV_WHEEL, KagglePaths, find_competition_dir
from hms_kit.predict import submission_order
from hms_kit.runtime.settings import find_input_config, is_competition_rerun
from hms_kit.runtime.train import continue_previous_run

SLUG = schema.COMPETITION_SLUG


def _competition(d: Path) -> Path:
    (d / "test_eegs").mkdir(parents=True)
    (d / "train.csv").write_text("eeg_id\n")
    return d


def _wheel_dataset(d: Path, config: str = "base: kaggle\n") -> Path:
    d.mkdir(parents=True)
    (d / "hms_kit-0.1.0-py3-none-any.whl").write_bytes(b"")
    (d / "config.yaml").write_text(config)
    return d


def _train_output(d: Path) -> Path:
    (d / "checkpoints").mkdir(parents=True)
    (d / "checkpoints" / "fold0_best.pt").write_bytes(b"best")
    (d / "folds.csv").write_text("fold\n0\n")
    return d


def test_current_layout_found_by_contents(tmp_path: Path) -> None:
    paths = KagglePaths(tmp_path)
    comp = _competition(tmp_path / "input" / "competitions" / SLUG)
    ds = _wheel_dataset(tmp_path / "input" / "datasets" / "someone" / "hms-kit-wheel")
    out = _train_output(tmp_path / "input" / "notebooks" / "someone" / "hms-kit-train")
    assert paths.competition == comp
    assert paths.attached() == [comp, ds, out]
    assert paths.model_inputs() == [ds, out]
    assert paths.wheels() == [ds / "hms_kit-0.1.0-py3-none-any.whl"]
    assert find_input_config(paths) == ds / "config.yaml"


def test_2024_layout_and_a_competition_under_another_name(tmp_path: Path) -> None:
    paths = KagglePaths(tmp_path)
    # attached under a name other than the slug: still found by train.csv + test_eegs/
    comp = _competition(tmp_path / "input" / "hms-copy")
    ds = _wheel_dataset(tmp_path / "input" / "hms-kit-wheel")
    # a dataset that is itself called "datasets" holds files: it is an input, not a mount
    odd = tmp_path / "input" / "datasets"
    odd.mkdir()
    (odd / "fold0_best.pt").write_bytes(b"")
    assert paths.competition == comp
    assert paths.model_inputs() == [odd, ds]
    assert find_input_config(paths) == ds / "config.yaml"


def test_the_2024_place_comes_first_and_a_missing_competition_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = KagglePaths(tmp_path)
    new = _competition(tmp_path / "input" / "competitions" / SLUG)
    old = _competition(tmp_path / "input" / SLUG)
    assert paths.competition == old != new
    monkeypatch.setenv("HMS_KAGGLE_ROOT", str(tmp_path / "empty"))
    monkeypatch.delenv("HMS_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="train.csv and test_eegs"):
        find_competition_dir()


def test_config_beside_the_installed_wheel(tmp_path: Path, monkeypatch) -> None:
    paths = KagglePaths(tmp_path)
    _wheel_dataset(tmp_path / "input" / "a-wheel")
    chosen = _wheel_dataset(tmp_path / "input" / "datasets" / "me" / "b-wheel")
    monkeypatch.setenv(ENV_WHEEL, str(chosen / "hms_kit-0.1.0-py3-none-any.whl"))
    assert find_input_config(paths) == chosen / "config.yaml"


def test_continue_previous_run_copies_without_overwriting(tmp_path: Path) -> None:
    paths = KagglePaths(tmp_path)
    _competition(tmp_path / "input" / "competitions" / SLUG)
    _wheel_dataset(tmp_path / "input" / "datasets" / "me" / "hms-kit-wheel")
    prev = _train_output(tmp_path / "input" / "notebooks" / "me" / "hms-kit-train")
    (paths.working / "checkpoints").mkdir(parents=True)
    (paths.working / "checkpoints" / "fold0_best.pt").write_bytes(b"newer")
    assert continue_previous_run(paths) == prev
    assert (paths.working / "folds.csv").read_text() == "fold\n0\n"
    assert (paths.working / "checkpoints" / "fold0_best.pt").read_bytes() == b"newer"
    # working/ already holds a run: nothing is copied again
    (prev / "later.txt").write_text("x")
    assert continue_previous_run(paths) is None
    assert not (paths.working / "later.txt").exists()


def test_a_resumed_train_kernel_keeps_the_earlier_sessions_log(tmp_path: Path, monkeypatch) -> None:
    """``RESUME=1``: the attached output's training_record.log is copied in before this
    session's log opens, so the new output holds the earlier epochs' lines and then its own."""
    import hms_kit.train
    from hms_kit.runtime.train import run_train_kernel

    paths = KagglePaths(tmp_path)
    _competition(tmp_path / "input" / "competitions" / SLUG)
    _wheel_dataset(tmp_path / "input" / "datasets" / "me" / "hms-kit-wheel")
    prev = _train_output(tmp_path / "input" / "notebooks" / "me" / "hms-kit-train")
    (prev / "training_record.log").write_text("fold 0 stage 1 epoch 6 (the earlier session)\n")
    monkeypatch.setattr(hms_kit.train, "install_stop_handler", lambda: None)
    monkeypatch.setattr(hms_kit.train, "train_folds", lambda *a, **k: {"complete": False})
    run_train_kernel(tmp_path, {"config": "", "folds": "0"})
    lines = (paths.working / "training_record.log").read_text().splitlines()
    assert lines[0] == "fold 0 stage 1 epoch 6 (the earlier session)"
    assert any("continuing the run attached from" in ln for ln in lines[1:])


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", False), ("True", True), ("1", True), ("false", False), (None, False)],
)
def test_is_competition_rerun(value: str | None, expected: bool) -> None:
    env = {} if value is None else {"KAGGLE_IS_COMPETITION_RERUN": value}
    assert is_competition_rerun(env) is expected


def test_submission_rows_come_from_test_csv(real_dir: Path, tmp_path: Path) -> None:
    comp_dir = tmp_path / "comp"
    comp_dir.mkdir()
    for item in real_dir.iterdir():
        if item.name != "sample_submission.csv":
            os.symlink(item, comp_dir / item.name)
    comp = Competition(comp_dir)
    test = comp.read_test()
    real_id = int(test["eeg_id"].iloc[0])
    # sample_submission with the same id: its order, no mismatch
    pd.read_csv(real_dir / "sample_submission.csv").to_csv(
        comp_dir / "sample_submission.csv", index=False
    )
    ids, mismatch = submission_order(comp, test)
    assert ids.tolist() == [real_id] and mismatch == []
    # a stale sample_submission (the hidden rerun replaces test.csv): test.csv's rows, named
    stale = pd.read_csv(real_dir / "sample_submission.csv")
    stale["eeg_id"] = 123
    stale.to_csv(comp_dir / "sample_submission.csv", index=False)
    ids, mismatch = submission_order(comp, test)
    assert ids.tolist() == [real_id] and mismatch == sorted([123, real_id])


def test_continue_previous_run_takes_a_repeated_runs_output_and_leaves_its_stale_files(
    tmp_path: Path,
) -> None:
    """A train kernel with ``train.seeds`` writes ``seeds/`` and no top-level checkpoints:
    its output is continued too; what a run set aside in ``stale/`` is not carried on."""
    paths = KagglePaths(tmp_path)
    _competition(tmp_path / "input" / "competitions" / SLUG)
    prev = tmp_path / "input" / "notebooks" / "me" / "hms-kit-train-seeds"
    ckpt = prev / "seeds" / "seed42" / "checkpoints" / "fold0_best.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"seed 42")
    (prev / "folds.csv").write_text("fold\n0\n")
    (prev / "stale" / "20261205T120000" / "checkpoints").mkdir(parents=True)
    (prev / "stale" / "20261205T120000" / "checkpoints" / "fold0_best.pt").write_bytes(b"old")
    assert continue_previous_run(paths) == prev
    assert (paths.working / "seeds" / "seed42" / "checkpoints" / "fold0_best.pt").is_file()
    assert not (paths.working / "stale").exists()
