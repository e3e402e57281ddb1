"""How much of the prior-to-oracle distance the signal can close at all.

The oracle predicts the probabilities each row's votes were drawn from, but the signal does
not carry them: an EEG shows its leading class's pattern at a strength drawn independently
of how sure the experts are, and its second class's pattern only half the time, when that
class has at least 0.25 (``signals.shown_patterns``). So no model of the signal reaches the
oracle. Two readers bound what one can reach:

- the *class reader* knows each EEG's leading class and predicts the mean true
  probabilities of that class's EEGs in its training rows (computable on any synthetic
  competition from ``_synth/train_true_probs.csv``);
- the *pattern reader* also knows whether, and which, second pattern the EEG shows: all the
  signal carries about the probabilities (the recording's style depends on its first EEG's
  leading class only). It needs the patterns drawn, so it is measured on a plan of the
  generator (labels and ``shown_patterns``, no signal), not on a written competition.

Both are ceilings, not models: the kit's networks must first tell the patterns apart through
backgrounds, artefacts and weak strengths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hms_kit import schema
from hms_kit.data.synth.labels import RecordingPlan, plan_competition
from hms_kit.data.synth.signals import shown_patterns
from hms_kit.scoring.metric import kl_score, votes_to_targets

NO_SECOND = -1  # a pattern reader's key when the EEG shows no second pattern


@dataclass
class GroupMeans:
    """Mean true probabilities ``(6,)`` per key (a tuple of ints) and the prediction for a
    key never seen (``fallback``)."""

    means: dict[tuple[int, ...], np.ndarray]
    fallback: np.ndarray

    def predict(self, keys: np.ndarray) -> np.ndarray:
        """``(n, 6)``: each key's mean; ``keys`` ``(n,)`` or ``(n, k)`` ints."""
        rows = np.asarray(keys).reshape(len(keys), -1)
        return np.stack([self.means.get(tuple(int(v) for v in r), self.fallback) for r in rows])


# A key's mean counts the prior as this many rows more: a class seen in one EEG would
# otherwise predict that EEG's near-zero probabilities for its other classes, and a test EEG
# of the class that leans elsewhere costs more than the prior (tiny competitions).
PRIOR_ROWS = 5.0


def group_means(keys: np.ndarray, probs: np.ndarray, prior: np.ndarray) -> GroupMeans:
    """Mean of ``probs`` ``(n, 6)`` per distinct key of ``keys`` ``(n,)`` or ``(n, k)``
    ints, pulled towards ``prior`` ``(6,)`` (the training rows' mean target) by
    ``PRIOR_ROWS``; unseen keys get ``prior``."""
    probs = np.asarray(probs, np.float64)
    overall = np.asarray(prior, np.float64)
    rows = np.asarray(keys).reshape(len(keys), -1)
    uniq, inv = np.unique(rows, axis=0, return_inverse=True)
    inv = inv.ravel()
    sums = np.zeros((len(uniq), probs.shape[1]))
    np.add.at(sums, inv, probs)
    counts = np.bincount(inv, minlength=len(uniq))[:, None]
    shrunk = (sums + PRIOR_ROWS * overall) / (counts + PRIOR_ROWS)
    return GroupMeans({tuple(int(v) for v in u): m for u, m in zip(uniq, shrunk)}, overall)


def class_reader_oof(
    true_probs: np.ndarray, targets: np.ndarray, folds: np.ndarray, fit_rows: np.ndarray
) -> np.ndarray:
    """The class reader's out-of-fold predictions ``(n, 6)``: each fold's rows get the mean
    true probabilities ``(n, 6)`` of their leading class over the other folds' ``fit_rows``
    (bool ``(n,)``, e.g. the >= 10-vote rows a stage 2 trains on), pulled towards the other
    folds' mean vote distribution (``targets`` ``(n, 6)``, all rows): their prior, which a
    class absent from their ``fit_rows`` gets (every class, where they hold none)."""
    leading = true_probs.argmax(axis=1)
    out = np.zeros_like(true_probs, dtype=np.float64)
    for k in np.unique(folds):
        fit = fit_rows & (folds != k)
        held = folds == k
        prior = targets[folds != k].mean(axis=0)
        if not fit.any():  # a tiny competition: nothing of the kind to learn a class from
            out[held] = prior
            continue
        out[held] = group_means(leading[fit], true_probs[fit], prior).predict(leading[held])
    return out


