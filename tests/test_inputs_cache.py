"""The feature cache's keys: every setting that changes an input's values is in its key (issue
20's per-pair EEG panels, dB scale and Kaggle crop), and a setting at its default keeps the key
a cache built before it had."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hms_kit.config import load_config
from hms_kit.data import Competition
from hms_kit.data.synth import generate_competition
from hms_kit.inputs.cache import build_cache, entry_key, windows_for
from hms_kit.inputs.registry import LATER_SETTINGS, input_settings

NEW = {
    "eeg": ["inputs.eeg.per_pair=true", "inputs.eeg.scale=db_max", "inputs.eeg.top_db=60"],
    "kaggle": ["inputs.kaggle.crop_s=200", "inputs.kaggle.scale=db_max",
               "inputs.kaggle.top_db=60"],
}  # fmt: skip


@pytest.fixture(scope="module")
def comp(tmp_path_factory) -> Competition:
    root = tmp_path_factory.mktemp("cache") / "c"
    generate_competition(root, n_eegs=2, seed=0, n_test=1)
    return Competition(root)


@pytest.mark.parametrize("name", ["default", "seed", "kaggle"])
def test_packaged_defaults_keep_the_keys_they_had_before_the_new_settings(name):
    """The new settings are off in the packaged configs, and off they stay out of the key:
    what the key hashes is exactly the settings an older kit hashed."""
    inputs = load_config(name).inputs
    assert not inputs.eeg.per_pair and inputs.kaggle.crop_s == 0
    assert inputs.eeg.scale == inputs.kaggle.scale == "standardize"
    for part, later in LATER_SETTINGS.items():
        before = {
            k: v for k, v in dataclasses.asdict(getattr(inputs, part)).items() if k not in later
        }
        assert input_settings(part, inputs) == before


@pytest.mark.parametrize("part", ["eeg", "kaggle"])
def test_each_new_setting_changes_its_inputs_key_only(comp, part):
    rows = comp.read_train().head(3)
    base = load_config("default").inputs
    keys = {}
    for override in ["", *NEW[part]]:
        inputs = load_config("default", [override] if override else []).inputs
        keys[override] = {
            m: entry_key(m, inputs, windows_for(rows, m)[0], comp, "train")
            for m in ("eeg", "kaggle")
        }
    other = "kaggle" if part == "eeg" else "eeg"
    assert len({k[part] for k in keys.values()}) == len(keys)  # every setting its own key
    assert len({k[other] for k in keys.values()}) == 1  # the other input's key untouched
    assert input_settings(part, base) != input_settings(
        part, load_config("default", NEW[part][:1]).inputs
    )


def test_per_pair_cache_is_its_own_entry_with_the_same_bytes_per_row(comp, tmp_path):
    """Per-pair panels keep the (4, 128, 256) panel shape, so a row's bytes do not grow; they
    are another entry with other values, and the chain-averaged one is reused as it was."""
    rows = comp.read_train().head(4)
    old = load_config("default").inputs
    new = load_config("kaggle-timm2d").inputs
    a = build_cache(comp, rows, old, tmp_path, modalities=["eeg"], workers=1, progress=False)
    b = build_cache(comp, rows, new, tmp_path, modalities=["eeg"], workers=1, progress=False)
    ea, eb = a.entries["eeg"], b.entries["eeg"]
    assert ea.path != eb.path and ea.values.shape == eb.values.shape == (ea.n, 4, 128, 256)
    assert (ea.path / "values.npy").stat().st_size == (eb.path / "values.npy").stat().st_size
    assert not np.allclose(ea.values[0], eb.values[0], atol=0.05)
    assert -1.0 <= float(eb.values.min()) and float(eb.values.max()) <= 1.0  # the dB scale
    again = build_cache(comp, rows, old, tmp_path, modalities=["eeg"], workers=1, progress=False)
    assert again.entries["eeg"].path == ea.path
