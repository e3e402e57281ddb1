"""Training-only augmentation of waveform inputs, per batch on the training device.

``WaveAugment(batch, y, generator) -> (batch, y)`` changes every waveform input of a dict
batch (``raw_eeg``: ``(B, pairs, samples)``, microvolts) and, for mixup, the targets
``(B, 6)``. In this order, each drawn per row with its probability from
``WaveAugmentConfig`` (0 switches one off):

- window shift: the waveform moves by a whole number of samples in ``[-shift_s, shift_s]``
  seconds (a circular roll: what wraps round lands in the stored margins, which the model's
  centre crop never sees, since ``shift_s <= raw_eeg.margin_s``);
- random band-pass (``p_bandpass``): 1..``bandpass_max_pairs`` random pairs filtered again
  with a narrower band drawn per row (a zero-phase Butterworth magnitude of order
  ``bandpass_order``, applied in the frequency domain): amplitude and rhythm change, the
  class does not;
- time reversal (``p_reverse``): the classes' patterns (periodic discharges, rhythmic
  activity) read the same backwards;
- left/right swap (``p_swap``): LL <-> RL and LP <-> RP pair by pair (the classes do not
  depend on the side; midline pairs stay);
- chain permutation (``p_chain_perm``): the 4 chains of ``raw_eeg.chain_channels`` in a
  random order, each chain's 4 pairs moved together (midline pairs stay);
- channel dropout (``p_channel_drop``): 1..``max_drop_channels`` pairs set to 0 (a lost
  electrode);
- cutmix (``p_cutmix``, per batch): in each row, a random time span of the model's view
  (the centre ``window_s``) replaced by the same span of a partner row (a shuffled copy of
  the batch), the vote distributions mixed by the span's share of the view;
- mixup (``p_mixup``, per batch): rows mixed with a shuffled copy of the batch, inputs and
  vote distributions alike, with weight ``lam ~ Beta(mixup_alpha, mixup_alpha)``.

Random draws come from the caller's CPU ``torch.Generator``, so a run is reproducible on any
device: one seed a batch is drawn from it, and each transform draws from a stream of its own
named by that seed, the input and the transform (``hms_kit.seeds.stream_seed``). Switching
one transform on or off, or changing its settings, leaves every other transform's draws as
they were (with one shared stream, turning on time reversal moved the draws of every
transform after it, in that batch and the ones after).
"""

from __future__ import annotations

import numpy as np
import torch

from hms_kit.config import RawEegConfig, WaveAugmentConfig
from hms_kit.inputs.raw_eeg import chain_channels, mirror_permutation
from hms_kit.inputs.registry import get_input
from hms_kit.seeds import stream_seed

# each transform's stream: stream_seed(batch seed, input number, this number)
STREAMS = {
    name: n
    for n, name in enumerate(
        ("shift", "bandpass", "reverse", "swap", "chain_perm", "channel_drop", "cutmix", "mixup"),
        start=1,
    )
}


def torch_stream(base: int, *parts: int) -> torch.Generator:
    """A CPU generator for the stream named by ``base`` (a batch's seed) and ``parts``."""
    return torch.Generator().manual_seed(stream_seed(base, *parts))


