"""The synthetic competition's structure and labels, before any signal is drawn.

Patients have recordings; a recording has one spectrogram and one or more EEGs cut out of it;
an EEG has label windows at shifted offsets, in one to three segments that each share one
vote vector (so many rows repeat their EEG's votes, as in the real table). Votes are drawn
from Multinomial(total, p) with p the EEG's true class probabilities; the total comes from
one of two populations (1-3 votes, or the 10-28 votes of the expert panel).

Realism targets: /work/shared/data/real/LABEL_STATS.md. Everything here is cheap, so the
label table of a large competition can be planned (and tested) without drawing a signal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hms_kit import schema
from hms_kit.data.labels import _consensus

POPULATIONS = ("low", "mid", "high")
POPULATION_P = np.array([0.55, 0.08, 0.37])  # share of EEGs; rows follow (LABEL_STATS.md)
# Consensus mix of each population in schema.CLASSES order: the real table's shares of
# expert_consensus per vote population (<= 3, 4-9, >= 10 votes), corrected for the consensus
# drifting from the leading class when votes are drawn (ties go to the first class, Seizure,
# and "Other" often loses its lead to GRDA).
CLASS_MIX = {
    "low": np.array([0.314, 0.086, 0.083, 0.165, 0.227, 0.125]),
    "mid": np.array([0.19, 0.29, 0.25, 0.085, 0.02, 0.165]),
    "high": np.array([0.01, 0.18, 0.29, 0.15, 0.10, 0.28]),
}
# A patient keeps their class: each EEG shows the patient's usual class with this
# probability, else one drawn from its population's mix (real: two EEGs of one patient share
# a consensus 61 % of the time).
PATIENT_CLASS_P = 0.78
# An EEG stays in its patient's vote population with this probability; a long EEG's later
# segment switches population with SECOND_POPULATION_P (real: 8.6 % of EEGs have rows in two).
PATIENT_POPULATION_P = 0.9
SECOND_POPULATION_P = 0.6
# The classes experts confuse a class with (the "ictal-interictal-injury continuum").
NEIGHBOURS = {
    "Seizure": ("LPD", "GPD"),
    "LPD": ("GPD", "Seizure"),
    "GPD": ("LPD", "Seizure"),
    "LRDA": ("GRDA", "LPD"),
    "GRDA": ("LRDA", "Other"),
    "Other": ("GRDA", "LRDA"),
}
NAN_RUN_SHARE = 0.015  # EEGs with a NaN run across all channels (real files have both kinds)
NAN_CHANNEL_SHARE = 0.012  # EEGs with one whole channel NaN (real: 0.5 % of EEGs dropped for NaN)
MAX_ROWS_PER_EEG = 60  # caps the recording length (the real maximum, 743, is an outlier)
# ``profile="demo"`` (the default, unchanged since generator version 4) caps an EEG at 60
# label rows (<= ~400 s) and has slightly fewer EEGs per recording and more patients than the
# real table. ``profile="real"`` keeps the real long tail (EEG files up to ~3,400 s, 743 rows)
# and the real ratios of rows, EEGs, spectrograms and patients (LABEL_STATS.md): what a scale
# benchmark needs. Its random draws differ, so the same seed gives another competition.
PROFILES = ("demo", "real")
REAL_MAX_ROWS_PER_EEG = 743
# one EEG in this many is a long monitoring file (450-650 rows, like the real table's outliers,
# up to ~3,400 s), beyond what the log-normal's tail reaches in 17,089 draws
REAL_LONG_EEG_RATE = 1 / 8000
# First EEG of a recording starts here: 275 s = 300 - 25 puts its first label's spectrogram
# window at >= 0 s, and an odd start keeps spectrogram offsets even, like the EEG offsets.
EEG_START_S = 277

_ID_RANGES = {  # as large as the real ids
    "eeg": (1_000_000, 4_294_967_295),
    "spectrogram": (100_000, 2_147_483_647),
    "patient": (1, 65_535),
    "label": (1, 4_294_967_295),
}


@dataclass
class EegPlan:
    """One EEG: where it sits in its recording and its label rows.

    probs: ``(6,) float64`` true class probabilities (schema.CLASSES order); offsets:
    ``(rows,) float64`` even seconds, start of each row's 50-s window in the EEG; votes:
    ``(rows, 6) int64``; start_s: the EEG's first second in its recording; length_s: the EEG
    file's length in seconds; nan_run: a 1-20 s run of NaN on every channel (a recording
    gap, also NaN in the spectrogram rows it touches); nan_channel: index of a channel that
    is NaN throughout this EEG file, -1 for none.
    """

    eeg_id: int
    probs: np.ndarray
    offsets: np.ndarray
    votes: np.ndarray
    start_s: int = 0
    length_s: int = 0
    nan_run: bool = False
    nan_channel: int = -1


@dataclass
class RecordingPlan:
    """One recording: its spectrogram id, patient, length in seconds and EEGs."""

    spectrogram_id: int
    patient_id: int
    length_s: int = 0
    eegs: list[EegPlan] = field(default_factory=list)


def unique_ids(rng: np.random.Generator, n: int, kind: str, taken: set[int]) -> list[int]:
    """``n`` random ids in the real range of ``kind`` (eeg, spectrogram, patient, label),
    none in ``taken`` (which is updated)."""
    low, high = _ID_RANGES[kind]
    out: list[int] = []
    while len(out) < n:
        for v in rng.integers(low, high, size=n - len(out)):
            if int(v) not in taken:
                taken.add(int(v))
                out.append(int(v))
    return out


def true_probs(rng: np.random.Generator, cls: int, population: str) -> np.ndarray:
    """A true class-probability vector ``(6,) float64`` led by class index ``cls``.

    The leading class gets 0.75-1 in the low-vote population and 0.4-0.97 among the experts
    (who disagree more); most of the rest goes to one neighbouring class (Seizure/LPD,
    LPD/GPD, LRDA/GRDA...), a little to the others.
    """
    main = rng.uniform(0.75, 1.0) if population == "low" else rng.uniform(0.4, 0.97)
    rest = 1.0 - main
    p = np.zeros(len(schema.CLASSES))
    p[cls] = main
    options = NEIGHBOURS[schema.CLASSES[cls]]
    nb = schema.CLASSES.index(options[0] if rng.random() < 0.75 else options[1])
    share = rng.uniform(0.5, 0.95)
    p[nb] += rest * share
    others = [k for k in range(len(p)) if k not in (cls, nb)]
    p[others] += rest * (1 - share) * rng.dirichlet(np.full(len(others), 0.5))
    return p / p.sum()


def vote_total(rng: np.random.Generator, population: str) -> int:
    """Total votes of one row: 1-3 (low), 4-9 (mid) or 10-28 (high, mostly 12-16)."""
    if population == "low":
        return int(rng.choice([1, 2, 3], p=[0.12, 0.10, 0.78]))
    if population == "mid":
        return int(rng.integers(4, 10))
    if rng.random() < 0.06:
        return int(rng.integers(17, 29))
    return int(np.clip(round(rng.normal(13.5, 1.8)), 10, 16))


def label_offsets(rng: np.random.Generator, profile: str = "demo") -> np.ndarray:
    """``(rows,) float64`` label window starts in an EEG: 0, then steps of 2-4-6... s.

    Rows per EEG follow a rounded-up log-normal (median 3, 90th percentile ~13, as the real
    table), capped at ``MAX_ROWS_PER_EEG`` (``demo``); ``real`` caps at 743 rows, makes one EEG
    in ``1 / REAL_LONG_EEG_RATE`` a 450-650-row monitoring file and takes slightly longer
    steps, so the file durations (largest offset + 50 s) follow the real p50 58 s, p90 130 s,
    p99 318 s, max ~3,400 s.
    """
    if profile == "real":
        n = int(min(REAL_MAX_ROWS_PER_EEG, np.ceil(rng.lognormal(np.log(2.5), 1.29))))
        if rng.random() < REAL_LONG_EEG_RATE:
            n = int(rng.integers(450, 651))
        steps = 2 * rng.geometric(0.35, size=n - 1)
        return np.concatenate([[0.0], np.cumsum(steps)]).astype(np.float64)
    n = int(min(MAX_ROWS_PER_EEG, np.ceil(rng.lognormal(np.log(2.5), 1.29))))
    steps = 2 * rng.geometric(0.4, size=n - 1)
    return np.concatenate([[0.0], np.cumsum(steps)]).astype(np.float64)


@dataclass
class PatientTendency:
    """A patient's usual vote population and class (index in ``schema.CLASSES``)."""

    population: str
    cls: int


