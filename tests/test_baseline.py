"""The baseline model family: features of real windows, soft-label fit, a run's OOF files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from threadpoolctl import threadpool_limits

from hms_kit import schema
from hms_kit.baseline import (
    MORPH_PER_CHAIN,
    eeg_features,
    fit_predict,
    morphology_features,
    repeat_strength,
    spectrogram_features,
)
from hms_kit.config import ConfigError, load_config
from hms_kit.data import Competition, eeg_window, spec_window
from hms_kit.runlog import LOG_NAME, get_run_logger
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


def test_morphology_features_of_a_real_window_are_finite_and_scale_free(real_dir):
    w = eeg_window(Competition(real_dir).read_eeg(1628180742), 0)
    m = morphology_features(w)
    assert m.shape == (len(schema.REGIONS) * MORPH_PER_CHAIN + 2,) and np.isfinite(m).all()
    # shapes, not amplitudes: a gain (another amplifier, another unit) changes nothing
    np.testing.assert_allclose(morphology_features(3.0 * w), m, atol=1e-6)
    x = w.copy()
    x[:, 3] = np.nan  # a lost electrode, and a window of zeros, stay finite
    assert np.isfinite(morphology_features(x)).all()
    assert np.isfinite(morphology_features(np.zeros_like(w))).all()


def test_repeat_strength_tells_a_rhythm_from_noise():
    t = np.arange(1000) / 20.0  # 50 s at 20 Hz
    sine = np.sin(2 * np.pi * 1.5 * t)
    noise = np.random.default_rng(0).normal(size=len(t))
    r = repeat_strength(np.stack([sine, noise, np.zeros_like(t)], axis=1), (0.25, 2.0), 20.0)
    assert r[0] > 0.9 and abs(r[1]) < 0.2 and r[2] == 0


def _one_sided(signal: np.ndarray) -> np.ndarray:
    """A 50-s window of faint noise with ``signal`` (10000,) on the left chains' middle
    electrodes (T3 and C3: two pairs of each left chain carry it)."""
    x = np.random.default_rng(1).normal(scale=2.0, size=(schema.EEG_WINDOW_SAMPLES, 20))
    for name in ("T3", "C3"):
        x[:, schema.CHANNEL_INDEX[name]] += signal
    return x


def test_morphology_features_tell_discharges_from_rhythmic_delta():
    t = np.arange(schema.EEG_WINDOW_SAMPLES) / schema.EEG_RATE_HZ
    spikes = 100 * np.exp(-0.5 * ((t % 1.0 - 0.5) / 0.02) ** 2)  # a 20-ms discharge each second
    delta = 100 * np.sin(2 * np.pi * 1.5 * t)  # smooth 1.5-Hz rhythm
    pd_, rd = morphology_features(_one_sided(spikes)), morphology_features(_one_sided(delta))
    ll = schema.REGIONS.index("LL") * MORPH_PER_CHAIN
    sharp, kurt, period, rhythm = (ll + i for i in range(4))
    assert pd_[sharp] > rd[sharp] and pd_[kurt] > rd[kurt] + 0.5
    # both repeat, which faint noise does not (a chain's four pairs, two of them carrying it)
    quiet = morphology_features(_one_sided(np.zeros_like(t)))
    for f in (period, rhythm):
        assert min(pd_[f], rd[f]) > 0.4 and quiet[f] < 0.2
    # the periodicity asymmetry: the left chains repeat, the right ones (noise) do not
    assert pd_[-1] > 0.2 > quiet[-1]
    # one side only: the power asymmetry is large (log units), and 0 for the same both sides
    assert pd_[-2] > 2 and rd[-2] > 2
    both = _one_sided(delta)
    for name in ("T4", "C4"):
        both[:, schema.CHANNEL_INDEX[name]] += delta
    assert morphology_features(both)[-2] < 0.5


def test_a_flat_pair_is_left_out_of_its_chains_shape():
    """Both electrodes of LL's T3-T5 lost: the chain's shape is its three other pairs', as
    noisy as the mirror chain's, not pulled down by a flat pair's floor values."""
    x = np.random.default_rng(2).normal(scale=20.0, size=(schema.EEG_WINDOW_SAMPLES, 20))
    x[:, [schema.CHANNEL_INDEX["T3"], schema.CHANNEL_INDEX["T5"]]] = np.nan
    m = morphology_features(x).reshape(-1)[: len(schema.REGIONS) * MORPH_PER_CHAIN]
    ll, rl = (schema.REGIONS.index(r) * MORPH_PER_CHAIN for r in ("LL", "RL"))
    for f in range(4):  # sharpness, peakedness, periodicity, rhythmicity
        assert abs(m[ll + f] - m[rl + f]) < 0.2, f


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


def test_a_baseline_without_fold_models_says_so(shared_comp, tmp_path, monkeypatch, capsys):
    import hms_kit.baseline as baseline

    # an estimator with no tensor form (hgb's case), on logreg's fast fit
    monkeypatch.setattr(baseline, "model_tensors", lambda model: None)
    cfg = load_config("baseline", ["train.n_folds=2", "data.row_mode=dedup"])
    get_run_logger(None, console=False)  # no handler an earlier test left behind
    try:
        result = train_folds(shared_comp, cfg, tmp_path / "run")
        assert result["complete"] and not (tmp_path / "run" / "checkpoints").exists()
        # the library's run: on stderr once and in the run's own log
        said = (tmp_path / "run" / LOG_NAME).read_text()
        assert f"{tmp_path / 'run'}: model.name=logreg keeps no fold models" in said
        assert capsys.readouterr().err.count("keeps no fold models") == 1
        get_run_logger(tmp_path / "run2", console=True)  # as the train command sets it up
        train_folds(shared_comp, cfg, tmp_path / "run2")
        assert capsys.readouterr().err.count("keeps no fold models") == 1
    finally:
        get_run_logger(None, console=False)


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


def test_hgb_fits_and_predicts_on_the_process_torch_threads(monkeypatch):
    """A fold worker's hgb keeps to the worker's torch threads, not one per core: its
    OpenMP pools, read during the fit and the prediction, hold torch's count; a tighter
    limit set around it still holds."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_info

    from hms_kit.baseline import class_probabilities, fit_model

    seen: list[set[int]] = []

    def openmp_threads() -> set[int]:
        return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"}

    for method in ("fit", "predict_proba"):
        original = getattr(HistGradientBoostingClassifier, method)

        def recording(self, *args, _original=original, **kwargs):
            seen.append(openmp_threads())
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(HistGradientBoostingClassifier, method, recording)
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(120, 3)), rng.dirichlet(np.ones(6), size=120)
    before = torch.get_num_threads()
    try:
        with threadpool_limits(3, user_api="openmp"):  # as if the pools had a thread per core
            torch.set_num_threads(2)  # a fold worker's share; torch's own OpenMP pool alone
            if 3 not in openmp_threads():
                pytest.skip("scikit-learn shares torch's OpenMP pool here: nothing to limit")
            proba = class_probabilities(fit_model(x, y, name="hgb"), x)
            assert seen == [{2}, {2}]
            with threadpool_limits(1, user_api="openmp"):  # tighter than torch's: kept
                torch.set_num_threads(2)  # torch's pool back at 2, scikit-learn's at 1
                class_probabilities(fit_model(x, y, name="hgb"), x)
            assert seen[2:] == [{1}, {1}]
    finally:
        torch.set_num_threads(before)
    assert proba.shape == (120, 6) and np.allclose(proba.sum(axis=1), 1)


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


