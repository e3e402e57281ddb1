"""The engine: loss, one epoch, a stage's best/last checkpoints, resume, the time budget,
and the stage/row selection train.py feeds it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from hms_kit.checkpoint import load_checkpoint
from hms_kit.config import StageConfig
from hms_kit.engine import (
    EpochSeeds,
    StageCheckpoints,
    StageSettings,
    kl_loss,
    make_loader,
    make_optimizer,
    run_stage,
    steps_per_epoch,
    stream_seed,
    train_one_epoch,
)
from hms_kit.engine.fold_stages import (
    schedule_spans,
    stage_rows,
    stage_settings,
    training_stages,
    validation_score,
)


class ToyData(torch.utils.data.Dataset):
    """n rows of a 4-feature input whose class is the argmax of the first 3 features."""

    def __init__(self, n: int, seed: int = 0) -> None:
        g = np.random.default_rng(seed)
        self.x = g.normal(size=(n, 4)).astype(np.float32)
        t = np.zeros((n, 6), np.float32)
        t[np.arange(n), self.x[:, :3].argmax(1)] = 0.8
        t[:, 5] += 0.2
        self.targets = t
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return (
            {"x": torch.from_numpy(self.x[i])},
            torch.from_numpy(self.targets[i]),
            torch.tensor(1.0),
        )


class ToyModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 6)

    def forward(self, batch):
        return self.lin(batch["x"])


META = {"family": "toy", "config": {}, "run_id": "r1", "fingerprint": "f"}


def test_kl_loss_is_the_batch_mean_kl_and_unit_weights_change_nothing():
    torch.manual_seed(0)
    logits = torch.randn(5, 6)
    target = torch.softmax(torch.randn(5, 6), 1)
    logp = torch.log_softmax(logits, 1)
    manual = (target * (target.log() - logp)).sum(1).mean()
    torch.testing.assert_close(kl_loss(logits, target), manual)
    torch.testing.assert_close(kl_loss(logits, target, torch.ones(5)), manual)
    # a row weighted 0 does not count; the others are scaled by n / sum(w)
    w = torch.tensor([0.0, 1, 1, 1, 1])
    per_row = (target * (target.log() - logp)).sum(1)
    torch.testing.assert_close(kl_loss(logits, target, w), (per_row[1:] * 5 / 4).sum() / 5)


def test_stage_rows_choose_training_and_checkpoint_rows():
    folds = np.array([0, 0, 0, 1, 1, 1])
    votes = np.array([1, 12, 3, 15, 2, 20])
    tr, va = stage_rows(folds, votes, fold=0, min_votes=0)
    assert tr.tolist() == [3, 4, 5] and va.tolist() == [0, 1, 2]
    tr, va = stage_rows(folds, votes, fold=0, min_votes=10)
    assert tr.tolist() == [3, 5] and va.tolist() == [1]
    # the caller may name the rows that choose the checkpoint (e.g. a target population)
    chosen = np.array([True, False, True, False, False, False])
    tr, va = stage_rows(folds, votes, fold=0, min_votes=10, checkpoint_rows=chosen)
    assert tr.tolist() == [3, 5] and va.tolist() == [0, 2]
    # no validation row left: the fold's rows choose
    tr, va = stage_rows(folds, np.array([1, 1, 1, 15, 2, 20]), fold=0, min_votes=10)
    assert va.tolist() == [0, 1, 2]


def test_training_stages_follow_the_config_or_the_caller():
    from hms_kit.config import Config

    cfg = Config()
    assert [s for s, _ in training_stages(cfg)] == [1, 2]
    assert [s for s, _ in training_stages(cfg, two_stage=False)] == [1]
    cfg.train.two_stage = False
    assert [s for s, _ in training_stages(cfg)] == [1]


def test_schedule_spans_lay_the_stages_end_to_end_on_one_schedule():
    stages = [(1, StageConfig(epochs=3)), (2, StageConfig(epochs=2))]
    # 10 items in batches of 4: 2 steps an epoch (the last partial batch dropped)
    assert schedule_spans(stages, [10, 5], batch_size=4) == {1: (0, 8), 2: (6, 8)}
    # two batches a step: 1 step an epoch
    assert schedule_spans(stages, [10, 5], batch_size=4, grad_accum=2) == {1: (0, 5), 2: (3, 5)}
    # a stage without training items takes no step (steps_per_epoch alone would say 1)
    assert schedule_spans(stages, [10, 0], batch_size=4) == {1: (0, 6), 2: (6, 6)}
    # nor does a stage of one item an epoch, which training skips
    assert schedule_spans(stages, [10, 1], batch_size=4) == {1: (0, 6), 2: (6, 6)}
    with pytest.raises(ValueError):
        schedule_spans(stages, [10], batch_size=4)


def test_stage_settings_are_seeded_by_fold_and_stage():
    from hms_kit.config import load_config

    cfg = load_config("default", ["train.seed=5", "train.ema_decay=0.5"])
    s = stage_settings(cfg, fold=2, stage=1)
    assert s.name == "fold 2 stage 1" and s.seed == stream_seed(5, 2, 1)
    assert s.ema_decay == 0.5 and s.batch_size == cfg.train.batch_size
    assert s.eval_batch_size == cfg.predict.batch_size
    seeds = {stage_settings(cfg, f, st).seed for f in range(5) for st in (1, 2)}
    assert len(seeds) == 10


def test_stream_seeds_of_different_names_differ():
    names = [(42,), (42, 0), (42, 0, 0), (0, 1, 1), (2**32, 1), (-1, 0, 1), (2**64 - 1, 0, 1),
             (2**32 - 1, 2**32 - 1, 0, 1), (7, 1, 0), (8, 0, 0), (7, 0, 1)]  # fmt: skip
    seeds = [stream_seed(*n) for n in names]
    assert len(set(seeds)) == len(names)
    assert all(0 <= s < 2**31 for s in seeds)  # torch and numpy take it as it is
    assert stream_seed(42, 0) == stream_seed(42, 0)


def test_an_epochs_order_augmentation_and_dropout_draw_from_streams_of_their_own():
    """One seed for the three made the first batch's augmentation draws the very draws that
    shuffled the order (and dropout's): the same Mersenne Twister state read three ways."""
    seeds = [EpochSeeds.of(5, e) for e in range(3)]
    values = [v for s in seeds for v in (s.order, s.augment, s.global_)]
    assert len(set(values)) == len(values)
    order = torch.randperm(100, generator=torch.Generator().manual_seed(seeds[0].order))
    first = torch.randperm(100, generator=torch.Generator().manual_seed(seeds[0].augment))
    assert not torch.equal(order, first)


def test_a_stage_2_of_0_epochs_is_no_stage_2():
    """``train.stage2.epochs=0`` crashed in OneCycleLR; it means: stage 1 only."""
    from hms_kit.config import load_config
    from hms_kit.scoring.populations import checkpoint_population

    cfg = load_config(None, ["train.stage2.epochs=0"])
    assert [s for s, _ in training_stages(cfg)] == [1]
    assert [s for s, _ in training_stages(cfg, two_stage=True)] == [1]
    assert checkpoint_population(cfg) == "all"  # chosen as stage 1 chose


def test_a_joint_schedule_continues_across_stages_as_one_onecyclelr(tmp_path):
    """Two stages sharing one schedule (``span``) step through the very rates of one
    OneCycleLR over both stages' steps: the rate is continuous at the boundary, and the
    steps add up (stage 2 has fewer rows: fewer steps an epoch)."""
    scfg = StageConfig(epochs=2, max_lr=5e-2, pct_start=0.3)
    s1, s2 = 2 * steps_per_epoch(64, 8), 2 * steps_per_epoch(24, 8)
    lrs = []
    for stage, (n, first) in enumerate([(64, 0), (24, s1)], start=1):
        ck = StageCheckpoints(tmp_path / f"b{stage}.pt", tmp_path / "last.pt", META)
        settings = StageSettings(name=f"stage {stage}", stage=stage, batch_size=8, num_workers=0)
        res = run_stage(ToyModel(), scfg, settings, ToyData(n), ToyData(16, seed=1),
                        torch.device("cpu"), ck, schedule_span=(first, s1 + s2))  # fmt: skip
        assert len(res.lrs) == (s1 if stage == 1 else s2)
        lrs += res.lrs
    opt = torch.optim.AdamW(ToyModel().parameters())
    one = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=5e-2, total_steps=s1 + s2, pct_start=0.3, div_factor=scfg.div_factor,
        final_div_factor=scfg.final_div_factor,
    )  # fmt: skip
    expect = []
    for _ in range(s1 + s2):
        expect.append(one.get_last_lr()[0])
        opt.step()
        one.step()
    np.testing.assert_allclose(lrs, expect, rtol=1e-12)
    # continuous: the step across the boundary is no bigger than the largest step within
    jumps = np.abs(np.diff(lrs))
    assert jumps[s1 - 1] <= jumps.max() and lrs[s1] < lrs[s1 - 1]


