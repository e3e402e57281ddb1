"""Test-time views (time flip, left/right mirror) and the TTA average of every family."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hms_kit.engine import predict_loader
from hms_kit.inputs.tta import flipped, mirrored, tta_views
from hms_kit.models import build_model
from tests.test_models import CASE_IDS, TORCH_CASES, batch_for, cfg_for

# LL, RL, LP, RP -> RL, LL, RP, LP (schema.REGIONS order)
REGION_MIRROR = [1, 0, 3, 2]


def test_the_mirror_swaps_hemispheres_in_panels_and_waveforms():
    g = torch.Generator().manual_seed(0)
    panels = torch.randn(2, 4, 3, 5, generator=g)
    wave = torch.randn(2, 18, 7, generator=g)
    m = mirrored({"kaggle": panels, "raw_eeg": wave})
    torch.testing.assert_close(m["kaggle"], panels[:, REGION_MIRROR])
    # pair i of LL <-> pair i of RL (channels 0-3 <-> 4-7), LP <-> RP (8-11 <-> 12-15)
    pairs = [*range(4, 8), *range(0, 4), *range(12, 16), *range(8, 12), 16, 17]
    torch.testing.assert_close(m["raw_eeg"], wave[:, pairs])
    stacked = torch.randn(2, 8, 3, 5, generator=g)  # two panel inputs stacked
    torch.testing.assert_close(mirrored(stacked), stacked[:, [1, 0, 3, 2, 5, 4, 7, 6]])
    torch.testing.assert_close(flipped({"raw_eeg": wave})["raw_eeg"], wave.flip(-1))
    assert len(tta_views(wave)) == 1 and len(tta_views(wave, flip=True, mirror=True)) == 4


class Probe(torch.nn.Module):
    """Logits from each input's channel means over 4 time quarters: a model that every flip
    and mirror changes (the families' models at random weights are nearly constant or
    saturated)."""

    def __init__(self, batch: dict[str, torch.Tensor]) -> None:
        super().__init__()
        n = sum(v.shape[1] * 4 for v in batch.values())
        self.lin = torch.nn.Linear(n, 6)
        torch.nn.init.normal_(self.lin.weight, std=2.0)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = []
        for v in batch.values():
            v = v.float()
            v = v.mean(dim=tuple(range(2, v.dim() - 1))) if v.dim() > 3 else v  # (B, C, T)
            parts.append(v.unflatten(2, (4, -1)).mean(-1).flatten(1) / (v.std() + 1e-6))
        return self.lin(torch.cat(parts, 1))


def _mirror_by_hand(b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    pairs = [*range(4, 8), *range(0, 4), *range(12, 16), *range(8, 12)]
    return {
        k: v[:, REGION_MIRROR] if v.dim() == 4 else v[:, pairs + list(range(16, v.shape[1]))]
        for k, v in b.items()
    }


def _mean_by_hand(model, x, flip: bool, mirror: bool) -> np.ndarray:
    views = [x] + ([_mirror_by_hand(x)] if mirror else [])
    views += [{k: v.flip(-1) for k, v in w.items()} for w in views] if flip else []
    with torch.no_grad():
        probs = [torch.softmax(model(v).float(), 1) for v in views]
    return torch.stack(probs).mean(0).double().numpy()


FLIPS = [(True, False), (False, True), (True, True)]


@pytest.mark.parametrize(("family", "more"), TORCH_CASES, ids=CASE_IDS)
@pytest.mark.parametrize(("flip", "mirror"), FLIPS)
def test_tta_prediction_is_the_mean_of_the_plain_and_transformed_passes(family, more, flip, mirror):
    """Each family's model on its own inputs (panels for timm2d, waveforms for eeg1d and
    spec2d): the TTA prediction is the mean of the passes over the views made by hand; a
    probe model on the same inputs shows the views differ from the plain pass."""
    cfg = cfg_for(family, *more)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    for m in model.modules():  # a head that is not 0 (it starts at 0)
        if isinstance(m, torch.nn.Linear):
            m.reset_parameters()
    x = batch_for(cfg, b=2)
    cpu = torch.device("cpu")
    for net in (model, Probe(x).eval()):
        got = predict_loader(net, [(x, None)], cpu, "off", tta_flip=flip, tta_mirror=mirror)
        np.testing.assert_allclose(got, _mean_by_hand(net, x, flip, mirror), rtol=1e-5,
                                   atol=1e-6)  # fmt: skip
    plain = predict_loader(net, [(x, None)], cpu, "off")
    assert not np.allclose(got, plain, atol=1e-4)  # the probe: the views did count