def _plan_rows(
    recordings: list[RecordingPlan], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per label row of ``recordings``: true probabilities ``(n, 6)``, votes ``(n, 6)``, the
    pattern reader's key ``(n, 2)`` (leading class, shown second class or ``NO_SECOND``) and
    the patient id ``(n,)``; the shown patterns drawn once per EEG, as the writer does."""
    probs, votes, keys, patients = [], [], [], []
    for rec in recordings:
        for eeg in rec.eegs:
            order = np.argsort(eeg.probs)[::-1]
            shown = shown_patterns(rng, eeg.probs)
            second = int(order[1]) if schema.CLASSES[order[1]] in shown else NO_SECOND
            for v in eeg.votes:
                probs.append(eeg.probs)
                votes.append(v)
                keys.append((int(order[0]), second))
                patients.append(rec.patient_id)
    return np.array(probs), np.array(votes), np.array(keys), np.array(patients)


def reader_ceiling(
    n_eegs: int = 20000, seed: int = 0, threshold: int = schema.HIGH_VOTE_THRESHOLD
) -> pd.DataFrame:
    """The two readers on a plan of ``n_eegs`` EEGs of ``seed`` (train rows) and as many test
    EEGs: fitted on half the train patients' rows with >= ``threshold`` votes, scored on the
    other half's such rows (``rows = "train"``, as the OOF tables read) and on the test rows
    (``"test"``, all >= 10 votes). One row per (rows, predictor) with ``predictor`` in prior
    (the fitted half's mean target over all its rows), class reader, pattern reader, oracle;
    ``kl`` and ``closed`` (share of the prior-to-oracle distance)."""
    train, test = plan_competition(n_eegs, seed, n_test=n_eegs)
    rng = np.random.default_rng([seed, 7])
    probs, votes, keys, patients = _plan_rows(train, rng)
    fit_half = np.isin(patients, np.unique(patients)[::2])
    targets = votes_to_targets(votes)
    prior = targets[fit_half].mean(axis=0)
    fit = fit_half & (votes.sum(axis=1) >= threshold)
    by_class = group_means(keys[fit, 0], probs[fit], prior)
    by_pattern = group_means(keys[fit], probs[fit], prior)
    t_probs, t_votes, t_keys, _ = _plan_rows(test, rng)
    scored = {
        "train": (~fit_half & (votes.sum(axis=1) >= threshold), targets, probs, keys),
        "test": (np.ones(len(t_votes), bool), votes_to_targets(t_votes), t_probs, t_keys),
    }
    rows = []
    for name, (mask, t, p, k) in scored.items():
        t, p, k = t[mask], p[mask], k[mask]
        kl = {
            "prior": kl_score(t, np.tile(prior, (len(t), 1))),
            "class reader": kl_score(t, by_class.predict(k[:, 0])),
            "pattern reader": kl_score(t, by_pattern.predict(k)),
            "oracle": kl_score(t, p),
        }
        gap = kl["prior"] - kl["oracle"]
        rows += [
            {
                "rows": name,
                "n": len(t),
                "predictor": who,
                "kl": v,
                "closed": (kl["prior"] - v) / gap,
            }
            for who, v in kl.items()
        ]
    return pd.DataFrame(rows)


def ceiling_markdown(
    table: pd.DataFrame, n_eegs: int, seed: int, threshold: int = schema.HIGH_VOTE_THRESHOLD
) -> str:
    """:func:`reader_ceiling`'s table (of ``n_eegs``, ``seed`` and ``threshold``) as Markdown:
    KL and share of the prior-to-oracle distance closed per predictor, on the held-out train
    rows and the test rows."""
    lines = [
        f"What the signal can give (a plan of {n_eegs} EEGs, seed {seed}; rows with >= "
        f"{threshold} votes):",
        "",
        "| predictor | train KL | train closed | test KL | test closed |",
        "|---|---|---|---|---|",
    ]
    for who, g in table.groupby("predictor", sort=False):
        r = g.set_index("rows")
        lines.append(
            f"| {who} | {r.at['train', 'kl']:.3f} | {r.at['train', 'closed']:.0%} "
            f"| {r.at['test', 'kl']:.3f} | {r.at['test', 'closed']:.0%} |"
        )
    return "\n".join(lines) + "\n"