@pytest.mark.parametrize("n_rows, batch, epochs", [(5, 8, 1), (9, 8, 1), (10, 1, 1), (40, 8, 3)])
def test_short_stages_train(n_rows, batch, epochs):
    """A stage of very few optimiser steps trains (OneCycleLR would divide by zero on some)."""
    model = ToyModel()
    scfg = StageConfig(epochs=epochs, max_lr=1e-2, pct_start=0.1)
    n = steps_per_epoch(n_rows, batch)
    opt, sched = make_optimizer(model, scfg, n)
    ds = ToyData(n_rows)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    for _ in range(epochs):
        res = train_one_epoch(model, make_loader(ds, batch, True, 0, torch.device("cpu"), 0),
                              opt, sched, scaler, torch.device("cpu"))  # fmt: skip
        assert len(res.lrs) == n and math.isfinite(res.train_loss)


def test_the_lr_starts_at_max_lr_over_div_factor():
    opt, sched = make_optimizer(ToyModel(), StageConfig(epochs=2, max_lr=1e-2, div_factor=20), 10)
    assert sched.get_last_lr()[0] == pytest.approx(1e-2 / 20)


def test_one_epoch_draws_a_log_bar_at_most_twice_with_the_real_count(capsys):
    """The bar in a log: no line per step (set_postfix used to force one, showing 0/N)."""
    model, ds = ToyModel(), ToyData(64)
    opt, sched = make_optimizer(model, StageConfig(epochs=1), 64)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    train_one_epoch(model, make_loader(ds, 1, True, 0, torch.device("cpu"), 0), opt, sched,
                    scaler, torch.device("cpu"), desc="toy")  # fmt: skip
    err = capsys.readouterr().err
    draws = [d for d in err.replace("\r", "\n").splitlines() if d.startswith("toy")]
    assert 1 <= len(draws) <= 3, draws
    assert "64/64" in draws[-1]


