"""Small pieces of the training loop."""

from __future__ import annotations

import pytest
import torch

from hms_kit.engine.loop import warmup_share


def _one_cycle(total: int, pct: float) -> None:
    opt = torch.optim.AdamW(torch.nn.Linear(2, 2).parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=total, pct_start=pct)
    for _ in range(total):
        opt.step()
        sched.step()


def test_short_stages_get_a_warm_up_onecyclelr_can_run() -> None:
    with pytest.raises(ZeroDivisionError):  # why the nudge exists: 10 steps at 0.1
        _one_cycle(10, 0.1)
    for pct in (0.1, 0.2, 0.25, 0.3):
        for total in range(1, 41):
            _one_cycle(total, warmup_share(pct, total))
    assert warmup_share(0.1, 30) == 0.1


@pytest.mark.slow  # a chain eeg1d trained on 2 folds (~13 s): make test stays under 5 min
def test_eeg1d_chain_with_the_per_eeg_sampler_trains_end_to_end(
    shared, shared_folds, shared_cache, tmp_path
):
    """Issue 20: ``train --config eeg1d`` with the chain topology (a CPU width) and one row
    per eeg_id an epoch writes its OOF; stage 1 stepped once per batch of training EEGs."""
    import numpy as np
    import pandas as pd
    import yaml
    from conftest import ok, run_command, tiny_overrides

    from hms_kit.checkpoint import fold_checkpoint_path, load_checkpoint
    from hms_kit.engine.loop import steps_per_epoch

    out = tmp_path / "run"
    sets = [*tiny_overrides(2), "model.eeg1d.topology=chain", "train.sampler=per_eeg",
            "model.eeg1d.chain.width_mult=0.125", "train.two_stage=false"]  # fmt: skip
    args = ["train", "--competition", shared.root, "--out", out, "--config", "eeg1d"]
    args += ["--folds-file", shared_folds.path, "--cache", shared_cache, "--workers", 1]
    for s in sets:
        args += ["--set", s]
    ok(run_command(*args))
    oof = pd.read_csv(out / "oof.csv")
    folds = pd.read_csv(out / "folds.csv")
    assert len(oof) == len(folds) > 0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["model"]["eeg1d"]["topology"] == "chain"
    assert saved["train"]["sampler"] == "per_eeg"
    final = fold_checkpoint_path(out / "checkpoints", 0, "final")
    lrs = load_checkpoint(final)["lrs_by_stage"][1]
    train_eegs = folds.loc[folds["fold"] != 0, "eeg_id"].nunique()
    assert train_eegs < (folds["fold"] != 0).sum()  # some EEGs have several rows
    assert len(lrs) == steps_per_epoch(train_eegs, 8)
    assert np.isfinite(oof.filter(like="_vote").to_numpy(float)).all()


def _train_eeg1d(shared, shared_folds, shared_cache, out, *sets: str, resume: bool = False):
    from conftest import ok, run_command, tiny_overrides

    args = ["train", "--competition", shared.root, "--out", out, "--config", "eeg1d"]
    args += ["--resume"] if resume else []
    args += ["--folds-file", shared_folds.path, "--cache", shared_cache, "--workers", 1]
    for s in [*tiny_overrides(2), "train.folds=[0]", *sets]:
        args += ["--set", s]
    return ok(run_command(*args))


def test_one_schedule_over_both_stages(shared, shared_folds, shared_cache, tmp_path):
    """``train.joint_schedule``: stage 2 goes on from stage 1's rate; the two stages' rates
    are one OneCycleLR (stage 1's settings) over both stages' steps."""
    import numpy as np

    from hms_kit.checkpoint import fold_checkpoint_path, load_checkpoint

    out = tmp_path / "run"
    _train_eeg1d(shared, shared_folds, shared_cache, out, "train.joint_schedule=true",
                 "train.stage1.epochs=2", "train.stage1.pct_start=0.3",
                 "train.stage2.max_lr=1.0")  # fmt: skip
    lrs = load_checkpoint(fold_checkpoint_path(out / "checkpoints", 0, "final"))["lrs_by_stage"]
    s1, s2 = lrs[1], lrs[2]
    assert len(s1) > 0 and len(s2) > 0
    total = len(s1) + len(s2)
    opt = torch.optim.AdamW(torch.nn.Linear(2, 2).parameters())
    one = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=3e-3, total_steps=total, pct_start=warmup_share(0.3, total),
        div_factor=25.0, final_div_factor=100.0,
    )  # fmt: skip
    expect = []
    for _ in range(total):
        expect.append(one.get_last_lr()[0])
        opt.step()
        one.step()
    np.testing.assert_allclose(s1 + s2, expect, rtol=1e-9)  # stage 2's max_lr unused


def test_a_stage_2_of_0_epochs_trains_stage_1_only(shared, shared_folds, shared_cache, tmp_path):
    from hms_kit.checkpoint import fold_checkpoint_path, load_checkpoint

    out = tmp_path / "run"
    _train_eeg1d(shared, shared_folds, shared_cache, out, "train.stage2.epochs=0")
    ck = out / "checkpoints"
    assert fold_checkpoint_path(ck, 0, "best", 1).is_file()
    assert not fold_checkpoint_path(ck, 0, "best", 2).is_file()
    final = load_checkpoint(fold_checkpoint_path(ck, 0, "final"))
    assert final["stage"] == 1 and set(final["lrs_by_stage"]) == {1}


