"""Learning curves (issue 21 item 3): the plan, the table, the section and the resume."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_command

from hms_kit import schema
from hms_kit.config.loading import load_config, save_config
from hms_kit.ensemble import softmax
from hms_kit.tools import quality
from hms_kit.tools.quality import BLEND, Point, RunResult, parse_plan, summary_table

REPO = Path(__file__).resolve().parents[1]


def test_plan_orders_points_by_size_and_merges_families():
    points = parse_plan("1200:13:baseline,eeg1d 300:14,13; 1200:13:spec2d")
    assert [(p.n_eegs, p.seed) for p in points] == [(300, 13), (300, 14), (1200, 13)]
    assert points[0].families == tuple(quality.FAMILY_CONFIGS)  # no families: all of them
    # the two 1200:13 entries are one point, families in the registry's order
    assert points[2].families == ("baseline", "eeg1d", "spec2d")
    assert points[2].name == "n1200_s13"


def test_a_variant_trains_its_base_config_with_its_overrides_and_stays_out_of_the_blend(tmp_path):
    point = parse_plan("300:13:eeg1d-chain,baseline")[0]
    assert point.families == ("baseline", "eeg1d-chain")
    config, own = quality.family_config("eeg1d-chain")
    assert config == "eeg1d" and "model.eeg1d.topology=chain" in own
    cmd = quality.train_command(tmp_path / "c", tmp_path / "r", config, tmp_path / "f.csv", 3,
                                [*own, "train.stage1.epochs=1"])  # fmt: skip
    assert cmd[cmd.index("--config") + 1] == "eeg1d"
    sets = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--set"]
    assert sets[:2] == ["train.n_folds=3", f"train.folds_file={tmp_path / 'f.csv'}"]
    assert sets[2:] == [*own, "train.stage1.epochs=1"]
    # two finished runs, one of them the variant: no blend (the families' blend only)
    for fam in point.families:
        d = tmp_path / "runs" / point.name / fam
        d.mkdir(parents=True)
        (d / quality.RESULT_FILE).write_text(json.dumps(asdict(result(fam, 300, 13, 1, 1))))
    assert quality.blend_point(tmp_path, point) is None


@pytest.mark.parametrize(
    "text, named",
    [("300", "'300'"), ("300:x", "'300:x'"), ("300:1:cnn", "'cnn'"), ("0:1", "'0:1'")],
)
def test_plan_errors_name_the_entry(text, named):
    with pytest.raises(ValueError, match=named):
        parse_plan(text)


def result(family: str, n: int, seed: int, oof: float, test: float) -> RunResult:
    return RunResult(family=family, n_eegs=n, seed=seed, oof_kl=oof, oof_prior=1.2,
                     oof_oracle=0.2, oof_rows=100, test_kl=test, test_prior=1.1,
                     test_oracle=0.1, test_rows=30, minutes_per_fold=2.0)  # fmt: skip


def test_gap_closed_is_the_share_of_the_prior_to_oracle_distance():
    r = result("eeg1d", 300, 13, oof=0.7, test=0.6)
    assert r.oof_closed == pytest.approx(0.5) and r.test_closed == pytest.approx(0.5)


def test_summary_table_gives_mean_and_sd_over_seeds():
    rows = [result("eeg1d", 300, 13, 0.7, 0.6), result("eeg1d", 300, 14, 0.9, 0.8),
            result("baseline", 300, 13, 1.0, 1.0), result(BLEND, 300, 13, 0.6, 0.5),
            result(quality.blend_name(["baseline", "eeg1d"]), 300, 14, 0.8, 0.9),
            result("baseline", 1200, 13, 0.8, 0.9)]  # fmt: skip
    table = summary_table(rows)
    # a blend of two members is not averaged with the blend of all four
    assert list(zip(table["N"], table["family"])) == [
        (300, "baseline"), (300, "eeg1d"), (300, BLEND), (300, "blend of baseline+eeg1d"),
        (1200, "baseline"),
    ]  # fmt: skip
    assert quality.blend_name(list(quality.FAMILY_CONFIGS)[::-1]) == BLEND
    eeg = table[table["family"] == "eeg1d"].iloc[0]
    assert eeg["seeds"] == "13,14"
    assert eeg["oof_kl"] == pytest.approx(0.8) and eeg["oof_kl_sd"] == pytest.approx(0.1414, 1e-3)
    assert eeg["oof_closed"] == pytest.approx(0.4)  # (0.5 + 0.3) / 2
    assert math.isnan(table.iloc[0]["oof_kl_sd"])  # one seed: no sd


def test_runs_frame_keeps_every_seed_and_a_blends_members_in_the_tables_order():
    b = result(BLEND, 300, 14, 0.6, 0.5)
    b.extra = {"members": ["baseline", "eeg1d"], "chosen": "logit", "weights": [0.25, 0.75]}
    rows = [result("eeg1d", 300, 14, 0.9, 0.8), b, result("eeg1d", 300, 13, 0.7, 0.6),
            result("baseline", 1200, 13, 0.8, 0.9), result("baseline", 300, 13, 1.0, 1.0)]  # fmt: skip
    got = quality.runs_frame(rows)
    assert list(zip(got["N"], got["family"], got["seed"])) == [
        (300, "baseline", 13), (300, "eeg1d", 13), (300, "eeg1d", 14), (300, BLEND, 14),
        (1200, "baseline", 13)]  # fmt: skip
    assert list(got["oof_kl"][1:3]) == [0.7, 0.9]  # the seeds the table averages to 0.8
    blend = got[got["family"] == BLEND].iloc[0]
    assert (blend["members"], blend["chosen"], blend["weights"]) == (
        "baseline;eeg1d", "logit", "0.2500;0.7500")  # fmt: skip
    assert got["oof_closed"].iloc[1] == pytest.approx(0.5) and got["members"].iloc[0] == ""


def test_curve_figure_labels_only_n_and_keeps_the_legend_off_the_points():
    rows = [result(f, n, 13, 0.8, 0.8) for f in quality.FAMILY_CONFIGS for n in (300, 1200)]
    fig = quality.curve_figure(summary_table(rows))
    ax = fig.axes[0]
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["300", "1200"]
    assert all(t.get_text() == "" for t in ax.get_xticklabels(minor=True))
    legend, axes = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 >= axes.x1  # beside the axes, not over the lines
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(quality.FAMILY_CONFIGS)


def test_section_is_spliced_between_its_markers_and_kept_by_plain_bench():
    table = summary_table([result("eeg1d", 300, 13, 0.7, 0.6)])
    section = quality.render_section(table, "python -m hms_kit bench --quality", "lc.png")
    assert "| 300 | eeg1d | 13 | 0.700 | 1.200 | 0.200 | 50% | 0.600 |" in section
    old = "# Benchmarks\n\nintro\n"
    once = quality.splice(old, section)
    assert once.startswith(old.rstrip()) and quality.QUALITY_START in once
    twice = quality.splice(once, section.replace("0.700", "0.650"))
    assert twice.count(quality.QUALITY_START) == 1 and "0.650" in twice and "0.700" not in twice
    assert quality.quality_section(twice).endswith(quality.QUALITY_END)
    # text written after the section keeps its blank line, however often it is spliced
    notes = once + "\nWhat the table shows.\n"
    for _ in range(2):
        notes = quality.splice(notes, section)
        assert f"{quality.QUALITY_END}\n\nWhat the table shows.\n" in notes


def test_report_only_reads_finished_runs_and_trains_nothing(tmp_path):
    """A run with its quality.json is read back; one without is skipped, never trained."""
    point = Point(300, 13, ("baseline", "eeg1d"))
    done = tmp_path / "runs" / point.name / "baseline"
    done.mkdir(parents=True)
    (done / quality.RESULT_FILE).write_text(json.dumps(asdict(result("baseline", 300, 13, 1, 1))))
    lines: list[str] = []
    got = quality.run_plan(tmp_path, [point], log=lines.append, train=False)
    assert [r.family for r in got] == ["baseline"]  # one finished run: no blend
    assert any("eeg1d: not measured yet" in line for line in lines)
    assert not (tmp_path / "competitions").exists()  # nothing generated either


def finish(work, family: str, n: int, seed: int, minutes_per_fold: float) -> None:
    d = work / "runs" / f"n{n}_s{seed}" / family
    d.mkdir(parents=True)
    r = asdict(result(family, n, seed, 1, 1)) | {"minutes_per_fold": minutes_per_fold}
    (d / quality.RESULT_FILE).write_text(json.dumps(r))


def test_plan_minutes_measures_finished_runs_and_projects_the_rest_linearly_in_n(tmp_path):
    finish(tmp_path, "eeg1d", 300, 13, 2.0)
    finish(tmp_path, "eeg1d", 300, 14, 4.0)
    finish(tmp_path, "eeg1d", 4800, 13, 40.0)
    finish(tmp_path, "baseline", 300, 13, 0.5)
    points = parse_plan("300:13,15:baseline,eeg1d 1000:13:eeg1d,timm2d 4000:13:eeg1d")
    got = quality.plan_minutes(tmp_path, points, n_folds=3)
    cost = {(r.point, r.family): (r.status, r.minutes) for r in got.itertuples()}
    assert cost[("n300_s13", "eeg1d")] == ("measured", 6.0)  # 2.0 min a fold x 3 folds
    assert cost[("n300_s13", "baseline")] == ("measured", 1.5)
    assert cost[("n300_s15", "baseline")] == ("projected", 1.5)
    # the nearest N measured (300, not 4800: by ratio), its runs averaged, scaled by N
    assert cost[("n1000_s13", "eeg1d")] == ("projected", pytest.approx(3.0 * 1000 / 300 * 3))
    assert cost[("n4000_s13", "eeg1d")] == ("projected", pytest.approx(40.0 * 4000 / 4800 * 3))
    status, minutes = cost[("n1000_s13", "timm2d")]
    assert status == "unknown" and math.isnan(minutes)
    assert len(got) == 7


def test_plan_minutes_projects_a_variant_from_its_base_family_by_seeds_and_epochs(tmp_path):
    """A variant never run costs its base family's projection x their training ratio: 3 seeds
    a fold are 3x eeg1d; without stage 2, stage 1's epochs over stage 1's plus stage 2's at
    the share of rows stage 2 validated on (read from the base runs' fold summaries)."""
    finish(tmp_path, "eeg1d", 300, 13, 2.0)
    summary = {"stage1_val_rows": 1000, "stage2_val_rows": 250}
    (tmp_path / "runs" / "n300_s13" / "eeg1d" / "fold0_summary.json").write_text(
        json.dumps(summary)
    )
    points = parse_plan("1200:13:eeg1d-seeds3,eeg1d-stage1,timm2d-last")
    got = quality.plan_minutes(tmp_path, points, n_folds=3)
    cost = {r.family: (r.status, r.minutes) for r in got.itertuples()}
    eeg1d = 2.0 * 1200 / 300 * 3
    assert cost["eeg1d-seeds3"] == ("projected", pytest.approx(3 * eeg1d))
    e1, e2 = load_config("eeg1d").train.stage1.epochs, load_config("eeg1d").train.stage2.epochs
    stage1_only = eeg1d * e1 / (e1 + e2 * 0.25)
    assert cost["eeg1d-stage1"] == ("projected", pytest.approx(stage1_only))
    status, minutes = cost["timm2d-last"]  # no timm2d run to go by
    assert status == "unknown" and math.isnan(minutes)
    # a predict-only variant beside its source trains nothing; alone it trains the source
    cost = quality.plan_minutes(tmp_path, parse_plan("1200:13:eeg1d,eeg1d-tta"), n_folds=3)
    assert list(cost["minutes"]) == [pytest.approx(eeg1d), 0.0]
    cost = quality.plan_minutes(tmp_path, parse_plan("1200:13:eeg1d-tta"), n_folds=3)
    assert list(cost["minutes"]) == [pytest.approx(eeg1d)]


def test_plan_minutes_projects_a_variant_from_a_run_of_its_own_inputs_before_its_family(
    tmp_path,
):
    """timm2d at half its pixels costs 2.4x the default here: its three-seed variant is
    projected from it (x3 seeds), not from the default, and so is its variant of other
    augmentation probabilities (the same model on the same inputs); one with no such run
    falls back to the base family."""
    finish(tmp_path, "timm2d", 1200, 13, 5.0)
    finish(tmp_path, "timm2d-scale05", 1200, 13, 12.0)
    plan = ("1200:14:timm2d-scale05-seeds3,timm2d-seeds3,timm2d-scale05-seeds3-mirror,"
            "timm2d-scale05-mask015")  # fmt: skip
    cost = quality.plan_minutes(tmp_path, parse_plan(plan), n_folds=3)
    got = {r.family: (r.status, r.minutes) for r in cost.itertuples()}
    assert got["timm2d-scale05-seeds3"] == ("projected", pytest.approx(3 * 12.0 * 3))
    assert got["timm2d-seeds3"] == ("projected", pytest.approx(3 * 5.0 * 3))
    assert got["timm2d-scale05-seeds3-mirror"] == ("projected", 0.0)  # its source trains
    assert got["timm2d-scale05-mask015"] == ("projected", pytest.approx(12.0 * 3))
    assert quality.cost_sources("timm2d-scale05-seeds3")[-1] == "timm2d"
    assert quality.cost_sources("timm2d-scale05-mask015")[-1] == "timm2d"  # another step
    # a plan's --set on every run that gives timm2d half its pixels makes it the same step
    sources = quality.cost_sources("timm2d-scale05-mask015", ("inputs.scale=0.5",))
    assert sources[:2] == ["timm2d-scale05-mask015", "timm2d"] and "timm2d-scale05" in sources
    # where the plain family trains the same step, it comes before the other variants
    sources = quality.cost_sources("eeg1d-cutmix")
    assert sources[:2] == ["eeg1d-cutmix", "eeg1d"] and "eeg1d-votes" in sources


def test_plan_minutes_scales_a_variant_of_another_model_by_its_timed_step(tmp_path):
    """The chain never run, projected from eeg1d's run: eeg1d's minutes x the ratio of their
    training steps (the chain took 6x eeg1d's minutes at 1,200 EEGs; unscaled, the estimate
    said 1x). A variant of eeg1d's own model (three seeds) is scaled by epochs alone, and a
    step that cannot be timed leaves the projection unscaled."""
    finish(tmp_path, "eeg1d", 300, 13, 2.0)
    seconds = {"eeg1d": 0.1, "eeg1d-chain": 0.55, "eeg1d-chain-s2": 0.3}
    asked: list[str] = []

    def step_cost(family: str) -> float | None:
        asked.append(family)
        return seconds.get(family)

    plan = parse_plan(
        "300:14:eeg1d-chain,eeg1d-seeds3 300:15:eeg1d-chain-tta,eeg1d-cutmix 1200:14:eeg1d-chain-s2"
    )
    cost = quality.plan_minutes(tmp_path, plan, n_folds=3, step_cost=step_cost)
    got = {r.family: (r.status, r.minutes, r.step_ratio) for r in cost.itertuples()}
    assert got["eeg1d-chain"][:2] == ("projected", pytest.approx(2.0 * 3 * 5.5))
    assert got["eeg1d-chain"][2] == pytest.approx(5.5)
    # the views variant alone trains the chain: the same step, the same minutes
    assert got["eeg1d-chain-tta"][1] == pytest.approx(2.0 * 3 * 5.5)
    assert got["eeg1d-chain-s2"][1] == pytest.approx(2.0 * 1200 / 300 * 3 * 3.0)
    status, minutes, steps = got["eeg1d-seeds3"]
    assert (status, minutes) == ("projected", pytest.approx(3 * 2.0 * 3)) and math.isnan(steps)
    # an augmentation trains eeg1d's own step: not timed (a ratio of 1 +- noise)
    assert got["eeg1d-cutmix"][1] == pytest.approx(6.0) and math.isnan(got["eeg1d-cutmix"][2])
    assert quality.step_key("eeg1d-cutmix") == quality.step_key("eeg1d")
    assert quality.step_key("eeg1d-chain-tta") == quality.step_key("eeg1d-chain")
    assert sorted(asked) == ["eeg1d", "eeg1d-chain", "eeg1d-chain-s2"]  # each model once
    # no step_cost (or a model it cannot time): eeg1d's minutes x epochs, as before
    unscaled = quality.plan_minutes(tmp_path, plan[:1], n_folds=3)
    assert list(unscaled["minutes"]) == [pytest.approx(6.0), pytest.approx(18.0)]
    cost = quality.plan_minutes(tmp_path, plan[:1], n_folds=3, step_cost=lambda f: None)
    assert cost["minutes"][0] == pytest.approx(6.0) and math.isnan(cost["step_ratio"][0])


def test_plan_minutes_counts_the_plans_set_in_both_ratios(tmp_path):
    """A plan's ``--set`` trains every run: one that gives eeg1d the chain's model, or
    eeg1d-long's epochs, leaves the variant and its source one cost (no step timed, ratio 1),
    where without it the chain is timed and eeg1d-long costs its extra epochs."""
    finish(tmp_path, "eeg1d", 300, 13, 2.0)
    plan = parse_plan("300:14:eeg1d-long,eeg1d-chain")
    asked: list[str] = []

    def step_cost(family: str) -> float | None:
        asked.append(family)
        return {"eeg1d": 0.1, "eeg1d-chain": 0.5}[family]

    plain = quality.plan_minutes(tmp_path, plan, n_folds=3, step_cost=step_cost)
    minutes = dict(zip(plain["family"], plain["minutes"]))
    assert minutes["eeg1d-long"] > 6.0 * 1.5 and minutes["eeg1d-chain"] == pytest.approx(30.0)
    assert sorted(asked) == ["eeg1d", "eeg1d-chain"]
    asked.clear()
    sets = [*quality.family_config("eeg1d-chain")[1], "train.stage1.epochs=24"]
    cost = quality.plan_minutes(tmp_path, plan, n_folds=3, step_cost=step_cost, overrides=sets)
    assert list(cost["minutes"]) == [pytest.approx(6.0), pytest.approx(6.0)]
    assert asked == [] and cost["step_ratio"].isna().all()


def test_plan_minutes_takes_a_first_seed_trained_with_the_plans_set(tmp_path):
    """A repeated variant's first seed is its donor's run when that run trained with the
    plan's ``--set`` (as the bench would link it in): only the other two seeds cost; a run
    trained without the ``--set`` is stale under it, so all three are projected."""
    point = parse_plan("300:14:eeg1d-seeds3")[0]
    finish(tmp_path, "eeg1d", 300, 14, 2.0)
    folds = quality.shared_folds_sets(quality.folds_path(tmp_path, point, 3), 3)
    sets = ["train.stage1.epochs=24"]
    run = tmp_path / "runs" / point.name / "eeg1d"
    save_config(load_config("eeg1d", [*folds, *sets]), run / "config.yaml")
    with_set = quality.plan_minutes(tmp_path, [point], n_folds=3, overrides=sets)
    assert with_set["minutes"][0] == pytest.approx(3 * 6.0 - 6.0)
    without = quality.plan_minutes(tmp_path, [point], n_folds=3)
    assert without["minutes"][0] == pytest.approx(3 * 6.0)


def test_step_seconds_times_a_torch_model_and_leaves_the_caller_as_it_was():
    """The random streams, the thread count and grad mode (it may be called under
    ``no_grad``) are the caller's again after the timing."""
    import random

    import torch

    from hms_kit.tools.plan import step_seconds

    cfg = load_config("eeg1d", ["train.batch_size=4"])
    torch.manual_seed(5)
    random.seed(5)
    np.random.seed(5)
    expected = (torch.rand(3), random.random(), np.random.rand())
    torch.manual_seed(5)
    random.seed(5)
    np.random.seed(5)
    threads = torch.get_num_threads()
    with torch.no_grad():
        seconds = step_seconds(cfg, steps=1, threads=1)
        assert not torch.is_grad_enabled()
    assert seconds is not None and 0 < seconds < 60
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.rand(3), expected[0]) and random.random() == expected[1]
    assert np.random.rand() == expected[2]
    assert step_seconds(load_config("baseline")) is None  # no torch model to time
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        step_seconds(cfg, steps=0)


