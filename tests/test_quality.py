"""Learning curves (issue 21 item 3): the plan, the table, the section and the resume."""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import pandas as pd
import pytest
from conftest import run_command

from hms_kit.tools import quality
from hms_kit.tools.quality import BLEND, Point, RunResult, parse_plan, summary_table


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


def test_bench_quality_estimate_prints_the_cost_and_trains_nothing(tmp_path):
    finish(tmp_path, "baseline", 300, 13, 0.5)
    printed = run_command("bench", "--quality", "--plan", "300:13,14:baseline,eeg1d",
                          "--work-dir", tmp_path, "--estimate", "--out", tmp_path / "B.md")  # fmt: skip
    assert printed.rc == 0, printed.err
    assert "1 runs measured (2 min), 3 to train (2 min projected" in printed.out
    assert "2 with no finished run of their family to go by" in printed.out
    assert printed.out.count("unknown") == 2 and "projected" in printed.out
    assert not (tmp_path / "B.md").exists() and not (tmp_path / "competitions").exists()


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
    plot are written; a second call trains nothing and prints the same table."""
    out, work, fig = tmp_path / "BENCHMARKS.md", tmp_path / "work", tmp_path / "lc.png"
    args = ["bench", "--quality", "--plan", "40:1:baseline,eeg1d", "--work-dir", work,
            "--out", out, "--figure", fig, "--set", "train.stage1.epochs=1",
            "--set", "train.stage2.epochs=1"]  # fmt: skip
    first = run_command(*args)
    assert first.rc == 0, first.err
    assert first.out.count(": training (") == 2
    table = pd.read_csv(work / "learning_curve.csv")
    assert list(table["family"]) == ["baseline", "eeg1d", f"{BLEND} of baseline+eeg1d"]
    assert (table["oof_oracle"] < table["oof_prior"]).all()
    assert (table["test_oracle"] < table["test_prior"]).all()
    r = json.loads((work / "runs" / "n40_s1" / "eeg1d" / quality.RESULT_FILE).read_text())
    assert r["oof_rows"] > 0 and r["test_rows"] == 20 and r["minutes_per_fold"] > 0
    assert fig.stat().st_size > 1000 and "![learning curve](lc.png)" in out.read_text()
    second = run_command(*args)
    assert second.rc == 0 and ": training (" not in second.out
    assert pd.read_csv(work / "learning_curve.csv").equals(table)
