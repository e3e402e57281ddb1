"""The ``timm2d`` family: any timm backbone with six outputs over the panel inputs, and
where pretrained weights come from."""

from __future__ import annotations

import socket
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from torch import nn

from hms_kit import schema
from hms_kit.config import Config, ModelConfig
from hms_kit.inputs.merge import flip_time, merge_batch
from hms_kit.inputs.merge import in_chans as layout_in_chans
from hms_kit.inputs.registry import time_cells

TORCH = True

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")


class WeightsError(RuntimeError):
    """Pretrained weights were asked for but none can be had (says how to provide them)."""


def find_weights_file(path: str | Path, model_name: str) -> Path:
    """A weights file: ``path`` itself, or inside a folder the one whose name holds the model name.

    A folder (an attached Kaggle dataset) may hold weights of several models: the file
    matching ``model_name`` wins, else the only weights file there.
    """
    p = Path(path)
    if p.is_file():
        return p
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.suffix in WEIGHT_SUFFIXES and f.is_file())
        named = [f for f in files if model_name in f.as_posix()]
        if named:
            return named[0]
        if len(files) == 1:
            return files[0]
        raise WeightsError(f"{p}: no weights file for {model_name} among {[f.name for f in files]}")
    raise WeightsError(f"{p}: weights file or folder not found")


def _hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


class CustomModel(nn.Module):
    """A timm backbone with ``num_classes=6`` over the merged input.

    Input ``(B, in_chans, H, W) float32``; output ``(B, 6)`` logits in schema.CLASSES
    order. ``input_scale`` < 1 shrinks the input (bilinear) inside the model, a cheap way to
    trade resolution for speed on a CPU.
    """

    def __init__(
        self,
        name: str = "tf_efficientnet_b0",
        in_chans: int = 3,
        pretrained: bool = False,
        weights: str = "",
        drop_rate: float = 0.0,
        input_scale: float = 1.0,
        layout: str = "stack",
        n_modalities: int = 1,
        modalities: list[str] | None = None,
        time_cells: dict[str, int] | None = None,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        kwargs: dict = {"num_classes": len(schema.CLASSES), "in_chans": in_chans}
        if drop_rate:
            kwargs["drop_rate"] = drop_rate
        if drop_path_rate:  # timm's stochastic depth (issue 20: spec2d's anchor uses 0.2)
            kwargs["drop_path_rate"] = drop_path_rate
        if weights:
            file = find_weights_file(weights, name)
            kwargs["pretrained_cfg_overlay"] = {"file": str(file)}
            pretrained = True
        elif pretrained and not _hub_reachable():
            raise WeightsError(
                f"pretrained weights for {name}: no internet to download them and no local "
                "file given. Attach a dataset with the weights and set model.weights=PATH, "
                "or set model.pretrained=false."
            )
        self.backbone = timm.create_model(name, pretrained=pretrained, **kwargs)
        self.input_scale = float(input_scale)
        self.layout = layout
        self.n_modalities = int(n_modalities)
        # the panel inputs a dict batch is stacked from, in order
        self.modalities = list(modalities or [])
        # per input, images side by side in time (eeg's per-pair grid: 2), for ``flip_time``
        self.time_cells = dict(time_cells or {})
        self.channels_last = False  # set by training on a GPU: the image goes NHWC
        # timm's EfficientNet head init (uniform, range 1/sqrt(6)) starts with logits in the
        # tens and gradient norms in the hundreds; a zero head starts at the uniform
        # prediction, which is what a KL loss on vote distributions wants
        head = self.backbone.get_classifier()
        if isinstance(head, torch.nn.Linear):
            torch.nn.init.zeros_(head.weight)
            torch.nn.init.zeros_(head.bias)

    def forward(self, x: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits ``(B, 6)`` of a dict batch (its panel inputs ``(B, 4, 128, 256)`` each,
        stacked in ``modalities`` order) or of stacked panels ``(B, 4k, 128, 256)``; the
        layout (``tile``: the ``(B, 3, 512, 256k)`` image) is built here, on the model's
        device, so a data loader only ever moves the compact stack."""
        if isinstance(x, dict):
            x = torch.cat([x[m] for m in self.modalities], dim=1)
        # one pass: the tile's permute, channel repeat and float32 cast in a single copy
        x = merge_batch(x, self.n_modalities, self.layout).float()
        if self.input_scale != 1.0:
            x = F.interpolate(
                x, scale_factor=self.input_scale, mode="bilinear", align_corners=False
            )
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.backbone(x)

    def flip_time(self, x: torch.Tensor | dict[str, torch.Tensor]):
        """The time-reversed batch (flip TTA): every panel reversed along its last axis, a
        per-pair grid's cells each in place (``merge.flip_time``)."""
        if isinstance(x, dict):
            return {k: flip_time(t, self.time_cells.get(k, 1)) for k, t in x.items()}
        if any(c > 1 for c in self.time_cells.values()):
            raise ValueError("flip_time of stacked panels with per-pair cells: pass the dict batch")
        return torch.flip(x, dims=[-1])


def inputs(cfg: Config) -> list[str]:
    """The panel inputs: ``inputs.modalities``."""
    return list(cfg.inputs.modalities)


def batch_augment(cfg: Config) -> None:
    """Panels are augmented per row in the data loader (``hms_kit.inputs.augment``)."""
    return None


def build(cfg: Config, pretrained: bool) -> CustomModel:
    """The configured timm2d model (see ``CustomModel``)."""
    m: ModelConfig = cfg.model
    mods = list(cfg.inputs.modalities)
    return CustomModel(
        name=m.name,
        in_chans=layout_in_chans(cfg.inputs.layout, mods),
        pretrained=pretrained,
        weights=m.weights if pretrained else "",
        drop_rate=m.drop_rate,
        input_scale=cfg.inputs.scale,
        layout=cfg.inputs.layout,
        n_modalities=len(mods),
        modalities=mods,
        time_cells=time_cells(mods, cfg.inputs),
    )
