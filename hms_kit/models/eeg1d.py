"""The ``eeg1d`` family: a 1D CNN over the bipolar waveforms (``raw_eeg``), in one of two
topologies (``model.eeg1d.topology``).

``mixed`` (``Eeg1dNet``, the default):

After the 4th-place HMS design (a 1D EfficientNet over the 16 double-banana pairs at 40 Hz),
sized for a CPU: the pairs are the input channels; a stem convolution (stride 2); one stage
per ``model.eeg1d.widths`` entry, each a stride-2 depthwise-separable block with
squeeze-excitation followed by ``depth - 1`` residual blocks; a pointwise conv head with
SiLU; generalised-mean (GeM) pooling over time; dropout; a linear head started at zero (the uniform prediction a KL loss on vote
distributions wants).

Input ``batch["raw_eeg"]``: ``(B, pairs, stored samples)`` microvolts (float16 from the
loader); the model takes the centre ``inputs.raw_eeg.window_s`` seconds (so the stored
margins serve only the training shift) and divides by ``scale_uv``. Output ``(B, 6)`` logits.

``chain`` (``ChainNet``): after the 4th place's EfficientNet1d (yu4u/kaggle-hms-4th,
src/model.py and src/efficientnet1d.py). The 16 chain pairs become a ``(B, 4 pairs, 4 chains,
T)`` map: every convolution along time has a kernel one chain high, so each chain is encoded
with the same weights, and each stage ends with a block whose kernel spans 3 chains, so the
chains are mixed at every stage. The midline pairs (``raw_eeg.central``) belong to no chain
and are not used. ``model.eeg1d.chain.pool`` picks how the last map is pooled: over chains
and time (``all``, the 4th place's) or per chain with the hemispheres' difference kept
(``sides``, ``SidePool``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from hms_kit import schema
from hms_kit.config import CHAIN_POOLS, Config, RawEegConfig
from hms_kit.inputs.raw_eeg import chain_channels, raw_pairs

TORCH = True
INPUT = "raw_eeg"


def centre_crop(x: torch.Tensor, raw: RawEegConfig) -> torch.Tensor:
    """The centre ``window_s`` seconds of stored waveforms ``(..., samples)``."""
    keep = int(round(raw.window_s * raw.rate_hz))
    start = (x.shape[-1] - keep) // 2
    return x[..., start : start + keep]


class SqueezeExcite(nn.Module):
    """Channel weights from the activations averaged over every axis after the channels:
    ``(B, C, T) -> (B, C, T)`` or ``(B, C, chains, T) -> (B, C, chains, T)``."""

    def __init__(
        self,
        channels: int,
        ratio: float,
        act: Callable[[torch.Tensor], torch.Tensor] = F.silu,
    ) -> None:
        super().__init__()
        hidden = max(4, int(channels * ratio))
        self.reduce = nn.Conv1d(channels, hidden, 1)
        self.expand = nn.Conv1d(hidden, channels, 1)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.act(self.reduce(x.flatten(2).mean(dim=-1, keepdim=True)))
        w = torch.sigmoid(self.expand(s))
        return x * w.view(*w.shape[:2], *([1] * (x.dim() - 2)))


class SeparableBlock(nn.Module):
    """Depthwise conv (``kernel``, ``stride``) -> BN -> SiLU -> SE -> pointwise conv -> BN,
    plus the input when the shape is kept: ``(B, c_in, T) -> (B, c_out, T / stride)``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, se_ratio: float) -> None:
        super().__init__()
        self.depthwise = nn.Conv1d(
            c_in, c_in, kernel, stride=stride, padding=kernel // 2, groups=c_in, bias=False
        )
        self.bn1 = nn.BatchNorm1d(c_in)
        self.se = SqueezeExcite(c_in, se_ratio) if se_ratio > 0 else nn.Identity()
        self.pointwise = nn.Conv1d(c_in, c_out, 1, bias=False)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.pointwise(self.se(F.silu(self.bn1(self.depthwise(x))))))
        return x + y if self.residual else F.silu(y)


