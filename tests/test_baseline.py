"""The baseline model family: features of real windows, soft-label fit, a run's OOF files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from hms_kit import schema
from hms_kit.baseline import eeg_features, fit_predict, spectrogram_features
from hms_kit.config import ConfigError, load_config
from hms_kit.data import Competition, eeg_window, spec_window
from hms_kit.train import PRED_COLS, TARGET_COLS, train_folds


def test_features_of_real_windows(real_dir):
    comp = Competition(real_dir)
    e = eeg_features(eeg_window(comp.read_eeg(1628180742), 0))
    s = spectrogram_features(spec_window(comp.read_spectrogram(353733), 0))
    assert e.shape == (len(schema.REGIONS) * 8 + 1,) and np.isfinite(e).all()
    assert s.shape == (2 * len(schema.REGIONS) * 8,) and np.isfinite(s).all()
    assert 0.3 < e[-1] < 1  # real electrodes correlate
    # a NaN channel neither breaks nor changes the shape
    x = eeg_window(comp.read_eeg(1628180742), 0).copy()
    x[:, 3] = np.nan
    assert np.isfinite(eeg_features(x)).all()


def test_fit_predict_learns_soft_labels():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    logits = np.stack([2 * x[:, 0], -2 * x[:, 0], x[:, 1], 0 * x[:, 0], 0 * x[:, 0], x[:, 2]], 1)
    y = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    p = fit_predict(x[:300], y[:300], x[300:])
    assert p.shape == (100, 6) and np.allclose(p.sum(axis=1), 1)
    assert np.corrcoef(p[:, 0], y[300:, 0])[0, 1] > 0.8
    with pytest.raises(ValueError, match="logreg"):
        fit_predict(x, y, x, name="forest")


def test_config_family():
    assert load_config().model.family == "timm2d"
    cfg = load_config("baseline")
    assert (cfg.model.family, cfg.model.name) == ("baseline", "logreg")
    with pytest.raises(ConfigError, match="model.family"):
        load_config(overrides=["model.family=rnn"])
    with pytest.raises(ConfigError, match="logreg or hgb"):
        load_config("baseline", ["model.name=tf_efficientnet_b0"])


def test_baseline_run_writes_the_kits_oof_files(shared_comp, tmp_path):
    cfg = load_config("baseline", ["train.n_folds=3", "data.row_mode=dedup"])
    run = tmp_path / "run"
    result = train_folds(shared_comp, cfg, run)
    assert result["complete"] and np.isfinite(result["kl_all"])
    for name in ("config.yaml", "folds.csv", "oof.csv", "scores.json", "per_class.csv"):
        assert (run / name).is_file(), name
    oof = pd.read_csv(run / "oof.csv")
    assert np.allclose(oof[PRED_COLS].sum(axis=1), 1) and np.allclose(
        oof[TARGET_COLS].sum(axis=1), 1
    )
    assert oof.groupby("patient_id")["fold"].nunique().max() == 1  # patient-grouped
    assert json.loads((run / "scores.json").read_text())["kl_all"] == pytest.approx(
        result["kl_all"]
    )
    assert load_config(run / "config.yaml").model.family == "baseline"
    assert json.loads((run / "scores.json").read_text())["checkpoint_population"] == "none"


def test_saved_baseline_predicts_like_the_fitted_model():
    from hms_kit.baseline import fit_model, model_tensors, predict_tensors

    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 4))
    y = rng.dirichlet(np.ones(6), size=300)
    model = fit_model(x, y)
    tensors = model_tensors(model)
    proba = np.zeros((300, 6))
    proba[:, model.classes_] = model.predict_proba(x)
    np.testing.assert_allclose(predict_tensors(tensors, x), proba, atol=1e-5)
    # one OpenMP thread: in a process that has run torch, hgb's threads on a loaded 2-core
    # machine were seen to spin for minutes over a fit that takes a second
    with threadpool_limits(1):
        hgb = fit_model(x, y, name="hgb")
    assert model_tensors(hgb) is None  # no tensor form: not saved


def test_baseline_run_predicts_the_test_set(shared_comp, baseline_run):
    """The session's baseline run (conftest.baseline_run: two folds) predicts the test set."""
    from hms_kit.predict import predict_test

    comp, run = shared_comp, baseline_run.path
    assert sorted(p.name for p in (run / "checkpoints").glob("*.pt")) == [
        "fold0_best.pt",
        "fold1_best.pt",
    ]
    sub, report = predict_test(comp, [run], workers=1)
    assert len(report["predicted_with"]) == 2 and report["fallback_rows"] == []
    probs = sub[list(schema.VOTE_COLUMNS)].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1) and probs.std(axis=0).max() > 0


def test_train_on_a_balanced_sample_from_the_command_line(shared, tmp_path, capsys):
    from hms_kit.cli import main

    root = shared.root
    sample = tmp_path / "balanced_train.csv"
    args = ["sample", "--train-csv", str(root / "train.csv"), "--out", str(sample)]
    assert main([*args, "--per-class", "4", "--allow-smaller"]) == 0
    subset = pd.read_csv(sample)
    run = tmp_path / "run"
    args = ["train", "--competition", str(root), "--out", str(run), "--config", "baseline"]
    assert (
        main(
            [
                *args,
                "--train-csv",
                str(sample),
                "--set",
                "data.row_mode=all",
                "--set",
                "train.n_folds=2",
            ]
        )
        == 0
    )
    oof = pd.read_csv(run / "oof.csv")
    assert len(oof) == len(subset) < len(Competition(root).read_train())
    assert set(zip(oof.eeg_id, oof.eeg_sub_id)) == set(zip(subset.eeg_id, subset.eeg_sub_id))
    assert load_config(run / "config.yaml").data.train_csv.endswith(".csv")
