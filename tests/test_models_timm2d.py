"""The timm2d family at kaggle-timm2d's full size (issue 20): the 4th place's canvas of every
EEG pair beside Kaggle's central 200 s, a tf_efficientnetv2_s, and its flip TTA."""

from __future__ import annotations

import numpy as np
import torch

from hms_kit.config import load_config
from hms_kit.engine.loop import kl_loss
from hms_kit.inputs.merge import merge_batch
from hms_kit.inputs.registry import get_input
from hms_kit.models import build_model, family_inputs
from hms_kit.models.timm2d import CustomModel


def test_kaggle_timm2d_takes_an_optimiser_step_at_its_full_input_shapes_on_the_cpu():
    """Issue 20 (6): the packaged kaggle-timm2d, pretrained off, batch 2: per-pair EEG panels
    and the cropped Kaggle panels ``(2, 4, 128, 256)`` each, one ``(3, 512, 512)`` canvas."""
    cfg = load_config("kaggle-timm2d", ["model.pretrained=false"])
    assert cfg.train.n_folds == 5 and cfg.inputs.eeg.per_pair and cfg.inputs.kaggle.crop_s == 200
    torch.manual_seed(0)
    model = build_model(cfg, pretrained=False).train()
    assert isinstance(model, CustomModel)
    assert model.backbone.default_cfg["architecture"] == "tf_efficientnetv2_s"
    assert model.time_cells == {"eeg": 2, "kaggle": 1}
    batch = {
        n: torch.randn(2, *get_input(n).shape(cfg.inputs)).clamp(-1, 1).half()
        for n in family_inputs(cfg)
    }
    assert list(batch) == ["eeg", "kaggle"]
    canvas = merge_batch(torch.cat([batch["eeg"], batch["kaggle"]], 1), 2, cfg.inputs.layout)
    assert canvas.shape == (2, 3, 512, 512)
    # EEG on the left (the anchor's side), LL's panel on top
    assert torch.equal(canvas[:, 0, :128, :256], batch["eeg"][:, 0])
    target = torch.softmax(torch.randn(2, 6), 1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    head = model.backbone.get_classifier()
    before = head.weight.detach().clone()
    loss = kl_loss(model(batch), target)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert not torch.equal(before, head.weight)


def test_flip_tta_reverses_each_pair_cell_in_place():
    cfg = load_config(
        "kaggle-timm2d", ["model.pretrained=false", "model.name=test_efficientnet"]
    )  # fmt: skip
    model = build_model(cfg, pretrained=False)
    x = {n: torch.randn(1, 4, 128, 256) for n in ("eeg", "kaggle")}
    flipped = model.flip_time(x)
    np.testing.assert_array_equal(flipped["kaggle"].numpy(), x["kaggle"].flip(-1).numpy())
    e, f = x["eeg"].numpy(), flipped["eeg"].numpy()
    np.testing.assert_array_equal(f[..., :128], e[..., 127::-1])
    np.testing.assert_array_equal(f[..., 128:], e[..., :127:-1])
    plain = build_model(load_config("kaggle-timm2d", ["model.pretrained=false",
                                                      "model.name=test_efficientnet",
                                                      "inputs.eeg.per_pair=false"]))  # fmt: skip
    np.testing.assert_array_equal(plain.flip_time(x)["eeg"].numpy(), e[..., ::-1])


def test_predict_loader_flip_tta_uses_the_models_cell_aware_flip():
    from hms_kit.engine.loop import predict_loader

    cfg = load_config("kaggle-timm2d", ["model.pretrained=false", "model.name=test_efficientnet",
                                        "inputs.scale=0.25"])  # fmt: skip
    torch.manual_seed(0)
    model = build_model(cfg, pretrained=False).eval()
    torch.nn.init.normal_(model.backbone.get_classifier().weight)  # the zero head says 1/6
    x = {n: torch.randn(2, 4, 128, 256) for n in ("eeg", "kaggle")}
    loader = [(x, None)]
    got = predict_loader(model, loader, torch.device("cpu"), "off", tta_flip=True)
    with torch.no_grad():
        want = (torch.softmax(model(x), 1) + torch.softmax(model(model.flip_time(x)), 1)) / 2
        naive = {k: t.flip(-1) for k, t in x.items()}
        other = (torch.softmax(model(x), 1) + torch.softmax(model(naive), 1)) / 2
    np.testing.assert_allclose(got, want.numpy(), atol=1e-6)
    assert not np.allclose(got, other.numpy(), atol=1e-6)