class GeM(nn.Module):
    """Generalised-mean pooling over time with a learnt exponent: ``(B, C, T) -> (B, C)``."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.tensor(float(p)))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=self.eps).pow(self.p).mean(dim=-1).pow(1.0 / self.p)


class SidePool(nn.Module):
    """GeM over time per chain, then the chains' mean and ``|left mean - right mean|``
    concatenated: ``(B, C, 4 chains, T) -> (B, 2 C)``. Both halves are unchanged when the
    left and right chains swap, so the left/right mirror view stays a view of the same
    input, while a pattern on one side and one on both give different features."""

    def __init__(self) -> None:
        super().__init__()
        self.gem = GeM()
        regions = list(schema.REGIONS)
        self.register_buffer(
            "left", torch.tensor([regions.index(r) for r in schema.LEFT_REGIONS]), False
        )
        self.register_buffer(
            "right", torch.tensor([regions.index(r) for r in schema.RIGHT_REGIONS]), False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        per_chain = self.gem(x)  # (B, C, chains)
        left = per_chain[..., self.left].mean(dim=-1)
        right = per_chain[..., self.right].mean(dim=-1)
        return torch.cat([per_chain.mean(dim=-1), (left - right).abs()], dim=1)


class Eeg1dNet(nn.Module):
    """See the module docstring."""

    def __init__(
        self,
        n_pairs: int,
        raw: RawEegConfig,
        widths: list[int],
        depth: int = 2,
        kernel: int = 7,
        se_ratio: float = 0.25,
        scale_uv: float = 32.0,
        drop_rate: float = 0.1,
    ) -> None:
        super().__init__()
        if not widths:
            raise ValueError("model.eeg1d.widths needs at least one stage")
        self.raw = raw
        self.scale_uv = float(scale_uv)
        self.stem = nn.Sequential(
            nn.Conv1d(n_pairs, widths[0], kernel, stride=2, padding=kernel // 2, bias=False),
            nn.BatchNorm1d(widths[0]),
            nn.SiLU(),
        )
        blocks: list[nn.Module] = []
        prev = widths[0]
        for w in widths:
            blocks.append(SeparableBlock(prev, w, kernel, 2, se_ratio))
            blocks += [SeparableBlock(w, w, kernel, 1, se_ratio) for _ in range(depth - 1)]
            prev = w
        self.blocks = nn.Sequential(*blocks)
        # EfficientNet's head: a pointwise conv, BN and SiLU, so the pooled features are
        # activations (GeM clamps at a small positive value: a raw BN output would lose half)
        self.conv_head = nn.Sequential(
            nn.Conv1d(prev, prev, 1, bias=False), nn.BatchNorm1d(prev), nn.SiLU()
        )
        self.pool = GeM()
        self.drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(prev, len(schema.CLASSES))
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        x = centre_crop(batch[INPUT], self.raw).float() / self.scale_uv
        return self.head(self.drop(self.pool(self.conv_head(self.blocks(self.stem(x))))))


def chain_index(central: bool) -> torch.Tensor:
    """``(4, 4) int64``: the raw_eeg channel of pair j of chain i (chains in schema.REGIONS
    order, pairs front to back along schema.CHAINS)."""
    return torch.from_numpy(chain_channels(central))


class ConvBnAct2d(nn.Module):
    """Conv2d (``kernel`` = (chains, samples), 'same' padding, no bias, ``stride`` along
    time) -> BN -> ELU: ``(B, c_in, chains, T) -> (B, c_out, chains, T / stride)``."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: tuple[int, int] = (1, 1),
        groups: int = 1,
        stride: int = 1,
    ) -> None:
        super().__init__()
        pad = (kernel[0] // 2, kernel[1] // 2)
        self.conv = nn.Conv2d(
            c_in, c_out, kernel, stride=(1, stride), padding=pad, groups=groups, bias=False
        )
        self.bn = nn.BatchNorm2d(c_out)
        self.act = nn.ELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class InvertedResidual2d(nn.Module):
    """Pointwise to ``c_out`` -> depthwise along time (kernel ``(1, kernel)``, each channel
    to ``expand`` channels) -> pointwise back to ``c_out`` -> squeeze-excitation, plus the
    input (a 1x1 conv where the width changes): ``(B, c_in, chains, T) -> (B, c_out, chains,
    T)``. The kernels are one chain high: every chain goes through the same weights."""

    def __init__(self, c_in: int, c_out: int, kernel: int, expand: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvBnAct2d(c_in, c_out),
            ConvBnAct2d(c_out, c_out * expand, (1, kernel), groups=c_out),
            ConvBnAct2d(c_out * expand, c_out),
            SqueezeExcite(c_out, 1.0 / expand, F.elu),
        )
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class ChainMixer(nn.Module):
    """A depthwise conv across 3 neighbouring chains -> pointwise conv -> squeeze-excitation,
    plus the input: ``(B, C, chains, T) -> (B, C, chains, T)``."""

    def __init__(self, channels: int, expand: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvBnAct2d(channels, channels, (3, 1), groups=channels),
            ConvBnAct2d(channels, channels),
            SqueezeExcite(channels, 1.0 / expand, F.elu),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ChainStage(nn.Module):
    """``depth`` inverted-residual blocks, a chain mixer, time max-pooled by 2; the shortcut
    a stride-2 conv: ``(B, c_in, chains, T) -> (B, c_out, chains, T // 2)``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, depth: int, expand: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = [InvertedResidual2d(c_in, c_out, kernel, expand)]
        blocks += [InvertedResidual2d(c_out, c_out, kernel, expand) for _ in range(depth - 1)]
        self.blocks = nn.Sequential(*blocks)
        self.mixer = ChainMixer(c_out, expand)
        self.pool = nn.MaxPool2d((1, 2))
        self.down = nn.Conv2d(c_in, c_out, (1, 2), stride=(1, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.mixer(self.blocks(x))) + self.down(x)


class ChainNet(nn.Module):
    """The ``chain`` topology (module docstring): ``batch["raw_eeg"]`` ``(B, pairs, stored
    samples)`` microvolts -> ``(B, 6)`` logits.

    The centre ``window_s`` seconds, divided by ``scale_uv``, each pair's mean removed; the
    chains' pairs as ``(B, 4, 4 chains, T)``; a stem (kernel 3 along time, step
    ``stem_stride``); the stages (``T / 2`` each); GeM over chains and time (``pool="all"``)
    or ``SidePool`` (``pool="sides"``, twice the features); an MLP head (linear, BN, ReLU,
    dropout, linear; the last layer started at zero: the uniform prediction).
    """

    def __init__(
        self,
        raw: RawEegConfig,
        stem_width: int,
        widths: list[int],
        kernels: list[int],
        depth: int = 3,
        expand: int = 4,
        width_mult: float = 1.0,
        scale_uv: float = 32.0,
        drop_rate: float = 0.1,
        stem_stride: int = 1,
        pool: str = "all",
    ) -> None:
        super().__init__()
        if not widths or len(kernels) != len(widths):
            raise ValueError("ChainNet needs one kernel per stage width (at least one stage)")
        if pool not in CHAIN_POOLS:
            raise ValueError(f"ChainNet's pool must be one of {list(CHAIN_POOLS)}, got {pool!r}")
        self.raw = raw
        self.scale_uv = float(scale_uv)
        self.register_buffer("chain_index", chain_index(raw.central), persistent=False)

        def scaled(w: int) -> int:
            return max(4, int(round(w * width_mult)))

        n_pairs = self.chain_index.shape[1]
        prev = scaled(stem_width)
        self.stem = ConvBnAct2d(n_pairs, prev, (1, 3), stride=stem_stride)
        stages: list[nn.Module] = []
        for w, k in zip(widths, kernels):
            stages.append(ChainStage(prev, scaled(w), k, depth, expand))
            prev = scaled(w)
        self.stages = nn.Sequential(*stages)
        self.sides = pool == "sides"
        self.pool = SidePool() if self.sides else GeM()
        n_features = 2 * prev if self.sides else prev
        self.head = nn.Sequential(
            nn.Linear(n_features, prev),
            nn.BatchNorm1d(prev),
            nn.ReLU(),
            nn.Dropout(drop_rate),
            nn.Linear(prev, len(schema.CLASSES)),
        )
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def chains(self, x: torch.Tensor) -> torch.Tensor:
        """Stored waveforms ``(B, pairs, stored samples)`` -> the model's input map ``(B, 4
        pairs, 4 chains, window samples) float32``."""
        x = centre_crop(x, self.raw).float() / self.scale_uv
        x = x - x.mean(dim=-1, keepdim=True)
        return x[:, self.chain_index].transpose(1, 2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The input map ``(B, 4, 4 chains, T)`` -> ``(B, C, 4 chains, T / (stem_stride *
        2**stages))``."""
        return self.stages(self.stem(x))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        f = self.features(self.chains(batch[INPUT]))
        return self.head(self.pool(f if self.sides else f.flatten(2)))