def test_a_repeated_variant_starts_from_its_donors_run_and_is_projected_less_it(tmp_path):
    """eeg1d-seeds3's first seed is eeg1d's run (the same settings): the estimate counts
    the two seeds left when eeg1d is finished on the point or trains there first."""
    assert quality.seed_donor("eeg1d-seeds3") == "eeg1d"
    assert quality.seed_donor("timm2d-scale05-seeds3") == "timm2d-scale05"
    assert quality.seed_donor("eeg1d-seeds3-tta") == "eeg1d"  # via eeg1d-seeds3, it trains
    assert quality.seed_donor("eeg1d") is None and quality.seed_donor("eeg1d-tta") is None
    finish(tmp_path, "eeg1d", 300, 13, 2.0)
    cost = quality.plan_minutes(tmp_path, parse_plan("300:13,14:eeg1d-seeds3"), n_folds=3)
    got = {r.point: r.minutes for r in cost.itertuples()}
    assert got["n300_s13"] == pytest.approx(2 * 2.0 * 3)  # eeg1d's folds kept
    assert got["n300_s14"] == pytest.approx(3 * 2.0 * 3)  # no eeg1d run there
    cost = quality.plan_minutes(tmp_path, parse_plan("300:14:eeg1d,eeg1d-seeds3"), n_folds=3)
    assert list(cost["minutes"]) == [pytest.approx(6.0), pytest.approx(12.0)]


