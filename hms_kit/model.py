"""Compatibility: the timm 2D model moved to ``hms_kit.models.timm2d`` (``build_model``
to ``hms_kit.models``)."""

from __future__ import annotations

from hms_kit.config import Config
from hms_kit.models.timm2d import CustomModel, WeightsError, find_weights_file

__all__ = ["CustomModel", "WeightsError", "build_model", "find_weights_file"]


def build_model(cfg: Config, in_chans: int | None = None, pretrained: bool | None = None):
    """``hms_kit.models.build_model`` (``in_chans`` is derived from the config now)."""
    from hms_kit.models import build_model as _build

    return _build(cfg, pretrained=pretrained)
