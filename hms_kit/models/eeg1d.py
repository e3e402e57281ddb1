"""The ``eeg1d`` family: a small 1D CNN over the bipolar waveforms (``raw_eeg``).

After the 4th-place HMS design (a 1D EfficientNet over the 16 double-banana pairs at 40 Hz),
sized for a CPU: the pairs are the input channels; a stem convolution (stride 2); one stage
per ``model.eeg1d.widths`` entry, each a stride-2 depthwise-separable block with
squeeze-excitation followed by ``depth - 1`` residual blocks; a pointwise conv head with
SiLU; generalised-mean (GeM) pooling over time; dropout; a linear head started at zero (the uniform prediction a KL loss on vote
distributions wants).

Input ``batch["raw_eeg"]``: ``(B, pairs, stored samples)`` microvolts (float16 from the
loader); the model takes the centre ``inputs.raw_eeg.window_s`` seconds (so the stored
margins serve only the training shift) and divides by ``scale_uv``. Output ``(B, 6)`` logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hms_kit import schema
from hms_kit.config import Config, RawEegConfig
from hms_kit.inputs.raw_eeg import raw_pairs

TORCH = True
INPUT = "raw_eeg"


def centre_crop(x: torch.Tensor, raw: RawEegConfig) -> torch.Tensor:
    """The centre ``window_s`` seconds of stored waveforms ``(..., samples)``."""
    keep = int(round(raw.window_s * raw.rate_hz))
    start = (x.shape[-1] - keep) // 2
    return x[..., start : start + keep]


class SqueezeExcite(nn.Module):
    """Channel weights from the time-averaged activations: ``(B, C, T) -> (B, C, T)``."""

    def __init__(self, channels: int, ratio: float) -> None:
        super().__init__()
        hidden = max(4, int(channels * ratio))
        self.reduce = nn.Conv1d(channels, hidden, 1)
        self.expand = nn.Conv1d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.silu(self.reduce(x.mean(dim=-1, keepdim=True)))
        return x * torch.sigmoid(self.expand(s))


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


def inputs(cfg: Config) -> list[str]:
    """The raw bipolar waveforms."""
    return [INPUT]


def batch_augment(cfg: Config):
    """The waveform transforms of ``augment.wave`` (hms_kit.inputs.wave_augment)."""
    from hms_kit.inputs.wave_augment import build_wave_augment

    return build_wave_augment(cfg.augment.wave, cfg.inputs.raw_eeg)


def build(cfg: Config, pretrained: bool) -> Eeg1dNet:
    """The configured 1D CNN (``pretrained`` has no meaning here: trained from scratch)."""
    e = cfg.model.eeg1d
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