def inputs(cfg: Config) -> list[str]:
    """The raw bipolar waveforms."""
    return [INPUT]


def batch_augment(cfg: Config):
    """The waveform transforms of ``augment.wave`` (hms_kit.inputs.wave_augment)."""
    from hms_kit.inputs.wave_augment import build_wave_augment

    return build_wave_augment(cfg.augment.wave, cfg.inputs.raw_eeg)


def build(cfg: Config, pretrained: bool) -> nn.Module:
    """The configured 1D CNN of ``model.eeg1d.topology`` (``pretrained`` has no meaning
    here: trained from scratch)."""
    e = cfg.model.eeg1d
    if e.topology == "chain":
        c = e.chain
        return ChainNet(
            raw=cfg.inputs.raw_eeg,
            stem_width=c.stem_width,
            widths=list(c.widths),
            kernels=list(c.kernels),
            depth=c.depth,
            expand=c.expand,
            width_mult=c.width_mult,
            scale_uv=e.scale_uv,
            drop_rate=cfg.model.drop_rate,
            stem_stride=c.stem_stride,
            pool=c.pool,
        )
    return Eeg1dNet(
        n_pairs=len(raw_pairs(cfg.inputs.raw_eeg.central)),
        raw=cfg.inputs.raw_eeg,
        widths=list(e.widths),
        depth=e.depth,
        kernel=e.kernel,
        se_ratio=e.se_ratio,
        scale_uv=e.scale_uv,
        drop_rate=cfg.model.drop_rate,
    )
