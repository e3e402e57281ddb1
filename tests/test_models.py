"""Model families: the registry and factory, dict batches, checkpoint rebuilds, spec2d's
on-device spectrograms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hms_kit import schema
from hms_kit.checkpoint import load_checkpoint, save_checkpoint
from hms_kit.config import ConfigError, load_config, to_dict
from hms_kit.inputs.eeg_spec import frequency_rows_hz
from hms_kit.inputs.registry import get_input
from hms_kit.models import build_model, family_inputs, family_names, load_model

TORCH_FAMILIES = ["timm2d", "eeg1d", "spec2d"]


def cfg_for(family: str, *more: str):
    return load_config(None, [f"model.family={family}", "model.name=test_efficientnet",
                              "inputs.scale=0.25", *more])  # fmt: skip


def batch_for(cfg, b: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        n: (torch.randn(b, *get_input(n).shape(cfg.inputs), generator=g) * 30).half()
        for n in family_inputs(cfg)
    }


def test_the_registry_names_every_family_and_config_checks_it():
    assert set(family_names()) == {"timm2d", "eeg1d", "spec2d", "baseline"}
    with pytest.raises(ConfigError, match="model.family must be one of"):
        load_config(None, ["model.family=wavenet"])
    with pytest.raises(ValueError, match="not a torch model"):
        build_model(load_config("baseline"))
    assert family_inputs(load_config("baseline")) == []


@pytest.mark.parametrize("family", TORCH_FAMILIES)
def test_families_map_dict_batches_to_uniform_logits_at_start(family):
    cfg = cfg_for(family)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    with torch.no_grad():
        out = model(batch_for(cfg))
    assert out.shape == (3, len(schema.CLASSES))
    # a zero head: the uniform prediction, what a KL loss on vote distributions starts from
    torch.testing.assert_close(torch.softmax(out, 1), torch.full((3, 6), 1 / 6))


@pytest.mark.parametrize("family", TORCH_FAMILIES)
def test_a_checkpoint_rebuilds_its_model_through_the_factory(family, tmp_path):
    cfg = cfg_for(family)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():  # not the zero head: outputs must depend on the weights
            p.add_(torch.randn_like(p) * 0.05)
        want = model(batch_for(cfg))
    path = save_checkpoint(
        {"model": model.state_dict(), "family": family, "config": to_dict(cfg), "run_id": "r"},
        tmp_path / "fold0_best.pt",
        kind="final",
    )
    state = load_checkpoint(path)  # weights_only
    rebuilt = load_model(state, path)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(batch_for(cfg)), want)


def test_a_model_checkpoint_needs_its_family_and_config(tmp_path):
    with pytest.raises(ValueError, match="needs"):
        save_checkpoint({"model": {}}, tmp_path / "x.pt", kind="final")


def test_eeg1d_crops_the_centre_window():
    """Only the centre window_s seconds count: the margins (the shift's room) do not."""
    cfg = cfg_for("eeg1d", "model.drop_rate=0")
    # training mode: batch statistics, so an untrained net's features are not near zero
    model = build_model(cfg).train()
    torch.nn.init.normal_(model.head.weight)
    x = batch_for(cfg)
    y = {"raw_eeg": x["raw_eeg"].clone()}
    y["raw_eeg"][..., :200] = 0  # the 5-s margins at 40 Hz
    y["raw_eeg"][..., -200:] = 0
    z = {"raw_eeg": x["raw_eeg"].clone()}
    z["raw_eeg"][..., 1000] += 100  # the centre
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(y))
        assert not torch.allclose(model(x), model(z))


def test_spec2d_canvas_shows_a_sine_in_its_pairs_band_at_its_frequency():
    cfg = cfg_for("spec2d", "model.spec2d.n_mels=16", "model.spec2d.scale=1.0")
    sp, raw = cfg.model.spec2d, cfg.inputs.raw_eeg
    model = build_model(cfg).eval()
    t = torch.arange(2000) / raw.rate_hz
    x = torch.randn(1, 16, 2000) * 0.1
    x[0, 5] += 50 * torch.sin(2 * np.pi * 6.0 * t)
    with torch.no_grad():
        canvas = model.canvas({"raw_eeg": x.half()})
    frames = 1600 // sp.hop + 1
    zoom = int(sp.zoom_s * raw.rate_hz) // sp.zoom_hop + 1
    assert canvas.shape == (1, 1, 16 * sp.n_mels, frames + zoom)
    rows = canvas[0, 0].reshape(16, sp.n_mels, -1).mean(-1)  # (pair, mel row)
    assert int(rows.mean(1).argmax()) == 5  # the loudest pair is the sine's
    centres = frequency_rows_hz(
        type("C", (), {"kind": "mel", "n_mels": sp.n_mels, "fmin": sp.fmin, "fmax": sp.fmax})()
    )
    assert abs(centres[int(rows[5].argmax())] - 6.0) < 1.5
    # the zoom part draws the same pair loudest too
    zoom_rows = canvas[0, 0, :, frames:].reshape(16, sp.n_mels, -1).mean((1, 2))
    assert int(zoom_rows.argmax()) == 5


def test_spec2d_on_cpu_matches_a_numpy_stft():
    """The on-device spectrogram is the textbook one: Hann window, power, mel weights."""
    from hms_kit.inputs.eeg_spec import frequency_matrix
    from hms_kit.models.spec2d import PairSpectrogram

    n_fft, win, hop, n_mels, rate = 64, 32, 8, 8, 40.0
    op = PairSpectrogram(n_fft, win, hop, n_mels, 0.5, 20.0, rate)
    x = np.random.default_rng(0).normal(size=(1, 1, 400)).astype(np.float32)
    got = op(torch.from_numpy(x))[0, 0].numpy()  # (n_mels, frames)
    padded = np.pad(x[0, 0], n_fft // 2, mode="reflect")
    w = np.zeros(n_fft)
    w[(n_fft - win) // 2 : (n_fft - win) // 2 + win] = np.hanning(win + 1)[:-1]  # periodic
    frames = [padded[i * hop : i * hop + n_fft] * w for i in range(400 // hop + 1)]
    power = np.abs(np.fft.rfft(np.asarray(frames), axis=1)) ** 2  # (frames, bins)
    mel = frequency_matrix("mel", n_fft, n_mels, 0.5, 20.0, rate) @ power.T
    np.testing.assert_allclose(got, np.log10(mel + 1e-6), atol=2e-3, rtol=1e-3)