def test_a_repeated_variants_first_seed_is_linked_from_its_donor_and_counted_while_kept(
    tmp_path,
):
    point = parse_plan("40:1:eeg1d-seeds3")[0]
    src = tmp_path / "runs" / point.name / "eeg1d"
    (src / "checkpoints").mkdir(parents=True)
    for name in ("fold0_summary.json", "oof_fold0.csv", "checkpoints/fold0_best.pt"):
        (src / name).write_text(name)
    run = tmp_path / "runs" / point.name / "eeg1d-seeds3"
    said: list[str] = []
    assert quality._first_seed_from(tmp_path, point, "eeg1d-seeds3", run, 3, None, said.append) == (
        None,
        0,
    )  # eeg1d not finished yet
    (src / quality.RESULT_FILE).write_text("{}")
    got = quality._first_seed_from(tmp_path, point, "eeg1d-seeds3", run, 3, None, said.append)
    assert got == ("eeg1d", 42) and "seed 42's folds [0] from eeg1d's run" in said[-1]
    mine = run / "seeds" / "seed42" / "checkpoints" / "fold0_best.pt"
    assert mine.samefile(src / "checkpoints" / "fold0_best.pt")
    assert quality._kept_folds(src, run, 42) == [0]
    tmp = mine.with_name("new.tmp")
    tmp.write_text("trained again")
    tmp.replace(mine)  # as train writes: a new file renamed over the link
    assert quality._kept_folds(src, run, 42) == []
    assert (src / "checkpoints" / "fold0_best.pt").read_text() == "checkpoints/fold0_best.pt"


def test_the_default_plans_table_keeps_the_optional_point_once_measured(tmp_path):
    """`make bench-quality` (no --plan) renders the 4,800 rows measured with their own --plan
    beside its own, and trains none of them; a plan given by hand shows only its points."""
    finish(tmp_path, "baseline", 300, 13, 0.1)
    finish(tmp_path, "eeg1d", 4800, 13, 8.0)
    out, fig = tmp_path / "B.md", tmp_path / "lc.png"
    args = ["bench", "--quality", "--work-dir", tmp_path, "--report-only", "--out", out,
            "--figure", fig]  # fmt: skip
    printed = run_command(*args)
    assert printed.rc == 0, printed.err
    text = out.read_text()
    assert "| 300 | baseline |" in text and "| 4800 | eeg1d |" in text
    assert (
        f"--plan '{quality.OPTIONAL_PLAN}'" in text and "optional point's rows: 1 " in printed.out
    )
    assert not (tmp_path / "competitions").exists()  # nothing generated or trained
    table = pd.read_csv(tmp_path / "learning_curve.csv")
    assert sorted(table["N"]) == [300, 4800]
    # each run's own row beside the plot, linked from the section
    runs = pd.read_csv(tmp_path / "lc_runs.csv")
    assert list(zip(runs["N"], runs["seed"], runs["family"])) == [
        (300, 13, "baseline"), (4800, 13, "eeg1d")]  # fmt: skip
    assert list(runs["min_per_fold"]) == [0.1, 8.0] and "[`lc_runs.csv`](lc_runs.csv)" in text
    printed = run_command(*args[:-4], "--plan", "300:13", "--out", out, "--figure", fig)
    assert printed.rc == 0 and "| 4800 |" not in out.read_text()


def test_bench_quality_estimate_prints_the_cost_and_trains_nothing(tmp_path):
    finish(tmp_path, "baseline", 300, 13, 0.5)
    printed = run_command("bench", "--quality", "--plan", "300:13,14:baseline,eeg1d",
                          "--work-dir", tmp_path, "--estimate", "--out", tmp_path / "B.md")  # fmt: skip
    assert printed.rc == 0, printed.err
    assert "1 runs measured (2 min), 3 to train: 1 projected at 2 min (" in printed.out
    assert "2 with no finished run of their family to go by" in printed.out
    assert printed.out.count("unknown") == 2 and "projected" in printed.out
    assert not (tmp_path / "B.md").exists() and not (tmp_path / "competitions").exists()
    # a variant of another model: its step and its family's timed here, the ratio printed
    finish(tmp_path, "eeg1d", 300, 13, 2.0)
    printed = run_command("bench", "--quality", "--plan", "300:14:eeg1d-chain", "--work-dir",
                          tmp_path, "--estimate", "--set", "train.batch_size=4")  # fmt: skip
    assert printed.rc == 0, printed.err
    header, row = printed.out.splitlines()[1:3]
    assert header.split()[-1] == "step_ratio" and row.split()[3] == "eeg1d-chain"
    minutes, ratio = map(float, row.split()[-2:])
    assert ratio > 0 and minutes == pytest.approx(6.0 * ratio, rel=0.01)


def test_table_name_keeps_the_default_plans_table_apart():
    assert quality.table_name(quality.parse_plan(quality.DEFAULT_PLAN)) == "learning_curve.csv"
    # the same plan written another way is still the default one
    assert quality.table_name(quality.parse_plan(
        "1200:14 300:15,13,14 1200:13:eeg1d,baseline 1200:13")) == "learning_curve.csv"  # fmt: skip
    assert (quality.table_name(quality.parse_plan("4800:13:baseline,eeg1d"))
            == "learning_curve_4800-13-baseline+eeg1d.csv")  # fmt: skip
    assert (quality.table_name(quality.parse_plan("4800:13,14:baseline,eeg1d"))
            == "learning_curve_4800-13-baseline+eeg1d_4800-14-baseline+eeg1d.csv")  # fmt: skip
    other = quality.table_name(quality.parse_plan("300:13:eeg1d,eeg1d-long"))
    assert other == "learning_curve_300-13-eeg1d+eeg1d-long.csv"
    long = quality.table_name(quality.parse_plan(" ".join(f"300:{s}" for s in range(10, 40))))
    assert len(long) < 100 and long.startswith("learning_curve_300-10-and-29-more-")


def test_bench_quality_without_finished_runs_says_so(tmp_path):
    printed = run_command("bench", "--quality", "--plan", "300:13", "--work-dir", tmp_path,
                          "--report-only", "--out", tmp_path / "B.md")  # fmt: skip
    assert printed.rc == 1 and "no run of the plan has finished" in printed.err


