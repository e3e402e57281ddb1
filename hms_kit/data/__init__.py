"""Competition data access: readers, labels, balanced sampling, the synthetic competition."""

from hms_kit.data.competition import Competition
from hms_kit.data.labels import (
    high_vote_mask,
    read_train_csv,
    select_rows,
    total_votes,
    validate_train,
    vote_targets,
)
from hms_kit.data.readers import (
    DataError,
    Spectrogram,
    eeg_window,
    nan_summary,
    read_eeg,
    read_spectrogram,
    spec_window,
)
from hms_kit.data.sampling import SamplingError, balanced_sample, class_table

__all__ = [
    "Competition",
    "DataError",
    "SamplingError",
    "Spectrogram",
    "balanced_sample",
    "class_table",
    "eeg_window",
    "high_vote_mask",
    "nan_summary",
    "read_eeg",
    "read_spectrogram",
    "read_train_csv",
    "select_rows",
    "spec_window",
    "total_votes",
    "validate_train",
    "vote_targets",
]
