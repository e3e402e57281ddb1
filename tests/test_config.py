"""The typed config: defaults, YAML, overrides, errors, the resolved dump."""

from __future__ import annotations

import pytest
import yaml

from hms_kit.config import CONFIG_DIR, Config, ConfigError, load_config, save_config, to_dict


def test_defaults_and_packaged_configs():
    cfg = load_config()
    assert cfg == Config()
    assert cfg.inputs.layout == "stack" and cfg.model.name == "tf_efficientnet_b0"
    seed = load_config("seed")
    assert seed.inputs.layout == "tile" and seed.model.pretrained and seed.train.n_folds == 5
    kaggle = load_config("kaggle")  # extends seed
    assert kaggle.inputs.layout == "tile" and kaggle.train.time_limit_hours == 11.0


def test_yaml_and_overrides(tmp_path):
    f = tmp_path / "exp.yaml"
    f.write_text("train:\n  stage1:\n    epochs: 7\ninputs:\n  modalities: [eeg]\n")
    cfg = load_config(f, ["train.stage1.max_lr=0.01", "inputs.modalities=kaggle,wavelet",
                          "train.two_stage=false", "train.folds=0,2"])  # fmt: skip
    assert cfg.train.stage1.epochs == 7 and cfg.train.stage1.max_lr == 0.01
    assert cfg.inputs.modalities == ["kaggle", "wavelet"]
    assert cfg.train.two_stage is False and cfg.train.folds == [0, 2]
    assert cfg.train.stage2.epochs == Config().train.stage2.epochs  # untouched
    # a lone number is a one-item list (YAML reads "0" as 0, not [0])
    assert load_config(None, ["train.folds=1"]).train.folds == [1]


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.epoch=3", "unknown config key 'train.epoch'"),
        ("train.batch_size=abc", "train.batch_size' must be int"),
        ("inputs.layout=grid", "inputs.layout must be 'tile' or 'stack'"),
        ("inputs.modalities=kaggle,audio", "non-empty subset"),
        ("train.two_stage=maybe", "must be true or false"),
        ("train.folds={a: 1}", "train.folds' must be a list"),
        ("novalue", "is not key=value"),
        ("data.high_vote_threshold=4", "high_vote_threshold must be at least 5"),
        ("inputs.eeg.scale=db", "inputs.eeg.scale must be one of"),
        ("inputs.kaggle.top_db=0", "inputs.kaggle.top_db must be > 0"),
        ("inputs.kaggle.crop_s=1", "inputs.kaggle.crop_s must be 0 or in"),
        ("inputs.kaggle.crop_s=700", "inputs.kaggle.crop_s must be 0 or in"),
        ("inputs.eeg.hop=38", r"inputs.eeg.hop must be 0 .* or >= 39 samples .* got 38"),
        ("inputs.eeg.hop=-1", r"inputs.eeg.hop must be 0 .* got -1"),
        ("train.grad_clip=0", r"train.grad_clip must be > 0 .* got 0"),
        ("train.grad_clip=-1", r"train.grad_clip must be > 0 .* got -1"),
    ],
)
def test_bad_overrides(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: nothing.yaml"):
        load_config("nothing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)


def test_resolved_config_round_trip(tmp_path):
    cfg = load_config("seed", ["train.seed=7"])
    path = save_config(cfg, tmp_path / "run" / "config.yaml")
    assert yaml.safe_load(path.read_text()) == to_dict(cfg)
    assert load_config(path) == cfg
    assert [p.name for p in path.parent.iterdir()] == ["config.yaml"]  # no temporary left


def test_commands_without_config_use_the_packaged_default():
    import argparse

    from hms_kit.cli.common import config_from_args

    cfg = config_from_args(argparse.Namespace(config=None, overrides=["train.seed=7"]))
    packaged = load_config("default")
    assert cfg.data.row_mode == packaged.data.row_mode == "all"  # the dataclass says dedup
    assert cfg.train.stage1.epochs == packaged.train.stage1.epochs != Config().train.stage1.epochs
    assert cfg.train.seed == 7


@pytest.mark.parametrize("name", ["default", "eeg1d", "spec2d", "baseline", "seed", "kaggle"])
def test_issue_20_switches_are_off_in_the_packaged_configs(name):
    """The augmentations, joint schedule, context and TTA views of issue 20 leave every
    packaged config (but kaggle-eeg1d and eeg1d-chain) as it trained and predicted before."""
    cfg = load_config(name)
    w = cfg.augment.wave
    assert w.p_chain_perm == w.p_bandpass == w.p_cutmix == 0.0
    assert cfg.inputs.raw_eeg.context_s == 0.0
    assert not cfg.train.joint_schedule
    assert not cfg.predict.tta_mirror


@pytest.mark.parametrize("name", sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
def test_every_packaged_config_predicts_its_oof_with_its_test_views(name):
    """A blend fitted on a run's OOF weighs the model the run is at test time: the OOF is
    predicted with the test set's views (``kaggle`` and ``kaggle-timm2d`` flip both)."""
    assert load_config(name).predict.tta_oof


def test_kaggle_eeg1d_uses_the_anchors_switches():
    cfg = load_config("kaggle-eeg1d")
    assert cfg.train.joint_schedule and cfg.augment.wave.p_chain_perm == 1.0
    assert cfg.train.stage1.max_lr == 2e-3 and cfg.train.stage2.min_votes == 8
    assert cfg.predict.tta_flip and cfg.predict.tta_oof
