"""hms_kit.tools.plan: the arithmetic of a plan (rows per stage, hours, bytes), the limits it
names, and the two measurements (model cost, cache bytes per row) on tiny inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hms_kit import schema
from hms_kit.config import load_config
from hms_kit.data.competition import Competition
from hms_kit.data.synth import generate_competition
from hms_kit.inputs.registry import get_input
from hms_kit.models import build_model
from hms_kit.tools.plan import (
    GB,
    ConfigPlan,
    Projection,
    StagePlan,
    ensemble_projection,
    fold_flops,
    full_rows,
    inference_flops,
    measure_bytes_per_row,
    model_cost,
    project,
    scale_bytes,
    session_hours,
    stage_plans,
    t4_hours,
    vote_share,
    weekly_hours,
)


def test_full_rows_and_vote_share_follow_the_real_table():
    assert full_rows("all") == schema.FULL_TRAIN_ROWS
    assert full_rows("dedup") == schema.FULL_DEDUP_ROWS
    assert full_rows("per_eeg") == schema.FULL_TRAIN_EEGS
    with pytest.raises(ValueError, match="row_mode"):
        full_rows("every")
    shares = schema.FULL_VOTE_SHARE_AT_LEAST
    assert vote_share(0) == vote_share(3) == 1.0
    assert vote_share(10) == vote_share(15) == shares[10]  # upper bound up to the next step
    assert vote_share(16) == shares[16] < shares[10]
    assert vote_share(100) == 0.0


def test_stage_plans_split_rows_by_folds_and_votes():
    cfg = load_config("default")  # 3 folds; stage 2 on >= 10 votes
    s1, s2 = stage_plans(cfg, rows=3000)
    assert (s1.samples, s1.val_samples, s1.epochs) == (2000, 1000, cfg.train.stage1.epochs)
    assert s2.samples == round(2000 * vote_share(10)) and s2.epochs == cfg.train.stage2.epochs
    # full size by default: the row mode's rows
    assert stage_plans(cfg)[0].samples == round(schema.FULL_TRAIN_ROWS * 2 / 3)
    # MLE-bench's population drops stage 2; the baseline has no torch stages
    assert len(stage_plans(load_config("default", ["target.population=all_rows"]))) == 1
    assert stage_plans(load_config("baseline")) == []


def test_a_per_eeg_sampler_plans_one_row_per_eeg_an_epoch():
    cfg = load_config("default", ["train.sampler=per_eeg"])
    s1, _ = stage_plans(cfg)
    assert s1.samples == round(schema.FULL_TRAIN_EEGS * 2 / 3)
    assert s1.val_samples == stage_plans(load_config("default"))[0].val_samples  # every row
    assert stage_plans(cfg, rows=3000)[0].samples == 2000  # fewer rows than EEGs


def test_hours_arithmetic():
    stages = [StagePlan(1, samples=1000, val_samples=500, epochs=2)]
    # per epoch: 3 x 1000 training + 500 validation forwards of 1 GFLOP
    assert fold_flops(1e9, stages) == pytest.approx(2 * 1e9 * 3500)
    assert t4_hours(7.2e15, tflops=2.0) == pytest.approx(1.0)
    assert t4_hours(7.2e15, tflops=4.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="TFLOP/s"):
        t4_hours(1.0, tflops=0)
    assert inference_flops(1e9, 2000, models=5, tta=True) == pytest.approx(2e13)
    assert inference_flops(1e9, 2000, models=5, tta=False) == pytest.approx(1e13)
    # 5 folds on 2 GPUs: 3 rounds, per seed; one GPU: one fold after another
    assert session_hours(1.5, folds=5, seeds=2, gpus=2) == pytest.approx(9.0)
    assert session_hours(1.5, folds=5, seeds=1, gpus=1) == pytest.approx(7.5)
    assert scale_bytes(1024.0, 1000) == 1024_000.0


def _plan(**kw) -> ConfigPlan:
    base = dict(
        name="x", family="timm2d", model="m", row_mode="all", params=1_000_000, flops=1e9,
        stages=[StagePlan(1, 1000, 500, 1)], folds=5, seeds=1, gpus=2, tta=False,
        time_limit_hours=0.0, bytes_per_row={"eeg": 1000.0}, cache_rows=1000,
    )  # fmt: skip
    return ConfigPlan(**{**base, **kw})


def test_limit_checks_name_the_limit_they_break():
    small = _plan()
    assert project(small).breaks == []
    # a fold of 3 x 10 M samples at 1 GFLOP each: ~4.2 h per fold, 3 rounds on 2 T4s
    long = _plan(stages=[StagePlan(1, 10_000_000, 0, 1)])
    proj = project(long, tflops=2.0)
    assert proj.session_hours == pytest.approx(3 * 3e16 / 2e12 / 3600)
    (session,) = [b for b in proj.breaks if b.startswith(f"{schema.KAGGLE_SESSION_HOURS:g} h per")]
    one = proj.fold_hours
    assert session.endswith(f"FOLDS=0,1,2,3,4 trains one kernel per fold, {one:.1f} h each")
    # a fold longer than a session: no split helps
    longer = project(_plan(stages=[StagePlan(1, 40_000_000, 0, 1)]), tflops=2.0)
    assert any("one fold alone needs" in b for b in longer.breaks), longer.breaks
    # under 12 h but over the config's own time limit
    mid = _plan(stages=[StagePlan(1, 2_000_000, 0, 1)], time_limit_hours=2.0)
    assert any("train.time_limit_hours" in b for b in project(mid).breaks)
    big_cache = _plan(bytes_per_row={"eeg": 1e6}, cache_rows=40_000)  # 40 GB
    breaks = project(big_cache).breaks
    assert any(b.startswith(f"{schema.KAGGLE_RAM_GB:g} GB of RAM") for b in breaks), breaks
    assert not any("of disk" in b for b in breaks)
    huge = _plan(bytes_per_row={"eeg": 1e6}, cache_rows=100_000)  # 100 GB
    assert any("GB of disk" in b for b in project(huge).breaks)
    heavy = _plan(params=200_000_000)  # 0.8 GB x 6 copies x 5 folds
    assert any("/kaggle/working" in b for b in project(heavy).breaks)
    slow = _plan(flops=1e13, test_rows=20_000, tta=True)
    assert any(
        b.startswith(f"{schema.KAGGLE_INFERENCE_HOURS:g} h for inference")
        for b in project(slow).breaks
    )
    # a family without a torch model has no hours, only its cache to check
    assert project(_plan(params=None, flops=None, bytes_per_row={})).breaks == []


def test_ensemble_sums_configs_against_the_weekly_quota():
    p = [Projection(f"c{i}", 1.0, 10.0, 11.0, 0.5) for i in range(3)]
    total = ensemble_projection(p + [Projection("baseline", None, None, None, None)])
    assert total.session_hours == pytest.approx(33.0) and total.inference_hours == 1.5
    assert any("GPU hours a week" in b for b in total.breaks)
    assert ensemble_projection(p[:2]).breaks == []
    # the quota counts the train kernel's session and the inference, not T4 hours
    assert weekly_hours(p[0]) == pytest.approx(11.5)
    assert weekly_hours(Projection("baseline", None, None, None, None)) is None
    one = _plan(stages=[StagePlan(1, 9_000_000, 0, 1)], folds=2)  # ~3.75 h a fold, 1 round
    assert project(one).breaks == []
    many = _plan(stages=[StagePlan(1, 9_000_000, 0, 1)], folds=2, seeds=9)  # ~34 h
    assert any("GPU hours a week" in b for b in project(many).breaks)


def test_model_cost_counts_parameters_and_scales_flops_with_the_input():
    cfg = load_config("eeg1d")
    params, flops, shapes = model_cost(cfg)
    assert params == sum(p.numel() for p in build_model(cfg).parameters())
    assert shapes == {"raw_eeg": tuple(get_input("raw_eeg").shape(cfg.inputs))}
    # a 1D CNN: half the seconds the model sees, about half the FLOPs
    _, half, _ = model_cost(load_config("eeg1d", ["inputs.raw_eeg.window_s=20"]))
    assert half / flops == pytest.approx(0.5, rel=0.05)
    assert model_cost(load_config("baseline"))[:2] == (None, None)


def test_cache_bytes_per_row_are_measured_on_built_entries(tmp_path):
    generate_competition(tmp_path / "c", n_eegs=2, seed=0, n_test=1)
    comp = Competition(tmp_path / "c")
    cfg = load_config("eeg1d")
    measured = measure_bytes_per_row(cfg, comp, tmp_path / "cache")
    stored = math.prod(get_input("raw_eeg").shape(cfg.inputs)) * np.dtype(np.float16).itemsize
    # float16 values plus the .npy header shared by the few rows
    assert set(measured) == {"raw_eeg"}
    assert stored <= measured["raw_eeg"] <= stored + 1024
    assert measure_bytes_per_row(load_config("baseline"), comp, tmp_path / "cache") == {}
    assert scale_bytes(measured["raw_eeg"], schema.FULL_TRAIN_ROWS) / GB > 1.0


def test_kaggle_spec2d_plans_one_stage_of_16_epochs_on_rows_with_more_than_8_votes():
    """The packaged kaggle-spec2d: dedup rows, 5 folds, only stage 1 (two_stage off) on
    rows with >= 9 votes, as the anchor's > 8."""
    cfg = load_config("kaggle-spec2d")
    (s1,) = stage_plans(cfg)
    assert s1.stage == 1 and s1.epochs == 16
    assert s1.samples == round(schema.FULL_DEDUP_ROWS * 4 / 5 * vote_share(9))
    assert s1.val_samples == round(schema.FULL_DEDUP_ROWS / 5 * vote_share(9))


