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
SIDES = (*CHAIN, "model.eeg1d.chain.pool=sides")
TORCH_CASES = [(f, ()) for f in TORCH_FAMILIES] + [("eeg1d", CHAIN), ("eeg1d", SIDES)]
CASE_IDS = [*TORCH_FAMILIES, "eeg1d-chain", "eeg1d-chain-sides"]


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
    with pytest.raises(ConfigError, match="stem_stride must be 1 or 2, got 3"):
        load_config("eeg1d", ["model.eeg1d.chain.stem_stride=3"])
    with pytest.raises(ConfigError, match=r"chain.pool must be one of \['all', 'sides'\]"):
        load_config("eeg1d", ["model.eeg1d.chain.pool=left"])


def test_side_pool_keeps_which_side_a_pattern_is_on_and_not_which_side_is_which():
    """SidePool on ``(B, C, 4 chains, T)``: the chains' mean and |left - right|, so a map
    on the left chains and its mirror on the right give the same features, while a map on
    one side and the same energy spread over both differ in the difference half only."""
    from hms_kit.models.eeg1d import SidePool

    pool = SidePool()
    regions = list(schema.REGIONS)
    left = [regions.index(r) for r in schema.LEFT_REGIONS]
    right = [regions.index(r) for r in schema.RIGHT_REGIONS]
    assert sorted(left + right) == [0, 1, 2, 3]
    assert {schema.MIRROR_REGIONS[r] for r in schema.LEFT_REGIONS} == set(schema.RIGHT_REGIONS)
    one_side = torch.full((1, 3, 4, 8), 1e-6)
    one_side[:, :, left] = 2.0
    mirrored = torch.full((1, 3, 4, 8), 1e-6)
    mirrored[:, :, right] = 2.0
    both = torch.full((1, 3, 4, 8), 1.0)  # the same total over the chains, on both sides
    with torch.no_grad():
        a, b, c = pool(one_side), pool(mirrored), pool(both)
    assert a.shape == (1, 6)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a[:, :3], c[:, :3], atol=1e-4, rtol=1e-4)  # GeM of a constant
    torch.testing.assert_close(a[:, 3:], torch.full((1, 3), 2.0), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(c[:, 3:], torch.zeros(1, 3))
    # the network's head takes twice the last stage's features
    model = build_model(cfg_for("eeg1d", *SIDES)).eval()
    assert model.head[0].in_features == 2 * model.stages[-1].down.out_channels


def test_eeg1d_chain_stem_stride_2_halves_time_and_keeps_the_parameters():
    """The stem at step 2 starts every stage at half the samples: the feature map is half
    as long, the weights are the same ones (a checkpoint's shapes do not change)."""
    torch.manual_seed(0)
    cfg = cfg_for("eeg1d", *CHAIN)
    one = build_model(cfg).eval()
    two = build_model(cfg_for("eeg1d", *CHAIN, "model.eeg1d.chain.stem_stride=2")).eval()
    two.load_state_dict(one.state_dict())
    batch = batch_for(cfg, b=2)
    x = one.chains(batch["raw_eeg"])
    f1, f2 = one.features(x), two.features(x)
    assert f1.shape[:3] == f2.shape[:3] and f2.shape[-1] == f1.shape[-1] // 2
    with torch.no_grad():
        out = two(batch)
    assert out.shape == (2, 6) and torch.isfinite(out).all()


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


# ------------------------------------------ spec2d's issue-20 switches (the 3rd place's mdl_4)
SPEC_ANCHOR = ("model.spec2d.channels=derived", "model.spec2d.zoom=inside",
               "model.spec2d.top_db=100", "model.spec2d.pool=gem", "model.spec2d.drop_path=0.1",
               "model.spec2d.zoom_jitter_s=2", "model.spec2d.scale_uv=32")  # fmt: skip


def test_spec2d_neighbours_are_the_pairs_sharing_an_electrode():
    """As the anchor's list: within a chain the pair before and after; a chain's end pair
    takes the sister chain's pair at Fp1/Fp2 or O1/O2; a midline pair has one."""
    from hms_kit.inputs.raw_eeg import raw_pairs
    from hms_kit.models.spec2d import pair_neighbours

    pairs = raw_pairs(False)
    w = pair_neighbours(False)
    near = {pairs[i][1:]: {pairs[j][1:] for j in np.flatnonzero(w[i])} for i in range(16)}
    assert near[("Fp1", "F7")] == {("F7", "T3"), ("Fp1", "F3")}
    assert near[("F8", "T4")] == {("Fp2", "F8"), ("T4", "T6")}
    assert near[("P3", "O1")] == {("C3", "P3"), ("T5", "O1")}
    assert near[("P4", "O2")] == {("C4", "P4"), ("T6", "O2")}
    assert (np.count_nonzero(w, axis=1) == 2).all() and np.allclose(w.sum(1), 1)
    np.testing.assert_array_equal(w > 0, (w > 0).T)
    central = pair_neighbours(True)
    fz_cz, cz_pz = len(pairs), len(pairs) + 1
    assert central[fz_cz].tolist() == [0.0] * cz_pz + [1.0]


def test_spec2d_derived_channels_are_x_x_minus_the_others_and_x_minus_its_neighbours():
    from hms_kit.models.spec2d import derived_channels, pair_neighbours

    s = torch.randn(2, 16, 3, 5, generator=torch.Generator().manual_seed(0))
    out = derived_channels(s, torch.as_tensor(pair_neighbours(False), dtype=torch.float32))
    assert out.shape == (2, 3, 16, 3, 5)
    torch.testing.assert_close(out[:, 0], s)
    for i in (0, 7, 11):
        others = torch.cat([s[:, :i], s[:, i + 1 :]], dim=1).mean(1)
        torch.testing.assert_close(out[:, 1, i], s[:, i] - others)
    # kit order LL 0-3, RL 4-7, LP 8-11, RP 12-15: Fp1-F7 (0) touches F7-T3 (1) and Fp1-F3
    # (8); P3-O1 (11) touches C3-P3 (10) and T5-O1 (3)
    torch.testing.assert_close(out[:, 2, 0], s[:, 0] - (s[:, 1] + s[:, 8]) / 2)
    torch.testing.assert_close(out[:, 2, 11], s[:, 11] - (s[:, 10] + s[:, 3]) / 2)


def test_spec2d_db_is_clipped_top_db_below_each_rows_own_maximum():
    from hms_kit.models.spec2d import to_db

    power = torch.tensor([[1e3, 1.0, 1e-9, 0.0], [1e-1, 1e-4, 1e-9, 0.0]])
    db = to_db(power.reshape(2, 1, 1, 4), top_db=50.0).reshape(2, 4)
    torch.testing.assert_close(db[0], torch.tensor([30.0, 0.0, -20.0, -20.0]))
    # the second row's floor follows its own maximum, not the batch's
    torch.testing.assert_close(db[1], torch.tensor([-10.0, -40.0, -60.0, -60.0]))
    # a flat (all-zero) row is the floor, finite
    assert torch.isfinite(to_db(torch.zeros(1, 2, 3), 100.0)).all()


def test_spec2d_zoom_inside_replaces_the_frames_around_the_centre():
    from hms_kit.models.spec2d import place_inside

    f, z = 20, 6
    whole = torch.arange(f, dtype=torch.float32).expand(3, 1, 1, f)
    zoom = (100 + torch.arange(z, dtype=torch.float32)).expand(3, 1, 1, z)
    out = place_inside(whole, zoom, torch.tensor([10, 0, 19]), cut=0.2)  # 2 frames each side
    assert out.shape == (3, 1, 1, f - 4 + z)
    zoom_row = list(range(100, 106))
    assert out[0, 0, 0].tolist() == [*range(8), *zoom_row, *range(12, 20)]
    assert out[1, 0, 0].tolist() == [*zoom_row, *range(4, 20)]  # kept inside the image
    assert out[2, 0, 0].tolist() == [*range(15), *zoom_row, 19]


def test_spec2d_anchor_switches_build_a_three_channel_gem_model_with_a_jittered_zoom():
    from timm.layers import DropPath

    from hms_kit.models.spec2d import ZOOM_SHIFT, GemPool2d, Spec2dAugment, batch_augment

    cfg = cfg_for("spec2d", *SPEC_ANCHOR)
    sp, raw = cfg.model.spec2d, cfg.inputs.raw_eeg
    model = build_model(cfg).eval()
    assert isinstance(model.net.backbone.global_pool, GemPool2d)
    assert any(isinstance(m, DropPath) and m.drop_prob > 0 for m in model.modules())
    x = batch_for(cfg, b=4)
    frames = 1600 // sp.hop + 1
    zoom = int(sp.zoom_s * raw.rate_hz) // sp.zoom_hop + 1
    cut = int(frames * sp.zoom_cut // 2)
    with torch.no_grad():
        canvas = model.canvas(x)
    assert canvas.shape == (4, 3, 16 * sp.n_mels, frames - 2 * cut + zoom)
    aug = batch_augment(cfg)
    assert isinstance(aug, Spec2dAugment)
    y = torch.full((4, 6), 1 / 6)
    a, _ = aug(x, y, torch.Generator().manual_seed(3))
    b, _ = aug(x, y, torch.Generator().manual_seed(3))
    shift = a[ZOOM_SHIFT]
    torch.testing.assert_close(shift, b[ZOOM_SHIFT])  # reproducible from the generator
    many, _ = aug(batch_for(cfg, b=200), torch.full((200, 6), 1 / 6), torch.Generator())
    assert many[ZOOM_SHIFT].abs().max() <= round(sp.zoom_jitter_s * raw.rate_hz)
    assert many[ZOOM_SHIFT].unique().numel() > 10
    with torch.no_grad():
        moved = model.canvas({**x, ZOOM_SHIFT: torch.full((4,), 40)})
        again = model.canvas({**x, ZOOM_SHIFT: torch.zeros(4, dtype=torch.long)})
    assert moved.shape == canvas.shape and not torch.allclose(moved, canvas)
    torch.testing.assert_close(again, canvas)  # no shift: the centred zoom
    with torch.no_grad():
        assert model(a).shape == (4, 6)


def test_spec2d_pair_drop_zeroes_the_drawn_pairs_channels_after_their_derivation():
    from hms_kit.models.spec2d import PAIR_DROP, batch_augment

    cfg = cfg_for("spec2d", "model.spec2d.channels=derived", "model.spec2d.pair_drop_p=0.5",
                  "model.spec2d.pair_drop_max=3", "model.spec2d.scale=1.0")  # fmt: skip
    n_mels = cfg.model.spec2d.n_mels
    many, _ = batch_augment(cfg)(batch_for(cfg, b=400), torch.full((400, 6), 1 / 6),
                                 torch.Generator().manual_seed(0))  # fmt: skip
    per_row = many[PAIR_DROP].sum(1)
    assert per_row.max() == 3 and set(per_row.unique().tolist()) == {0, 1, 2, 3}
    assert 0.4 < (per_row > 0).float().mean() < 0.6
    model = build_model(cfg).eval()
    x = batch_for(cfg, b=2)
    drop = torch.zeros(2, 16, dtype=torch.bool)
    drop[0, 5] = True
    with torch.no_grad():
        plain, dropped = model.canvas(x), model.canvas({**x, PAIR_DROP: drop})
    rows = slice(5 * n_mels, 6 * n_mels)
    assert (dropped[0, :, rows] == 0).all() and (plain[0, :, rows] != 0).any()
    keep = torch.ones(16 * n_mels, dtype=torch.bool)
    keep[rows] = False
    # every other pair's three channels, the others' mean included, are untouched
    torch.testing.assert_close(dropped[0, :, keep], plain[0, :, keep])
    torch.testing.assert_close(dropped[1], plain[1])


def test_spec2d_defaults_keep_todays_model():
    """Every issue-20 switch is off by default and in the packaged configs but kaggle-spec2d:
    one channel, log10 standardised, the zoom appended, timm's pooling, no jitter."""
    from hms_kit.config import Spec2dConfig
    from hms_kit.inputs.eeg_spec import standardize
    from hms_kit.inputs.wave_augment import WaveAugment
    from hms_kit.models.eeg1d import centre_crop
    from hms_kit.models.spec2d import GemPool2d, batch_augment

    keys = ("channels", "zoom", "top_db", "pool", "drop_path", "scale_uv", "zoom_jitter_s",
            "pair_drop_p")  # fmt: skip
    switches = lambda sp: tuple(getattr(sp, k) for k in keys)  # noqa: E731
    assert switches(Spec2dConfig()) == ("single", "append", 0.0, "avg", 0.0, 1.0, 0.0, 0.0)
    for name in ("default", "spec2d", "kaggle", "kaggle-eeg1d", "kaggle-timm2d", "eeg1d", "seed"):
        c = load_config(name)
        assert switches(c.model.spec2d) == switches(Spec2dConfig()), name
        assert c.train.grad_accum == 1, name
    cfg = cfg_for("spec2d", "model.spec2d.scale=1.0")
    model = build_model(cfg).eval()
    assert not isinstance(model.net.backbone.global_pool, GemPool2d)
    assert isinstance(batch_augment(cfg), WaveAugment)
    x = batch_for(cfg, b=2)
    with torch.no_grad():
        canvas = model.canvas(x)
    # today's canvas, written out: each part standardised per row, the zoom appended
    raw = x["raw_eeg"].float()
    keep = int(round(cfg.model.spec2d.zoom_s * cfg.inputs.raw_eeg.rate_hz))
    start = (raw.shape[-1] - keep) // 2
    with torch.no_grad():
        whole = standardize(model.whole(centre_crop(raw, cfg.inputs.raw_eeg)))
        zoom = standardize(model.zoom(raw[..., start : start + keep]))
    want = torch.cat([whole.flatten(1, 2), zoom.flatten(1, 2)], dim=-1)[:, None]
    assert torch.equal(canvas, want)


def test_spec2d_spectrogram_is_float32_under_fp16_autocast():
    """A 300-uV wave's STFT power (~1e8) overflows float16: the spectrogram runs outside
    autocast, as the anchor's does."""
    cfg = cfg_for("spec2d", "model.spec2d.scale=1.0")
    model = build_model(cfg).eval()
    t = torch.arange(2000) / cfg.inputs.raw_eeg.rate_hz
    x = {"raw_eeg": (300 * torch.sin(2 * np.pi * 3.0 * t)).expand(1, 16, 2000).clone()}
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.float16):
        canvas = model.canvas(x)
    assert canvas.dtype == torch.float32 and torch.isfinite(canvas).all()


def test_spec2d_switches_are_checked():
    for key, bad in (("channels", "rgb"), ("zoom", "beside"), ("pool", "max")):
        with pytest.raises(ConfigError, match=f"model.spec2d.{key} must be one of"):
            load_config("spec2d", [f"model.spec2d.{key}={bad}"])
    with pytest.raises(ConfigError, match="train.grad_accum must be >= 1"):
        load_config("spec2d", ["train.grad_accum=0"])
    for bad in ("scale_uv=0", "top_db=-1", "zoom_cut=0.5"):
        with pytest.raises(ConfigError, match="need scale_uv > 0, top_db >= 0"):
            load_config("spec2d", [f"model.spec2d.{bad}"])


# the full-size step takes ~80 s and ~7 GB on one CPU thread: the slow tier runs it, `make
# test` the same step with the backbone at a sixteenth of the canvas's pixels
@pytest.mark.parametrize("scale", [0.25, pytest.param(1.0, marks=pytest.mark.slow)])
def test_kaggle_spec2d_takes_an_optimiser_step_at_its_full_input_shape_on_the_cpu(scale):
    """Issue 20 (6): the packaged kaggle-spec2d (mixnet_xl, not pretrained here; 16 pairs of
    50 s at 200 Hz: ``(2, 16, 10000)``; a ``(3, 1024, 852)`` canvas, which the backbone sees
    at ``scale``), batch 2, one step with the zoom jittered as in training."""
    from hms_kit.engine.loop import kl_loss
    from hms_kit.models.spec2d import GemPool2d, batch_augment

    cfg = load_config("kaggle-spec2d", [f"model.spec2d.scale={scale}"])
    assert cfg.model.pretrained and cfg.model.name == "mixnet_xl"
    assert (cfg.train.n_folds, cfg.train.batch_size, cfg.train.grad_accum) == (5, 16, 2)
    assert (cfg.train.checkpoint, cfg.train.stage1.epochs) == ("last", 16)
    torch.manual_seed(0)
    model = build_model(cfg, pretrained=False).train()
    assert isinstance(model.net.backbone.global_pool, GemPool2d)
    batch = batch_for(cfg, b=2)
    assert batch["raw_eeg"].shape == (2, 16, 10000)
    batch, target = batch_augment(cfg)(batch, torch.softmax(torch.randn(2, 6), 1),
                                       torch.Generator().manual_seed(0))  # fmt: skip
    with torch.no_grad():
        assert model.canvas(batch).shape == (2, 3, 1024, 852)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    head = model.net.backbone.get_classifier().weight
    before = head.detach().clone()
    loss = kl_loss(model(batch), target)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    assert not torch.equal(before, head)
