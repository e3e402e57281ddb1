"""Repeated runs (train.seeds / --repeats): the same folds per seed, OOF averaged in
probability space, per-seed scores, every seed's checkpoints in prediction."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_overrides

from hms_kit.cli import main
from hms_kit.config import ConfigError, load_config
from hms_kit.predict import find_checkpoints, predict_test
from hms_kit.repeats import link_first_seed, seed_list
from hms_kit.scoring.metric import PRED_COLS


@pytest.mark.parametrize(
    ("value", "seeds"),
    [("[]", []), ("1", []), ("3", [42, 43, 44]), ("[5, 9]", [5, 9]), ("5,9", [5, 9])],
)
def test_seeds_are_a_list_or_a_count(value, seeds):
    assert seed_list(load_config(None, [f"train.seeds={value}"])) == seeds


@pytest.mark.parametrize("value", ["-2", "[1, 1]", "x"])
def test_bad_seeds_name_the_key(value):
    with pytest.raises(ConfigError, match="train.seeds"):
        seed_list(load_config(None, [f"train.seeds={value}"]))


@pytest.fixture(scope="module")
def repeated(shared, shared_folds, shared_cache, tmp_path_factory):
    """``train --repeats 2`` on the session's competition, folds file and cache (one stage)."""
    run = tmp_path_factory.mktemp("rep") / "run"
    args = ["train", "--competition", str(shared.root), "--out", str(run), "--repeats", "2",
            "--folds-file", str(shared_folds.path), "--cache", str(shared_cache),
            "--workers", "1"]  # fmt: skip
    for kv in [*tiny_overrides(2), "train.two_stage=false"]:
        args += ["--set", kv]
    assert main(args) == 0
    return shared.comp, run


def test_seeds_train_the_same_folds_and_average_in_oof(repeated):
    _, run = repeated
    folds = pd.read_csv(run / "folds.csv")
    seeds = [run / "seeds" / "seed42", run / "seeds" / "seed43"]
    for d in seeds:
        pd.testing.assert_frame_equal(pd.read_csv(d / "folds.csv"), folds)
        assert load_config(d / "config.yaml").train.seed == int(d.name[4:])
    a, b = (pd.read_csv(d / "oof.csv") for d in seeds)
    assert not np.allclose(a[PRED_COLS], b[PRED_COLS])  # the seeds differ
    oof = pd.read_csv(run / "oof.csv")
    np.testing.assert_allclose(oof[PRED_COLS], (a[PRED_COLS] + b[PRED_COLS]) / 2, atol=1e-9)
    scores = json.loads((run / "scores.json").read_text())
    assert scores["complete"] and scores["seeds"] == [42, 43]
    per = [json.loads((d / "scores.json").read_text())["kl_all"] for d in seeds]
    assert scores["seed_scores"]["42"]["kl_all"] == pytest.approx(per[0])
    assert scores["seed_mean_kl_all"] == pytest.approx(np.mean(per))
    assert scores["seed_sd_kl_all"] == pytest.approx(np.std(per, ddof=1))


def test_predict_averages_every_seeds_checkpoint(repeated, tmp_path):
    comp, run = repeated
    assert len(find_checkpoints([run])) == 4  # 2 seeds x 2 folds
    _, report = predict_test(comp, [run], cache_dir=tmp_path / "c", workers=1)
    assert len(report["predicted_with"]) == 4


def test_compare_reads_the_seeds(repeated, capsys):
    _, run = repeated
    assert main(["compare", str(run), str(run / "seeds" / "seed42"), "--resamples", "50"]) == 0
    assert "n=2" in capsys.readouterr().out