def _gpu_check_file(path, device: str, tiny: bool = False, **figures):
    """A gpu-check JSON as ``make gpu-check`` writes it, one config measured."""
    from hms_kit.tools.gpu_check import ConfigCheck, GpuCheck, to_json

    check = ConfigCheck("eeg1d", batch_size=8, **figures)
    report = GpuCheck(device, "2.x", "2026-01-01 00:00 UTC", tiny, 20, 3, "", [check])
    path.write_text(to_json(report))
    return check


def test_plan_uses_a_measured_throughput_and_says_so(tmp_path, monkeypatch):
    """A gpu-check's effective TFLOP/s replaces the assumption for the configs it measured
    (their hours scale by it); the others keep the assumption, and the table says which.
    A --tiny file in the current folder is not a measurement: noted, the assumption kept."""
    from conftest import ok, run_command

    from hms_kit.tools.plan import ASSUMED_T4_TFLOPS

    cfg = load_config("eeg1d")
    _, flops, _ = model_cost(cfg)
    check = _gpu_check_file(tmp_path / "m.json", "Tesla T4", flops=flops, full=5000.0)
    measured = check.effective_tflops
    assert measured == pytest.approx(flops * 3 * 5000.0 / 1e12)
    monkeypatch.chdir(tmp_path)
    _gpu_check_file(tmp_path / "gpu_check.json", "cpu", tiny=True, flops=flops, full=1.0)
    printed = ok(run_command("plan", "--config", "eeg1d,default", "--measured", "m.json"))
    cells = {
        line.split("|")[1].strip(): [c.strip() for c in line.strip().strip("|").split("|")][1:]
        for line in printed.out.splitlines()
        if line.startswith("| ")
    }
    assert cells["T4 throughput, effective TFLOP/s"][:2] == [
        f"{measured:.3g} (measured)",
        f"{ASSUMED_T4_TFLOPS:.3g} (assumed)",
    ]
    fold = t4_hours(fold_flops(flops, stage_plans(cfg)), measured)
    assert cells["T4 hours per fold"][0] == f"{fold:.3g}"
    assert "measured on Tesla T4, 2026-01-01 00:00 UTC (m.json) for eeg1d" in printed.out
    assert f"for the others it assumes one T4 sustains {ASSUMED_T4_TFLOPS:.1f}" in printed.out
    assert "not a T4" not in printed.out
    # the default file here is a --tiny run: noted on stderr, every config assumed
    printed = ok(run_command("plan", "--config", "eeg1d"))
    assert "is a --tiny run on the CPU" in printed.err
    assert f"projection, assumes one T4 sustains {ASSUMED_T4_TFLOPS:.1f}" in printed.out
    missing = run_command("plan", "--config", "eeg1d", "--measured", "nowhere.json")
    assert missing.rc == 2 and "nowhere.json" in missing.err
