"""Damaged inputs and reused folders (issue 16): a bad sample, a stale fold, a crafted
checkpoint or a second builder costs one row or one message, never a submission or a run.

A small synthetic competition and tiny one-epoch trainings, as in test_pipeline.py.
"""

from __future__ import annotations

import io
import os
import re
import threading

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import damaged_copy, tiny_overrides

from hms_kit import schema
from hms_kit.checkpoint import load_checkpoint, save_checkpoint
from hms_kit.cli import main
from hms_kit.config import load_config
from hms_kit.data import Competition, DataError
from hms_kit.data.folds import make_folds
from hms_kit.inputs import cache as cache_mod
from hms_kit.inputs.cache import build_cache
from hms_kit.predict import find_checkpoints, predict_test
from hms_kit.train import train_folds, training_rows

TINY = tiny_overrides(2)
ONE_STAGE = [*TINY, "train.two_stage=false"]
VOTES = list(schema.VOTE_COLUMNS)


@pytest.fixture(scope="module")
def comp(shared_comp) -> Competition:
    return shared_comp


@pytest.fixture(scope="module")
def cache_dir(shared_cache):
    return shared_cache


@pytest.fixture(scope="module")
def trained(comp, cache_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    cfg = load_config(None, ONE_STAGE)
    train_folds(comp, cfg, run, cache_dir=cache_dir, workers=1)
    return run


def _eeg_bytes(path, change) -> bytes:
    """The parquet at ``path`` as float64 with ``change(frame)`` applied, as bytes."""
    df = pd.read_parquet(path).astype("float64")
    change(df)
    buf = io.BytesIO()
    df.to_parquet(buf)
    return buf.getvalue()


def _set(row: int, column: str | None, value: float):
    def change(df):
        if column is None:
            df.iloc[row, :] = value
        else:
            df.loc[row, column] = value

    return change


# ----------------------------------------------------------------------------- 1: test EEGs
def test_inf_or_overflow_in_a_test_eeg_costs_one_row_at_most(comp, trained, tmp_path):
    """+inf in the EKG channel (no bipolar pair uses it) costs nothing; one sample of 3e38
    in Fp1 overflows the transform: that eeg_id alone gets the prior, logged by file.
    The CLI writes the submission over an older one and exits 0."""
    test = comp.read_test()
    inf_id, big_id = int(test["eeg_id"].iloc[0]), int(test["eeg_id"].iloc[1])
    broken = damaged_copy(
        comp.root,
        tmp_path / "competition",
        "test_eegs",
        {
            inf_id: _eeg_bytes(comp.eeg_path(inf_id, "test"), _set(5000, "EKG", np.inf)),
            big_id: _eeg_bytes(comp.eeg_path(big_id, "test"), _set(5000, "Fp1", 3e38)),
        },
    )
    out = tmp_path / "submission.csv"
    out.write_text("old submission\n")
    args = ["predict", "--competition", str(broken), "--run", str(trained), "--out", str(out)]
    assert main([*args, "--workers", "1"]) == 0
    sub = pd.read_csv(out).set_index("eeg_id")
    assert len(sub) == len(test) and np.isfinite(sub[VOTES].to_numpy()).all()
    good, _ = predict_test(comp, [trained], workers=1)
    good = good.set_index("eeg_id")
    # the inf sample is a NaN sample, filled like any other: the prediction barely moves
    np.testing.assert_allclose(sub.loc[inf_id, VOTES], good.loc[inf_id, VOTES], atol=0.05)
    prior = np.asarray(load_checkpoint(trained / "checkpoints" / "fold0_best.pt")["prior"])
    np.testing.assert_allclose(sub.loc[big_id, VOTES].to_numpy(), prior / prior.sum(), rtol=1e-6)
    others = [e for e in test["eeg_id"] if e != big_id]
    assert not np.allclose(sub.loc[others, VOTES].to_numpy(), prior / prior.sum(), atol=1e-4)
    log = (tmp_path / "training_record.log").read_text()  # the CLI logs beside --out
    assert f"{big_id}.parquet: window at offset 0 s gives non-finite values" in log


def test_a_window_one_input_fails_is_not_failed_in_anothers_entry(comp, tmp_path):
    """A test EEG of huge values (1e20): its wavelet transform overflows, its spectrogram
    does not. Built together into one cache folder, only the wavelet's entry marks the
    window failed, so the spectrogram's entry (same key: its own settings) serves a later
    group of checkpoints that reads it alone; one message for the window, not one per
    input."""
    test = comp.read_test()
    big = int(test["eeg_id"].iloc[0])

    def huge(df):
        df.iloc[:, :] = np.random.default_rng(0).standard_normal(df.shape) * 1e20

    broken = Competition(damaged_copy(comp.root, tmp_path / "competition", "test_eegs",
                                      {big: _eeg_bytes(comp.eeg_path(big, "test"), huge)}))  # fmt: skip
    cfg = load_config(None).inputs
    both = build_cache(broken, test, cfg, tmp_path / "cache", split="test",
                       modalities=["eeg", "wavelet"], workers=1, strict=False)  # fmt: skip
    assert both.ok.tolist() == [False] + [True] * (len(test) - 1)
    assert not both.entries["eeg"].failed and len(both.entries["wavelet"].failed) == 1
    (msg,) = both.errors()
    assert f"{big}.parquet: window at offset 0 s gives non-finite values" in msg
    alone = build_cache(broken, test, cfg, tmp_path / "cache", split="test",
                        modalities=["eeg"], workers=1, strict=False)  # fmt: skip
    assert alone.entries["eeg"].path == both.entries["eeg"].path  # reused, not rebuilt
    assert alone.ok.all() and np.isfinite(alone.value("eeg", 0).astype(np.float32)).all()


def test_non_finite_probabilities_are_a_failed_row(comp, trained, monkeypatch, kit_log):
    import hms_kit.predict as predict_mod

    real = predict_mod.predict_loader

    def nan_in_row_2(*args, **kwargs):
        p = real(*args, **kwargs)
        p[2] = np.nan
        return p

    monkeypatch.setattr(predict_mod, "predict_loader", nan_in_row_2)
    sub, report = predict_test(comp, [trained], workers=1)
    bad = int(comp.read_test()["eeg_id"].iloc[2])
    assert report["fallback_rows"] == [bad]
    assert np.isfinite(sub[VOTES].to_numpy()).all() and len(sub) == len(comp.read_test())
    assert any(f"eeg_id {bad} ({bad}.parquet): non-finite prediction" in m for m in kit_log)


# ----------------------------------------------------------------------------- 2: training
def test_inf_in_a_training_eeg_trains_normally(comp, tmp_path):
    victim = int(comp.read_train()["eeg_id"].iloc[0])
    broken = damaged_copy(
        comp.root,
        tmp_path / "competition",
        "train_eegs",
        {victim: _eeg_bytes(comp.eeg_path(victim), _set(7000, "Fp1", -np.inf))},
    )
    result = train_folds(
        Competition(broken), load_config(None, ONE_STAGE), tmp_path / "run", folds=[0],
        cache_dir=tmp_path / "cache", workers=1,
    )  # fmt: skip
    assert result["folds"] == [0] and np.isfinite(result["kl_all"])


def test_overflow_in_a_training_eeg_stops_naming_file_and_row(comp, tmp_path):
    victim = int(comp.read_train()["eeg_id"].iloc[0])
    broken = damaged_copy(
        comp.root,
        tmp_path / "competition",
        "train_eegs",
        {victim: _eeg_bytes(comp.eeg_path(victim), _set(7000, "Fp1", -3e38))},
    )
    with pytest.raises(DataError, match=rf"{victim}.parquet: .*non-finite values.*eeg_id {victim}"):
        train_folds(
            Competition(broken), load_config(None, ONE_STAGE), tmp_path / "run",
            cache_dir=tmp_path / "cache", workers=1,
        )  # fmt: skip


def test_non_finite_loss_stops_the_stage_naming_the_row(comp, tmp_path):
    """A panel that is not finite in the cache (however it got there) stops fold 0 at its
    first batch, naming the row and its files, and leaves no checkpoint behind."""
    from hms_kit.train import NonFiniteLossError

    cfg = load_config(None, ONE_STAGE)
    rows = training_rows(comp, cfg)
    cache = build_cache(comp, rows, cfg.inputs, tmp_path / "cache", workers=1, progress=False)
    folds = make_folds(rows, cfg.train.n_folds, cfg.train.seed)
    # every training row of fold 0: the last partial batch is dropped, and which rows it
    # holds depends on torch's randperm, which differs between torch versions
    train_rows = np.flatnonzero(folds != 0)
    panels = np.load(cache.entries["eeg"].path / "values.npy", mmap_mode="r+")
    for r in train_rows:
        panels[cache.index["eeg"][r], 0, 10, 10] = np.inf
    panels.flush()
    del panels
    run = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match=r"fold 0 stage 1 epoch 0 ") as err:
        train_folds(comp, cfg, run, cache_dir=tmp_path / "cache", workers=1)
    named = re.search(r"label row (\d+) \(eeg_id (\d+): train_eegs/(\d+)\.parquet", str(err.value))
    assert named, str(err.value)
    row = int(named.group(1))
    assert row in set(train_rows)
    eeg = int(rows["eeg_id"].iloc[row])
    assert int(named.group(2)) == eeg == int(named.group(3))
    assert not list((run / "checkpoints").glob("*.pt"))
    # the same damage in a validation row of fold 0: named too, not a missing checkpoint later
    val_row = int(np.flatnonzero(folds == 0)[0])
    panels = np.load(cache.entries["eeg"].path / "values.npy", mmap_mode="r+")
    for r in train_rows:
        panels[cache.index["eeg"][r], 0, 10, 10] = 0
    panels[cache.index["eeg"][val_row], 0, 10, 10] = np.inf
    panels.flush()
    del panels
    with pytest.raises(
        NonFiniteLossError,
        match=rf"fold 0 stage 1 epoch 0: validation predictions are not finite for "
        rf"label row {val_row} ",
    ):
        train_folds(comp, cfg, tmp_path / "run2", cache_dir=tmp_path / "cache", workers=1)


