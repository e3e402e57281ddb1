"""The pipeline on a small synthetic competition with a tiny model: cache, train (two stages,
two folds, one epoch), OOF, predict, score, experiment, resume, interruption."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import damaged_copy, tiny_overrides

from hms_kit import schema
from hms_kit.cli import main
from hms_kit.config import load_config
from hms_kit.data import Competition
from hms_kit.data.folds import make_folds
from hms_kit.inputs.cache import build_cache
from hms_kit.predict import predict_test
from hms_kit.scoring.oof import gather_oof
from hms_kit.tools.experiment import BLEND_ROW
from hms_kit.train import train_folds

TINY = tiny_overrides(2)


@pytest.fixture(scope="module")
def comp(shared_comp) -> Competition:
    return shared_comp


@pytest.fixture(scope="module")
def trained(cnn_run, shared_cache):
    """The session's tiny CNN run (conftest.cnn_run: ``TINY`` on the shared folds file), its
    resolved config and scores, and the cache folder it was built with."""
    cfg = load_config(cnn_run.path / "config.yaml")
    result = json.loads((cnn_run.path / "scores.json").read_text())
    return cnn_run.path, cfg, result, shared_cache


def test_folds_group_patients(comp):
    rows = comp.read_train()
    folds = make_folds(rows, 3, seed=1)
    per_patient = pd.Series(folds).groupby(rows["patient_id"].to_numpy()).nunique()
    assert (per_patient == 1).all() and set(folds) == {0, 1, 2}
    assert (make_folds(rows, 3, seed=1) == folds).all()


def test_run_folder_contents(trained):
    run, cfg, result, cache = trained
    for name in (
        "config.yaml",
        "training_record.log",
        "folds.csv",
        "oof.csv",
        "scores.json",
        "per_class.csv",
        "confusion.png",
        "lr.png",
    ):
        assert (run / name).is_file(), name
    for k in range(2):
        assert (run / "checkpoints" / f"fold{k}_best.pt").is_file()
        assert (run / "checkpoints" / f"fold{k}_stage1.pt").is_file()
    assert not list(run.rglob("*.tmp-*"))
    oof = pd.read_csv(run / "oof.csv")
    probs = oof[[f"pred_{c}" for c in schema.VOTE_COLUMNS]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    assert set(oof["fold"]) == {0, 1} and result["complete"]
    assert np.isfinite(result["kl_all"]) and result["kl_all"] > 0
    log = (run / "training_record.log").read_text()
    assert "train_loss" in log and "val_loss" in log and "train_fold took" in log


@pytest.mark.slow  # retrains the shared run
def test_reproducible_on_cpu(comp, trained, tmp_path):
    run, cfg, result, cache = trained
    again = train_folds(comp, cfg, tmp_path / "again", cache_dir=cache, workers=1)
    assert again["kl_all"] == pytest.approx(result["kl_all"], abs=1e-6)


def test_bad_test_file_gets_prior(comp, trained, tmp_path):
    run, _, _, cache = trained
    test = comp.read_test()
    first, second = (int(e) for e in test["eeg_id"].head(2))
    # the first test EEG is truncated, the second has no file at all
    broken = damaged_copy(
        comp.root, tmp_path / "competition", "test_eegs", {first: b"truncated", second: None}
    )
    sub, report = predict_test(Competition(broken), [run], workers=1)
    assert report["fallback_rows"] == test["eeg_id"].head(2).tolist()
    prior = torch.load(run / "checkpoints" / "fold0_best.pt", weights_only=True)["prior"]
    row = sub.set_index("eeg_id").loc[test["eeg_id"].iloc[0], list(schema.VOTE_COLUMNS)]
    np.testing.assert_allclose(row.to_numpy(), np.asarray(prior) / np.sum(prior), rtol=1e-6)
    assert len(sub) == len(test)


def test_no_checkpoint_still_writes_a_submission(comp, tmp_path):
    sub, report = predict_test(comp, [tmp_path / "nothing"], workers=1)
    assert report["checkpoints"] == [] and len(sub) == len(comp.read_test())
    np.testing.assert_allclose(sub[list(schema.VOTE_COLUMNS)].sum(axis=1), 1)


def test_cache_reused_and_rebuilt(comp, tmp_path):
    cfg = load_config(None, TINY)
    rows = comp.read_train().head(10)
    c1 = build_cache(comp, rows, cfg.inputs, tmp_path, workers=1, progress=False)
    entry = c1.entries["eeg"].path
    mtime = (entry / "values.npy").stat().st_mtime_ns
    c2 = build_cache(comp, rows, cfg.inputs, tmp_path, workers=1, progress=False)
    assert c2.entries["eeg"].path == entry and (entry / "values.npy").stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(c1.get(3), c2.get(3))
    cfg2 = load_config(None, [*TINY, "inputs.eeg.n_fft=512"])
    c3 = build_cache(comp, rows, cfg2.inputs, tmp_path, workers=1, progress=False)
    assert (
        c3.entries["eeg"].path != entry and c3.entries["kaggle"].path == c1.entries["kaggle"].path
    )
    assert c1.get(0).shape == (8, 128, 256) and np.isfinite(c1.get(0)).all()


def test_parallel_cache_equals_serial(comp, tmp_path):
    cfg = load_config(None, TINY)
    rows = comp.read_train().head(12)
    a = build_cache(comp, rows, cfg.inputs, tmp_path / "a", workers=1, progress=False)
    b = build_cache(comp, rows, cfg.inputs, tmp_path / "b", workers=2, progress=False)
    for i in range(len(rows)):
        np.testing.assert_array_equal(a.get(i), b.get(i))


@pytest.mark.slow
def test_experiment_resumes(comp, tmp_path, capsys):
    args = [
        "experiment",
        "--competition",
        str(comp.root),
        "--out",
        str(tmp_path),
        "--models",
        "test_efficientnet",
        "--folds",
        "2",
        "--epochs",
        "1",
        "--workers",
        "1",
    ]
    for o in TINY:
        if not o.startswith(("model.name", "train.n_folds", "train.stage1.epochs")):
            args += ["--set", o]
    args += ["--set", "train.two_stage=false", "--set", "data.row_mode=dedup"]
    assert main(args) == 0
    table = pd.read_csv(tmp_path / "results.csv")
    # seven combinations, the blend of the seven and the prior, each scored per population
    assert len(table) == 9 and table["CV Result"].is_monotonic_increasing
    assert (table["Model"] == BLEND_ROW).sum() == 1
    prior = table[table["Model"].str.startswith("prior")].iloc[0]
    scores = json.loads((tmp_path / "test_efficientnet__kaggle" / "scores.json").read_text())
    assert prior["CV Result"] == pytest.approx(scores["kl_prior"], rel=1e-6)
    runs = table[~table["Model"].str.startswith(("blend", "prior"))]
    assert (runs["Target population"] == "kaggle_hq").all() and runs["CV per EEG"].notna().all()
    assert runs["CV >= 10 votes"].notna().all() and runs["CV golden"].notna().all()
    md = (tmp_path / "results.md").read_text()
    assert md.splitlines()[0] == (
        "| Model | Use Kaggle Spectrograms | Use EEG Spectrograms | "
        "Use Wavelet Spectrograms | CV Result | CV >= 10 votes | CV golden | CV per EEG | "
        "Target population | vs best |"
    )
    # each run against the best by the paired bootstrap: one best, the others tie or worse
    assert (runs["vs best"] == "best").sum() == 1
    assert set(runs["vs best"]) <= {"best", "tie", "worse"}
    assert "| **test_efficientnet**" in md
    stamp = (tmp_path / "test_efficientnet__kaggle" / "scores.json").stat().st_mtime_ns
    assert main(args) == 0  # every combination finished: nothing retrained
    assert (tmp_path / "test_efficientnet__kaggle" / "scores.json").stat().st_mtime_ns == stamp


@pytest.mark.slow  # a subprocess run killed mid-epoch, resumed, and a full one
def test_kill_and_resume_matches_uninterrupted(comp, trained, tmp_path):
    """SIGTERM mid-epoch, then --resume: the same OOF score as the uninterrupted run."""
    run, cfg, result, cache = trained
    cmd = [
        sys.executable,
        "-m",
        "hms_kit",
        "train",
        "--competition",
        str(comp.root),
        "--out",
        str(tmp_path / "killed"),
        "--cache",
        str(cache),
        "--workers",
        "1",
    ]
    for o in TINY:
        cmd += ["--set", o]
    # small batches and several epochs: the run is still going when the signal lands
    longer = ["train.stage1.epochs=4", "train.batch_size=2"]
    for o in [*longer, "train.log_every=1"]:
        cmd += ["--set", o]
    # the killed run's epochs and the in-process ones must sum floats in the same order
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    log = tmp_path / "killed" / "training_record.log"
    deadline = time.time() + 120
    while time.time() < deadline:  # wait for the second epoch of fold 0 to be under way
        if log.is_file() and "stage 1 epoch 1 step 2 " in log.read_text():
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert not list((tmp_path / "killed").rglob("*.tmp-*"))
    assert not (tmp_path / "killed" / "checkpoints" / "fold0_best.pt").exists()
    assert main([*cmd[3:], "--resume"]) == 0
    resumed = json.loads((tmp_path / "killed" / "scores.json").read_text())
    full = train_folds(
        comp,
        load_config("default", [*TINY, *longer]),  # `train` without --config: the default
        tmp_path / "full",
        cache_dir=cache,
        workers=1,
    )
    assert resumed["kl_all"] == pytest.approx(full["kl_all"], abs=1e-6)
    assert "resumed after epoch 0" in log.read_text()


def test_gather_partial_folds(trained, tmp_path):
    run, cfg, _, _ = trained
    part = tmp_path / "part"
    part.mkdir()
    (part / "oof_fold1.csv").write_text((run / "oof_fold1.csv").read_text())
    scores = gather_oof(part, cfg)
    assert scores["folds"] == [1] and scores["complete"] is False
    assert os.path.isfile(part / "oof.csv")


def test_bad_training_file_stops_with_file_and_row(comp, trained, tmp_path):
    """A truncated training EEG: training stops naming the file and the label row, and the
    files an earlier run wrote in the folder are left as they were."""
    from hms_kit.data import DataError

    victim = int(comp.read_train()["eeg_id"].iloc[5])
    truncated = comp.eeg_path(victim).read_bytes()[:4000]
    broken = damaged_copy(comp.root, tmp_path / "competition", "train_eegs", {victim: truncated})
    run, cfg, _, _ = trained
    out = tmp_path / "run"
    out.mkdir()
    for name in ("folds.csv", "oof.csv", "scores.json"):
        (out / name).write_bytes((run / name).read_bytes())
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(DataError, match=rf"{victim}.parquet.*label row \d+, eeg_id {victim}"):
        train_folds(Competition(broken), cfg, out, cache_dir=tmp_path / "cache", workers=1)
    for name, data in before.items():
        assert (out / name).read_bytes() == data
    assert not list(out.rglob("*.tmp-*")) and not list((tmp_path / "cache").rglob("*.tmp*"))


def test_folds_from_parallel_kernels_are_gathered(comp, trained, tmp_path):
    """One kernel per fold: each output has its oof_fold<k>.csv; gathered (mapped back to
    every train.csv row, as the run did) they give the same score as the run that trained
    both folds."""
    from hms_kit.scoring.oof import gather_fold_oof

    run, _, result, _ = trained
    inputs = []
    for k in range(2):
        d = tmp_path / f"hms-kit-train-fold{k}"
        d.mkdir()
        (d / f"oof_fold{k}.csv").write_bytes((run / f"oof_fold{k}.csv").read_bytes())
        (d / "config.yaml").write_bytes((run / "config.yaml").read_bytes())
        inputs.append(d)
    scores = gather_fold_oof(inputs, tmp_path / "oof", comp.read_train())
    assert scores["complete"] and scores["folds"] == [0, 1]
    assert scores["kl_all"] == pytest.approx(result["kl_all"], abs=1e-9)
    assert gather_fold_oof([tmp_path / "oof" / "nothing"], tmp_path / "x") is None


def test_dataset_items_are_stacked_half_panels(comp, tmp_path):
    from hms_kit.inputs.augment import build_augment
    from hms_kit.inputs.dataset import CustomDataset

    cfg = load_config(None, TINY)
    rows = comp.read_train().head(6)
    cache = build_cache(comp, rows, cfg.inputs, tmp_path, workers=1, progress=False)
    targets = np.full((6, 6), 1 / 6, np.float32)
    ds = CustomDataset(cache, np.arange(6), targets, np.ones(6, np.float32))
    x, y, v = ds[2]
    assert x.dtype == torch.float16 and tuple(x.shape) == (8, 128, 256)
    np.testing.assert_allclose(x.numpy().astype(np.float32), cache.get(2), atol=0)
    assert y.shape == (6,) and float(v) == 1.0
    aug = CustomDataset(cache, np.arange(6), targets, np.ones(6, np.float32),
                        augment=build_augment(cfg.augment, 2), seed=3)  # fmt: skip
    first = [aug[i][0] for i in range(6)]
    assert all(torch.equal(a, aug[i][0]) for i, a in enumerate(first))  # reproducible
    aug.set_epoch(1)
    assert any(not torch.equal(a, aug[i][0]) for i, a in enumerate(first))


def test_a_checkpoint_that_does_not_load_is_skipped(comp, trained, tmp_path):
    """fold1's weights do not fit the model (e.g. another timm version's keys): it is logged
    and skipped, and the submission is fold0's prediction alone."""
    run, _, _, cache = trained
    models = tmp_path / "models"
    models.mkdir()
    good = run / "checkpoints" / "fold0_best.pt"
    (models / "fold0_best.pt").write_bytes(good.read_bytes())
    bad = torch.load(run / "checkpoints" / "fold1_best.pt", weights_only=True)
    bad["model"] = {k + ".renamed": v for k, v in bad["model"].items()}
    torch.save(bad, models / "fold1_best.pt")
    sub, report = predict_test(comp, [models], workers=1, cache_dir=tmp_path / "c")
    alone, _ = predict_test(comp, [good], workers=1, cache_dir=tmp_path / "c")
    assert report["fallback_rows"] == [] and len(report["checkpoints"]) == 2
    np.testing.assert_allclose(
        sub[list(schema.VOTE_COLUMNS)].to_numpy(), alone[list(schema.VOTE_COLUMNS)].to_numpy()
    )


