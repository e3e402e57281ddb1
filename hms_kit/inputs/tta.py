"""Test-time augmentation views of a batch: time reversal and the left/right mirror.

Every input's last axis is time (panels ``(B, 4, 128, 256)``, waveforms ``(B, pairs,
samples)``), so the time flip reverses it for every family. The mirror swaps the hemispheres
(schema.MIRROR_REGIONS: LL <-> RL, LP <-> RP): the four region panels of a panel input, the
pairs of a waveform input (``raw_eeg.mirror_permutation``; midline pairs stay), or, for
panels stacked into one tensor ``(B, 4k, 128, 256)``, the regions of each of its k inputs.
Both are label-preserving (the training augmentations ``p_time_flip`` / ``p_reverse`` and
``p_hemisphere_swap`` / ``p_swap``), so a prediction may average over them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from hms_kit.inputs.raw_eeg import mirror_permutation
from hms_kit.inputs.registry import get_input

Batch = dict[str, torch.Tensor] | torch.Tensor


def flipped(x: Batch) -> Batch:
    """Every input reversed along its last (time) axis."""
    if isinstance(x, dict):
        return {k: torch.flip(t, dims=[-1]) for k, t in x.items()}
    return torch.flip(x, dims=[-1])


def _mirror_panels(t: torch.Tensor) -> torch.Tensor:
    from hms_kit.inputs.augment import hemisphere_permutation

    n_regions = 4
    return t[:, torch.as_tensor(hemisphere_permutation(t.shape[1] // n_regions))]


def mirrored(x: Batch) -> Batch:
    """Left and right swapped in every input (module docstring)."""
    if not isinstance(x, dict):
        return _mirror_panels(x)
    out = {}
    for name, t in x.items():
        if get_input(name).kind == "waveform":
            perm = mirror_permutation(central=t.shape[1] > 16)
            out[name] = t[:, torch.as_tensor(perm, device=t.device)]
        else:
            out[name] = _mirror_panels(t)
    return out


def tta_views(
    x: Batch,
    flip: bool = False,
    mirror: bool = False,
    flip_time: Callable[[Batch], Batch] | None = None,
) -> list[Batch]:
    """The batch and its test-time views: ``[x]``, with ``flip`` the time-reversed one, with
    ``mirror`` the mirrored one, with both also the mirrored and reversed one. ``flip_time``
    reverses time instead of ``flipped`` (a model's, for panels holding several images side
    by side in time)."""
    rev = flip_time or flipped
    views = [x]
    if mirror:
        views.append(mirrored(x))
    if flip:
        views += [rev(v) for v in views]
    return views