def test_bench_quality_refuses_a_bad_plan(tmp_path):
    printed = run_command("bench", "--quality", "--plan", "300:13:cnn", "--out", tmp_path / "B.md")
    assert printed.rc == 2 and "'cnn'" in printed.err


@pytest.mark.slow
def test_bench_quality_runs_scores_against_prior_and_oracle_and_resumes(tmp_path):
    """Two families on a tiny competition (1 epoch per stage): each run is scored next to the
    prior and the oracle on the same rows, the blend of the two is there, the section and the
    plot are written; a second call trains nothing and prints the same table. A predict-only
    variant (eeg1d-tta) predicts eeg1d's checkpoints again instead of training, and again
    once eeg1d has been trained anew."""
    out, work, fig = tmp_path / "BENCHMARKS.md", tmp_path / "work", tmp_path / "lc.png"
    args = ["bench", "--quality", "--plan", "40:1:baseline,eeg1d,eeg1d-tta", "--work-dir", work,
            "--out", out, "--figure", fig, "--set", "train.stage1.epochs=1",
            "--set", "train.stage2.epochs=1"]  # fmt: skip
    first = run_command(*args)
    assert first.rc == 0, first.err
    assert first.out.count(": training (") == 2
    assert first.out.count("eeg1d-tta: eeg1d's checkpoints predicted again") == 1
    csv = work / "learning_curve_40-1-baseline+eeg1d+eeg1d-tta.csv"  # not the default plan's
    assert not (work / "learning_curve.csv").exists()
    table = pd.read_csv(csv)
    assert list(table["family"]) == [
        "baseline", "eeg1d", "eeg1d-tta", f"{BLEND} of baseline+eeg1d", quality.READER]  # fmt: skip
    # the class-known ceiling: the families' rows and prior, between them and the oracle
    reader = table.iloc[-1]
    for col in ("oof_prior", "oof_oracle", "test_prior", "test_oracle"):
        assert reader[col] == pytest.approx(table[col].iloc[0])
    assert reader["oof_oracle"] < reader["oof_kl"] < reader["oof_prior"]
    assert reader["test_oracle"] < reader["test_kl"] < reader["test_prior"]
    assert np.isnan(reader["min_per_fold"])  # nothing trained
    tta = json.loads((work / "runs" / "n40_s1" / "eeg1d-tta" / quality.RESULT_FILE).read_text())
    plain = json.loads((work / "runs" / "n40_s1" / "eeg1d" / quality.RESULT_FILE).read_text())
    assert tta["extra"]["repredicted_from"] == "eeg1d"
    views = load_config(work / "runs" / "n40_s1" / "eeg1d-tta" / "config.yaml").predict
    assert views.tta_flip and views.tta_mirror and views.tta_oof
    assert tta["minutes_per_fold"] > plain["minutes_per_fold"]  # its training counts too
    assert (table["oof_oracle"] < table["oof_prior"]).all()
    assert (table["test_oracle"] < table["test_prior"]).all()
    r = json.loads((work / "runs" / "n40_s1" / "eeg1d" / quality.RESULT_FILE).read_text())
    assert r["oof_rows"] > 0 and r["test_rows"] == 20 and r["minutes_per_fold"] > 0
    # a scored run keeps its checkpoints and predictions, not its feature caches (GBs a run)
    run = work / "runs" / "n40_s1" / "eeg1d"
    assert (run / "oof.csv").is_file() and (run / "test_pred.csv").is_file()
    assert not any((run / name).exists() for name in quality.FEATURE_CACHES)
    assert "removed its feature caches" in first.out
    assert fig.stat().st_size > 1000 and "![learning curve](lc.png)" in out.read_text()
    runs = pd.read_csv(tmp_path / "lc_runs.csv")
    assert list(runs["family"]) == list(table["family"]) and (runs["seed"] == 1).all()
    assert runs["members"].iloc[-2] == "baseline;eeg1d"  # the blend; the ceiling last
    second = run_command(*args)
    assert second.rc == 0 and ": training (" not in second.out
    assert "predicted again" not in second.out
    assert pd.read_csv(csv).equals(table)
    # eeg1d trained anew rewrites its checkpoints (its run_id.txt stays): predicted again
    ckpt = run / "checkpoints" / "fold0_best.pt"
    data, tmp = ckpt.read_bytes(), ckpt.with_name("rewritten.tmp")
    tmp.write_bytes(data)
    tmp.replace(ckpt)
    third = run_command(*args)
    assert third.rc == 0 and "eeg1d trained again or other views since" in third.out
    assert third.out.count("checkpoints predicted again") == 1 and ": training (" not in third.out


@pytest.mark.slow
def test_bench_quality_trains_only_the_seeds_a_repeated_variant_adds(tmp_path):
    """eeg1d-seeds3 beside eeg1d on a tiny competition: eeg1d's folds become its seed 42's
    (linked, not trained again), seeds 43 and 44 train, its minutes count all three."""
    work = tmp_path / "work"
    args = ["bench", "--quality", "--plan", "40:1:eeg1d,eeg1d-seeds3", "--work-dir", work,
            "--out", tmp_path / "B.md", "--figure", tmp_path / "lc.png",
            "--set", "train.stage1.epochs=1", "--set", "train.stage2.epochs=1"]  # fmt: skip
    printed = run_command(*args)
    assert printed.rc == 0, printed.err
    assert "eeg1d-seeds3: seed 42's folds [0, 1, 2] from eeg1d's run" in printed.out
    point = work / "runs" / "n40_s1"
    seed42 = point / "eeg1d-seeds3" / "seeds" / "seed42"
    for k in range(3):
        mine = seed42 / "checkpoints" / f"fold{k}_best.pt"
        assert mine.samefile(point / "eeg1d" / "checkpoints" / f"fold{k}_best.pt")
    assert "already finished, kept" in (seed42 / "training_record.log").read_text()
    assert (point / "eeg1d-seeds3" / "seeds" / "seed44" / "checkpoints" / "fold2_best.pt").is_file()
    r = json.loads((point / "eeg1d-seeds3" / quality.RESULT_FILE).read_text())
    plain = json.loads((point / "eeg1d" / quality.RESULT_FILE).read_text())
    assert r["extra"] == {"first_seed_from": "eeg1d", "first_seed_folds": [0, 1, 2]}
    assert r["minutes_per_fold"] > plain["minutes_per_fold"]
    assert r["oof_kl"] != plain["oof_kl"]  # three seeds averaged, not eeg1d's alone


VOTES = list(quality.schema.VOTE_COLUMNS)


def fake_point(work, name: str, rng, n_test: int = 6, n_oof: int = 8) -> None:
    """A finished eeg1d and eeg1d-stage1 run on a made-up point: test answers (one EEG a
    patient, as the synthetic test set), oof.csv rows of 4 patients, half with >= 10 votes."""
    comp = work / "competitions" / name
    (comp / "_synth").mkdir(parents=True)
    ids = np.arange(n_test) + 1000
    votes = rng.integers(0, 5, (n_test, 6)) + np.eye(6, dtype=int)[np.arange(n_test) % 6] * 9
    pd.DataFrame(votes, columns=VOTES).assign(eeg_id=ids)[["eeg_id", *VOTES]].to_csv(
        comp / "_synth" / "test_answers.csv", index=False)  # fmt: skip
    pd.DataFrame(np.full((n_test, 6), 1 / 6), columns=VOTES).assign(eeg_id=ids).to_csv(
        comp / "_synth" / "test_true_probs.csv", index=False)  # fmt: skip
    pd.DataFrame({"eeg_id": ids, "patient_id": ids + 7}).to_csv(comp / "test.csv", index=False)
    pd.DataFrame(votes, columns=VOTES).to_csv(comp / "train.csv", index=False)
    total = np.where(np.arange(n_oof) % 2, 12, 3)
    target = rng.dirichlet(np.ones(6), n_oof)
    for fam in ("eeg1d", "eeg1d-stage1"):
        d = work / "runs" / name / fam
        d.mkdir(parents=True)
        (d / quality.RESULT_FILE).write_text("{}")
        pred = rng.dirichlet(np.ones(6), n_test)
        # rows in reverse order: the losses are matched by eeg_id, not by position
        sub = pd.DataFrame(pred, columns=VOTES).assign(eeg_id=ids)[["eeg_id", *VOTES]]
        sub.iloc[::-1].to_csv(d / "test_pred.csv", index=False)
        oof = pd.DataFrame({"eeg_id": np.arange(n_oof) // 2, "eeg_sub_id": np.arange(n_oof) % 2,
                            "patient_id": np.arange(n_oof) % 4, "total_votes": total})  # fmt: skip
        oof[[f"target_{c}" for c in VOTES]] = target
        oof[[f"pred_{c}" for c in VOTES]] = rng.dirichlet(np.ones(6), n_oof)
        oof.to_csv(d / "oof.csv", index=False)


def hand_kl(targets: np.ndarray, preds: np.ndarray) -> np.ndarray:
    t = np.asarray(targets, np.float64)
    return np.array([sum(a * np.log(a / b) for a, b in zip(tr, pr) if a > 0)
                     for tr, pr in zip(t, preds)])  # fmt: skip