class WaveAugment:
    """See the module docstring; ``raw`` gives the sampling rate and the pair order."""

    def __init__(self, cfg: WaveAugmentConfig, raw: RawEegConfig) -> None:
        self.cfg = cfg
        self.rate_hz = raw.rate_hz
        self.view = int(round(raw.window_s * raw.rate_hz))  # samples the model sees
        self.max_shift = int(round(min(cfg.shift_s, raw.margin_s) * raw.rate_hz))
        self.mirror = torch.as_tensor(mirror_permutation(raw.central))
        self.chains = torch.as_tensor(chain_channels(raw.central))

    def __call__(
        self, batch: dict[str, torch.Tensor], y: torch.Tensor, gen: torch.Generator
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        c = self.cfg
        out = dict(batch)
        base = int(torch.randint(2**62, (1,), generator=gen))

        def stream(transform: str, i: int = 0) -> torch.Generator:
            return torch_stream(base, i, STREAMS[transform])

        waveforms = [n for n in batch if get_input(n).kind == "waveform"]
        for i, name in enumerate(waveforms):
            x = batch[name]
            b, p, t = x.shape
            dev = x.device

            if self.max_shift > 0:
                g = stream("shift", i)
                shift = torch.randint(-self.max_shift, self.max_shift + 1, (b,), generator=g)
                idx = (torch.arange(t)[None, :] - shift[:, None]) % t
                x = torch.gather(x, 2, idx.to(dev)[:, None, :].expand(b, p, t))
            if c.p_bandpass > 0:
                x = self._bandpass(x, stream("bandpass", i))
            if c.p_reverse > 0:
                x = torch.where(
                    _draw(b, c.p_reverse, stream("reverse", i), dev)[:, None, None], x.flip(-1), x
                )
            if c.p_swap > 0:
                x = torch.where(
                    _draw(b, c.p_swap, stream("swap", i), dev)[:, None, None],
                    x[:, self.mirror.to(dev)],
                    x,
                )
            if c.p_chain_perm > 0:
                x = self._chain_perm(x, stream("chain_perm", i))
            if c.p_channel_drop > 0 and c.max_drop_channels > 0:
                g = stream("channel_drop", i)
                n_drop = torch.randint(1, c.max_drop_channels + 1, (b,), generator=g)
                order = torch.rand(b, p, generator=g).argsort(dim=1)
                drop = (order < n_drop[:, None]) & (
                    torch.rand(b, 1, generator=g) < c.p_channel_drop
                )
                x = x.masked_fill(drop.to(dev)[:, :, None], 0.0)
            out[name] = x
        g = stream("cutmix")
        if c.p_cutmix > 0 and float(torch.rand(1, generator=g)) < c.p_cutmix:
            out, y = self._cutmix(out, y, g)
        g = stream("mixup")
        if c.p_mixup > 0 and float(torch.rand(1, generator=g)) < c.p_mixup:
            # torch's Beta has no generator argument: numpy's, seeded from the generator
            seed = int(torch.randint(2**31 - 1, (1,), generator=g))
            a = c.mixup_alpha
            lam = float(np.random.default_rng(seed).beta(a, a)) if a > 0 else 1.0
            perm = torch.randperm(len(y), generator=g).to(y.device)
            out = {
                k: (lam * v.float() + (1 - lam) * v[perm].float()).to(v.dtype)
                for k, v in out.items()
            }
            y = lam * y + (1 - lam) * y[perm]
        return out, y

    def _bandpass(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """``(B, P, T)``: in each drawn row, 1..bandpass_max_pairs random pairs filtered by a
        band drawn for that row."""
        c, (b, p, t), dev = self.cfg, x.shape, x.device
        rows = torch.rand(b, generator=gen) < c.p_bandpass
        n_pairs = torch.randint(1, min(c.bandpass_max_pairs, p) + 1, (b,), generator=gen)
        picked = torch.rand(b, p, generator=gen).argsort(dim=1).argsort(dim=1) < n_pairs[:, None]
        low = torch.rand(b, generator=gen) * c.bandpass_low_max
        high = c.bandpass_high_min + torch.rand(b, generator=gen) * (
            c.bandpass_high_max - c.bandpass_high_min
        )
        low = low.clamp(min=1e-4)  # a high-pass at 0 Hz would divide 0 by 0 at DC
        f = torch.fft.rfftfreq(t, 1 / self.rate_hz).clamp(min=1e-6)
        n2 = 2 * c.bandpass_order
        # zero-phase: the squared magnitude of a Butterworth low-pass at ``high`` times a
        # Butterworth high-pass at ``low``
        gain = 1 / (1 + (f[None] / high[:, None]) ** n2) / (1 + (low[:, None] / f[None]) ** n2)
        filt = torch.fft.irfft(torch.fft.rfft(x.float(), dim=-1) * gain.to(dev)[:, None], n=t)
        sel = (rows[:, None] & picked).to(dev)[:, :, None]
        return torch.where(sel, filt.to(x.dtype), x)

    def _chain_perm(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """``(B, P, T)``: in each drawn row, the 4 chains' channels in a random chain order."""
        b, p, t = x.shape
        rows = torch.rand(b, generator=gen) < self.cfg.p_chain_perm
        order = torch.rand(b, len(self.chains), generator=gen).argsort(dim=1)
        order = torch.where(rows[:, None], order, torch.arange(len(self.chains)))
        idx = torch.arange(p).repeat(b, 1)
        # chain slot k of the output reads the channels of chain order[k], pair by pair
        idx[:, self.chains.flatten()] = self.chains[order].reshape(b, -1)
        return torch.gather(x, 1, idx.to(x.device)[:, :, None].expand(b, p, t))

    def _cutmix(
        self, batch: dict[str, torch.Tensor], y: torch.Tensor, gen: torch.Generator
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Each row's span of its view replaced by a partner row's (every waveform input,
        the same span); targets mixed by the span's share of the view."""
        b = len(y)
        seed = int(torch.randint(2**31 - 1, (1,), generator=gen))
        a = self.cfg.cutmix_alpha
        share = np.random.default_rng(seed).beta(a, a, size=b) if a > 0 else np.full(b, 0.5)
        length = torch.as_tensor(np.round(share * self.view), dtype=torch.int64)
        start = (torch.rand(b, generator=gen) * (self.view - length + 1)).long()
        perm = torch.randperm(b, generator=gen)
        out = dict(batch)
        for name, x in batch.items():
            if get_input(name).kind != "waveform":
                continue
            first = (x.shape[-1] - self.view) // 2  # the view's first sample (centre crop)
            pos = torch.arange(x.shape[-1])[None] - first - start[:, None]
            span = ((pos >= 0) & (pos < length[:, None])).to(x.device)[:, None, :]
            out[name] = torch.where(span, x[perm.to(x.device)], x)
        lam = (length.float() / self.view).to(y.device)[:, None]
        return out, (1 - lam) * y + lam * y[perm.to(y.device)]


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
        or cfg.p_chain_perm > 0
        or cfg.p_bandpass > 0
        or cfg.p_cutmix > 0
    )
    return WaveAugment(cfg, raw) if on else None
