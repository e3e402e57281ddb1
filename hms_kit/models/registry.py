"""Model families by name: ``model.family`` in a config picks one of these modules.

A family module provides:

    TORCH                  True for a torch model trained by hms_kit.engine
    inputs(cfg)            the input names (hms_kit.inputs.registry) its batches hold
    build(cfg, pretrained) the nn.Module: ``forward(batch: dict[str, Tensor]) -> (B, 6)``
                           logits in schema.CLASSES order (torch families)
    batch_augment(cfg)     a per-batch training transform ``(batch, y, gen) -> (batch, y)``
                           or None (torch families)
    train(comp, cfg, run, folds)  the run's folds, None: all (families trained without torch)

Adding a family is a module and a line here. Modules are imported when first asked for,
so reading a config does not import timm.
"""

from __future__ import annotations

import importlib
from types import ModuleType

FAMILIES: dict[str, str] = {
    "timm2d": "hms_kit.models.timm2d",
    "eeg1d": "hms_kit.models.eeg1d",
    "spec2d": "hms_kit.models.spec2d",
    "baseline": "hms_kit.models.baseline",
}


def family_names() -> tuple[str, ...]:
    """The registered family names."""
    return tuple(FAMILIES)


def get_family(name: str) -> ModuleType:
    """The family module ``name`` (ValueError naming the known families otherwise)."""
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r} (known: {', '.join(FAMILIES)})")
    return importlib.import_module(FAMILIES[name])