def test_the_non_finite_diagnosis_reads_a_batch_with_a_per_row_scalar():
    """spec2d's augmented batch carries a (B,) zoom shift beside its (B, ...) inputs: the
    diagnosis names the row with the bad input instead of raising IndexError on it."""
    from types import SimpleNamespace

    import torch

    from hms_kit.train import _non_finite_loss_error

    raw = torch.ones(2, 3, 4)
    raw[1, 0, 0] = float("inf")
    x = {"raw_eeg": raw, "spec2d_zoom_shift": torch.tensor([0.5, -0.5])}
    rows = pd.DataFrame({"eeg_id": [10, 11, 12, 13, 14], "spectrogram_id": [20, 21, 22, 23, 24]})
    ctx = SimpleNamespace(fold=0, rows=rows)
    y = torch.full((2, 6), 1 / 6)
    err = _non_finite_loss_error(ctx, 1, 0, 0, x, torch.zeros(2, 6), y, torch.tensor([0, 1]),
                                 np.array([3, 4]))  # fmt: skip
    assert "(non-finite inputs) from label row 4 (eeg_id 14: train_eegs/14.parquet" in str(err)


def test_a_non_finite_last_checkpoint_is_not_resumed(comp, trained, cache_dir, tmp_path, kit_log):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "folds.csv").write_bytes((trained / "folds.csv").read_bytes())
    # the real state after fold 0's last epoch, its weights turned NaN
    state = load_checkpoint(trained / "checkpoints" / "fold0_last.pt")
    state["model"] = {k: v.float() * np.nan if v.is_floating_point() else v
                      for k, v in state["model"].items()}  # fmt: skip
    save_checkpoint(state, run / "checkpoints" / "fold0_last.pt")
    result = train_folds(
        comp, load_config(None, ONE_STAGE), run, folds=[0], cache_dir=cache_dir, resume=True,
        workers=1,
    )  # fmt: skip
    assert result["folds"] == [0] and np.isfinite(result["kl_all"])
    assert any("fold 0: not resumed, trained from the start" in m and "NaN" in m for m in kit_log)
    assert np.isfinite(load_checkpoint(run / "checkpoints" / "fold0_best.pt")["val_loss"])


