"""The embedded default dataset: a synthetic competition in Kaggle's exact format.

``generate_competition(out_dir, n_eegs, seed)`` writes train.csv, test.csv,
sample_submission.csv and the four parquet folders, plus ``_synth/`` (outside what a kernel
reads): test_answers.csv (votes per test eeg_id), train_true_probs.csv and
test_true_probs.csv (the class probabilities each row's votes were drawn from) and
synth.json. Deterministic per seed.

Modules: ``labels`` (patients and their class tendencies, recordings, EEGs, label windows and
votes: cheap, no signal), ``signals`` (a correlated background in each recording's style, class
patterns, pattern-like artefacts), ``spectrogram`` (Kaggle-style spectrograms of a recording,
calibrated on the real pairs), ``writer`` (draws the signals and writes the files),
``realism`` (measures next to the real files', ``python -m hms_kit synth-report``),
``ceiling`` (how much of the prior-to-oracle distance a reader of the signal could close).
"""

from hms_kit.data.synth.labels import plan_competition
from hms_kit.data.synth.signals import background, class_pattern, shown_patterns
from hms_kit.data.synth.spectrogram import kaggle_spectrogram
from hms_kit.data.synth.writer import ANSWERS_DIR, SynthSummary, generate_competition

__all__ = [
    "ANSWERS_DIR",
    "SynthSummary",
    "background",
    "class_pattern",
    "generate_competition",
    "kaggle_spectrogram",
    "shown_patterns",
    "plan_competition",
]
