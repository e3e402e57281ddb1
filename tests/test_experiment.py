"""The experiment grid over several competitions (hms_kit.tools.experiment): the table of
mean +- sd over competitions on hand-made tables, the record of which competition a
subfolder holds, and ``experiment --competition A,B`` resuming on the session's runs.

The one-competition grid is driven end to end in test_pipeline.py::test_experiment_resumes."""

from __future__ import annotations

import copy
import json
import math
import shutil

import pandas as pd
import pytest
from conftest import ok, run_command, tiny_overrides

from hms_kit.config import load_config, save_config
from hms_kit.tools.experiment import (
    BLEND_ROW,
    COMPETITIONS_FILE,
    PRIOR_ROW,
    ROWS_FILE,
    across_competitions,
    across_markdown,
    combinations,
    competition_record,
    finished_scores,
    rows_digest,
    run_name,
)

USE = ["Use Kaggle Spectrograms", "Use EEG Spectrograms", "Use Wavelet Spectrograms"]


def _table(rows: list[tuple]) -> pd.DataFrame:
    """A competition's results table: (model, kaggle?, eeg?, CV, CV >= 10, vs best) rows."""
    return pd.DataFrame(
        [
            {"Model": m, USE[0]: k, USE[1]: e, USE[2]: False if m not in (BLEND_ROW, PRIOR_ROW)
             else "", "CV Result": cv, "CV >= 10 votes": hq, "CV golden": math.nan,
             "CV per EEG": cv + 0.01, "Target population": "kaggle_hq", "vs best": mark}
            for m, k, e, cv, hq, mark in rows
        ]
    )  # fmt: skip


def test_across_competitions_mean_sd_and_each_competitions_value():
    one = _table([("m", True, False, 0.50, 0.40, "best"), ("m", False, True, 0.70, 0.60, "tie"),
                  (PRIOR_ROW, "", "", 1.10, 1.00, "")])  # fmt: skip
    two = _table([("m", True, False, 0.70, 0.50, "tie"), ("m", False, True, 0.60, 0.30, "best"),
                  ("m", True, True, 0.90, 0.80, "worse"), (PRIOR_ROW, "", "", 1.20, 1.00, "")])  # fmt: skip
    table = across_competitions({"s1": one, "s2": two})
    by = table.set_index(["Model", USE[0], USE[1]])
    kaggle = by.loc[("m", True, False)]
    assert kaggle["CV Result mean"] == pytest.approx(0.60)
    assert kaggle["CV Result sd"] == pytest.approx(math.sqrt(0.02))  # ddof 1
    assert (kaggle["CV Result (s1)"], kaggle["CV Result (s2)"]) == (0.50, 0.70)
    assert kaggle["CV >= 10 votes mean"] == pytest.approx(0.45)
    assert (kaggle["vs best (s1)"], kaggle["vs best (s2)"]) == ("best", "tie")
    assert kaggle["competitions"] == 2 and math.isnan(kaggle["CV golden mean"])
    # a row only one competition has: its value, no sd, no mark where it is missing
    both = by.loc[("m", True, True)]
    assert both["competitions"] == 1 and both["CV Result mean"] == 0.90
    assert math.isnan(both["CV Result sd"]) and math.isnan(both["CV Result (s1)"])
    assert (both["vs best (s1)"], both["vs best (s2)"]) == ("", "worse")
    prior = by.loc[(PRIOR_ROW, "", "")]
    assert prior["CV Result mean"] == pytest.approx(1.15)
    assert prior["vs best (s1)"] == prior["vs best (s2)"] == ""
    # best mean first: (0.65 eeg, 0.60 kaggle) -> kaggle, eeg, the one-competition row, prior
    assert list(table["CV Result mean"]) == pytest.approx([0.60, 0.65, 0.90, 1.15])
    md = across_markdown(table).splitlines()
    assert md[0].startswith("| Model | " + " | ".join(USE) + " | CV Result | CV Result: s1, s2 |")
    assert "| 0.6000 +- 0.1414 | 0.5000, 0.7000 |" in md[2] and md[2].endswith("| best, tie |")
    assert md[4].endswith("| -, worse |") and md[5].endswith("| -, - |")