def test_a_fresh_run_stopped_before_its_first_epoch_leaves_no_earlier_state_to_resume(
    comp, trained, cache_dir, tmp_path, monkeypatch
):
    """Trained again without --resume and killed before its first epoch saved: the earlier
    run's fold0_last.pt went on standing beside its set-aside bests, and a later --resume
    went on from it. Now it is set aside with them."""
    import shutil

    import hms_kit.train as train_mod

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    assert (run / "checkpoints" / "fold0_last.pt").is_file()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "run_stage", killed)
    with pytest.raises(KeyboardInterrupt):
        train_folds(comp, load_config(None, ONE_STAGE), run, folds=[0], cache_dir=cache_dir,
                    workers=1)  # fmt: skip
    assert not (run / "checkpoints" / "fold0_last.pt").exists()
    assert len(list((run / "stale").rglob("fold0_last.pt"))) == 1


def test_a_fold_the_time_limit_stops_before_its_first_epoch_is_not_started(
    comp, cache_dir, tmp_path, monkeypatch, kit_log
):
    """The limit can pass between the fold's own check and its first epoch (the model is
    built in between): the fold is reported not started, as the check would have, where
    it raised and cost the other folds' results."""
    from types import SimpleNamespace

    import hms_kit.train as train_mod

    def stopped(*args, **kwargs):
        return SimpleNamespace(lrs=[], best_loss=float("inf"), best_epoch=-1, stopped=True)

    monkeypatch.setattr(train_mod, "run_stage", stopped)
    result = train_folds(comp, load_config(None, ONE_STAGE), tmp_path / "run", folds=[0],
                         cache_dir=cache_dir, workers=1)  # fmt: skip
    assert result["folds_trained"] == [{"fold": 0, "stopped": True, "started": False}]
    assert any("fold 0: not started: an epoch would pass the time limit" in m for m in kit_log)


