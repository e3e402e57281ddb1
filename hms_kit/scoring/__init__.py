"""Scoring in one place: Kaggle's KL metric (``metric``), the vote populations and the
target population's stages (``populations``), OOF tables and their gathering (``oof``), and
MLE-bench's windows planned per test EEG and averaged back per eeg_id (``windows``)."""