def test_a_finished_run_is_kept_only_while_its_settings_are_the_ones_asked_for(
    tmp_path, monkeypatch
):
    """An experiment run again with other settings (``--epochs``, ``--set``) trains its
    finished combinations again instead of keeping their old scores, which are set aside
    first (a retrain cut short must not bring them back); the worker count or a fold subset
    (not part of a fold's model) keeps them."""
    import hms_kit.train
    from hms_kit.config import Config
    from hms_kit.tools.experiment import run_experiment

    cfg = Config()
    run = tmp_path / "run"
    run.mkdir()
    save_config(cfg, run / "config.yaml")
    assert finished_scores(run, cfg) == (None, [])  # no scores.json: to train
    (run / "scores.json").write_text(json.dumps({"complete": False, "kl_all": 0.9}))
    assert finished_scores(run, cfg) == (None, [])
    (run / "scores.json").write_text(json.dumps({"complete": True, "kl_all": 0.9}))
    assert finished_scores(run, cfg) == ({"complete": True, "kl_all": 0.9}, [])
    neutral = Config()
    neutral.train.num_workers = 3
    assert finished_scores(run, neutral)[0] is not None
    longer = Config()
    longer.train.stage1.epochs = cfg.train.stage1.epochs + 5
    moved = f"train.stage1.epochs: {cfg.train.stage1.epochs} -> {longer.train.stage1.epochs}"
    assert finished_scores(run, longer) == (None, [moved])

    # the grid with the longer stage 1: its first combination, finished before, trains again
    # and is cut short; its old scores are in stale/, not beside the new config
    mods = combinations()[0]
    first = tmp_path / "exp" / run_name(cfg.model.name, mods)
    first.mkdir(parents=True)
    done = Config()
    done.inputs.modalities = list(mods)
    save_config(done, first / "config.yaml")
    (first / "scores.json").write_text(json.dumps({"complete": True, "kl_all": 0.9}))
    (first / "oof.csv").write_text("eeg_id\n1\n")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(hms_kit.train, "train_folds", killed)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(None, longer, tmp_path / "exp", [cfg.model.name])
    assert not (first / "scores.json").exists() and not (first / "oof.csv").exists()
    assert len(list((first / "stale").rglob("scores.json"))) == 1

    # train.csv sampled again under the same name: the config cannot tell, the rows' digest
    # the run recorded does (a run without one is judged by its config, as before)
    done = copy.deepcopy(longer)
    done.inputs.modalities = list(mods)
    save_config(done, first / "config.yaml")
    (first / "scores.json").write_text(json.dumps({"complete": True, "kl_all": 0.9}))
    assert finished_scores(first, done, "b" * 16)[0] is not None
    (first / ROWS_FILE).write_text("a" * 16 + "\n")
    assert finished_scores(first, done, "a" * 16)[0] is not None
    assert finished_scores(first, done, "b" * 16) == (
        None, [f"training rows: {'a' * 16} -> {'b' * 16}"]
    )  # fmt: skip
    # the grid on those other rows: the run's folds go to stale/ with its scores (rows of
    # other votes under the same keys would pass train's own checks)
    (first / "checkpoints").mkdir()
    (first / "checkpoints" / "fold0_best.pt").write_bytes(b"x")
    (first / "oof_fold0.csv").write_text("eeg_id\n1\n")
    monkeypatch.setattr("hms_kit.tools.experiment.rows_digest", lambda comp, cfg: "b" * 16)
    monkeypatch.setattr(hms_kit.train, "train_folds", killed)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(object(), longer, tmp_path / "exp", [cfg.model.name])
    assert not (first / "checkpoints").exists() and not (first / "oof_fold0.csv").exists()
    assert len(list((first / "stale").rglob("fold0_best.pt"))) == 1