# ----------------------------------------------------------------------------- 3: stale folds
def test_files_of_other_folds_or_configs_are_moved_aside(comp, cache_dir, tmp_path, kit_log):
    run = tmp_path / "run"
    three = load_config(None, [*ONE_STAGE, "train.n_folds=3"])
    two = load_config(None, ONE_STAGE)
    # oof.csv covers every train.csv row, whatever the row mode trained on
    n_rows = len(comp.read_train())
    assert len(training_rows(comp, two)) < n_rows
    train_folds(comp, three, run, cache_dir=cache_dir, workers=1)
    assert len(find_checkpoints([run])) == 3
    kit_log.clear()
    result = train_folds(comp, two, run, cache_dir=cache_dir, resume=True, workers=1)
    # the 3-fold models were not kept: folds 0 and 1 are new, fold 2 is set aside
    assert not any("already finished, kept" in m for m in kit_log)
    assert any("fold 2 files moved to stale/: fold 2 does not exist" in m for m in kit_log)
    assert result["complete"] and result["n_all"] == n_rows
    assert len(pd.read_csv(run / "oof.csv")) == n_rows
    assert [p.name for p in find_checkpoints([run])] == ["fold0_best.pt", "fold1_best.pt"]
    assert list((run / "stale").rglob("fold2_best.pt"))
    sub, report = predict_test(comp, [run], workers=1)
    assert len(report["checkpoints"]) == 2
    # the same config again: the folds carry its fingerprint and are kept
    kit_log.clear()
    train_folds(comp, two, run, cache_dir=cache_dir, resume=True, workers=1)
    assert any("fold 0: already finished, kept" in m for m in kit_log)
    # another modality set: what config.yaml says is what the checkpoints are
    eeg_only = load_config(None, [*ONE_STAGE, "inputs.modalities=eeg"])
    kit_log.clear()
    train_folds(comp, eeg_only, run, folds=[0], cache_dir=cache_dir, resume=True, workers=1)
    assert not any("already finished, kept" in m for m in kit_log)
    assert any("fold 1 files moved to stale/: trained with other settings: inputs.modalities: "
               "['kaggle', 'eeg'] -> ['eeg']" in m for m in kit_log)  # fmt: skip
    ck = load_checkpoint(run / "checkpoints" / "fold0_best.pt")
    assert ck["config"]["inputs"]["modalities"] == ["eeg"]
    # fold 1 (kaggle + eeg) no longer matches config.yaml: nothing of it is averaged in
    assert [p.name for p in find_checkpoints([run])] == ["fold0_best.pt"]


