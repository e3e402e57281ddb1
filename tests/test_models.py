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
# eeg1d's chain topology at a CPU width (issue 20)
CHAIN = ("model.eeg1d.topology=chain", "model.eeg1d.chain.width_mult=0.125")
# every torch family, and eeg1d's chain topology: (family, extra overrides)
TORCH_CASES = [(f, ()) for f in TORCH_FAMILIES] + [("eeg1d", CHAIN)]
CASE_IDS = [*TORCH_FAMILIES, "eeg1d-chain"]


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


@pytest.mark.parametrize(("family", "more"), TORCH_CASES, ids=CASE_IDS)
def test_families_map_dict_batches_to_uniform_logits_at_start(family, more):
    cfg = cfg_for(family, *more)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    with torch.no_grad():
        out = model(batch_for(cfg))
    assert out.shape == (3, len(schema.CLASSES))
    # a zero head: the uniform prediction, what a KL loss on vote distributions starts from
    torch.testing.assert_close(torch.softmax(out, 1), torch.full((3, 6), 1 / 6))


@pytest.mark.parametrize(("family", "more"), TORCH_CASES, ids=CASE_IDS)
def test_a_checkpoint_rebuilds_its_model_through_the_factory(family, more, tmp_path):
    cfg = cfg_for(family, *more)
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


# ------------------------------------------------------ eeg1d's chain topology (issue 20)
def test_eeg1d_chain_maps_each_chains_pairs_from_the_schema():
    """Channel k of the input is (k + 1) x a ramp: the model's input map holds, at (pair j,
    chain i), the channel of pair j of schema.CHAINS[REGIONS[i]]; midline pairs unused."""
    from hms_kit.inputs.raw_eeg import raw_pairs

    for central in (False, True):
        cfg = cfg_for("eeg1d", *CHAIN, f"inputs.raw_eeg.central={central}")
        model = build_model(cfg)
        pairs = raw_pairs(central)
        ramp = torch.linspace(-1, 1, 2000)  # zero mean over the centre 1600 samples too
        x = torch.arange(1, len(pairs) + 1, dtype=torch.float32)[None, :, None] * ramp
        m = model.chains(x * model.scale_uv)  # (1, 4 pairs, 4 chains, T)
        assert m.shape == (1, 4, 4, 1600)
        channel = (m[0, :, :, -1] / ramp[1799]).round().long() - 1  # (pair j, chain i)
        seen = set()
        for i, region in enumerate(schema.REGIONS):
            chain = schema.CHAINS[region]
            for j in range(4):
                assert pairs[int(channel[j, i])] == (region, chain[j], chain[j + 1])
                seen.add(int(channel[j, i]))
        assert len(seen) == 16


def _n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_eeg1d_chain_encodes_every_chain_with_the_same_weights_and_mixes_them():
    """Up to a stage's chain mixer every kernel is one chain high: permuting the chains of
    the input permutes the features alike. After the stages a change to one chain reaches
    the others (the mixers)."""
    from hms_kit.models.eeg1d import ChainNet

    cfg = cfg_for("eeg1d", *CHAIN)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    assert isinstance(model, ChainNet)
    # the stem sees the 4 pairs of one chain, not the 16 pairs
    assert model.stem.conv.weight.shape[1:] == (4, 1, 3)
    x = torch.randn(2, 4, 4, 256)  # (B, pairs, chains, T)
    perm = torch.tensor([2, 0, 3, 1])
    per_chain = torch.nn.Sequential(model.stem, model.stages[0].blocks)
    with torch.no_grad():
        torch.testing.assert_close(per_chain(x[:, :, perm]), per_chain(x)[:, :, perm])
        y = x.clone()
        y[:, :, 0] += 1.0
        f, g = model.features(x), model.features(y)
    assert f.shape == (2, 48, 4, 256 // 2**5)
    assert not torch.allclose(f[:, :, 3], g[:, :, 3], atol=1e-4)  # chain 0 reached chain 3


def test_eeg1d_chain_widths_scale_and_full_size_is_the_anchors():
    """The anchor's EfficientNet1d has about 5 M parameters (issue 20): the full width lands
    there, width_mult scales every stage, and a CPU width is near today's mixed network."""
    full = build_model(load_config("eeg1d", ["model.eeg1d.topology=chain"]))
    quarter = build_model(cfg_for("eeg1d", "model.eeg1d.topology=chain",
                                  "model.eeg1d.chain.width_mult=0.25"))  # fmt: skip
    tiny = build_model(cfg_for("eeg1d", *CHAIN))
    mixed = build_model(load_config("eeg1d"))
    assert 4e6 < _n_params(full) < 7e6
    assert [s.down.out_channels for s in full.stages] == [96, 128, 192, 256, 384]
    assert [s.down.out_channels for s in tiny.stages] == [12, 16, 24, 32, 48]
    assert _n_params(tiny) < _n_params(quarter) < _n_params(full)
    assert _n_params(tiny) < 2 * _n_params(mixed)


def test_kaggle_eeg1d_takes_an_optimiser_step_at_its_full_input_shape_on_the_cpu():
    """Issue 20 (6): the packaged kaggle-eeg1d (chain topology, full width, 16 pairs of 48 s
    at 40 Hz stored with 1 s each side: ``(2, 16, 2000)``), batch 2."""
    from hms_kit.engine.loop import kl_loss
    from hms_kit.models.eeg1d import ChainNet

    cfg = load_config("kaggle-eeg1d")
    assert (cfg.train.n_folds, cfg.train.sampler, cfg.model.eeg1d.chain.width_mult) == (
        5, "per_eeg", 1.0)  # fmt: skip
    torch.manual_seed(0)
    model = build_model(cfg).train()
    assert isinstance(model, ChainNet)
    batch = batch_for(cfg, b=2)
    assert batch["raw_eeg"].shape == (2, 16, 2000)
    assert model.chains(batch["raw_eeg"]).shape == (2, 4, 4, 1920)
    target = torch.softmax(torch.randn(2, 6), 1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    before = model.head[0].weight.detach().clone()
    loss = kl_loss(model(batch), target)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    assert not torch.equal(before, model.head[0].weight)


def test_eeg1d_topology_and_chain_settings_are_checked():
    with pytest.raises(ConfigError, match="model.eeg1d.topology must be one of"):
        load_config("eeg1d", ["model.eeg1d.topology=ring"])
    with pytest.raises(ConfigError, match="one kernel per entry"):
        load_config("eeg1d", ["model.eeg1d.chain.kernels=3,5"])
    with pytest.raises(ConfigError, match="width_mult must be > 0"):
        load_config("eeg1d", ["model.eeg1d.chain.width_mult=0"])


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
