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