# ----------------------------------------------------------------------------- 4: unpickling
class _Payload:
    """Unpickling this runs code: it creates the file named in ``marker``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_crafted_checkpoint_never_runs_in_predict(comp, trained, tmp_path, kit_log):
    models = tmp_path / "input" / "a" / "b"
    (models / "c").mkdir(parents=True)
    good = trained / "checkpoints" / "fold0_best.pt"
    (models / "fold0_best.pt").write_bytes(good.read_bytes())
    marker = tmp_path / "code_ran"
    crafted = torch.load(trained / "checkpoints" / "fold1_best.pt", weights_only=True)
    crafted["payload"] = _Payload(str(marker))
    torch.save(crafted, models / "c" / "fold1_best.pt")
    sub, report = predict_test(comp, [tmp_path / "input"], workers=1, cache_dir=tmp_path / "c")
    assert not marker.exists()
    assert len(report["checkpoints"]) == 2 and report["fallback_rows"] == []
    assert any("fold1_best.pt: cannot be loaded safely" in m for m in kit_log)
    alone, _ = predict_test(comp, [good], workers=1, cache_dir=tmp_path / "c")
    np.testing.assert_allclose(sub[VOTES].to_numpy(), alone[VOTES].to_numpy())


# ----------------------------------------------------------------------------- 5: cache
def test_two_builders_share_one_entry(comp, tmp_path, monkeypatch):
    """Two runs building into one cache folder at once: one builds, the other waits and
    reuses the finished entry, which is never replaced."""
    cfg = load_config(None, TINY)
    rows = comp.read_train().head(8)
    calls = []
    real = cache_mod._compute_task

    def slow(task):
        calls.append(task["path"])
        threading.Event().wait(0.02)  # keep the first build going while the second starts
        return real(task)

    monkeypatch.setattr(cache_mod, "_compute_task", slow)
    results = {}

    def build(name):
        results[name] = build_cache(comp, rows, cfg.inputs, tmp_path, workers=1, progress=False)

    threads = [threading.Thread(target=build, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    n_files = rows["eeg_id"].nunique() + rows["spectrogram_id"].nunique()
    assert len(calls) == n_files  # built once, not twice
    a, b = results["a"], results["b"]
    assert a.entries["eeg"].path == b.entries["eeg"].path
    np.testing.assert_array_equal(a.get(3), b.get(3))


def test_a_finished_entry_is_never_replaced(comp, tmp_path):
    """A builder that decided to build before another finished (no lock held, e.g. an older
    kit) keeps the finished entry: a reader's memory map stays valid."""
    cfg = load_config(None, TINY)
    rows = comp.read_train().head(6)
    first = build_cache(
        comp, rows, cfg.inputs, tmp_path, modalities=["eeg"], workers=1, progress=False
    )
    entry = first.entries["eeg"].path
    inode = (entry / "values.npy").stat().st_ino
    reading = first.get(2)
    windows, _ = cache_mod.windows_for(rows, "eeg")
    from hms_kit.runlog import progress_bar

    cache_mod._build_entries(
        comp, cfg.inputs, {"eeg": (entry, windows)}, "train", 1, False, progress_bar
    )
    assert (entry / "values.npy").stat().st_ino == inode
    np.testing.assert_array_equal(first.get(2), reading)
    assert not list(tmp_path.glob(".*tmp-*"))