def draw_tendency(rng: np.random.Generator) -> PatientTendency:
    """A patient's population (``POPULATION_P``) and usual class (that population's mix)."""
    population = POPULATIONS[rng.choice(len(POPULATIONS), p=POPULATION_P)]
    mix = CLASS_MIX[population]
    return PatientTendency(population, int(rng.choice(len(mix), p=mix / mix.sum())))


def plan_eeg(
    rng: np.random.Generator,
    eeg_id: int,
    single_row: bool = False,
    population: str | None = None,
    patient: PatientTendency | None = None,
    profile: str = "demo",
) -> EegPlan:
    """An EEG's population, true probabilities, label windows and votes.

    single_row: one label row at offset 0 (a test EEG). population: force one of
    ``POPULATIONS``. patient: the patient's tendency (default: a new patient's): the EEG keeps
    the patient's population with ``PATIENT_POPULATION_P`` and shows the patient's class with
    ``PATIENT_CLASS_P``, else draws them afresh. profile: ``demo`` or ``real``
    (``label_offsets``).
    """
    tendency = draw_tendency(rng)
    patient = patient or tendency
    if population is None:
        keep = rng.random() < PATIENT_POPULATION_P
        population = patient.population if keep else tendency.population
    mix = CLASS_MIX[population]
    drawn = int(rng.choice(len(mix), p=mix / mix.sum()))
    own = patient.cls if patient.population == population else drawn
    cls = own if rng.random() < PATIENT_CLASS_P else drawn
    probs = true_probs(rng, cls, population)
    offsets = np.zeros(1) if single_row else label_offsets(rng, profile)
    n = len(offsets)
    # most EEGs keep one vote vector over all their windows; longer ones sometimes get 2-3,
    # and a later one sometimes comes from another vote population (re-reviewed by experts)
    n_seg = 1
    if n >= 4 and rng.random() < 0.3:
        n_seg = 3 if n >= 12 and rng.random() < 0.3 else 2
    segment = np.arange(n) * n_seg // n
    pops = [population] * n_seg
    if n_seg > 1 and rng.random() < SECOND_POPULATION_P:
        # the other population is picked in proportion to how common this class is there,
        # so a second population keeps each population's class shares
        others = [q for q in POPULATIONS if q != population]
        w = np.array([CLASS_MIX[q][cls] for q in others])
        pops[-1] = others[int(rng.choice(len(others), p=w / w.sum()))]
    seg_votes = np.stack([rng.multinomial(vote_total(rng, p), probs) for p in pops])
    return EegPlan(eeg_id=eeg_id, probs=probs, offsets=offsets, votes=seg_votes[segment])


