"""Training-only augmentation of waveform inputs, per batch on the training device.

``WaveAugment(batch, y, generator) -> (batch, y)`` changes every waveform input of a dict
batch (``raw_eeg``: ``(B, pairs, samples)``, microvolts) and, for mixup, the targets
``(B, 6)``. In this order, each drawn per row with its probability from
``WaveAugmentConfig`` (0 switches one off):

- window shift: the waveform moves by a whole number of samples in ``[-shift_s, shift_s]``
  seconds (a circular roll: what wraps round lands in the stored margins, which the model's
  centre crop never sees, since ``shift_s <= raw_eeg.margin_s``);
- time reversal (``p_reverse``): the classes' patterns (periodic discharges, rhythmic
  activity) read the same backwards;
- left/right swap (``p_swap``): LL <-> RL and LP <-> RP pair by pair (the classes do not
  depend on the side; midline pairs stay);
- channel dropout (``p_channel_drop``): 1..``max_drop_channels`` pairs set to 0 (a lost
  electrode);
- mixup (``p_mixup``, per batch): rows mixed with a shuffled copy of the batch, inputs and
  vote distributions alike, with weight ``lam ~ Beta(mixup_alpha, mixup_alpha)``.

Random draws come from the caller's CPU ``torch.Generator``, so a run is reproducible on any
device.
"""

from __future__ import annotations

import numpy as np
import torch

from hms_kit.config import RawEegConfig, WaveAugmentConfig
from hms_kit.inputs.raw_eeg import mirror_permutation
from hms_kit.inputs.registry import get_input


class WaveAugment:
    """See the module docstring; ``raw`` gives the sampling rate and the pair order."""

    def __init__(self, cfg: WaveAugmentConfig, raw: RawEegConfig) -> None:
        self.cfg = cfg
        self.max_shift = int(round(min(cfg.shift_s, raw.margin_s) * raw.rate_hz))
        self.mirror = torch.as_tensor(mirror_permutation(raw.central))

    def __call__(
        self, batch: dict[str, torch.Tensor], y: torch.Tensor, gen: torch.Generator
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        c = self.cfg
        out = dict(batch)
        for name, x in batch.items():
            if get_input(name).kind != "waveform":
                continue
            b, p, t = x.shape
            dev = x.device

            if self.max_shift > 0:
                shift = torch.randint(-self.max_shift, self.max_shift + 1, (b,), generator=gen)
                idx = (torch.arange(t)[None, :] - shift[:, None]) % t
                x = torch.gather(x, 2, idx.to(dev)[:, None, :].expand(b, p, t))
            if c.p_reverse > 0:
                x = torch.where(_draw(b, c.p_reverse, gen, dev)[:, None, None], x.flip(-1), x)
            if c.p_swap > 0:
                x = torch.where(
                    _draw(b, c.p_swap, gen, dev)[:, None, None], x[:, self.mirror.to(dev)], x
                )
            if c.p_channel_drop > 0 and c.max_drop_channels > 0:
                n_drop = torch.randint(1, c.max_drop_channels + 1, (b,), generator=gen)
                order = torch.rand(b, p, generator=gen).argsort(dim=1)
                drop = (order < n_drop[:, None]) & (
                    torch.rand(b, 1, generator=gen) < c.p_channel_drop
                )
                x = x.masked_fill(drop.to(dev)[:, :, None], 0.0)
            out[name] = x
        if c.p_mixup > 0 and float(torch.rand(1, generator=gen)) < c.p_mixup:
            # torch's Beta has no generator argument: numpy's, seeded from the generator
            seed = int(torch.randint(2**31 - 1, (1,), generator=gen))
            a = c.mixup_alpha
            lam = float(np.random.default_rng(seed).beta(a, a)) if a > 0 else 1.0
            perm = torch.randperm(len(y), generator=gen).to(y.device)
            out = {
                k: (lam * v.float() + (1 - lam) * v[perm].float()).to(v.dtype)
                for k, v in out.items()
            }
            y = lam * y + (1 - lam) * y[perm]
        return out, y


def _draw(n: int, prob: float, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """``(n,) bool`` on ``device``: True with probability ``prob`` each."""
    return (torch.rand(n, generator=gen) < prob).to(device)


def build_wave_augment(cfg: WaveAugmentConfig, raw: RawEegConfig) -> WaveAugment | None:
    """The batch augmenter, or None when every transform is off."""
    on = (
        cfg.shift_s > 0
        or cfg.p_reverse > 0
        or cfg.p_swap > 0
        or (cfg.p_channel_drop > 0 and cfg.max_drop_channels > 0)
        or cfg.p_mixup > 0
    )
    return WaveAugment(cfg, raw) if on else None