@pytest.mark.slow  # three trainings of two epochs
def test_fold_stopped_at_time_limit_resumes_to_the_full_result(comp, trained, tmp_path):
    """A time limit stops fold 0 after its first epoch (fold 1 never starts); --resume
    without the limit finishes both folds with the score of an uninterrupted run."""
    run, _, _, cache = trained
    two = [*TINY, "train.stage1.epochs=2"]
    out = tmp_path / "limited"
    first = train_folds(
        comp, load_config(None, [*two, "train.time_limit_hours=1e-9"]), out, cache_dir=cache,
        workers=1,
    )  # fmt: skip
    assert first["folds"] == [0] and first["complete"] is False
    assert json.loads((out / "fold0_summary.json").read_text())["stopped"] is True
    resumed = train_folds(
        comp, load_config(None, two), out, cache_dir=cache, resume=True, workers=1
    )
    full = train_folds(comp, load_config(None, two), tmp_path / "full", cache_dir=cache, workers=1)
    assert resumed["complete"] and resumed["kl_all"] == pytest.approx(full["kl_all"], abs=1e-6)


@pytest.mark.slow  # trains a fold twice
def test_a_fold_resumed_in_stage_2_reports_its_stage_1_as_an_uninterrupted_one(
    comp, trained, tmp_path, monkeypatch
):
    """Stopped after stage 2's first epoch, then resumed: the fold summary still holds stage
    1's best loss, epoch and rows (it left them out when stage 1 was skipped)."""
    import hms_kit.train as train_mod

    _, _, _, cache = trained
    two = [*TINY, "train.stage2.epochs=2", "train.stage2.min_votes=0"]
    calls: list[int] = []
    real = train_mod.FoldContext.out_of_time
    # the fold's own check, stage 1's epoch, stage 2's first epoch, then out of time
    monkeypatch.setattr(train_mod.FoldContext, "out_of_time",
                        lambda self: calls.append(1) or len(calls) >= 4)  # fmt: skip
    out = tmp_path / "run"
    train_folds(comp, load_config(None, two), out, folds=[0], cache_dir=cache, workers=1)
    first = json.loads((out / "fold0_summary.json").read_text())
    assert first["stopped"] is True and "stage2_best_epoch" in first
    monkeypatch.setattr(train_mod.FoldContext, "out_of_time", real)
    train_folds(comp, load_config(None, two), out, folds=[0], cache_dir=cache, resume=True,
                workers=1)  # fmt: skip
    resumed = json.loads((out / "fold0_summary.json").read_text())
    assert not resumed.get("stopped")
    for key in ("stage1_best_val_loss", "stage1_best_epoch", "stage1_val_rows"):
        assert resumed[key] == first[key], key