def _eegs_per_recording(rng: np.random.Generator, profile: str = "demo") -> int:
    if profile == "real":  # real: 1.53 EEGs per spectrogram, up to 107
        return int(rng.choice([1, 2, 3, 4, 6, 12], p=[0.72, 0.18, 0.05, 0.03, 0.01, 0.01]))
    return int(rng.choice([1, 2, 3, 4, 6], p=[0.70, 0.20, 0.06, 0.03, 0.01]))


def _recordings_per_patient(rng: np.random.Generator, profile: str = "demo") -> int:
    # real EEGs per patient: median 3, mean ~8.7, 90th percentile ~19 (a long tail)
    if profile == "real":  # real spectrograms per patient: median 3, max 66
        return int(min(66, np.ceil(rng.lognormal(np.log(2.25), 1.3))))
    return int(min(60, np.ceil(rng.lognormal(np.log(2.2), 1.3))))


def place_eegs(rng: np.random.Generator, rec: RecordingPlan) -> None:
    """Lay ``rec``'s EEGs out one after another and set their start, length and the
    recording's length (in place).

    The first EEG starts at ``EEG_START_S`` + 0-18 s so that every label's spectrogram
    window starts at >= 0 s; each EEG file ends where its last label window ends (largest
    offset + 50 s), and the recording where its last spectrogram window ends (last label
    centre + 300 s), as real files do.
    """
    cursor = EEG_START_S + 2 * int(rng.integers(0, 10))
    last_centre = 0.0
    for eeg in rec.eegs:
        eeg.start_s = cursor
        eeg.length_s = int(eeg.offsets.max()) + schema.EEG_WINDOW_S
        last_centre = cursor + float(eeg.offsets.max()) + schema.EEG_WINDOW_S / 2
        cursor += eeg.length_s + 2 * int(rng.integers(0, 30))
    rec.length_s = int(last_centre + schema.SPEC_WINDOW_S / 2)


