"""Prediction: finding checkpoints, grouping them by inputs, predicting the real test file with
any family's checkpoint, and staying apart from training internals."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from hms_kit import schema
from hms_kit.checkpoint import save_checkpoint
from hms_kit.config import load_config, save_config, to_dict
from hms_kit.data import Competition
from hms_kit.data.readers import eeg_window, read_eeg
from hms_kit.inputs.raw_eeg import raw_eeg
from hms_kit.models import build_model
from hms_kit.predict import (
    find_checkpoints,
    forced_views,
    load_checkpoint,
    predict_test,
    run_views,
)

VOTES = list(schema.VOTE_COLUMNS)


def write_ckpt(path, cfg, seed: int = 0, prior=None):
    torch.manual_seed(seed)
    model = build_model(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    state = {
        "model": model.state_dict(),
        "family": cfg.model.family,
        "config": to_dict(cfg),
        "run_id": "test",
        "prior": [float(v) for v in (prior if prior is not None else np.full(6, 1 / 6))],
    }
    save_checkpoint(state, path, kind="final")
    return model


def eeg1d_cfg(*more: str):
    return load_config("eeg1d", [*more])


def test_find_checkpoints_skips_stale_and_counts_a_file_once(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "stale" / "20260101T000000" / "checkpoints").mkdir(parents=True)
    for p in (run / "checkpoints" / "fold0_best.pt", run / "checkpoints" / "fold0_last.pt",
              run / "stale" / "20260101T000000" / "checkpoints" / "fold1_best.pt"):  # fmt: skip
        p.write_bytes(b"x")
    (tmp_path / "link").symlink_to(run)
    found = find_checkpoints([run, tmp_path / "link"])
    assert [p.name for p in found] == ["fold0_best.pt"]


def test_checkpoints_that_share_inputs_share_a_key(tmp_path):
    a = eeg1d_cfg("model.eeg1d.depth=1")
    b = eeg1d_cfg("model.eeg1d.depth=2")
    c = eeg1d_cfg("inputs.raw_eeg.central=false")
    d = load_config("default", ["model.name=test_efficientnet"])
    keys = []
    for i, cfg in enumerate((a, b, c, d)):
        write_ckpt(tmp_path / f"{i}.pt", cfg)
        keys.append(load_checkpoint(tmp_path / f"{i}.pt")[0].input_key())
    assert keys[0] == keys[1]  # same raw_eeg: one test cache
    assert len({keys[0], keys[2], keys[3]}) == 3
    base_keys = []
    for i, sets in enumerate(([], ["model.name=hgb"], ["model.baseline.morphology=true"])):
        baseline = load_config("baseline", sets)
        save_checkpoint({"model": {}, "family": "baseline", "config": to_dict(baseline),
                         "prior": [1 / 6] * 6}, tmp_path / f"b{i}.pt", kind="final")  # fmt: skip
        base_keys.append(load_checkpoint(tmp_path / f"b{i}.pt")[0].input_key())
    # the same features whatever fits them; the shapes are other features
    assert base_keys[0] == base_keys[1] != base_keys[2]
    assert not set(base_keys) & set(keys)


def test_an_eeg1d_checkpoint_predicts_the_real_test_file(real_dir, tmp_path):
    cfg = eeg1d_cfg()
    model = write_ckpt(tmp_path / "run" / "checkpoints" / "fold0_best.pt", cfg)
    (tmp_path / "broken" / "checkpoints").mkdir(parents=True)
    (tmp_path / "broken" / "checkpoints" / "fold0_best.pt").write_bytes(b"not a checkpoint")
    # a sound file from another kit version, its family unknown to this one: skipped too
    future = to_dict(cfg)
    future["model"]["family"] = "eeg1d_next"
    save_checkpoint({"model": {}, "family": "eeg1d_next", "config": future, "run_id": "x",
                     "prior": [1 / 6] * 6},
                    tmp_path / "future" / "checkpoints" / "fold0_best.pt", kind="final")  # fmt: skip
    comp = Competition(real_dir)
    sub, report = predict_test(comp, [tmp_path / "run", tmp_path / "broken", tmp_path / "future"],
                               cache_dir=tmp_path / "cache", workers=1)  # fmt: skip
    assert len(report["checkpoints"]) == 3
    assert report["predicted_with"] == [str(tmp_path / "run" / "checkpoints" / "fold0_best.pt")]
    assert report["fallback_rows"] == []
    assert list(sub.columns) == list(schema.SUBMISSION_COLUMNS) and len(sub) == 1
    # the model's own prediction on the test EEG's first 50 s (test rows have offset 0)
    eeg = read_eeg(real_dir / "test_eegs" / "3911565283.parquet")
    x = raw_eeg(eeg_window(eeg, 0.0), cfg.inputs.raw_eeg).astype(np.float16)
    with torch.no_grad():
        want = torch.softmax(model({"raw_eeg": torch.from_numpy(x)[None]}), 1)[0].numpy()
    np.testing.assert_allclose(sub[VOTES].to_numpy()[0], want, atol=2e-3)
    assert not np.allclose(want, 1 / 6, atol=1e-3)  # not the prior by accident


def test_flip_tta_averages_with_the_time_reversed_waveform(real_dir, tmp_path):
    cfg = eeg1d_cfg()
    model = write_ckpt(tmp_path / "run" / "checkpoints" / "fold0_best.pt", cfg, seed=3)
    sub, _ = predict_test(Competition(real_dir), [tmp_path / "run"],
                          cache_dir=tmp_path / "cache", tta_flip=True, workers=1)  # fmt: skip
    eeg = read_eeg(real_dir / "test_eegs" / "3911565283.parquet")
    x = torch.from_numpy(raw_eeg(eeg_window(eeg, 0.0), cfg.inputs.raw_eeg).astype(np.float16))
    with torch.no_grad():
        p = torch.softmax(model({"raw_eeg": x[None]}), 1)
        q = torch.softmax(model({"raw_eeg": x.flip(-1)[None]}), 1)
    np.testing.assert_allclose(sub[VOTES].to_numpy()[0], ((p + q) / 2)[0].numpy(), atol=2e-3)


def test_each_run_predicts_with_its_own_views_unless_one_is_imposed(real_dir, tmp_path):
    """Which views each checkpoint gets (the predictions' numbers for a trained model whose
    views matter: tests/test_repredict.py)."""
    cfg = eeg1d_cfg()  # trained without views: the checkpoint's own config says plain
    write_ckpt(tmp_path / "run" / "checkpoints" / "fold0_best.pt", cfg, seed=3)
    save_config(eeg1d_cfg("predict.tta_flip=true"), tmp_path / "run" / "config.yaml")
    write_ckpt(tmp_path / "other" / "checkpoints" / "fold0_best.pt", cfg, seed=4)
    comp = Competition(real_dir)
    runs = [tmp_path / "run", tmp_path / "other"]
    ckpts = [str(r / "checkpoints" / "fold0_best.pt") for r in runs]
    _, own = predict_test(comp, runs, cache_dir=tmp_path / "c", workers=1)
    assert own["views"] == {ckpts[0]: "flip", ckpts[1]: "plain"}
    _, forced = predict_test(comp, runs, cache_dir=tmp_path / "c", workers=1, tta_flip=False,
                             tta_mirror=True)  # fmt: skip
    assert forced["views"] == {ckpts[0]: "mirror", ckpts[1]: "mirror"}


def test_run_views_reads_the_runs_config_then_the_checkpoints(tmp_path):
    embedded = eeg1d_cfg("predict.tta_mirror=true")
    loose = tmp_path / "loose" / "fold0_best.pt"  # no config.yaml: the checkpoint's own
    loose.parent.mkdir()
    assert run_views(loose, embedded) == (False, True)
    seeds = tmp_path / "run" / "seeds" / "seed42" / "checkpoints" / "fold0_best.pt"
    seeds.parent.mkdir(parents=True)
    save_config(eeg1d_cfg("predict.tta_flip=true"), seeds.parents[1] / "config.yaml")
    save_config(eeg1d_cfg(), tmp_path / "run" / "config.yaml")  # another level: not read
    assert run_views(seeds, embedded) == (True, False)
    flat = tmp_path / "flat" / "fold1_best.pt"  # a fold kernel's output without checkpoints/
    flat.parent.mkdir()
    save_config(eeg1d_cfg("predict.tta_flip=true", "predict.tta_mirror=true"),
                flat.parent / "config.yaml")  # fmt: skip
    assert run_views(flat, embedded) == (True, True)
    # a config.yaml of another model (a train into the folder that failed early) is not
    # the checkpoint's: its views are not taken
    save_config(eeg1d_cfg("predict.tta_flip=true", "model.eeg1d.depth=1"),
                flat.parent / "config.yaml")  # fmt: skip
    assert run_views(flat, embedded) == (False, True)
    (flat.parent / "config.yaml").write_text("predict: {tta_flip: [\n")  # broken YAML
    assert run_views(flat, embedded) == (False, True)


def test_forced_views_are_the_views_the_overrides_or_the_file_itself_name(tmp_path):
    assert forced_views([]) == (None, None)
    assert forced_views(["predict.tta_flip=false", "predict.max_windows=0"]) == (False, None)
    assert forced_views(["predict.tta_mirror=true"]) == (None, True)
    assert forced_views(["predict={tta_flip: false}"]) == (False, None)
    kernel = tmp_path / "config.yaml"
    kernel.write_text("base: kaggle\n")  # kaggle flips, but as a recipe, not for every run
    assert forced_views([], kernel) == (None, None)
    kernel.write_text("base: kaggle\npredict: {tta_mirror: true, time_limit_hours: 2}\n")
    assert forced_views([], kernel) == (None, True)
    assert forced_views(["predict.tta_mirror=false"], kernel) == (None, False)


@pytest.mark.parametrize("module", ["hms_kit.predict", "hms_kit.runtime"])
def test_inference_does_not_import_training(module):
    code = f"import sys, {module}; print('hms_kit.train' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