@pytest.mark.slow  # three trainings and a resume: the fast suite's longest
def test_a_single_run_trained_again_with_seeds_keeps_its_folds_as_its_first_seed(
    shared, shared_folds, shared_cache, tmp_path
):
    """``train --resume --repeats 2`` on a folder trained without seeds: its folds (same
    settings, seed 42) become seed 42's, not trained again; only seed 43 trains, and
    ``predict`` finds each seed's checkpoints once. Trained without seeds again, the seeds go
    to ``stale/``."""
    from conftest import ok, run_command

    run = tmp_path / "run"
    args = ["train", "--competition", shared.root, "--out", run, "--folds-file",
            shared_folds.path, "--cache", shared_cache, "--workers", 1]  # fmt: skip
    for kv in [*tiny_overrides(2), "train.two_stage=false"]:
        args += ["--set", kv]
    ok(run_command(*args))
    single = {k: (run / "checkpoints" / f"fold{k}_best.pt").read_bytes() for k in (0, 1)}

    # another folder started from it (bench --quality's seeds variants): linked, kept
    other = tmp_path / "other"
    assert link_first_seed(run, other, 42) == [0, 1]
    ok(run_command(*[other if a == run else a for a in args], "--resume", "--repeats", 2))
    for k in (0, 1):
        mine = other / "seeds" / "seed42" / "checkpoints" / f"fold{k}_best.pt"
        assert mine.samefile(run / "checkpoints" / f"fold{k}_best.pt")
    assert (other / "seeds" / "seed43" / "checkpoints" / "fold1_best.pt").is_file()
    assert link_first_seed(run, other, 42) == []  # the seed has them: nothing replaced

    ok(run_command(*args, "--resume", "--repeats", 2))
    # the single run's oof.csv and scores.json are set aside, not taken for the seeds'
    assert len(list((run / "stale").glob("*/scores.json"))) == 1
    log = (run / "training_record.log").read_text()
    assert "folds [0, 1] trained here without seeds (train.seed 42, the same settings)" in log
    seed42 = run / "seeds" / "seed42"
    for k, data in single.items():
        assert (seed42 / "checkpoints" / f"fold{k}_best.pt").read_bytes() == data
    assert not list((run / "checkpoints").glob("fold*.pt"))
    assert "fold 0: already finished, kept" in (seed42 / "training_record.log").read_text()
    assert len(find_checkpoints([run])) == 4  # 2 seeds x 2 folds, none counted twice
    scores = json.loads((run / "scores.json").read_text())
    assert scores["complete"] and scores["seeds"] == [42, 43]

    printed = run_command(*args, "--resume")  # the seeds would be lost: refused
    assert printed.rc != 0 and "was trained with seeds" in printed.err + printed.out
    assert len(find_checkpoints([run])) == 4
    ok(run_command(*args))
    assert not (run / "seeds").exists()
    assert len(list((run / "stale").glob("*/seeds/seed43/checkpoints/fold*_best.pt"))) == 2
    assert len(find_checkpoints([run])) == 2


def test_adopt_single_run_moves_matching_folds_to_the_seed_and_the_rest_to_stale(tmp_path):
    from hms_kit.data.folds import RunPrint, adopt_single_run

    def fold(d, k, fingerprint):
        (d / f"fold{k}_summary.json").write_text(json.dumps({"fingerprint": fingerprint}))
        (d / f"oof_fold{k}.csv").write_text("eeg_id\n1\n")

    for adopt in (True, False):
        run = tmp_path / str(adopt)
        seed = run / "seeds" / "seed42"
        seed.mkdir(parents=True)
        fold(run, 0, "fp")
        fold(run, 1, "other")
        fold(run, 2, "fp")
        fold(seed, 2, "fp")  # the seed has its own fold 2 (a model too): not replaced
        (seed / "checkpoints").mkdir()
        (seed / "checkpoints" / "fold2_best.pt").write_text("seed 42's")
        (run / "oof_fold3.csv").write_text("eeg_id\n1\n")  # a seeds average: no summary
        first_seed = RunPrint("fp", "rows", load_config(None))
        adopted, retired = adopt_single_run(run, seed, first_seed, adopt=adopt)
        assert (adopted, retired) == (([0], [1, 2]) if adopt else ([], [0, 1, 2]))
        assert (seed / "oof_fold0.csv").is_file() == adopt
        assert len(list((run / "stale").glob("*/fold*_summary.json"))) == len(retired)
        assert (run / "oof_fold3.csv").is_file()
        assert not list(run.glob("fold*_summary.json"))