def plan_train(
    rng: np.random.Generator, n_eegs: int, taken: set[int], profile: str = "demo"
) -> list[RecordingPlan]:
    """Patients -> recordings -> EEGs -> label rows, for exactly ``n_eegs`` EEGs."""
    recordings: list[RecordingPlan] = []
    count = 0
    while count < n_eegs:
        (patient,) = unique_ids(rng, 1, "patient", taken)
        tendency = draw_tendency(rng)
        for _ in range(_recordings_per_patient(rng, profile)):
            k = min(_eegs_per_recording(rng, profile), n_eegs - count)
            if k == 0:
                break
            (spec_id,) = unique_ids(rng, 1, "spectrogram", taken)
            rec = RecordingPlan(spectrogram_id=spec_id, patient_id=patient)
            rec.eegs = [
                plan_eeg(rng, i, patient=tendency, profile=profile)
                for i in unique_ids(rng, k, "eeg", taken)
            ]
            place_eegs(rng, rec)
            recordings.append(rec)
            count += k
    _plan_nans(rng, [e for rec in recordings for e in rec.eegs])
    return recordings


def _plan_nans(rng: np.random.Generator, eegs: list[EegPlan]) -> None:
    # at least one EEG of each kind, so every competition exercises a reader's NaN handling
    n = len(eegs)
    n_run = max(1, round(NAN_RUN_SHARE * n))
    n_channel = max(1, round(NAN_CHANNEL_SHARE * n))
    for i in rng.choice(n, size=min(n, n_run), replace=False):
        eegs[i].nan_run = True
    for i in rng.choice(n, size=min(n, n_channel), replace=False):
        eegs[i].nan_channel = int(rng.integers(len(schema.SCALP_CHANNELS)))


def plan_test(rng: np.random.Generator, n_test: int, taken: set[int]) -> list[RecordingPlan]:
    """Test EEGs: each the centre 50 s of its own 600-s recording, one label row each.

    Their votes come from the expert (high-vote) population only, as in the real hidden test
    set (1/6 everywhere scored 1.09 there, see LABEL_STATS.md).
    """
    recordings = []
    start = (schema.SPEC_WINDOW_S - schema.EEG_WINDOW_S) // 2
    for _ in range(n_test):
        patient, spec_id, eeg_id = (
            unique_ids(rng, 1, kind, taken)[0] for kind in ("patient", "spectrogram", "eeg")
        )
        eeg = plan_eeg(rng, eeg_id, single_row=True, population="high")
        eeg.start_s, eeg.length_s = start, schema.EEG_WINDOW_S
        recordings.append(
            RecordingPlan(spec_id, patient, length_s=schema.SPEC_WINDOW_S, eegs=[eeg])
        )
    return recordings


