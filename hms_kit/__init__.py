"""hms_kit: a kit for Kaggle's "HMS - Harmful Brain Activity Classification".

Pipeline: data (readers, labels, synthetic competition) -> inputs (spectrograms, wavelets,
merge, augmentation, cache) -> model -> train -> evaluate -> predict -> publish (Kaggle).
"""

__version__ = "0.1.0"
