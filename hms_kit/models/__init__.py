"""Models by family (see ``registry``): one factory builds every model, and it is the only
way a checkpoint's model is rebuilt.

Every torch model takes a dict batch ``{input name: tensor}`` (``hms_kit.inputs.dataset``)
and returns ``(B, 6)`` logits in schema.CLASSES order.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hms_kit.config import Config, config_from_dict
from hms_kit.models.registry import FAMILIES, family_names, get_family

if TYPE_CHECKING:  # reading a config (config.validate -> registry) must not import torch
    from torch import nn

__all__ = [
    "FAMILIES",
    "build_model",
    "family_inputs",
    "family_names",
    "get_family",
    "is_torch_family",
    "load_model",
]


def build_model(cfg: Config, pretrained: bool | None = None) -> nn.Module:
    """The configured model (``model.family``); ``pretrained=False`` overrides the config
    (a checkpoint's weights will replace any pretrained ones)."""
    fam = get_family(cfg.model.family)
    if not fam.TORCH:
        raise ValueError(f"model family {cfg.model.family!r} is not a torch model")
    return fam.build(cfg, cfg.model.pretrained if pretrained is None else pretrained)


def family_inputs(cfg: Config) -> list[str]:
    """The input names the configured family's batches hold (what the cache must build)."""
    return list(get_family(cfg.model.family).inputs(cfg))


def is_torch_family(cfg: Config) -> bool:
    """Whether the configured family trains with torch (else it has its own ``train``)."""
    return bool(get_family(cfg.model.family).TORCH)


def load_model(state: dict[str, Any], path: str | Path = "<checkpoint>") -> nn.Module:
    """The model of a loaded checkpoint (``hms_kit.checkpoint.load_checkpoint``): rebuilt
    from its stored config by ``build_model`` (never pretrained), its weights loaded
    strictly (CheckpointError naming ``path`` when they do not fit). In eval mode, on the CPU.
    """
    from hms_kit.checkpoint import load_model_state

    cfg = config_from_dict(state["config"])
    model = build_model(cfg, pretrained=False)
    load_model_state(model, state, path)
    return model.eval()