@pytest.mark.slow  # trains a fold twice
def test_a_run_trained_again_and_stopped_early_never_keeps_the_earlier_stage_2(
    comp, trained, tmp_path
):
    """A finished two-stage fold trained again without --resume and stopped by the time
    limit inside stage 1: its model is this call's stage 1, not the earlier run's stage 2
    (which is set aside in stale/)."""
    from hms_kit.checkpoint import load_checkpoint

    _, _, _, cache = trained
    two = [*TINY, "train.stage1.epochs=2", "train.stage2.min_votes=0"]  # stage 2 on every row
    out = tmp_path / "run"
    train_folds(comp, load_config(None, two), out, folds=[0], cache_dir=cache, workers=1)
    ckpts = out / "checkpoints"
    assert (ckpts / "fold0_stage2.pt").is_file()
    again = load_config(None, [*two, "train.time_limit_hours=1e-9"])
    train_folds(comp, again, out, folds=[0], cache_dir=cache, workers=1)
    assert json.loads((out / "fold0_summary.json").read_text())["stopped"] is True
    assert not (ckpts / "fold0_stage2.pt").exists()
    assert list((out / "stale").rglob("fold0_stage2.pt"))
    final, stage1 = (
        load_checkpoint(ckpts / "fold0_best.pt"),
        load_checkpoint(ckpts / "fold0_stage1.pt"),
    )
    for name, tensor in stage1["model"].items():
        assert torch.equal(final["model"][name], tensor), name


