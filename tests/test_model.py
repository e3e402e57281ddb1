"""CustomModel: the layout is built inside the model, and a fresh head predicts uniformly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hms_kit.inputs.merge import in_chans, stack_to_layout
from hms_kit.models.timm2d import CustomModel


@pytest.mark.parametrize("layout, k", [("tile", 2), ("tile", 3), ("stack", 2)])
def test_model_builds_the_layout_from_stacked_panels(layout, k):
    torch.manual_seed(0)
    model = CustomModel("test_efficientnet", in_chans=in_chans(layout, ["m"] * k),
                        layout=layout, n_modalities=k).eval()  # fmt: skip
    torch.nn.init.normal_(model.backbone.get_classifier().weight)  # a head that is not zero
    stack = np.random.default_rng(1).normal(size=(2, 4 * k, 128, 256)).astype(np.float32)
    image = np.stack([np.ascontiguousarray(stack_to_layout(s, k, layout)) for s in stack])
    with torch.no_grad():
        via_model = model(torch.from_numpy(stack).half())  # the loader's float16 panels
        direct = model.backbone(torch.from_numpy(image).half().float())
    assert via_model.shape == (2, 6)
    torch.testing.assert_close(via_model, direct)


def test_fresh_head_predicts_uniform():
    model = CustomModel("test_efficientnet", in_chans=8, layout="stack", n_modalities=2).eval()
    with torch.no_grad():
        p = torch.softmax(model(torch.randn(3, 8, 128, 256)), dim=1)
    torch.testing.assert_close(p, torch.full((3, 6), 1 / 6))