def test_link_first_seed_replaces_a_seeds_fold_of_other_settings_and_finishes_a_cut_link(
    tmp_path,
):
    src, run = tmp_path / "src", tmp_path / "variant"
    (src / "checkpoints").mkdir(parents=True)
    for k in (0, 1):
        (src / f"fold{k}_summary.json").write_text(json.dumps({"fingerprint": "new"}))
        (src / f"oof_fold{k}.csv").write_text("eeg_id\n1\n")
        (src / "checkpoints" / f"fold{k}_best.pt").write_text(f"model {k}")
    seed = run / "seeds" / "seed42"
    (seed / "checkpoints").mkdir(parents=True)
    (seed / "fold0_summary.json").write_text(json.dumps({"fingerprint": "old"}))
    (seed / "checkpoints" / "fold0_best.pt").write_text("old model")
    (seed / "oof_fold1.csv").write_text("a link cut short")  # no model: not the seed's yet
    assert link_first_seed(src, run, 42) == [0, 1]
    for k in (0, 1):
        assert (seed / "checkpoints" / f"fold{k}_best.pt").samefile(
            src / "checkpoints" / f"fold{k}_best.pt"
        )
        assert (seed / f"oof_fold{k}.csv").samefile(src / f"oof_fold{k}.csv")
    assert [p.read_text() for p in seed.glob("stale/*/checkpoints/*.pt")] == ["old model"]
    assert (src / "oof_fold1.csv").read_text() == "eeg_id\n1\n"  # never written through
    assert link_first_seed(src, run, 42) == []


def test_the_seeds_of_a_repeated_run_share_one_time_limit(
    shared, shared_folds, shared_cache, tmp_path
):
    """``train.time_limit_hours`` bounds the whole repeated run, not each seed: once seed 42
    stops at it, seed 43 does not start (each seed used to get the full limit again, so a
    Kaggle session would be killed mid-epoch before the seeds' average was written)."""
    run = tmp_path / "run"
    args = ["train", "--competition", str(shared.root), "--out", str(run), "--repeats", "2",
            "--folds-file", str(shared_folds.path), "--cache", str(shared_cache),
            "--workers", "1"]  # fmt: skip
    # a limit that one epoch passes: fold 0 of seed 42 trains its one epoch, then nothing
    for kv in [*tiny_overrides(2), "train.two_stage=false", "train.time_limit_hours=1e-9"]:
        args += ["--set", kv]
    assert main(args) == 0
    assert (run / "seeds" / "seed42" / "fold0_summary.json").is_file()
    assert not (run / "seeds" / "seed42" / "fold1_summary.json").exists()
    assert not list((run / "seeds" / "seed43").glob("fold*_summary.json"))
    log = (run / "training_record.log").read_text()
    assert "seed 42 stopped at train.time_limit_hours: seeds [43] not started" in log
    assert not (run / "oof.csv").exists()  # no fold that every seed finished: no average


@pytest.mark.slow  # two spawned training processes per seed
def test_side_by_side_seeds_share_the_time_limit_too(shared, shared_folds, shared_cache, tmp_path):
    """Folds side by side (``train.fold_workers=2``, Kaggle's T4 x2): each worker times its
    epochs in its own process; the next seed still checks its first epoch against them. Seed
    42's two folds each train their one epoch (one a worker, none stopped), past a limit that
    one epoch passes; seed 43 does not start."""
    run = tmp_path / "run"
    args = ["train", "--competition", str(shared.root), "--out", str(run), "--repeats", "2",
            "--folds-file", str(shared_folds.path), "--cache", str(shared_cache),
            "--workers", "1"]  # fmt: skip
    for kv in [*tiny_overrides(2), "train.two_stage=false", "train.time_limit_hours=1e-9",
               "train.fold_workers=2"]:  # fmt: skip
        args += ["--set", kv]
    assert main(args) == 0
    for k in (0, 1):
        summary = json.loads((run / "seeds" / "seed42" / f"fold{k}_summary.json").read_text())
        assert not summary.get("stopped") and "_epoch_seconds" not in summary
    assert not list((run / "seeds" / "seed43").glob("fold*_summary.json"))