def test_the_rows_digest_follows_the_rows(shared, tmp_path):
    from hms_kit.data import Competition

    comp = Competition.locate(shared.root)
    cfg = load_config("default")
    train = comp.read_train()
    digest = rows_digest(comp, cfg)
    assert digest == rows_digest(comp, load_config("default", ["train.seed=3"]))
    train[train["eeg_id"] != train["eeg_id"].iloc[-1]].to_csv(tmp_path / "fewer.csv", index=False)
    train[train["eeg_id"] != train["eeg_id"].iloc[0]].to_csv(tmp_path / "other.csv", index=False)
    digests = {rows_digest(comp, load_config("default", [f"data.train_csv={tmp_path / n}"]))
               for n in ("fewer.csv", "other.csv")}  # fmt: skip
    assert digest not in digests and len(digests) == 2


def test_a_subfolder_keeps_its_competition(tmp_path):
    """Resuming with another competition under a name already used is refused, naming it;
    the record is untouched then."""
    a, b = tmp_path / "data" / "s1", tmp_path / "data" / "s2"
    assert competition_record(tmp_path / "exp", [a, b]) == {"s1": a, "s2": b}
    record = tmp_path / "exp" / COMPETITIONS_FILE
    before = record.read_text()
    other = tmp_path / "other" / "s1"
    with pytest.raises(ValueError, match=f"exp/s1: holds the runs of {a}, not of {other}"):
        competition_record(tmp_path / "exp", [other, b])
    assert record.read_text() == before
    assert competition_record(tmp_path / "exp", [b]) == {"s2": b}  # a subset resumes
    assert json.loads(record.read_text()) == {"s1": str(a), "s2": str(b)}


@pytest.mark.slow  # a grid trained on two competitions, then resumed
def test_experiment_over_two_competitions_resumes(shared, cnn_run, tmp_path):
    """``experiment --competition C1,C2``: a run already finished in a competition's
    subfolder is kept (here copies of the session's CNN run), the one missing is trained;
    the table holds each competition's value and their mean; a second call trains nothing."""
    comps = []
    for name in ("c1", "c2"):  # two names for the shared competition
        (tmp_path / name).symlink_to(shared.root, target_is_directory=True)
        comps.append(tmp_path / name)
    out = tmp_path / "exp"
    missing = ("c2", run_name("test_efficientnet", ["kaggle"]))
    for c in ("c1", "c2"):
        for mods in combinations():
            if (c, run_name("test_efficientnet", mods)) != missing:
                copy = out / c / run_name("test_efficientnet", mods)
                shutil.copytree(cnn_run.path, copy, ignore=shutil.ignore_patterns("checkpoints"))
                # as if trained with the grid's settings: a run with others trains again
                cfg = load_config(copy / "config.yaml")
                cfg.inputs.modalities, cfg.data.row_mode = list(mods), "dedup"
                cfg.train.two_stage = False
                save_config(cfg, copy / "config.yaml")
    args = ["experiment", "--competition", f"{comps[0]},{comps[1]}", "--out", out,
            "--models", "test_efficientnet", "--folds", 2, "--epochs", 1, "--workers", 1]  # fmt: skip
    for o in tiny_overrides(2):
        if not o.startswith(("model.name", "train.n_folds", "train.stage1.epochs")):
            args += ["--set", o]
    args += ["--set", "train.two_stage=false", "--set", "data.row_mode=dedup"]
    printed = ok(run_command(*args))
    assert printed.last() == f"wrote {out / 'results.md'} and {out / 'results.csv'}"
    trained = json.loads((out / missing[0] / missing[1] / "scores.json").read_text())
    kept = json.loads((cnn_run.path / "scores.json").read_text())
    table = pd.read_csv(out / "results.csv")
    runs = table[table["Model"] == "test_efficientnet"].set_index(USE)
    assert len(runs) == 7 and (runs["competitions"] == 2).all()
    row = runs.loc[(True, False, False)]
    assert row["CV Result (c1)"] == pytest.approx(kept["kl_all"], abs=1e-9)
    assert row["CV Result (c2)"] == pytest.approx(trained["kl_all"], abs=1e-9)
    assert row["CV Result mean"] == pytest.approx((kept["kl_all"] + trained["kl_all"]) / 2)
    assert set(runs["vs best (c1)"]) <= {"best", "tie", "worse"}
    for c in ("c1", "c2"):  # each competition's own table beside its runs
        own = pd.read_csv(out / c / "results.csv")
        assert set(own["Model"]) >= {"test_efficientnet", PRIOR_ROW}
    assert json.loads((out / COMPETITIONS_FILE).read_text()) == {
        "c1": str(comps[0]), "c2": str(comps[1])}  # fmt: skip
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("c*/*/scores.json")}
    assert len(stamps) == 14
    ok(run_command(*args))  # all finished: nothing retrained
    assert {p: p.stat().st_mtime_ns for p in out.glob("c*/*/scores.json")} == stamps
    # the README's rule: --train-csv is one competition's rows
    bad = run_command(*args, "--train-csv", shared.root / "train.csv")
    assert bad.rc == 2 and "--train-csv" in bad.err and "Traceback" not in bad.err


