"""Schema facts of the HMS competition: the one place they are written.

Everything else imports these names; nothing retypes an electrode, a vote column or a
window length.
"""

from __future__ import annotations

import math

COMPETITION_SLUG = "hms-harmful-brain-activity-classification"

# Canonical EEG column order of Kaggle's parquet files (19 scalp electrodes + EKG).
EEG_CHANNELS: tuple[str, ...] = (
    "Fp1", "F3", "C3", "P3", "F7", "T3", "T5", "O1", "Fz", "Cz", "Pz",
    "Fp2", "F4", "C4", "P4", "F8", "T4", "T6", "O2", "EKG",
)  # fmt: skip
SCALP_CHANNELS: tuple[str, ...] = EEG_CHANNELS[:19]
CHANNEL_INDEX: dict[str, int] = {name: i for i, name in enumerate(EEG_CHANNELS)}

EEG_RATE_HZ = 200
EEG_WINDOW_S = 50
EEG_WINDOW_SAMPLES = EEG_RATE_HZ * EEG_WINDOW_S  # 10,000

SPEC_ROW_S = 2  # one Kaggle spectrogram row per 2 s
SPEC_WINDOW_S = 600
SPEC_WINDOW_ROWS = SPEC_WINDOW_S // SPEC_ROW_S  # 300
LABELLED_S = 10  # the 10 s the experts voted on, centred in both windows

# The four regions of Kaggle's spectrograms and of the double-banana montage, in column order.
REGIONS: tuple[str, ...] = ("LL", "RL", "LP", "RP")
# Each region's chain of electrodes; consecutive pairs are the bipolar derivations.
CHAINS: dict[str, tuple[str, ...]] = {
    "LL": ("Fp1", "F7", "T3", "T5", "O1"),
    "RL": ("Fp2", "F8", "T4", "T6", "O2"),
    "LP": ("Fp1", "F3", "C3", "P3", "O1"),
    "RP": ("Fp2", "F4", "C4", "P4", "O2"),
}
# The 16 bipolar pairs of the double banana as (region, electrode a, electrode b), region-major
# in REGIONS order, four a chain: pair 4r + k is pair k of region r; its signal is a - b.
BIPOLAR_PAIRS: tuple[tuple[str, str, str], ...] = tuple(
    (region, chain[i], chain[i + 1])
    for region, chain in ((r, CHAINS[r]) for r in REGIONS)
    for i in range(len(chain) - 1)
)
PAIRS_PER_CHAIN = len(BIPOLAR_PAIRS) // len(REGIONS)
# Each pair's electrodes as EEG_CHANNELS columns: pair signals = x[:, PAIR_A] - x[:, PAIR_B].
PAIR_A: tuple[int, ...] = tuple(CHANNEL_INDEX[a] for _, a, _ in BIPOLAR_PAIRS)
PAIR_B: tuple[int, ...] = tuple(CHANNEL_INDEX[b] for _, _, b in BIPOLAR_PAIRS)
# The midline chain; its two pairs (Fz-Cz, Cz-Pz) are the optional central derivations.
CENTRAL_CHAIN: tuple[str, ...] = ("Fz", "Cz", "Pz")
# Left/right mirror of the regions (LL<->RL, LP<->RP); classes do not depend on the side.
MIRROR_REGIONS: dict[str, str] = {"LL": "RL", "RL": "LL", "LP": "RP", "RP": "LP"}
# The regions over each hemisphere (lateralised patterns sit on one side).
LEFT_REGIONS: tuple[str, ...] = ("LL", "LP")
RIGHT_REGIONS: tuple[str, ...] = tuple(MIRROR_REGIONS[r] for r in LEFT_REGIONS)