def _stage(tmp_path, epochs=3, **kw):
    torch.manual_seed(0)
    model = ToyModel()
    ck = StageCheckpoints(tmp_path / "best.pt", tmp_path / "last.pt", META)
    settings = StageSettings(name="fold 0 stage 1", stage=1, batch_size=8, num_workers=0)
    res = run_stage(model, StageConfig(epochs=epochs, max_lr=5e-2), settings, ToyData(64),
                    ToyData(32, seed=1), torch.device("cpu"), ck, **kw)  # fmt: skip
    return model, res


class OrderRecorder(ToyData):
    """ToyData that records the rows each epoch draws, in the order drawn."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.seen: dict[int, list[int]] = {}

    def __getitem__(self, i):
        self.seen.setdefault(self.epoch, []).append(int(i))
        return super().__getitem__(i)


def _epoch_orders(tmp_path, run_seed: int, epochs: int = 3) -> dict[int, list[int]]:
    from hms_kit.config import load_config

    settings = stage_settings(load_config("default", [f"train.seed={run_seed}"]), 0, 1)
    settings.num_workers, settings.batch_size = 0, 8
    data = OrderRecorder(64)
    ck = StageCheckpoints(tmp_path / "best.pt", tmp_path / "last.pt", META)
    run_stage(ToyModel(), StageConfig(epochs=epochs, max_lr=5e-2), settings, data,
              ToyData(16, seed=1), torch.device("cpu"), ck)  # fmt: skip
    return data.seen


def test_the_seeds_of_a_repeated_run_draw_their_own_batches(tmp_path):
    # a repeated run's seeds are train.seed, train.seed + 1, ...: with stage seeds summed
    # from them, seed 8's epoch e drew seed 7's epoch e + 1 (its batches one epoch apart)
    a, b = _epoch_orders(tmp_path / "a", 7), _epoch_orders(tmp_path / "b", 8)
    assert len(a) == len(b) == 3 and all(len(a[e]) == 64 for e in a)
    orders = [tuple(v) for v in a.values()] + [tuple(v) for v in b.values()]
    assert len(set(orders)) == 6
    assert _epoch_orders(tmp_path / "c", 7) == a  # and a seed still trains the same


def test_stage_writes_its_best_and_last_checkpoints(tmp_path):
    model, res = _stage(tmp_path)
    best, last = load_checkpoint(tmp_path / "best.pt"), load_checkpoint(tmp_path / "last.pt")
    assert best["kind"] == "best" and last["kind"] == "last"
    assert best["family"] == "toy" and best["run_id"] == "r1" and best["config"] == {}
    assert best["epoch"] == res.best_epoch and best["val_loss"] == pytest.approx(res.best_loss)
    assert last["epoch"] == 2 and last["best_epoch"] == res.best_epoch
    assert {"optimizer", "scheduler", "scaler"} <= set(last)
    assert len(res.lrs) == 3 * 8 and last["lrs"] == res.lrs
    # the last state is the model as it ended
    torch.testing.assert_close(last["model"]["lin.weight"], model.lin.weight.detach())
    assert res.best_loss < math.log(6)  # it learnt something


def test_stage_resumes_from_its_last_state_like_an_uninterrupted_one(tmp_path):
    _, full = _stage(tmp_path / "a", epochs=3)
    # interrupted after 2 epochs: the time budget stops it before the third
    calls = []

    def out_of_time() -> bool:
        calls.append(1)
        return len(calls) > 2

    _, part = _stage(tmp_path / "b", epochs=3, out_of_time=out_of_time)
    assert part.stopped and load_checkpoint(tmp_path / "b" / "last.pt")["epoch"] == 1
    _, resumed = _stage(tmp_path / "b", epochs=3,
                        resume=load_checkpoint(tmp_path / "b" / "last.pt"))  # fmt: skip
    assert not resumed.stopped
    assert len(resumed.lrs) == len(full.lrs)
    np.testing.assert_allclose(resumed.lrs, full.lrs)
    assert resumed.best_loss == pytest.approx(full.best_loss, rel=1e-4)


def test_a_resume_measures_against_the_best_saved_after_its_last_state(tmp_path):
    """Killed after epoch 1's best was saved and before its last state: the resume starts
    from epoch 0's state but measures the next epochs against epoch 1's loss, so a worse
    rerun of epoch 1 does not replace the better model on disk."""
    from hms_kit.checkpoint import save_checkpoint
    from hms_kit.engine.stage import best_saved_after

    calls = []
    _, part = _stage(tmp_path, epochs=3, out_of_time=lambda: calls.append(1) or len(calls) > 1)
    last = load_checkpoint(tmp_path / "last.pt")
    assert part.stopped and last["epoch"] == 0
    assert best_saved_after(tmp_path / "best.pt", 1, 0) is None  # epoch 0's own
    weights = {"lin.weight": torch.zeros(6, 4), "lin.bias": torch.zeros(6)}
    save_checkpoint({"model": weights, **META, "stage": 1, "epoch": 1, "val_loss": 0.001},
                    tmp_path / "best.pt", kind="best")  # fmt: skip
    assert best_saved_after(tmp_path / "best.pt", 1, 0) == (0.001, 1)
    assert best_saved_after(tmp_path / "best.pt", 2, 0) is None  # another stage's
    _, resumed = _stage(tmp_path, epochs=3, resume=last)
    assert (resumed.best_loss, resumed.best_epoch) == (0.001, 1)
    assert load_checkpoint(tmp_path / "best.pt")["val_loss"] == 0.001


def test_a_later_stage_must_beat_the_model_it_starts_from(tmp_path):
    from hms_kit.engine import evaluate

    model, _ = _stage(tmp_path / "s1")
    val = ToyData(32, seed=1)
    start, _ = evaluate(model, make_loader(val, 64, False, 0, torch.device("cpu"), 0),
                        torch.device("cpu"), "off")  # fmt: skip
    ck = StageCheckpoints(tmp_path / "s2.pt", tmp_path / "last.pt", META)
    settings = StageSettings(name="fold 0 stage 2", stage=2, batch_size=8, num_workers=0)
    # a learning rate that wrecks the model: the starting point stays the best
    res = run_stage(model, StageConfig(epochs=1, max_lr=50.0), settings, ToyData(64), val,
                    torch.device("cpu"), ck, start_is_candidate=True)  # fmt: skip
    best = load_checkpoint(tmp_path / "s2.pt")
    assert res.best_epoch == -1 and best["epoch"] == -1
    assert res.best_loss == pytest.approx(start) and best["val_loss"] == pytest.approx(start)


def test_a_stage_chooses_its_epoch_by_the_given_validation_score(tmp_path):
    seen = []

    def prefer_the_first_epoch(probs: np.ndarray) -> float:
        seen.append(probs.shape)
        return float(len(seen))  # epoch 0 scores lowest, later epochs only worse

    _, res = _stage(tmp_path, val_score=prefer_the_first_epoch)
    assert seen == [(32, 6)] * 3
    assert res.best_epoch == 0 and res.best_loss == 1.0
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == 0


def test_all_rows_validation_scores_each_eegs_mean_like_the_grader():
    import pandas as pd

    from hms_kit.config import load_config
    from hms_kit.scoring.metric import kl_score

    rows = pd.DataFrame({"eeg_id": [7, 7, 8, 9]})
    t = np.eye(6)[[0, 1, 2, 2]]
    probs = np.full((3, 6), 0.02)
    probs[0, 0] = probs[1, 1] = probs[2, 2] = 0.9
    val = np.array([0, 1, 2])
    assert validation_score(load_config("default"), rows, t, val) is None  # kaggle_hq: by row
    score = validation_score(load_config("default", ["target.population=all_rows"]), rows, t, val)
    mean = probs.copy()
    mean[:2] = probs[:2].mean(axis=0)  # eeg 7's two rows get one prediction
    assert score(probs) == pytest.approx(kl_score(t[val], mean))
    assert score(probs) > kl_score(t[val], probs)


def _accum_epoch(batch: int, accum: int, n_rows: int = 16, clip: float = 1e3, seed: int = 0):
    torch.manual_seed(0)
    model = ToyModel()
    opt, sched = make_optimizer(
        model, StageConfig(epochs=1, max_lr=5e-2), steps_per_epoch(n_rows, batch, accum)
    )
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    steps = []
    loader = make_loader(ToyData(n_rows), batch, True, seed, torch.device("cpu"), 0)
    res = train_one_epoch(model, loader, opt, sched, scaler, torch.device("cpu"),
                          grad_clip=clip, on_step=steps.append, grad_accum=accum)  # fmt: skip
    return model, res, steps


@pytest.mark.parametrize("clip", [1e3, 0.05])
def test_grad_accumulation_steps_like_one_batch_of_the_group(clip):
    """Batches of 4 accumulated 2 at a time take the steps of batches of 8 (the same rows:
    the order is a function of the seed): the same gradient, clipped alike, the same
    schedule; the loss and rows per step are the group's."""
    big, res_big, steps_big = _accum_epoch(8, 1, clip=clip)
    acc, res_acc, steps_acc = _accum_epoch(4, 2, clip=clip)
    torch.testing.assert_close(acc.lin.weight, big.lin.weight)
    torch.testing.assert_close(acc.lin.bias, big.lin.bias)
    assert res_acc.lrs == pytest.approx(res_big.lrs) and len(res_acc.lrs) == 2
    assert res_acc.train_loss == pytest.approx(res_big.train_loss)
    assert [s.step for s in steps_acc] == [0, 1] and [s.n_rows for s in steps_acc] == [8, 8]
    assert [s.loss for s in steps_acc] == pytest.approx([s.loss for s in steps_big])
    assert [s.grad_norm for s in steps_acc] == pytest.approx([s.grad_norm for s in steps_big])
    # without accumulation batches of 4 step twice as often and end elsewhere
    small, res_small, _ = _accum_epoch(4, 1, clip=clip)
    assert len(res_small.lrs) == 4 and not torch.allclose(small.lin.weight, big.lin.weight)