def plan_competition(
    n_eegs: int, seed: int, n_test: int | None = None, profile: str = "demo"
) -> tuple[list[RecordingPlan], list[RecordingPlan]]:
    """The (train, test) recordings of ``generate_competition(n_eegs, seed, n_test, profile)``.

    The plan has its own random streams, so the same seed gives the same labels whether or
    not the signals are drawn afterwards. n_test defaults to ``max(20, n_eegs // 10)``.
    profile: ``demo`` (default) or ``real`` (the real durations and ratios, see ``PROFILES``).
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    n_test = default_n_test(n_eegs) if n_test is None else n_test
    train_ss, test_ss = np.random.SeedSequence([seed, 0]).spawn(2)
    taken: set[int] = set()  # ids unique across kinds and splits
    train = plan_train(np.random.default_rng(train_ss), n_eegs, taken, profile)
    test = plan_test(np.random.default_rng(test_ss), n_test, taken)
    return train, test


def default_n_test(n_eegs: int) -> int:
    """Test EEGs when none is asked: ``max(20, n_eegs // 10)``."""
    return max(20, n_eegs // 10)


def train_table(recordings: list[RecordingPlan], seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """train.csv (``schema.TRAIN_COLUMNS``) and the matching true probabilities.

    Returns ``(train, true_probs)``; true_probs has eeg_id, eeg_sub_id and the six vote
    column names holding the probabilities each row's votes were drawn from. Rows are sorted
    by eeg_id then eeg_sub_id; spectrogram_sub_id counts a spectrogram's rows in time order.
    """
    rows = []
    for rec in recordings:
        spec_sub = 0
        for eeg in rec.eegs:
            # the labelled centre: start + offset + 25 s in the recording = spec offset + 300 s
            spec_offsets = (
                eeg.start_s + eeg.offsets + (schema.EEG_WINDOW_S - schema.SPEC_WINDOW_S) / 2
            )
            for sub, (off, spec_off, votes) in enumerate(zip(eeg.offsets, spec_offsets, eeg.votes)):
                rows.append(
                    (eeg.eeg_id, sub, off, rec.spectrogram_id, spec_sub, spec_off)
                    + (rec.patient_id, *votes.tolist(), *eeg.probs.tolist())
                )
                spec_sub += 1
    cols = [c for c in schema.TRAIN_COLUMNS if c not in ("label_id", schema.CONSENSUS_COLUMN)]
    prob_cols = [f"p_{c}" for c in schema.VOTE_COLUMNS]
    df = pd.DataFrame(rows, columns=[*cols, *prob_cols])
    df = df.sort_values(["eeg_id", "eeg_sub_id"], kind="stable").reset_index(drop=True)
    votes = df[list(schema.VOTE_COLUMNS)].to_numpy()
    df[schema.CONSENSUS_COLUMN] = _consensus(votes)
    taken = set(df["eeg_id"]) | set(df["spectrogram_id"]) | set(df["patient_id"])
    df["label_id"] = unique_ids(np.random.default_rng([seed, 1]), len(df), "label", taken)
    train = df[list(schema.TRAIN_COLUMNS)].astype({c: "int64" for c in schema.VOTE_COLUMNS})
    truth = df[["eeg_id", "eeg_sub_id", *prob_cols]].rename(
        columns=dict(zip(prob_cols, schema.VOTE_COLUMNS))
    )
    return train, truth


def public_test_tables(recordings: list[RecordingPlan]) -> dict[str, pd.DataFrame]:
    """test.csv, sample_submission.csv, the answers (votes) and the true probabilities.

    Keys: ``test`` (schema.TEST_COLUMNS), ``sample_submission`` (1/6 everywhere, test.csv
    order), ``answers`` (eeg_id + six integer vote columns), ``true_probs``.
    """
    eegs = [(rec, rec.eegs[0]) for rec in recordings]
    test = pd.DataFrame(
        [(rec.spectrogram_id, e.eeg_id, rec.patient_id) for rec, e in eegs],
        columns=list(schema.TEST_COLUMNS),
    )
    ids = {"eeg_id": test["eeg_id"].to_numpy()}
    vote_cols = list(schema.VOTE_COLUMNS)
    uniform = np.full((len(test), len(vote_cols)), 1 / len(vote_cols))
    sample = pd.DataFrame({**ids, **dict(zip(vote_cols, uniform.T))})
    votes = np.array([e.votes[0] for _, e in eegs], dtype=np.int64).reshape(-1, len(vote_cols))
    answers = pd.DataFrame({**ids, **dict(zip(vote_cols, votes.T))})
    probs = np.array([e.probs for _, e in eegs]).reshape(-1, len(vote_cols))
    truth = pd.DataFrame({**ids, **dict(zip(vote_cols, probs.T))})
    return {"test": test, "sample_submission": sample, "answers": answers, "true_probs": truth}