# Kaggle spectrogram frequencies (Hz), 100 bins per region: FFT bins 3..102 of a 200 Hz,
# 1024-point transform (0.1953125 Hz apart), rounded half-up to 2 decimals in the column names
# (3.125 is written 3.13).
SPEC_FREQ_STEP_HZ = EEG_RATE_HZ / 1024
SPEC_FREQS_HZ: tuple[float, ...] = tuple(
    math.floor((i + 3) * SPEC_FREQ_STEP_HZ * 100 + 0.5) / 100 for i in range(100)
)
SPEC_COLUMNS: tuple[str, ...] = tuple(f"{r}_{f:g}" for r in REGIONS for f in SPEC_FREQS_HZ)
SPEC_TIME_COLUMN = "time"

CLASSES: tuple[str, ...] = ("Seizure", "LPD", "GPD", "LRDA", "GRDA", "Other")
VOTE_COLUMNS: tuple[str, ...] = (
    "seizure_vote", "lpd_vote", "gpd_vote", "lrda_vote", "grda_vote", "other_vote",
)  # fmt: skip
CONSENSUS_COLUMN = "expert_consensus"

TRAIN_COLUMNS: tuple[str, ...] = (
    "eeg_id", "eeg_sub_id", "eeg_label_offset_seconds",
    "spectrogram_id", "spectrogram_sub_id", "spectrogram_label_offset_seconds",
    "label_id", "patient_id", CONSENSUS_COLUMN, *VOTE_COLUMNS,
)  # fmt: skip
TEST_COLUMNS: tuple[str, ...] = ("spectrogram_id", "eeg_id", "patient_id")
SUBMISSION_COLUMNS: tuple[str, ...] = ("eeg_id", *VOTE_COLUMNS)

# below 5 the votes_4_<threshold-1> population would be empty
MIN_HIGH_VOTE_THRESHOLD = 5
HIGH_VOTE_THRESHOLD = 10  # rows with >= 10 votes: the expert population the hidden test resembles

# Panel size of every modality in the merged model input (frequency x time).
PANEL_H = 128
PANEL_W = 256
MODALITIES: tuple[str, ...] = ("kaggle", "eeg", "wavelet")

# Kaggle's folders.
KAGGLE_ROOT = "/kaggle"

# The real train.csv's size (measured: /work/shared/data/real/LABEL_STATS.md), the full
# competition that plans and benchmarks project to.
FULL_TRAIN_ROWS = 106_800
FULL_TRAIN_EEGS = 17_089
FULL_TRAIN_SPECTROGRAMS = 11_138
FULL_TRAIN_PATIENTS = 1_950
FULL_DEDUP_ROWS = 20_100  # distinct (eeg_id, vote vector) pairs: the ``dedup`` row mode
# Share of the real rows with at least n votes, from LABEL_STATS.md's vote percentiles
# (55 % of rows have <= 3 votes, 37 % have >= 10, the 90th percentile is 15, the maximum
# 28); between two thresholds the lower one's share is an upper bound.
FULL_VOTE_SHARE_AT_LEAST: dict[int, float] = {0: 1.0, 4: 0.45, 10: 0.37, 16: 0.10, 29: 0.0}
# Kaggle does not publish the hidden test set's size: plans assume this many test EEGs.
PLANNED_TEST_EEGS = 2_000

# Kaggle's limits for a notebook session (GPU: two T4s, 16 GB each).
KAGGLE_SESSION_HOURS = 12.0  # a session stops after 12 h
KAGGLE_WEEKLY_GPU_HOURS = 30.0  # the weekly GPU quota, counted in session hours (about 30)
KAGGLE_INFERENCE_HOURS = 9.0  # a submitted notebook must finish its rerun in 9 h
KAGGLE_WORKING_GB = 20.0  # /kaggle/working, the saved output (GB = 1e9 bytes)
KAGGLE_DISK_GB = 73.0  # the session's disk, /kaggle/temp included
KAGGLE_RAM_GB = 30.0  # about 30 GB of RAM
KAGGLE_CPU_CORES = 4
KAGGLE_T4_PER_SESSION = 2