def test_compare_families_pairs_runs_on_oof_high_vote_rows_and_on_test(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("n300_s13", "n300_s14"):
        fake_point(tmp_path, name, rng)
    points = parse_plan("300:13,14,15")  # s15 has no runs: left out
    got = quality.compare_families(tmp_path, points, "eeg1d", "eeg1d-stage1")
    assert list(zip(got["point"], got["split"])) == [
        ("n300_s13", "oof"), ("n300_s14", "oof"), ("mean", "oof"),
        ("n300_s13", "test"), ("n300_s14", "test"), ("mean", "test"),
    ]  # fmt: skip
    diffs = []
    for name in ("n300_s13", "n300_s14"):
        ans = pd.read_csv(tmp_path / "competitions" / name / "_synth" / "test_answers.csv")
        t = ans[VOTES].to_numpy() / ans[VOTES].to_numpy().sum(1, keepdims=True)
        kl = {}
        for fam in ("eeg1d", "eeg1d-stage1"):
            sub = pd.read_csv(tmp_path / "runs" / name / fam / "test_pred.csv")
            kl[fam] = hand_kl(t, sub.set_index("eeg_id").loc[ans["eeg_id"], VOTES].to_numpy())
        row = got[(got["point"] == name) & (got["split"] == "test")].iloc[0]
        assert row["kl_a"] == pytest.approx(kl["eeg1d"].mean())
        assert row["diff"] == pytest.approx((kl["eeg1d-stage1"] - kl["eeg1d"]).mean())
        assert row["low"] <= row["diff"] <= row["high"] and row["patients"] == 6
        diffs.append(row["diff"])
        oof = got[(got["point"] == name) & (got["split"] == "oof")].iloc[0]
        assert oof["rows"] == 4  # the rows with >= 10 votes only
    mean = got[(got["point"] == "mean") & (got["split"] == "test")].iloc[0]
    assert mean["diff"] == pytest.approx(np.mean(diffs)) and mean["rows"] == 12
    assert mean["sd_diff"] == pytest.approx(np.std(diffs, ddof=1))  # between the points
    with pytest.raises(ValueError, match="baseline and eeg1d"):
        quality.compare_families(tmp_path, points, "baseline", "eeg1d")
    # runs trained with another high-vote threshold: the OOF rows are theirs, not 10's
    cut = ["data.high_vote_threshold=12"]
    for name in ("n300_s13", "n300_s14"):
        for fam in ("eeg1d", "eeg1d-stage1"):
            config, own = quality.family_config(fam)
            sets = quality.shared_folds_sets(
                quality.folds_path(tmp_path, parse_plan(f"300:{name[-2:]}")[0], 3), 3
            )
            save_config(load_config(config, [*sets, *own, *cut]),
                        tmp_path / "runs" / name / fam / "config.yaml")  # fmt: skip
    got = quality.compare_families(tmp_path, points, "eeg1d", "eeg1d-stage1", overrides=cut)
    oof = got[got["split"] == "oof"]
    assert list(oof["point"]) == ["n300_s13", "n300_s14", "mean"] and (oof["rows"] > 0).all()


def test_make_bench_quality_compare_prints_each_point_and_refuses_an_unknown_family(tmp_path):
    """The README's ``make bench-quality QUALITY_ARGS='--compare A:B'`` (the venv as it is:
    PY and STAMP given)."""
    fake_point(tmp_path, "n300_s13", np.random.default_rng(1))
    stamp = tmp_path / "stamp"
    stamp.touch()

    printed = subprocess.run(
        ["make", "-s", "bench-quality", f"PY={sys.executable}", f"STAMP={stamp}",
         f"QUALITY_WORK={tmp_path}", "QUALITY_PLAN=300:13", f"BENCH_OUT={tmp_path / 'B.md'}",
         "QUALITY_ARGS=--compare eeg1d:eeg1d-stage1"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.count("n300_s13") == 2 and printed.stdout.count("mean") == 2
    assert not (tmp_path / "B.md").exists()  # compares, writes nothing
    # the refusal is the CLI's, not make's: in this process (a second make costs 4-5 s)
    bad = run_command("bench", "--quality", "--work-dir", tmp_path, "--plan", "300:13",
                      "--compare", "eeg1d:cnn")  # fmt: skip
    assert bad.rc != 0 and "'eeg1d:cnn'" in bad.err


def test_a_run_measured_with_another_config_is_stale_and_left_out_of_the_report(tmp_path):
    """A packaged config edited after a run was measured: the report leaves the run out
    (naming the setting), ``--compare`` refuses it, and the run would train again."""
    from hms_kit.config import load_config, save_config

    point = Point(300, 13, ("baseline", "eeg1d-stage1"))
    for fam in point.families:
        d = tmp_path / "runs" / point.name / fam
        d.mkdir(parents=True)
        (d / quality.RESULT_FILE).write_text(json.dumps(asdict(result(fam, 300, 13, 1, 1))))
        config, own = quality.family_config(fam)
        sets = quality.shared_folds_sets(quality.folds_path(tmp_path, point, 3), 3)
        # the variant's run as it was before its override: stage 2 of 4 epochs
        save_config(load_config(config, sets + ([] if fam == "eeg1d-stage1" else list(own))),
                    d / "config.yaml")  # fmt: skip
    assert quality.changed_settings(tmp_path, point, "baseline", 3) == []
    # the worker count does not move a run's figures: not a change
    assert quality.changed_settings(tmp_path, point, "baseline", 3, ["train.num_workers=3"]) == []
    # of predict.*, the OOF's views move its figures; the batch size does not
    assert quality.changed_settings(tmp_path, point, "baseline", 3, ["predict.batch_size=7"]) == []
    flip = ["predict.tta_flip=true"]
    assert quality.changed_settings(tmp_path, point, "eeg1d-stage1", 3, flip) == [
        "train.stage2.epochs: 4 -> 0",
        "OOF views (flip, mirror): (False, False) -> (True, False)",
    ]
    assert quality.changed_settings(tmp_path, point, "baseline", 3, flip) == []  # no views
    off = ["predict.tta_oof=false", "predict.tta_flip=true"]
    assert quality.changed_settings(tmp_path, point, "eeg1d-stage1", 3, off) == [
        "train.stage2.epochs: 4 -> 0"
    ]
    assert quality.changed_settings(tmp_path, point, "eeg1d-stage1", 3) == [
        "train.stage2.epochs: 4 -> 0"
    ]
    # the baseline's features: a change for the baseline, none for a family that ignores them
    morph = ["model.baseline.morphology=true"]
    assert quality.changed_settings(tmp_path, point, "baseline", 3, morph) == [
        "model.baseline.morphology: False -> True"
    ]
    assert quality.changed_settings(tmp_path, point, "eeg1d-stage1", 3, morph) == [
        "train.stage2.epochs: 4 -> 0"
    ]
    lines: list[str] = []
    got = quality.run_plan(tmp_path, [point], log=lines.append, train=False)
    assert [r.family for r in got] == ["baseline"]
    assert any("eeg1d-stage1: stale" in ln and "train.stage2.epochs: 4 -> 0" in ln for ln in lines)
    with pytest.raises(ValueError, match="n300_s13 eeg1d-stage1: measured with another config"):
        quality.compare_families(tmp_path, [point], "baseline", "eeg1d-stage1")


def test_a_predict_only_variant_is_not_stale_for_a_plans_tta_oof_off(tmp_path, monkeypatch):
    """repredict always predicts a variant's OOF with its views (config.yaml says
    tta_oof: true): a plan's ``--set predict.tta_oof=false`` leaves the variant current,
    while a training setting still makes it stale; a report (``--report-only``) reads it
    back, and leaves it out once its source's checkpoints changed."""
    from hms_kit.repredict import checkpoints_state, tta_config

    point = Point(300, 13, ("eeg1d-tta",))
    assert quality.repredicted_from("eeg1d-tta") == "eeg1d"
    src = tmp_path / "runs" / point.name / "eeg1d" / "checkpoints"
    src.mkdir(parents=True)
    (src / "fold0_best.pt").write_bytes(b"weights")
    d = tmp_path / "runs" / point.name / "eeg1d-tta"
    d.mkdir(parents=True)
    measured = result("eeg1d-tta", 300, 13, 1, 1)
    measured.extra = {"source_checkpoints": checkpoints_state(src.parent)}
    (d / quality.RESULT_FILE).write_text(json.dumps(asdict(measured)))
    config, own = quality.family_config("eeg1d")
    sets = quality.shared_folds_sets(quality.folds_path(tmp_path, point, 3), 3)
    off = ["predict.tta_oof=false"]
    # the source trained under the plan's override, predicted again by repredict
    save_config(tta_config(load_config(config, [*sets, *own, *off]), True, True), d / "config.yaml")
    assert quality.changed_settings(tmp_path, point, "eeg1d-tta", 3, off) == []
    assert quality.changed_settings(tmp_path, point, "eeg1d-tta", 3) == []
    assert quality.changed_settings(tmp_path, point, "eeg1d-tta", 3, [*off, "train.seed=7"]) == [
        "train.seed: 42 -> 7"
    ]
    got = quality.run_plan(tmp_path, [point], overrides=off, log=lambda s: None, train=False)
    assert [r.family for r in got] == ["eeg1d-tta"]
    # its source trained again: a report leaves it out, and trains and predicts nothing
    (src / "fold0_best.pt").write_bytes(b"other weights")
    lines: list[str] = []
    monkeypatch.setattr(quality.subprocess, "run", lambda *a, **k: pytest.fail("a child ran"))
    got = quality.run_plan(tmp_path, [point], overrides=off, log=lines.append, train=False)
    assert got == [] and "eeg1d's run trained again or gone" in lines[0]


def measured_run(work: Path, point: Point, measured: RunResult):
    """The point's one family measured as it resolves now: its run folder with config.yaml
    and quality.json. Returns ``(run, config, own overrides, folds sets)``."""
    fam = point.families[0]
    run = work / "runs" / point.name / fam
    run.mkdir(parents=True)
    config, own = quality.family_config(fam)
    sets = quality.shared_folds_sets(quality.folds_path(work, point, 3), 3)
    save_config(load_config(config, [*sets, *own]), run / "config.yaml")
    (run / quality.RESULT_FILE).write_text(json.dumps(asdict(measured)))
    return run, config, own, sets


def test_a_stale_run_cut_short_or_left_incomplete_keeps_no_figures(tmp_path, monkeypatch):
    """A stale run trained again loses its old quality.json first: a retrain cut short (the
    child wrote the new config.yaml, then died) is not read back as current. A child that
    exits 0 with folds left out (``train.folds``, a time limit) records nothing either.
    ``--set`` reaches the staleness check of a comparison as it reaches the plan's."""
    point = Point(300, 13, ("baseline",))
    run, config, own, sets = measured_run(tmp_path, point, result("baseline", 300, 13, 1, 1))
    (run / "test_pred.csv").write_text("eeg_id\n1\n")
    morph = ["model.baseline.morphology=true"]
    quality.refuse_stale(tmp_path, [point], ["baseline"], 3)  # current without the --set
    with pytest.raises(ValueError, match="model.baseline.morphology: False -> True"):
        quality.refuse_stale(tmp_path, [point], ["baseline"], 3, morph)

    monkeypatch.setattr(quality, "ensure_competition", lambda work, pt: tmp_path / "comp")
    monkeypatch.setattr(quality, "ensure_folds", lambda work, pt, comp, n: tmp_path / "f.csv")
    outcome = {"rc": 1, "scores": None}

    def child(cmd, **kw):  # the train child: its config first, then it dies or ends
        save_config(load_config(config, [*sets, *own, *morph]), run / "config.yaml")
        if outcome["scores"] is not None:
            (run / "scores.json").write_text(json.dumps(outcome["scores"]))
        return subprocess.CompletedProcess(cmd, outcome["rc"], "", "killed")

    monkeypatch.setattr(quality.subprocess, "run", child)
    lines: list[str] = []
    with pytest.raises(RuntimeError, match="train exited 1"):
        quality.run_family(tmp_path, point, "baseline", overrides=morph, log=lines.append)
    assert "measured with another config" in lines[0]
    assert not (run / quality.RESULT_FILE).exists() and not (run / "test_pred.csv").exists()
    assert quality.changed_settings(tmp_path, point, "baseline", 3, morph) == []
    assert quality.run_plan(tmp_path, [point], overrides=morph, log=lines.append, train=False) == []

    outcome.update(rc=0, scores={"complete": False, "folds": [0], "folds_stopped": [0]})
    with pytest.raises(RuntimeError, match=r"not every fold finished \(folds with OOF \[0\], "
                       r"stopped at the time limit \[0\]"):  # fmt: skip
        quality.run_family(tmp_path, point, "baseline", overrides=morph, log=lines.append)
    assert not (run / quality.RESULT_FILE).exists()


def test_a_run_measured_with_other_oof_views_keeps_its_training_minutes(tmp_path, monkeypatch):
    """Only the OOF's views changed: train --resume keeps the folds and predicts the OOF
    again, so the run keeps the minutes its training took, not the child's few seconds."""
    point = Point(300, 13, ("eeg1d",))
    was = result("eeg1d", 300, 13, 1, 1)
    was.cpu_minutes_per_fold = 3.5
    run, config, own, sets = measured_run(tmp_path, point, was)
    flip = ["predict.tta_flip=true"]
    monkeypatch.setattr(quality, "ensure_competition", lambda work, pt: tmp_path / "comp")
    monkeypatch.setattr(quality, "ensure_folds", lambda work, pt, comp, n: tmp_path / "f.csv")
    monkeypatch.setattr(quality, "predict_run", lambda comp, run_dir: pd.DataFrame({"eeg_id": [1]}))
    monkeypatch.setattr(quality, "score_oof", lambda *a: {"oof_kl": 0.9, "oof_prior": 1.2,
                        "oof_oracle": 0.2, "oof_rows": 100})  # fmt: skip
    monkeypatch.setattr(quality, "score_test", lambda *a: {"test_kl": 0.8, "test_prior": 1.1,
                        "test_oracle": 0.1, "test_rows": 30})  # fmt: skip
    (run / "oof.csv").write_text("eeg_id\n1\n")

    def child(cmd, **kw):  # the OOF predicted again with the new views, every fold kept
        save_config(load_config(config, [*sets, *own, *flip]), run / "config.yaml")
        (run / "oof.csv").write_text("eeg_id\n1\n")
        (run / "scores.json").write_text(json.dumps({"complete": True, "folds": [0, 1, 2]}))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    def killed(cmd, **kw):  # the first re-prediction: its config written, then killed
        save_config(load_config(config, [*sets, *own, *flip]), run / "config.yaml")
        return subprocess.CompletedProcess(cmd, -9, "", "killed")

    lines: list[str] = []
    monkeypatch.setattr(quality.subprocess, "run", killed)
    with pytest.raises(RuntimeError, match="train exited -9"):
        quality.run_family(tmp_path, point, "eeg1d", overrides=flip, log=lines.append)
    assert "other OOF views" in lines[0] and "predicting its OOF again" in lines[0]
    assert not (run / quality.RESULT_FILE).exists()
    # the next bench resumes it: the minutes of its training survive the cut
    monkeypatch.setattr(quality.subprocess, "run", child)
    lines.clear()
    got = quality.run_family(tmp_path, point, "eeg1d", overrides=flip, log=lines.append)
    assert "cut short before" in lines[0]
    assert got.oof_kl == 0.9 and got.minutes_per_fold == 2.0 and got.cpu_minutes_per_fold == 3.5
    assert quality.changed_settings(tmp_path, point, "eeg1d", 3, flip) == []
    assert not (run / quality.TRAINED_FILE).exists()


def test_a_plans_high_vote_cut_reaches_every_figure_of_the_point(tmp_path, monkeypatch):
    """``--set data.high_vote_threshold=N`` trains every run with that cut; the plan scores
    the runs, the blend and the class reader on the same rows (``compare`` reads it from
    the runs)."""
    assert quality.plan_threshold(None) == schema.HIGH_VOTE_THRESHOLD
    table = summary_table([result("eeg1d", 300, 13, 0.7, 0.6)])
    said = quality.render_section(table, "bench --quality", None, threshold=12)
    assert said.count(">= 12") == 3 and ">= 10" not in said
    assert quality.plan_threshold(["data.high_vote_threshold=12", "train.seed=3"]) == 12
    with pytest.raises(ValueError, match="data.high_vote_threshold=many"):
        quality.plan_threshold(["data.high_vote_threshold=many"])
    seen = []

    def run_family(work, point, family, n_folds, threads, overrides, threshold, log):
        seen.append((family, threshold))
        return result(family, point.n_eegs, point.seed, 1, 1)

    monkeypatch.setattr(quality, "run_family", run_family)
    monkeypatch.setattr(quality, "blend_point", lambda w, p, f, threshold, members: seen.append(
        ("blend", threshold)))  # fmt: skip
    monkeypatch.setattr(quality, "reader_result", lambda w, p, n, threshold: seen.append(
        ("reader", threshold)))  # fmt: skip
    sets = ["data.high_vote_threshold=12"]
    quality.run_plan(tmp_path, [Point(300, 13, ("baseline", "eeg1d"))], overrides=sets,
                     log=lambda line: None)  # fmt: skip
    assert seen == [("baseline", 12), ("eeg1d", 12), ("blend", 12), ("reader", 12)]


@pytest.mark.parametrize("variant", sorted(quality.VARIANTS))
def test_every_variant_resolves_to_a_config_that_differs_from_its_base(variant):
    """A variant's overrides name real keys (a typo would fail only hours into a plan) and
    change what its base config trains with."""
    from hms_kit.config import load_config, to_dict

    base, overrides = quality.family_config(variant)
    assert overrides
    assert to_dict(load_config(base, list(overrides))) != to_dict(load_config(base))


def test_packaged_eeg1d_chain_is_the_variant_that_was_measured():
    """``--config eeg1d-chain`` trains and predicts what ``eeg1d-chain-s2-seeds2-tta``
    measured (its 63 % at 1,200 EEGs), with one seed what ``eeg1d-chain-s2-tta`` did and with
    the stem at step 1 what ``eeg1d-chain-tta`` did; it is not eeg1d.yaml, which the family
    keeps at the demo's size."""
    from hms_kit.models import build_model
    from hms_kit.models.eeg1d import ChainNet
    from hms_kit.repeats import seed_list

    packaged = load_config("eeg1d-chain")
    one_seed = ["train.seeds=[]"]  # the default; train.seeds=1 trains the same (seed_list)
    for variant, extra in (
        ("eeg1d-chain-s2-seeds2-tta", []),
        ("eeg1d-chain-s2-tta", one_seed),
        ("eeg1d-chain-tta", [*one_seed, "model.eeg1d.chain.stem_stride=1"]),
    ):
        base, overrides = quality.family_config(variant)
        assert load_config("eeg1d-chain", extra) == load_config(base, list(overrides)), variant
    assert packaged != load_config("eeg1d")
    assert (
        len(seed_list(packaged)) == 2
        and seed_list(load_config("eeg1d-chain", ["train.seeds=1"])) == []
    )
    assert packaged.predict.tta_flip and packaged.predict.tta_mirror and packaged.predict.tta_oof
    assert any(isinstance(m, ChainNet) for m in build_model(packaged, pretrained=False).modules())


def fake_blend_point(work, point: Point, rng, noise: dict[str, float]) -> None:
    """A made-up point whose runs (one a family of ``noise``) predict the truth through
    Gaussian logit noise of the given scale: 240 OOF rows of 12 votes in 3 folds, 40 test
    EEGs of 20 votes, one patient each."""
    comp = work / "competitions" / point.name
    (comp / "_synth").mkdir(parents=True)
    n_test, n_oof = 40, 240
    q_test, q_oof = rng.dirichlet(np.full(6, 0.5), n_test), rng.dirichlet(np.full(6, 0.5), n_oof)
    ids = np.arange(n_test) + 1000
    votes = np.stack([rng.multinomial(20, p) for p in q_test])
    pd.DataFrame(votes, columns=VOTES).assign(eeg_id=ids)[["eeg_id", *VOTES]].to_csv(
        comp / "_synth" / "test_answers.csv", index=False)  # fmt: skip
    pd.DataFrame(q_test, columns=VOTES).assign(eeg_id=ids).to_csv(
        comp / "_synth" / "test_true_probs.csv", index=False)  # fmt: skip
    pd.DataFrame({"eeg_id": ids, "patient_id": ids + 7}).to_csv(comp / "test.csv", index=False)
    pd.DataFrame(votes, columns=VOTES).to_csv(comp / "train.csv", index=False)
    oof_votes = np.stack([rng.multinomial(12, p) for p in q_oof])
    for fam, scale in noise.items():
        d = work / "runs" / point.name / fam
        d.mkdir(parents=True)
        r = result(fam, point.n_eegs, point.seed, 1.0, 1.0)
        (d / quality.RESULT_FILE).write_text(json.dumps(asdict(r)))
        pred = softmax(np.log(q_test + 1e-3) + rng.normal(0, scale, q_test.shape))
        pd.DataFrame(pred, columns=VOTES).assign(eeg_id=ids)[["eeg_id", *VOTES]].to_csv(
            d / "test_pred.csv", index=False)  # fmt: skip
        oof = pd.DataFrame({"eeg_id": np.arange(n_oof), "eeg_sub_id": 0,
                            "patient_id": np.arange(n_oof) % 30, "fold": np.arange(n_oof) % 3,
                            "total_votes": 12})  # fmt: skip
        oof[[f"target_{c}" for c in VOTES]] = oof_votes / 12
        oof[[f"pred_{c}" for c in VOTES]] = softmax(
            np.log(q_oof + 1e-3) + rng.normal(0, scale, q_oof.shape)
        )
        oof.to_csv(d / "oof.csv", index=False)


def test_compare_blends_scores_each_members_blend_and_pairs_them_on_the_test_set(tmp_path):
    """A variant in a family's place: the blend of baseline + the better variant beats the
    blend of baseline + the family on test, each blend's figures are blend_members' own, and
    the mean row is the points' mean."""
    rng = np.random.default_rng(3)
    points = parse_plan("300:13,14:baseline,eeg1d,eeg1d-stage1")
    for point in points:
        fake_blend_point(tmp_path, point, rng, {"baseline": 1.5, "eeg1d": 1.5, "eeg1d-stage1": 0.3})
    a, b = ["baseline", "eeg1d"], ["baseline", "eeg1d-stage1"]
    got = quality.compare_blends(tmp_path, points, a, b)
    assert list(got["point"]) == ["n300_s13", "n300_s14", "mean"]
    for point, row in zip(points, got.itertuples()):
        ra, sa = quality.blend_members(tmp_path, point, a)
        rb, _ = quality.blend_members(tmp_path, point, b)
        assert ra.family == "blend of baseline+eeg1d" and sa.shape == (40, 7)
        assert (row.oof_a, row.test_a, row.test_b) == pytest.approx(
            (ra.oof_kl, ra.test_kl, rb.test_kl))  # fmt: skip
        assert row.diff == pytest.approx(rb.test_kl - ra.test_kl)
        assert row.low <= row.diff <= row.high
        # the candidate chosen on all folds and its inner-CV figure, beside the nested one
        assert (row.chosen_a, row.chosen_b) == (ra.extra["chosen"], rb.extra["chosen"])
        assert row.oof_chosen_b == pytest.approx(rb.extra["chosen_inner_cv"])
        assert row.oof_chosen_closed_b == pytest.approx(
            (rb.oof_prior - row.oof_chosen_b) / (rb.oof_prior - rb.oof_oracle))  # fmt: skip
    mean = got.iloc[-1]
    assert mean["diff"] == pytest.approx(got["diff"].iloc[:2].mean())
    assert mean["chosen_b"] == "" and mean["oof_chosen_closed_b"] == pytest.approx(
        got["oof_chosen_closed_b"].iloc[:2].mean())  # fmt: skip
    assert mean["high"] < 0 and not mean["tie"]  # the better member wins
    # a member named twice counts once
    twice = quality.compare_blends(tmp_path, points, a, [*b, "baseline"])
    assert list(twice["test_b"]) == pytest.approx(list(got["test_b"]))
    with pytest.raises(ValueError, match="two members"):
        quality.compare_blends(tmp_path, points, a, ["eeg1d", "eeg1d"])
    with pytest.raises(ValueError, match="n300_s13 lacks spec2d"):
        quality.compare_blends(tmp_path, points, a, ["eeg1d", "spec2d"])
    printed = run_command("bench", "--quality", "--plan", "300:13,14", "--work-dir", tmp_path,
                          "--blend", "baseline,eeg1d:baseline,eeg1d-stage1")  # fmt: skip
    assert printed.rc == 0, printed.err
    assert printed.out.count("B better") == 3 and "blend of baseline+eeg1d-stage1" in printed.out
    first = got.iloc[0]
    assert (f"({first.oof_closed_b:.1%}; {first.chosen_b} chosen {first.oof_chosen_closed_b:.1%})"
            in printed.out), printed.out  # fmt: skip
    for value, says in [("eeg1d,cnn", "'cnn'"), ("baseline,eeg1d:", "B needs two members"),
                        ("", "want A:B")]:  # fmt: skip
        flag = "--compare" if value == "" else "--blend"  # empty: an error, not the whole plan
        bad = run_command("bench", "--quality", "--work-dir", tmp_path, flag, value)
        assert bad.rc == 2 and says in bad.err, bad.err
    assert run_command("bench", "--quality", "--work-dir", tmp_path, "--blend", "").rc == 2
    # a member trained since under another config: refused, naming it
    stale = load_config("eeg1d", ["train.stage1.epochs=99"])
    quality_config = tmp_path / "runs" / "n300_s14" / "eeg1d" / "config.yaml"
    save_config(stale, quality_config)
    with pytest.raises(ValueError, match="n300_s14 eeg1d: measured with another config"):
        quality.compare_blends(tmp_path, points, a, b)


def test_comparisons_over_two_sizes_add_a_mean_per_size_before_the_mean_of_all(tmp_path):
    """A plan of two sizes: --compare and --blend give each size its own mean (an effect can
    hold at 1,200 and not at 300), and the mean of all points stays last."""
    rng = np.random.default_rng(5)
    points = parse_plan("300:13,14 1200:13,14,15:baseline,eeg1d,eeg1d-stage1")
    for point in points[:-1]:  # n1200_s15 unfinished: left out of its size's mean
        fake_blend_point(tmp_path, point, rng, {"baseline": 1.5, "eeg1d": 1.5, "eeg1d-stage1": 0.3})
    assert quality.size_groups(points) == {
        "mean N=300": ["n300_s13", "n300_s14"],
        "mean N=1,200": ["n1200_s13", "n1200_s14", "n1200_s15"],
    }
    assert quality.size_groups(points[:2]) == {}  # one size: its mean is the mean
    assert quality.size_groups(points[1:3]) == {}  # one point a size: no mean of one
    got = quality.compare_families(tmp_path, points, "eeg1d", "eeg1d-stage1")
    names = ["n300_s13", "n300_s14", "n1200_s13", "n1200_s14", "mean N=300", "mean N=1,200",
             "mean"]  # fmt: skip
    assert list(got["point"]) == names * 2
    for split in ("oof", "test"):
        rows = got[got["split"] == split].set_index("point")
        for size, of in (("mean N=300", ["n300_s13", "n300_s14"]),
                         ("mean N=1,200", ["n1200_s13", "n1200_s14"])):  # fmt: skip
            assert rows.loc[size, "diff"] == pytest.approx(rows.loc[of, "diff"].mean())
            assert rows.loc[size, "rows"] == rows.loc[of, "rows"].sum()
            assert rows.loc[size, "low"] <= rows.loc[size, "diff"] <= rows.loc[size, "high"]
        assert rows.loc["mean", "diff"] == pytest.approx(rows.loc[names[:4], "diff"].mean())
    blends = quality.compare_blends(tmp_path, points, ["baseline", "eeg1d"],
                                    ["baseline", "eeg1d-stage1"]).set_index("point")  # fmt: skip
    assert list(blends.index) == names
    assert blends.loc["mean N=1,200", "n_eegs"] == 1200 and np.isnan(blends.loc["mean", "n_eegs"])
    assert blends.loc["mean N=300", "test_a"] == pytest.approx(
        blends.loc[["n300_s13", "n300_s14"], "test_a"].mean())  # fmt: skip
    assert blends.loc["mean N=300", "diff"] == pytest.approx(
        blends.loc[["n300_s13", "n300_s14"], "diff"].mean())  # fmt: skip
    printed = run_command("bench", "--quality", "--plan", "300:13,14 1200:13,14", "--work-dir",
                          tmp_path, "--compare", "eeg1d:eeg1d-stage1")  # fmt: skip
    assert printed.rc == 0 and printed.out.count("mean N=1,200") == 2, printed.err


def test_compare_across_groups_a_mean_of_some_competitions_and_names_a_bad_group(tmp_path):
    from hms_kit.scoring.compare import compare_across, format_across
    from hms_kit.scoring.oof import high_population

    rng = np.random.default_rng(6)
    pairs = {}
    for name in ("c1", "c2", "c3"):
        fake_point(tmp_path, name, rng)
        pairs[name] = (
            tmp_path / "runs" / name / "eeg1d",
            tmp_path / "runs" / name / "eeg1d-stage1",
        )
    got = compare_across(pairs, groups={"first two": ["c1", "c2"]})
    for population, rows in got.groupby("population", sort=False):
        rows = rows.set_index("competition")
        assert list(rows.index) == ["c1", "c2", "c3", "first two", "mean"]
        # votes 4-9 has no made-up row: NaN, and no competition enters its means
        filled = int(rows.loc[["c1", "c2"], "n_rows"].gt(0).sum())
        assert filled == (0 if population == "votes_4_9" else 2)
        assert rows.loc["first two", "competitions"] == filled
        want = rows.loc[["c1", "c2"], "diff"].mean()
        assert rows.loc["first two", "diff"] == pytest.approx(want, nan_ok=True)
    hq = got[got["population"] == high_population(10)].set_index("competition")
    assert hq.loc["first two", "low"] <= hq.loc["first two", "diff"] <= hq.loc["first two", "high"]
    assert hq.loc["mean", "competitions"] == 3
    text = format_across(got, "A", "B")
    assert "on each of 3 competitions" in text and "first two (mean of 2)" in text
    for bad in ({"one": ["c1"]}, {"x": ["c1", "c9"]}, {"mean": ["c1", "c2"]}):
        with pytest.raises(ValueError, match=f"mean row {next(iter(bad))!r}"):
            compare_across(pairs, groups=bad)


def test_a_predict_only_variant_names_the_run_it_predicts_again():
    """A variant is predicted again from the run that trains its config with its overrides
    less the ``predict.`` ones; a family or a training variant has none."""
    assert quality.repredicted_from("eeg1d-tta") == "eeg1d"
    assert quality.repredicted_from("timm2d-mirror") == "timm2d"
    assert quality.repredicted_from("timm2d-seeds3-mirror") == "timm2d-seeds3"
    assert quality.repredicted_from("timm2d-scale05-mirror") == "timm2d-scale05"
    assert quality.repredicted_from("eeg1d-seeds3-tta") == "eeg1d-seeds3"
    assert quality.repredicted_from("eeg1d-chain-tta") == "eeg1d-chain"
    assert quality.repredicted_from("eeg1d") is None
    assert quality.repredicted_from("eeg1d-seeds3") is None
    assert quality.tta_views("eeg1d-tta") == (True, True)
    assert quality.tta_views("timm2d-mirror") == (False, True)
    for variant in quality.VARIANTS:  # every predict-only variant has a source to read
        overrides = quality.VARIANTS[variant][1]
        if any(o.startswith("predict.") for o in overrides):
            assert quality.repredicted_from(variant) is not None, variant


def test_the_baselines_step_is_one_rows_features(monkeypatch):
    """The baseline has no training step: ``family_step_seconds`` times one label row's
    features, with the shapes for ``baseline-morph`` (whose model settings differ from the
    baseline's, so ``--estimate`` scales it where it had projected the plain minutes)."""
    from hms_kit import baseline

    asked: list[bool] = []
    monkeypatch.setattr(baseline, "window_seconds", lambda m: asked.append(m) or 0.5)
    assert quality.family_step_seconds("baseline") == 0.5
    assert quality.family_step_seconds("baseline-morph") == 0.5
    assert asked == [False, True]
    assert quality.step_key("baseline-morph") != quality.step_key("baseline")
    monkeypatch.undo()
    assert baseline.window_seconds(morphology=True, repeats=1) > 0
    with pytest.raises(ValueError, match="repeats"):
        baseline.window_seconds(repeats=0)


def test_blend_of_names_the_tables_blend_row(tmp_path):
    """``--blend-of``: the report's blend row is the blend of the named members (a variant
    among them) on each point, as ``blend_members`` scores it, in place of the families'; a
    member in no point of the plan, an unknown one or a single one is refused; a point that
    holds only some of them blends those, a row named by them."""
    rng = np.random.default_rng(7)
    points = parse_plan("300:13,14:baseline,eeg1d,eeg1d-stage1")
    for point in points:
        fake_blend_point(tmp_path, point, rng, {"baseline": 1.5, "eeg1d": 1.5, "eeg1d-stage1": 0.3})
    members = ["baseline", "eeg1d-stage1"]
    got = quality.run_plan(tmp_path, points, log=lambda line: None, train=False, blend_of=members)
    blends = [r for r in got if r.family.startswith("blend")]
    assert [r.family for r in blends] == ["blend of baseline+eeg1d-stage1"] * 2
    for point, r in zip(points, blends):
        assert r.test_kl == pytest.approx(
            quality.blend_members(tmp_path, point, members)[0].test_kl
        )
    plain = quality.run_plan(tmp_path, points, log=lambda line: None, train=False)
    assert [r.family for r in plain if r.family.startswith("blend")] == [
        "blend of baseline+eeg1d"
    ] * 2
    out = tmp_path / "B.md"
    args = ["bench", "--quality", "--plan", "300:13,14:baseline,eeg1d,eeg1d-stage1", "--work-dir",
            tmp_path, "--report-only", "--out", out, "--figure", tmp_path / "lc.png"]  # fmt: skip
    printed = run_command(*args, "--blend-of", "baseline,eeg1d-stage1")
    assert printed.rc == 0, printed.err
    text = out.read_text()
    assert (
        "| blend of baseline+eeg1d-stage1 |" in text and "--blend-of baseline,eeg1d-stage1" in text
    )
    assert "| blend of baseline+eeg1d |" not in text
    some = run_command(*args, "--blend-of", "baseline,eeg1d-stage1,spec2d")
    assert some.rc == 2 and "'spec2d' is in no point of the plan" in some.err, some.err
    fewer = run_command(*args[:3], "300:13:baseline,eeg1d,eeg1d-stage1 300:14:baseline,eeg1d",
                        *args[4:], "--blend-of", "baseline,eeg1d-stage1,eeg1d")  # fmt: skip
    assert fewer.rc == 0, fewer.err
    rows = {
        line.split(" | ")[1] for line in out.read_text().splitlines() if "| 300 | blend" in line
    }
    assert rows == {"blend of baseline+eeg1d-stage1+eeg1d", "blend of baseline+eeg1d"}
    twice = run_command(*args, "--blend-of", "baseline,eeg1d-stage1,baseline")
    assert twice.rc == 0 and "| blend of baseline+eeg1d-stage1 |" in out.read_text(), twice.err
    both = run_command(*args, "--blend-of", "baseline,eeg1d", "--compare", "baseline:eeg1d")
    assert both.rc == 2 and "not with --compare" in both.err
    # the default plan's optional 4,800 point: its blend row and command of the members it holds
    work = tmp_path / "default"
    for point in parse_plan(f"300:13:baseline,eeg1d {quality.OPTIONAL_PLAN.split()[0]}")[:2]:
        fake_blend_point(work, point, rng, {"baseline": 1.5, "eeg1d": 0.5})
    default = ["bench", "--quality", "--work-dir", work, "--report-only", "--out", out,
               "--figure", tmp_path / "lc.png", "--blend-of", "baseline,eeg1d"]  # fmt: skip
    printed = run_command(*default)
    assert printed.rc == 0, printed.err
    text = out.read_text()
    assert (
        "| 4800 | blend of baseline+eeg1d |" in text and "| 300 | blend of baseline+eeg1d |" in text
    )
    assert f"--plan '{quality.OPTIONAL_PLAN}' --blend-of baseline,eeg1d" in text
    for value, says in [("baseline,spec2d", "'spec2d' is in no point of the plan"),
                        ("baseline,cnn", "'cnn' (known:"), ("eeg1d,eeg1d", "two members")]:  # fmt: skip
        bad = run_command(*args, "--blend-of", value)
        assert bad.rc == 2 and says in bad.err, bad.err