def test_experiment_names_a_bad_competition_before_writing(shared, tmp_path):
    """A missing competition folder, or one given twice, is an error naming it; no record
    and no subfolder is written."""
    out = tmp_path / "exp"
    for comps, named in (
        (f"{shared.root},{tmp_path / 'nowhere'}", "nowhere"),
        (f"{shared.root},{shared.root}", "given twice"),
    ):
        bad = run_command("experiment", "--competition", comps, "--out", out, "--models",
                          "tf_efficientnet_b0")  # fmt: skip
        assert bad.rc == 2 and named in bad.err and "Traceback" not in bad.err
        assert not (out / COMPETITIONS_FILE).exists()
        assert not [p for p in out.iterdir() if p.is_dir()]


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--config", "eeg1d"], "only the timm2d family reads"),  # 14 runs of one model
        (["--config", "baseline"], "only the timm2d family reads"),
        (["--models", "tf_efficientnet_b0,effnet_b9"], "effnet_b9 is not a timm model name"),
        (["--folds", "1"], "train.n_folds must be at least 2, got 1"),
        (["--epochs", "0"], "--epochs must be at least 1, got 0"),
    ],
)
def test_experiment_refuses_a_grid_it_cannot_run_before_any_work(shared, tmp_path, flags, named):
    out = tmp_path / "exp"
    bad = run_command("experiment", "--competition", shared.root, "--out", out, *flags)
    assert bad.rc == 2 and named in bad.err and "Traceback" not in bad.err
    assert not out.exists()


@pytest.mark.parametrize(
    ("flags", "folds", "epochs"),
    [
        ([], 3, 3),  # the experiment's short defaults
        (["--set", "train.stage1.epochs=7", "--set", "train.n_folds=2"], 2, 7),
        (["--set", "train.stage1.epochs=7", "--epochs", "4", "--folds", "5"], 5, 4),
    ],
)
def test_experiment_takes_folds_and_epochs_from_a_set_unless_its_flags_are_given(
    shared, tmp_path, monkeypatch, flags, folds, epochs
):
    import hms_kit.tools.experiment as experiment

    seen = {}

    def captured(comp, cfg, out, models, **kwargs):
        seen["cfg"] = cfg
        raise KeyboardInterrupt  # the config is what is asked here

    monkeypatch.setattr(experiment, "run_experiment", captured)
    with pytest.raises(KeyboardInterrupt):
        run_command("experiment", "--competition", shared.root, "--out", tmp_path, *flags)
    assert (seen["cfg"].train.n_folds, seen["cfg"].train.stage1.epochs) == (folds, epochs)