def test_a_baseline_with_shapes_predicts_beside_the_plain_one(
    shared, shared_folds, baseline_run, tmp_path
):
    """``model.baseline.morphology``: its fold models take the wider features, and predict
    computes them for its checkpoints while the plain baseline's get the plain ones."""
    from hms_kit.checkpoint import load_checkpoint
    from hms_kit.cli import main
    from hms_kit.predict import predict_test

    run = tmp_path / "morph"
    args = ["train", "--competition", str(shared.root), "--out", str(run), "--config"]
    args += ["baseline", "--folds-file", str(shared_folds.path), "--set", "train.n_folds=2"]
    assert main([*args, "--set", "model.baseline.morphology=true"]) == 0

    def n_features(r: Path) -> int:
        return load_checkpoint(r / "checkpoints" / "fold0_best.pt")["model"]["coef"].shape[1]

    plain = n_features(baseline_run.path)
    assert n_features(run) == plain + len(schema.REGIONS) * MORPH_PER_CHAIN + 2
    sub, report = predict_test(shared.comp, [run, baseline_run.path], workers=1)
    assert len(report["predicted_with"]) == 4 and report["fallback_rows"] == []
    alone, _ = predict_test(shared.comp, [run], workers=1)
    cols = list(schema.VOTE_COLUMNS)
    assert np.allclose(alone[cols].sum(axis=1), 1)
    assert not np.allclose(alone[cols].to_numpy(), sub[cols].to_numpy())


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


def test_train_folds_trains_those_baseline_folds_alone(shared, shared_folds, tmp_path, monkeypatch):
    """``train --config baseline --folds 1`` trains fold 1 alone (it trained every fold); a
    later ``--folds 0`` completes the run with fold 1 kept, also for a model without fold
    checkpoints (hgb's case: the fold summary carries the fingerprint); a bad ``--folds``
    value is a usage error that names it."""
    from conftest import ok, run_command

    import hms_kit.baseline as baseline
    from hms_kit.cli import main

    monkeypatch.setattr(baseline, "model_tensors", lambda model: None)
    run = tmp_path / "run"
    args = ["train", "--competition", shared.root, "--out", run, "--config", "baseline"]
    args += ["--folds-file", shared_folds.path, "--set", "train.n_folds=2"]
    ok(run_command(*args, "--folds", "1"))
    assert [p.name for p in run.glob("oof_fold*.csv")] == ["oof_fold1.csv"]
    assert json.loads((run / "scores.json").read_text())["complete"] is False
    fold1 = (run / "oof_fold1.csv").read_bytes()
    ok(run_command(*args, "--folds", "0"))
    assert (run / "oof_fold1.csv").read_bytes() == fold1 and not (run / "stale").exists()
    scores = json.loads((run / "scores.json").read_text())
    assert scores["complete"] is True and scores["folds"] == [0, 1]
    assert run_command(*args, "--folds", "2").rc == 2  # no fold 2 with two folds
    for bad in ("zero", "1,1", "0,"):  # a fold twice would train twice, two workers at once
        with pytest.raises(SystemExit) as exit_:
            main([str(a) for a in [*args, "--folds", bad]])
        assert exit_.value.code == 2
