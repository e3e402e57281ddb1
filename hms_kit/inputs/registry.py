"""The model inputs the cache can build, each declared once.

An input has a name (the key of its tensor in a batch), a source (the label row's 50-s
``eeg`` window ``(10000, 20)``, with ``context_s`` seconds of the recording each side when
its settings ask, or 600-s ``spectrogram`` window ``(300, 400)``), a kind
(``panels``: 2D images augmented per row with albumentations; ``waveform``: 1D signals
augmented per batch on the device), a shape and a build function of the window, and the
part of the config that keys its cache entry. Every input is stored as float16.

    name      source       kind      shape
    kaggle    spectrogram  panels    (4, 128, 256)
    eeg       eeg          panels    (4, 128, 256)
    wavelet   eeg          panels    (4, 128, 256)
    raw_eeg   eeg          waveform  (16 or 18, (window_s + 2 margin_s) * rate_hz)

Adding an input is an entry here and its build function.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hms_kit import schema
from hms_kit.config import InputConfig

__all__ = ["InputSpec", "INPUTS", "get_input", "input_settings", "time_cells", "PANEL_SHAPE"]

PANEL_SHAPE = (len(schema.REGIONS), schema.PANEL_H, schema.PANEL_W)


def _one_cell(_: InputConfig) -> int:
    return 1


@dataclass(frozen=True)
class InputSpec:
    """One input: see the module docstring."""

    name: str
    source: str  # "eeg" | "spectrogram"
    kind: str  # "panels" | "waveform"
    shape: Callable[[InputConfig], tuple[int, ...]]
    settings: Callable[[InputConfig], dict[str, Any]]
    build: Callable[[np.ndarray, InputConfig], np.ndarray]
    dtype: type = np.float16
    # panels side by side along the time axis (eeg per_pair: 2): a time reversal reverses
    # each in place (hms_kit.inputs.merge.flip_time)
    time_cells: Callable[[InputConfig], int] = _one_cell
    # seconds of the recording its build wants each side of the 50-s EEG window
    context_s: Callable[[InputConfig], float] = lambda cfg: 0.0


def _kaggle(window: np.ndarray, cfg: InputConfig) -> np.ndarray:
    from hms_kit.inputs.kaggle_spec import kaggle_panels

    return kaggle_panels(window, cfg.kaggle)


def _eeg(window: np.ndarray, cfg: InputConfig) -> np.ndarray:
    from hms_kit.inputs.eeg_spec import eeg_panels

    return eeg_panels(window, cfg.eeg)


def _wavelet(window: np.ndarray, cfg: InputConfig) -> np.ndarray:
    from hms_kit.inputs.wavelet import wavelet_panels

    return wavelet_panels(window, cfg.wavelet)


def _raw_eeg(window: np.ndarray, cfg: InputConfig) -> np.ndarray:
    from hms_kit.inputs.raw_eeg import raw_eeg

    return raw_eeg(window, cfg.raw_eeg)


def _raw_eeg_shape(cfg: InputConfig) -> tuple[int, ...]:
    from hms_kit.inputs.raw_eeg import raw_eeg_shape

    return raw_eeg_shape(cfg.raw_eeg)


def _panels(_: InputConfig) -> tuple[int, ...]:
    return PANEL_SHAPE


# settings added after caches were built with their part of the config: while one is at its
# default (which reproduces the older values bit for bit) it stays out of the key, so an
# existing cache is still found; any other value is in the key, so no stale entry is reused
LATER_SETTINGS: dict[str, tuple[str, ...]] = {
    "kaggle": ("scale", "top_db", "crop_s"),
    "eeg": ("per_pair", "scale", "top_db"),
    "raw_eeg": ("context_s",),
}


def _part(name: str) -> Callable[[InputConfig], dict[str, Any]]:
    def settings(cfg: InputConfig) -> dict[str, Any]:
        part = getattr(cfg, name)
        out = dataclasses.asdict(part)
        default = type(part)()
        for key in LATER_SETTINGS.get(name, ()):
            if out[key] == getattr(default, key):
                del out[key]
        return out

    return settings


def _eeg_cells(cfg: InputConfig) -> int:
    from hms_kit.inputs.eeg_spec import time_cells

    return time_cells(cfg.eeg)


INPUTS: dict[str, InputSpec] = {
    "kaggle": InputSpec("kaggle", "spectrogram", "panels", _panels, _part("kaggle"), _kaggle),
    "eeg": InputSpec("eeg", "eeg", "panels", _panels, _part("eeg"), _eeg, time_cells=_eeg_cells),
    "wavelet": InputSpec("wavelet", "eeg", "panels", _panels, _part("wavelet"), _wavelet),
    "raw_eeg": InputSpec(
        "raw_eeg",
        "eeg",
        "waveform",
        _raw_eeg_shape,
        _part("raw_eeg"),
        _raw_eeg,
        context_s=lambda cfg: cfg.raw_eeg.context_s,
    ),  # fmt: skip
}


def get_input(name: str) -> InputSpec:
    """The declared input ``name`` (ValueError naming the known ones otherwise)."""
    try:
        return INPUTS[name]
    except KeyError:
        raise ValueError(f"unknown input {name!r} (known: {', '.join(INPUTS)})") from None


def input_settings(name: str, cfg: InputConfig) -> dict[str, Any]:
    """The settings that change input ``name`` (what its cache key hashes)."""
    return get_input(name).settings(cfg)


def time_cells(names: list[str], cfg: InputConfig) -> dict[str, int]:
    """Per input name: the panels side by side along its time axis (see ``InputSpec``)."""
    return {n: get_input(n).time_cells(cfg) for n in names}