# ----------------------------------------------------------------------------- 7: folds
def test_an_eeg_under_two_patients_lands_in_one_fold(comp):
    """Grouping by patient alone splits such an EEG across training and validation."""
    from sklearn.model_selection import StratifiedGroupKFold

    rows = comp.read_train()
    y = rows[schema.CONSENSUS_COLUMN].astype(str).to_numpy()

    def by_patient(df):
        out = np.zeros(len(df), dtype=np.int64)
        sgkf = StratifiedGroupKFold(n_splits=3, shuffle=True, random_state=1)
        for k, (_, val) in enumerate(sgkf.split(df, y, groups=df["patient_id"].to_numpy())):
            out[val] = k
        return out

    # relabel one window of a multi-window EEG to another patient until patient grouping
    # alone would split that EEG between folds
    multi = rows["eeg_id"].value_counts()
    for eeg in multi[multi > 1].index:
        idx = np.flatnonzero(rows["eeg_id"].to_numpy() == eeg)
        for other in rows["patient_id"].unique():
            bad = rows.copy()
            bad.loc[idx[0], "patient_id"] = other
            if len(set(by_patient(bad)[idx])) > 1:
                folds = make_folds(bad, 3, seed=1)
                assert len(set(folds[idx])) == 1
                for ids in bad.groupby("patient_id").indices.values():
                    same_patient = set(folds[ids])
                    assert len(same_patient) == 1
                return
    pytest.fail("no relabelling split an EEG under patient grouping")


# ----------------------------------------------------------------------------- 9: CLI, logs
def test_fold_errors_are_one_line_and_come_before_the_cache(comp, tmp_path, capsys):
    base = ["train", "--competition", str(comp.root), "--cache", str(tmp_path / "cache")]
    for o in ONE_STAGE:
        base += ["--set", o]
    assert main([*base, "--out", str(tmp_path / "a"), "--folds", "5"]) == 2
    err = capsys.readouterr().err
    assert "error: fold 5 does not exist: folds are 0..1" in err and "Traceback" not in err
    assert main([*base, "--out", str(tmp_path / "b"), "--set", "train.n_folds=40"]) == 2
    err = capsys.readouterr().err
    assert "error: train.n_folds = 40, but the training rows hold only" in err
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_an_unwritable_out_is_one_line(comp, trained, tmp_path, capsys, monkeypatch):
    import hms_kit.io as io_mod

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", kwargs.get("dir", "out"))

    monkeypatch.setattr(io_mod.tempfile, "mkstemp", refuse)
    out = tmp_path / "ro" / "submission.csv"
    args = ["predict", "--competition", str(comp.root), "--run", str(trained), "--out", str(out)]
    assert main([*args, "--workers", "1"]) == 2
    assert "error: [Errno 13] Permission denied" in capsys.readouterr().err


def test_empty_test_and_ids_only_in_sample_submission_are_named(comp, trained, tmp_path, kit_log):
    root = tmp_path / "competition"
    root.mkdir()
    for item in comp.root.iterdir():
        if item.name not in ("test.csv", "sample_submission.csv"):
            (root / item.name).symlink_to(item)
    pd.DataFrame(columns=list(schema.TEST_COLUMNS)).to_csv(root / "test.csv", index=False)
    sample = comp.read_sample_submission().head(2)
    sample.to_csv(root / "sample_submission.csv", index=False)
    sub, report = predict_test(Competition(root), [trained], workers=1)
    assert len(sub) == 2 and report["fallback_rows"] == sample["eeg_id"].tolist()
    assert any("test.csv has no rows" in m for m in kit_log)
    ids = [int(e) for e in sample["eeg_id"]]
    assert any(f"eeg_id {ids} in sample_submission.csv but not in test.csv" in m for m in kit_log)


# ----------------------------------------------------- issue 23 (4): EEGs without a usable pair
_NO_PAIR = [c for c in schema.EEG_CHANNELS if c not in ("Fp1", "O2", "Fz", "Cz", "Pz", "EKG")]


def _no_usable_eeg(comp_root, split_dir: str, eeg_ids: list[int], dst):
    """A copy of the competition at ``dst`` where the first id's EEG is all NaN and the
    others keep only electrodes that make no bipolar pair (Fp1, O2, the midline, EKG)."""

    def all_nan(df):
        df.iloc[:, :] = np.nan

    def no_pair(df):
        df.loc[:, _NO_PAIR] = np.nan

    c = Competition(comp_root)
    changes = {
        e: _eeg_bytes(c.eeg_path(e, split_dir.split("_")[0]), all_nan if i == 0 else no_pair)
        for i, e in enumerate(eeg_ids)
    }
    return Competition(damaged_copy(comp_root, dst, split_dir, changes))


@pytest.fixture(scope="module")
def baseline_run(comp, tmp_path_factory):
    run = tmp_path_factory.mktemp("baseline")
    train_folds(comp, load_config("baseline", ["train.n_folds=2"]), run)
    return run


