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

Two switches (``KaggleSpecConfig``; their defaults are the steps above):

- ``scale='db_max'``: step 1 becomes NaN filled with the window's mean power, then dB
  relative to the window's maximum (``eeg_spec.db_relative_to_max``: floored ``top_db``
  below it, mapped to [-1, 1]), the 4th place's scale (yu4u/kaggle-hms-4th);
- ``crop_s`` > 0: step 3 keeps the central ``crop_s`` seconds (200 s: rows 100..199 of the
  300, the 4th place's crop) and stretches them over the 256 columns (bilinear,
  align_corners=False); frequency stays zero-padded.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

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
    cfg = cfg or KaggleSpecConfig()
    img = db_max(window, cfg) if cfg.scale == "db_max" else log_and_standardize(window, cfg)
    # (time, region*freq) -> (region, freq, time), cropped in time
    regions = img.reshape(schema.SPEC_WINDOW_ROWS, len(schema.REGIONS), N_FREQS).transpose(1, 2, 0)
    out = np.zeros((len(schema.REGIONS), schema.PANEL_H, schema.PANEL_W), dtype=np.float32)
    out[:, FREQ_PAD : FREQ_PAD + N_FREQS, :] = (
        crop_time(regions, cfg.crop_s)
        if cfg.crop_s
        else regions[:, :, TIME_CROP : TIME_CROP + schema.PANEL_W]
    )
    return out


def crop_rows(crop_s: float) -> slice:
    """The window's rows (2 s each) of its central ``crop_s`` seconds: 200 s -> 100..199."""
    n = int(round(crop_s / schema.SPEC_ROW_S))
    if not 0 < n <= schema.SPEC_WINDOW_ROWS:
        raise ValueError(f"crop_s must be in (0, {schema.SPEC_WINDOW_S}] s, got {crop_s}")
    start = (schema.SPEC_WINDOW_ROWS - n) // 2
    return slice(start, start + n)


def crop_time(regions: np.ndarray, crop_s: float) -> np.ndarray:
    """``(4, 100, 300)`` (region, frequency, time) -> ``(4, 100, 256) float32``: the central
    ``crop_s`` seconds (``crop_rows``) stretched over 256 columns, bilinear
    (align_corners=False)."""
    part = torch.from_numpy(np.ascontiguousarray(regions[:, :, crop_rows(crop_s)], np.float32))
    size = (N_FREQS, schema.PANEL_W)
    return F.interpolate(part[None], size=size, mode="bilinear", align_corners=False)[0].numpy()


def db_max(window: np.ndarray, cfg: KaggleSpecConfig | None = None) -> np.ndarray:
    """The ``db_max`` scale of a window (any shape, power): NaN -> the window's mean power
    (all NaN: zeros), then ``eeg_spec.db_relative_to_max`` over the whole window
    (``cfg.top_db``). Same shape, float32 in [-1, 1]."""
    from hms_kit.inputs.eeg_spec import db_relative_to_max

    cfg = cfg or KaggleSpecConfig()
    x = np.asarray(window, dtype=np.float32)
    if np.isnan(x).all():
        return np.zeros_like(x)
    x = np.where(np.isnan(x), np.nanmean(x), x)
    return db_relative_to_max(torch.from_numpy(x)[None], cfg.top_db)[0].numpy()
