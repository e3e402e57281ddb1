"""Model inputs: the input registry, the panels, the raw waveforms, merging, augmentation,
the cache, the dataset.

``registry`` declares every input (name, source window, kind, shape, settings, build):
the three panel modalities and ``raw_eeg`` (bipolar waveforms, ``raw_eeg.py``; augmented per
batch by ``wave_augment``). ``dataset.InputDataset`` serves any of them as dict batches.

Every panel modality turns a label row's window into four ``(128, 256)`` panels (LL, RL, LP, RP):
``kaggle`` from the 600-s Kaggle spectrogram window, ``eeg`` and ``wavelet`` from the 50-s
EEG window. Panels are standardised per window; frequency rises from row 0 (draw with
``origin='lower'``); time runs along axis 2. ``merge`` lays modalities out as the model
input; ``augment`` (albumentations, imported on demand: ``hms_kit.inputs.augment``) is
for training only.
"""

from __future__ import annotations

import numpy as np

from hms_kit.config import InputConfig
from hms_kit.inputs.eeg_spec import (
    bipolar,
    chain_power_batch,
    eeg_panels,
    eeg_panels_batch,
    fill_nan,
    frequency_rows_hz,
    resize_panels,
)
from hms_kit.inputs.kaggle_spec import kaggle_panels, log_and_standardize
from hms_kit.inputs.merge import (
    in_chans,
    input_shape,
    merge_batch,
    merge_panels,
    stack_to_layout,
)
from hms_kit.inputs.wavelet import cwt_frequencies_hz, wavelet_panels

__all__ = [
    "bipolar",
    "chain_power_batch",
    "cwt_frequencies_hz",
    "eeg_panels",
    "eeg_panels_batch",
    "fill_nan",
    "frequency_rows_hz",
    "in_chans",
    "input_shape",
    "kaggle_panels",
    "log_and_standardize",
    "merge_batch",
    "merge_panels",
    "resize_panels",
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
    """One modality's panels from a label row's windows.

    Parameters
    ----------
    modality : one of schema.MODALITIES.
    eeg_window : ``(10000, 20)`` EEG window (microvolts, 200 Hz) for ``eeg`` and ``wavelet``.
    spec_window : ``(300, 400)`` Kaggle spectrogram window for ``kaggle``.
    cfg : InputConfig (its ``kaggle``, ``eeg`` or ``wavelet`` part is used).

    Returns
    -------
    np.ndarray ``(4, 128, 256) float32``.
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
