"""hms_kit.repredict: a trained run's OOF predicted again with test-time views, no training."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import _train_shared, ok, run_command, tiny_overrides

from hms_kit import schema
from hms_kit.config import ConfigError, load_config
from hms_kit.repredict import repredict_run
from hms_kit.scoring.metric import PRED_COLS

VOTES = list(schema.VOTE_COLUMNS)


def snapshot(folder) -> dict:
    """Every file under ``folder``: its bytes' hash and its modification time."""
    return {p.relative_to(folder): (hashlib.sha1(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


@pytest.fixture(scope="module")
def mirrored(shared, cnn_run, tmp_path_factory):
    """``repredict --tta-mirror`` of the session's tiny timm2d run, with the run's files
    before it."""
    out = tmp_path_factory.mktemp("mirrored") / "run"
    before = snapshot(cnn_run.path)
    printed = ok(run_command("repredict", "--competition", shared.root, "--run", cnn_run.path,
                             "--out", out, "--tta-mirror"))  # fmt: skip
    return out, printed, before


def test_repredicted_oof_is_what_training_with_those_views_writes(
    shared, shared_folds, shared_cache, cnn_run, mirrored, tmp_path
):
    out, printed, _ = mirrored
    twin = _train_shared(shared, shared_folds, shared_cache, tmp_path / "twin",
                         *tiny_overrides(2), "predict.tta_oof=true", "predict.tta_mirror=true")  # fmt: skip
    mine, trained = pd.read_csv(out / "oof.csv"), pd.read_csv(twin.path / "oof.csv")
    np.testing.assert_allclose(mine[PRED_COLS], trained[PRED_COLS], atol=1e-6)
    plain = pd.read_csv(cnn_run.path / "oof.csv")
    assert not np.allclose(mine[PRED_COLS], plain[PRED_COLS], atol=1e-6)  # the views count
    cfg = load_config(out / "config.yaml")
    assert cfg.predict.tta_mirror and cfg.predict.tta_oof and not cfg.predict.tta_flip
    assert (out / "run_id.txt").read_text() == (cnn_run.path / "run_id.txt").read_text()
    scores = json.loads((out / "scores.json").read_text())
    assert scores["complete"]
    assert f"{scores['kl_all']:.4f} with mirror" in printed.out


def test_a_repredicted_run_predicts_with_its_views_and_compares_as_any_run(
    shared, cnn_run, mirrored, tmp_path
):
    out, _, _ = mirrored

    def predict(name: str, *args) -> pd.DataFrame:
        printed = ok(run_command("predict", "--competition", shared.root, *args,
                                 "--out", tmp_path / name, "--cache", tmp_path / "cache"))  # fmt: skip
        return pd.read_csv(tmp_path / name), printed.out

    own, printed = predict("own.csv", "--run", out)  # its config.yaml's views: mirror
    assert "views: mirror (2 checkpoints)" in printed
    forced, _ = predict("forced.csv", "--run", cnn_run.path, "--tta-mirror")
    plain, _ = predict("plain.csv", "--run", out, "--no-tta-mirror")
    source, _ = predict("source.csv", "--run", cnn_run.path)
    assert len(own) == len(pd.read_csv(shared.root / "test.csv"))
    np.testing.assert_allclose(own[VOTES], forced[VOTES], atol=1e-6)
    np.testing.assert_allclose(plain[VOTES], source[VOTES], atol=1e-6)
    assert not np.allclose(own[VOTES], source[VOTES], atol=1e-6)
    # two runs, each predicted as its OOF was: the blend sees what it was fitted on
    _, printed = predict("both.csv", "--run", cnn_run.path, "--run", out)
    assert "views: mirror (2 checkpoints), plain (2 checkpoints)" in printed
    members = tmp_path / "both_members"
    np.testing.assert_allclose(pd.read_csv(members / "member1.csv")[VOTES],
                               forced[VOTES], atol=1e-6)  # fmt: skip
    np.testing.assert_allclose(pd.read_csv(members / "member0.csv")[VOTES],
                               source[VOTES], atol=1e-6)  # fmt: skip
    printed = ok(run_command("compare", cnn_run.path, out))
    assert "votes_ge_10" in printed.out


@pytest.mark.slow  # a run of its own trained (10 s)
def test_repredict_prints_the_runs_own_high_vote_cut(shared, shared_folds, shared_cache, tmp_path):
    """A run trained with ``data.high_vote_threshold: 8`` has kl_votes_ge_8, not ..._10."""
    run = _train_shared(shared, shared_folds, shared_cache, tmp_path / "run",
                        *tiny_overrides(2), "train.two_stage=false",
                        "data.high_vote_threshold=8").path  # fmt: skip
    printed = ok(run_command("repredict", "--competition", shared.root, "--run", run,
                             "--out", tmp_path / "out", "--tta-flip"))  # fmt: skip
    assert "OOF KL (votes_ge_8, " in printed.out


def test_repredict_leaves_the_trained_run_as_it_was(cnn_run, mirrored):
    out, _, before = mirrored
    assert snapshot(cnn_run.path) == before
    assert not load_config(cnn_run.path / "config.yaml").predict.tta_mirror
    linked = out / "checkpoints" / "fold0_best.pt"
    assert linked.read_bytes() == (cnn_run.path / "checkpoints" / "fold0_best.pt").read_bytes()
    assert not out.with_name("run.partial").exists()


def test_a_repeated_run_is_predicted_again_seed_by_seed(
    shared, tmp_path, shared_folds, shared_cache
):
    run = tmp_path / "rep"
    _train_shared(shared, shared_folds, shared_cache, run, *tiny_overrides(2),
                  "train.two_stage=false", "train.seeds=2")  # fmt: skip
    out = tmp_path / "rep_tta"
    scores = repredict_run(shared.comp, run, out, flip=True, mirror=True, cache_dir=shared_cache)
    a, b = (pd.read_csv(out / "seeds" / s / "oof.csv") for s in ("seed42", "seed43"))
    oof = pd.read_csv(out / "oof.csv")
    np.testing.assert_allclose(oof[PRED_COLS], (a[PRED_COLS] + b[PRED_COLS]) / 2, atol=1e-9)
    assert scores["seeds"] == [42, 43] and scores["complete"]
    assert sorted(p.name for p in (out / "seeds" / "seed43" / "checkpoints").iterdir()) == [
        "fold0_best.pt", "fold1_best.pt"]  # fmt: skip


def test_repredict_refuses_what_it_cannot_do(shared, cnn_run, baseline_run, tmp_path):
    with pytest.raises(ConfigError, match="needs a view"):
        repredict_run(shared.comp, cnn_run.path, tmp_path / "a")
    with pytest.raises(ConfigError, match="'baseline' has no test-time views"):
        repredict_run(shared.comp, baseline_run.path, tmp_path / "b", mirror=True)
    with pytest.raises(ConfigError, match="new run folder"):
        repredict_run(shared.comp, cnn_run.path, cnn_run.path, mirror=True)
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        repredict_run(shared.comp, tmp_path, tmp_path / "c", mirror=True)
    # --out replaces a folder whole: never the one holding the run, nor another run
    with pytest.raises(ConfigError, match="or a folder holding it"):
        repredict_run(shared.comp, cnn_run.path, cnn_run.path.parent, mirror=True)
    with pytest.raises(ConfigError, match="an earlier repredict did not write"):
        repredict_run(shared.comp, cnn_run.path, baseline_run.path, mirror=True)
    assert (baseline_run.path / "oof.csv").is_file() and (cnn_run.path / "oof.csv").is_file()


def test_a_missing_fold_checkpoint_is_named_and_the_last_output_kept(
    shared, cnn_run, mirrored, tmp_path
):
    run, out = tmp_path / "run", tmp_path / "out"
    shutil.copytree(cnn_run.path, run)
    shutil.copytree(mirrored[0], out)  # what an earlier repredict wrote
    kept = snapshot(out)
    (run / "checkpoints" / "fold1_best.pt").unlink()
    printed = run_command("repredict", "--competition", shared.root, "--run", run,
                          "--out", out, "--tta-flip")  # fmt: skip
    assert printed.rc == 2
    assert "fold1_best.pt: fold 1 has no final checkpoint" in printed.err
    assert snapshot(out) == kept and not (tmp_path / "out.partial").exists()