@pytest.mark.slow  # two chain eeg1d trainings (~18 s): make test stays under 5 min
def test_tta_oof_averages_the_oof_over_the_views_and_trains_the_same(
    shared, shared_folds, shared_cache, tmp_path
):
    """``predict.tta_oof``: the same training (same final weights), OOF predicted with the
    TTA views of ``predict`` (the default); off, the plain OOF."""
    import numpy as np
    import pandas as pd

    from hms_kit.checkpoint import fold_checkpoint_path, load_checkpoint
    from hms_kit.scoring.oof import PRED_COLS

    tta = ["predict.tta_flip=true", "predict.tta_mirror=true", "train.stage2.epochs=0",
           "model.eeg1d.topology=chain", "model.eeg1d.chain.width_mult=0.125"]  # fmt: skip
    plain, views = tmp_path / "plain", tmp_path / "tta"
    _train_eeg1d(shared, shared_folds, shared_cache, plain, *tta, "predict.tta_oof=false")
    _train_eeg1d(shared, shared_folds, shared_cache, views, *tta)
    a, b = (load_checkpoint(fold_checkpoint_path(r / "checkpoints", 0, "final")) for r in
            (plain, views))  # fmt: skip
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    pa, pb = (pd.read_csv(r / "oof_fold0.csv")[PRED_COLS].to_numpy() for r in (plain, views))
    assert pa.shape == pb.shape and not np.allclose(pa, pb, atol=1e-6)
    # the plain run resumed with the views on: its fold's OOF is the one training with them gave
    _train_eeg1d(shared, shared_folds, shared_cache, plain, *tta, resume=True)
    again = pd.read_csv(plain / "oof_fold0.csv")[PRED_COLS].to_numpy()
    np.testing.assert_allclose(again, pb, atol=1e-6)


@pytest.mark.slow  # three trainings of a chain
def test_a_finished_fold_resumed_with_other_oof_views_is_predicted_again_not_retrained(
    shared, shared_folds, shared_cache, tmp_path
):
    """``predict`` is outside the fingerprint, so ``--resume`` keeps a finished fold's model
    when the views change; its OOF (and summary) follow the config's views, so a blend fits
    on what the test set gets. The same views again: kept as it is."""
    import json

    import numpy as np
    import pandas as pd

    from hms_kit.checkpoint import fold_checkpoint_path
    from hms_kit.scoring.oof import PRED_COLS

    run = tmp_path / "run"
    sets = [
        "predict.tta_flip=true",
        "train.stage2.epochs=0",
        "model.eeg1d.topology=chain",
        "model.eeg1d.chain.width_mult=0.125",
    ]  # fmt: skip (a model whose output moves)
    _train_eeg1d(shared, shared_folds, shared_cache, run, *sets, "predict.tta_oof=false")
    final = fold_checkpoint_path(run / "checkpoints", 0, "final")
    model_bytes = final.read_bytes()
    plain = pd.read_csv(run / "oof_fold0.csv")[PRED_COLS].to_numpy()
    assert json.loads((run / "fold0_summary.json").read_text())["oof_views"] == [False, False]

    printed = _train_eeg1d(shared, shared_folds, shared_cache, run, *sets, resume=True)
    log = printed.out + printed.err + (run / "training_record.log").read_text()
    assert "views none, the config asks flip: predicted again" in log
    assert final.read_bytes() == model_bytes  # not trained again
    flipped = pd.read_csv(run / "oof_fold0.csv")[PRED_COLS].to_numpy()
    assert flipped.shape == plain.shape and not np.allclose(flipped, plain, atol=1e-6)
    summary = json.loads((run / "fold0_summary.json").read_text())
    assert summary["oof_views"] == [True, False] and "fingerprint" in summary

    stamp = (run / "oof_fold0.csv").stat().st_mtime_ns
    _train_eeg1d(shared, shared_folds, shared_cache, run, *sets, resume=True)
    assert (run / "oof_fold0.csv").stat().st_mtime_ns == stamp


def test_a_fold_finished_before_summaries_kept_views_reads_them_from_its_checkpoint(tmp_path):
    from hms_kit.checkpoint import save_checkpoint
    from hms_kit.config import load_config, to_dict
    from hms_kit.train import saved_oof_views

    path = tmp_path / "fold0_best.pt"
    cfg = load_config(None, ["predict.tta_flip=true", "predict.tta_mirror=true"])
    cfg.predict.tta_oof = False
    save_checkpoint({"model": {}, "family": "timm2d", "config": to_dict(cfg)}, path, kind="final")
    assert saved_oof_views({}, path) == (False, False)
    cfg.predict.tta_oof = True
    save_checkpoint({"model": {}, "family": "timm2d", "config": to_dict(cfg)}, path, kind="final")
    assert saved_oof_views({}, path) == (True, True)
    assert saved_oof_views({"oof_views": [False, True]}, path) == (False, True)
    assert saved_oof_views({}, tmp_path / "missing.pt") == (False, False)
