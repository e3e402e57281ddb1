"""Model inputs: the three modalities' panels, merging, augmentation, the cache, the dataset.

Every modality turns a label row's window into four ``(128, 256)`` panels (LL, RL, LP, RP):
``kaggle`` from the 600-s Kaggle spectrogram window, ``eeg`` and ``wavelet`` from the 50-s
EEG window.
"""

from __future__ import annotations

import numpy as np

from hms_kit.config import InputConfig
from hms_kit.inputs.eeg_spec import eeg_panels, eeg_panels_batch, fill_nan
from hms_kit.inputs.kaggle_spec import kaggle_panels, log_and_standardize
from hms_kit.inputs.merge import in_chans, input_shape, merge_panels, stack_to_layout
from hms_kit.inputs.wavelet import wavelet_panels

__all__ = [
    "eeg_panels",
    "eeg_panels_batch",
    "fill_nan",
    "in_chans",
    "input_shape",
    "kaggle_panels",
    "log_and_standardize",
    "merge_panels",
    "row_panels",
    "stack_to_layout",
    "wavelet_panels",
]


def row_panels(
    modality: str,
    eeg_window: np.ndarray | None = None,
    spec_window: np.ndarray | None = None,
    cfg: InputConfig | None = None,
) -> np.ndarray:
    """One modality's ``(4, 128, 256) float32`` panels from the row's windows.

    ``kaggle`` needs the ``(300, 400)`` spectrogram window; ``eeg`` and ``wavelet`` the
    ``(10000, 20)`` EEG window.
    """
    cfg = cfg or InputConfig()
    if modality == "kaggle":
        if spec_window is None:
            raise ValueError("the kaggle modality needs the spectrogram window")
        return kaggle_panels(spec_window, cfg.kaggle)
    if eeg_window is None:
        raise ValueError(f"the {modality} modality needs the EEG window")
    if modality == "eeg":
        return eeg_panels(eeg_window, cfg.eeg)
    if modality == "wavelet":
        return wavelet_panels(eeg_window, cfg.wavelet)
    raise ValueError(f"unknown modality {modality!r}")
