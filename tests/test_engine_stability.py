"""Issue 21's remedies for a noisy epoch choice: last-epoch checkpoints and weight EMA."""

from __future__ import annotations

import torch
from test_engine import META, ToyData, ToyModel

from hms_kit.checkpoint import load_checkpoint
from hms_kit.config import ConfigError, StageConfig, load_config
from hms_kit.engine import StageCheckpoints, StageSettings, run_stage
from hms_kit.engine.stage import WeightEma


def _stage(tmp_path, lr=5e-2, epochs=3, val_score=None, **kw):
    torch.manual_seed(0)
    model = ToyModel()
    ck = StageCheckpoints(tmp_path / "best.pt", tmp_path / "last.pt", META)
    settings = StageSettings(name="s", stage=1, batch_size=8, num_workers=0, **kw)
    res = run_stage(model, StageConfig(epochs=epochs, max_lr=lr), settings, ToyData(64),
                    ToyData(32, seed=1), torch.device("cpu"), ck, val_score=val_score)  # fmt: skip
    return model, res


def _scores(values):
    """A validation score that returns ``values`` in turn, one per epoch."""
    it = iter(values)
    return lambda probs: next(it)


def test_last_checkpoint_keeps_the_last_epoch_even_when_it_is_worse(tmp_path, caplog):
    import logging

    from hms_kit.runlog import LOGGER_NAME

    logger = logging.getLogger(LOGGER_NAME)  # it does not propagate to caplog's root handler
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, LOGGER_NAME)
    _, best = _stage(tmp_path / "b", val_score=_scores([0.5, 0.3, 0.9]))
    chosen = {
        r.getMessage().split(" train_loss")[0] for r in caplog.records if "(best)" in r.getMessage()
    }
    assert chosen == {"s epoch 0", "s epoch 1"}
    caplog.clear()
    model, last = _stage(tmp_path / "l", val_score=_scores([0.5, 0.3, 0.9]), checkpoint="last")
    assert not any("(best)" in r.getMessage() for r in caplog.records)  # kept, not chosen
    logger.removeHandler(caplog.handler)
    assert best.best_epoch == 1 and last.best_epoch == 2 and last.best_loss == 0.9
    saved = load_checkpoint(tmp_path / "l" / "best.pt")
    assert saved["epoch"] == 2
    torch.testing.assert_close(saved["model"]["lin.weight"], model.lin.weight.detach())


def test_ema_averages_with_a_warm_up():
    a, b = ToyModel(), ToyModel()
    ema = WeightEma(a, decay=0.9)
    ema.update(b)  # 1 update: the decay is min(0.9, 2 / 11)
    d = 2 / 11
    torch.testing.assert_close(ema.model.lin.weight, d * a.lin.weight + (1 - d) * b.lin.weight)
    assert not ema.model.training and not ema.model.lin.weight.requires_grad


def test_a_stage_with_ema_saves_the_average_not_the_raw_weights(tmp_path):
    model, res = _stage(tmp_path, ema_decay=0.9)
    best, last = load_checkpoint(tmp_path / "best.pt"), load_checkpoint(tmp_path / "last.pt")
    assert "ema" in last and last["ema"]["updates"] == 3 * 8
    if res.best_epoch == 2:  # the last epoch's average: not the raw weights
        torch.testing.assert_close(best["model"]["lin.weight"], last["ema"]["model"]["lin.weight"])
    assert not torch.allclose(last["ema"]["model"]["lin.weight"], model.lin.weight)


def test_remedy_settings_are_checked():
    for bad in ("train.checkpoint=first", "train.ema_decay=1.5"):
        try:
            load_config(None, [bad])
        except ConfigError as exc:
            assert bad.split("=")[0] in str(exc)
        else:
            raise AssertionError(f"{bad} accepted")