def _on_prior(sub: pd.DataFrame, ids: list[int], run) -> np.ndarray:
    """Which of ``ids`` have every row on the run's checkpoint prior."""
    prior = np.asarray(load_checkpoint(next((run / "checkpoints").glob("*.pt")))["prior"])
    got = sub.set_index("eeg_id").loc[ids, VOTES].to_numpy()
    return np.isclose(got, prior / prior.sum(), rtol=1e-6).all(axis=1)


def test_a_test_eeg_without_a_usable_pair_gets_the_prior(
    comp, trained, baseline_run, tmp_path, kit_log
):
    """Kaggle's layout, the CNN and the baseline: an all-NaN EEG and one whose recorded
    electrodes make no bipolar pair are failed rows on the prior, named by eeg_id."""
    ids = [int(e) for e in comp.read_test()["eeg_id"].iloc[:2]]
    broken = _no_usable_eeg(comp.root, "test_eegs", ids, tmp_path / "competition")
    for run in (trained, baseline_run):
        kit_log.clear()
        sub, report = predict_test(broken, [run], workers=1)
        assert report["fallback_rows"] == ids, run
        assert _on_prior(sub, ids, run).all()
        others = [int(e) for e in sub["eeg_id"] if e not in ids]
        assert not _on_prior(sub, others, run).any()
        assert any(f"prior used for eeg_id {ids}" in m for m in kit_log)
    text = "\n".join(kit_log)
    assert f"eeg_id {ids[0]}: window at offset 0 s: every sample is NaN" in text
    assert f"eeg_id {ids[1]}: window at offset 0 s: no bipolar pair" in text


def test_the_raw_eeg_inputs_fail_such_windows_too(comp, tmp_path):
    """eeg1d and spec2d read the raw bipolar waveforms from the same cache."""
    ids = [int(e) for e in comp.read_test()["eeg_id"].iloc[:2]]
    broken = _no_usable_eeg(comp.root, "test_eegs", ids, tmp_path / "competition")
    test = broken.read_test().assign(eeg_label_offset_seconds=0.0)
    test["spectrogram_label_offset_seconds"] = 0.0
    cfg = load_config(None, TINY).inputs
    cache = build_cache(
        broken, test, cfg, tmp_path / "cache", split="test", modalities=["raw_eeg", "eeg"],
        workers=1, strict=False, progress=False,
    )  # fmt: skip
    np.testing.assert_array_equal(cache.ok, ~test["eeg_id"].isin(ids).to_numpy())
    assert any("every sample is NaN" in e for e in cache.errors())


def test_mlebench_eeg_without_a_usable_pair_gets_the_prior(comp, trained, baseline_run, tmp_path):
    """MLE-bench's layout: every window of the EEG fails, so all its rows get the prior."""
    from hms_kit.data.mlebench import prepare_mlebench

    prepare_mlebench(comp.root, tmp_path / "mb")
    public = Competition(tmp_path / "mb" / "public")
    assert public.test_layout().name == "mlebench"
    ids = [int(e) for e in pd.unique(public.read_test()["eeg_id"])[:2]]
    broken = _no_usable_eeg(public.root, "test_eegs", ids, tmp_path / "broken")
    for run in (trained, baseline_run):
        sub, report = predict_test(broken, [run], workers=1)
        assert sorted(report["fallback_rows"]) == sorted(ids), run
        assert _on_prior(sub, ids, run).all()
        assert (sub["eeg_id"].isin(ids)).sum() >= len(ids)