def test_a_fold_with_no_rows_at_min_votes_names_the_setting(comp, trained, tmp_path):
    """Every stage of a fold skipped for want of high-vote rows: the error names the settings
    to lower instead of a bare 'no epoch finished'."""
    from dataclasses import replace

    from hms_kit.train import NoCheckpointError

    _, cfg, _, cache = trained
    stage1 = replace(cfg.train.stage1, min_votes=10_000)
    cfg = replace(cfg, train=replace(cfg.train, stage1=stage1, two_stage=False))
    with pytest.raises(
        NoCheckpointError, match=r"fold 0: fewer than 2 training rows at train.stage1"
    ):
        train_folds(comp, cfg, tmp_path / "run", folds=[0], cache_dir=cache, workers=1)


def test_epoch_rows_counts_rows_or_groups():
    from hms_kit.engine.loop import epoch_rows

    assert epoch_rows(3, None) == 3
    assert epoch_rows(3, np.array([7, 7, 9])) == 2
    assert epoch_rows(0, None) == 0


@pytest.mark.slow  # trains a fold
def test_a_stage_of_one_eeg_under_the_per_eeg_sampler_is_skipped(comp, trained, tmp_path, kit_log):
    """Stage 2 whose training rows are one EEG's: with the per_eeg sampler every epoch is a
    batch of one, which batch norm cannot train on. The stage is skipped with a warning and
    the fold keeps stage 1's model (before, training crashed)."""
    from dataclasses import replace

    run, cfg, _, cache = trained
    rows = comp.read_train()
    folds = pd.read_csv(run / "folds.csv")
    assert len(folds) == len(rows)
    votes = rows[list(schema.VOTE_COLUMNS)].sum(axis=1).to_numpy()
    train = folds["fold"].to_numpy() != 0
    per_eeg = pd.Series(votes[train]).groupby(rows["eeg_id"].to_numpy()[train]).max()
    top = per_eeg.max()
    assert (per_eeg == top).sum() == 1, "the tiny competition's top vote count is one EEG's"
    stage2 = replace(cfg.train.stage2, min_votes=int(top))
    cfg = replace(cfg, train=replace(cfg.train, stage2=stage2, sampler="per_eeg"))
    train_folds(comp, cfg, tmp_path / "run", folds=[0], cache_dir=cache, workers=1)
    warned = f"fold 0 stage 2: 1 training item(s) an epoch with >= {int(top)} votes"
    assert any(line.startswith(warned) for line in kit_log)
    summary = json.loads((tmp_path / "run" / "fold0_summary.json").read_text())
    assert "stage1_best_val_loss" in summary and "stage2_best_val_loss" not in summary
