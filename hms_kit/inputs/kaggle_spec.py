"""Kaggle's spectrograms as model panels.

A ``(300, 400)`` window (rows: time, 2 s each; columns: LL, RL, LP, RP x 100 frequencies
0.59..19.92 Hz, schema.SPEC_COLUMNS) becomes ``(4, 128, 256) float32``:

1. ``log_and_standardize`` on the whole window at once (the seed's per-image scope: one
   hemisphere louder than the other stays visible);
2. each region's 100 x 300 block transposed to frequency x time;
3. no interpolation: frequency zero-padded 100 -> 128 (14 rows of 0, the standardised mean,
   on each side), time centre-cropped 300 -> 256 (rows 22..277 kept, 44 s dropped at each
   end; the labelled 10 s sit at the centre), as in the public notebooks.

Orientation as in every modality here: row 0 is the low-frequency end (panel row 14 =
0.59 Hz, row 113 = 19.92 Hz), so draw with ``origin='lower'``; axis 2 is time.
"""

from __future__ import annotations

import numpy as np

from hms_kit import schema
from hms_kit.config import KaggleSpecConfig

N_FREQS = 100
FREQ_PAD = (schema.PANEL_H - N_FREQS) // 2
TIME_CROP = (schema.SPEC_WINDOW_ROWS - schema.PANEL_W) // 2


def log_and_standardize(x: np.ndarray, cfg: KaggleSpecConfig | None = None) -> np.ndarray:
    """The seed's ``log_and_Standarize``: clip to [exp(-4), exp(8)], natural log, standardise
    with nanmean and nanstd over the whole array (``(x - mean) / (std + 1e-6)``), NaN -> 0.

    Any shape in, the same shape out, float32.
    """
    cfg = cfg or KaggleSpecConfig()
    x = np.log(
        np.clip(np.asarray(x, dtype=np.float32), np.exp(cfg.clip_low), np.exp(cfg.clip_high))
    )
    if np.isnan(x).all():
        return np.zeros_like(x)
    mean = np.nanmean(x)
    std = np.nanstd(x)
    return np.nan_to_num((x - mean) / (std + cfg.eps), nan=0.0).astype(np.float32)


def kaggle_panels(window: np.ndarray, cfg: KaggleSpecConfig | None = None) -> np.ndarray:
    """A ``(300, 400)`` spectrogram window -> ``(4, 128, 256) float32`` panels.

    The whole 300-row window (all four regions, including the rows the crop drops) is one
    image for ``log_and_standardize``. Panel r is region ``schema.REGIONS[r]``: frequency
    on axis 1 (row 14 = 0.59 Hz up to row 113 = 19.92 Hz; rows 0..13 and 114..127 are 0, the
    standardised mean), time on axis 2 (the window's rows 22..277, i.e. 44..556 s).
    """
    if window.shape != (schema.SPEC_WINDOW_ROWS, len(schema.SPEC_COLUMNS)):
        raise ValueError(f"spectrogram window must be (300, 400), got {window.shape}")
    img = log_and_standardize(window, cfg)
    # (time, region*freq) -> (region, freq, time), cropped in time
    regions = img.reshape(schema.SPEC_WINDOW_ROWS, len(schema.REGIONS), N_FREQS).transpose(1, 2, 0)
    out = np.zeros((len(schema.REGIONS), schema.PANEL_H, schema.PANEL_W), dtype=np.float32)
    out[:, FREQ_PAD : FREQ_PAD + N_FREQS, :] = regions[:, :, TIME_CROP : TIME_CROP + schema.PANEL_W]
    return out