def test_a_baseline_rerun_with_fewer_folds_retires_the_others(
    comp, baseline_run, tmp_path, kit_log
):
    """issue 23 (5): the baseline's fold files are retired like the CNN's. A 2-fold run
    with fold 2's files left by an earlier 3-fold run in its folder, trained again."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(baseline_run, run)
    shutil.copy(run / "oof_fold1.csv", run / "oof_fold2.csv")
    shutil.copy(run / "checkpoints" / "fold1_best.pt", run / "checkpoints" / "fold2_best.pt")
    kit_log.clear()
    result = train_folds(comp, load_config("baseline", ["train.n_folds=2"]), run)
    assert any("fold 2 files moved to stale/: fold 2 does not exist" in m for m in kit_log)
    oof = pd.read_csv(run / "oof.csv")
    assert not oof.duplicated(["eeg_id", "eeg_sub_id"]).any()
    assert len(oof) == result["n_all"] == len(comp.read_train())
    assert [p.name for p in find_checkpoints([run])] == ["fold0_best.pt", "fold1_best.pt"]
    assert list((run / "stale").rglob("oof_fold2.csv"))


# ------------------------------------------------------------------ issue 23 (7): cache faults
def test_a_full_disk_is_a_message_before_any_write(comp, tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 4096, 4096))
    cfg = load_config(None, TINY)
    rows = comp.read_train().head(4)
    with pytest.raises(OSError, match="the cache needs .* bytes .* but 4,096 are free") as err:
        build_cache(comp, rows, cfg.inputs, tmp_path, workers=1, progress=False)
    assert str(tmp_path) in str(err.value)
    assert not [p for p in tmp_path.iterdir() if not p.name.endswith(".lock")]


def test_dead_builders_leftovers_are_removed(comp, tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    left = tmp_path / f".eeg-0123456789abcdef.tmp-{int(dead.stdout)}"
    left.mkdir()
    (left / "values.npy").write_bytes(b"\0" * 1024)
    mine = tmp_path / f".eeg-0123456789abcdef.tmp-{os.getpid()}"  # alive: kept
    mine.mkdir()
    cfg = load_config(None, TINY)
    build_cache(comp, comp.read_train().head(2), cfg.inputs, tmp_path, modalities=["eeg"],
                workers=1, progress=False)  # fmt: skip
    assert not left.exists() and mine.exists()


def test_a_killed_builders_leftover_goes_when_its_pid_names_another_process(comp, tmp_path):
    """A killed build's folder whose pid a live process has since taken (PID reuse, as in a
    container): the entry's builder holds its lock, so that folder is dead and goes; another
    entry's folder of a live pid stays."""
    cfg = load_config(None, TINY)
    rows = comp.read_train().head(2)
    windows, _ = cache_mod.windows_for(rows, "eeg")
    key = cache_mod.entry_key("eeg", cfg.inputs, windows, comp, "train")
    alive = os.getppid()  # running, and not this builder
    reused = tmp_path / f".eeg-{key}.tmp-{alive}"
    reused.mkdir()
    (reused / "values.npy").write_bytes(b"\0" * 1024)
    other = tmp_path / f".eeg-0123456789abcdef.tmp-{alive}"
    other.mkdir()
    build_cache(comp, rows, cfg.inputs, tmp_path, modalities=["eeg"], workers=1, progress=False)
    assert not reused.exists() and other.exists()


def test_a_builder_waiting_on_a_lock_says_who_holds_it_and_gives_up(
    comp, tmp_path, monkeypatch, kit_log
):
    import fcntl

    cfg = load_config(None, TINY)
    rows = comp.read_train().head(2)
    windows, _ = cache_mod.windows_for(rows, "eeg")
    key = cache_mod.entry_key("eeg", cfg.inputs, windows, comp, "train")
    lock = tmp_path / f".eeg-{key}.lock"
    monkeypatch.setattr(cache_mod, "LOCK_TIMEOUT_S", 0.5, raising=False)
    outcome = []

    def build():
        try:
            build_cache(comp, rows, cfg.inputs, tmp_path, modalities=["eeg"], workers=1,
                        progress=False)  # fmt: skip
            outcome.append("built")
        except TimeoutError as exc:
            outcome.append(str(exc))

    with open(lock, "a+b") as held:  # another builder, this process's pid in the file
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        held.write(f"{os.getpid()}\n".encode())
        held.flush()
        waiter = threading.Thread(target=build, daemon=True)
        waiter.start()
        waiter.join(60)  # a waiter without a timeout would wait forever
        assert not waiter.is_alive(), "the builder never gave up its wait"
    (message,) = outcome
    assert str(lock) in message and f"pid {os.getpid()} (running)" in message
    assert any(f"being built by pid {os.getpid()} (running): waited 0 s" in m for m in kit_log)
    # once the holder is gone the same build goes through
    build()
    assert outcome[-1] == "built"