def test_grad_accumulation_steps_on_a_last_smaller_group():
    """5 batches, 3 per step: 2 steps (3 + 2 batches), the schedule sized for them; the last
    step's gradient is the mean over its 2 batches."""
    assert steps_per_epoch(20, 4, 3) == 2 and steps_per_epoch(20, 4) == 5
    assert steps_per_epoch(3, 8, 2) == 1
    model, res, steps = _accum_epoch(4, 3, n_rows=20)
    assert len(res.lrs) == 2 and [s.n_rows for s in steps] == [12, 8]
    # the same epoch as 2 hand-made steps: rows 0-11 then 12-19 of the seeded order
    torch.manual_seed(0)
    ref = ToyModel()
    opt, sched = make_optimizer(ref, StageConfig(epochs=1, max_lr=5e-2), 2)
    ds = ToyData(20)
    order = list(make_loader(ds, 4, True, 0, torch.device("cpu"), 0).sampler)
    for rows in (order[:12], order[12:]):
        x = torch.stack([ds[i][0]["x"] for i in rows])
        y = torch.stack([ds[i][1] for i in rows])
        opt.zero_grad()
        kl_loss(ref({"x": x}), y).backward()
        torch.nn.utils.clip_grad_norm_(ref.parameters(), 1e3)
        opt.step()
        sched.step()
    torch.testing.assert_close(model.lin.weight, ref.lin.weight)


def test_a_stage_with_grad_accumulation_sizes_its_schedule_in_optimiser_steps(tmp_path):
    torch.manual_seed(0)
    ck = StageCheckpoints(tmp_path / "best.pt", tmp_path / "last.pt", META)
    settings = StageSettings(name="s", stage=1, batch_size=4, num_workers=0, grad_accum=2)
    res = run_stage(ToyModel(), StageConfig(epochs=2, max_lr=5e-2), settings, ToyData(64),
                    ToyData(16, seed=1), torch.device("cpu"), ck)  # fmt: skip
    assert len(res.lrs) == 2 * 8  # 16 batches an epoch, 2 per step
    # OneCycleLR ran its whole course: the last rate is near its final value
    assert res.lrs[-1] < res.lrs[0]
