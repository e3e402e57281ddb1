"""Figures: the seed's spectrogram and EEG examples and the per-class model-input panels."""

from __future__ import annotations

import numpy as np
import pytest

from hms_kit.cli import main
from hms_kit.data import Competition
from hms_kit.data.synth import generate_competition


@pytest.fixture(scope="module")
def comp(tmp_path_factory) -> Competition:
    root = tmp_path_factory.mktemp("synth_fig") / "competition"
    generate_competition(root, n_eegs=30, seed=5, n_test=2)
    return Competition(root)


def test_figures_command_writes_pngs(comp, tmp_path, capsys):
    import matplotlib.image as mpimg

    out = tmp_path / "figs"
    assert main(["figures", "--competition", str(comp.root), "--out", str(out)]) == 0
    for name in ("spectrogram.png", "eeg.png", "inputs.png"):
        img = mpimg.imread(out / name)
        assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 600
        # a drawn figure, not a blank canvas
        assert np.std(img[..., :3]) > 0.05, name
    assert not list(out.glob("*.tmp*"))
