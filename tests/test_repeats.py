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
from hms_kit.repeats import seed_list
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
