"""What the signal can give (issue 21 item 5): the class and pattern readers' ceilings."""

from __future__ import annotations

import numpy as np
import pytest

from hms_kit.data.synth import ceiling
from hms_kit.data.synth.ceiling import class_reader_oof, group_means, reader_ceiling


def test_group_means_pull_each_key_towards_the_prior_and_give_unseen_keys_the_prior():
    probs = np.array([[0.8, 0.2], [0.6, 0.4], [0.1, 0.9]])
    prior = np.array([0.5, 0.5])
    g = group_means(np.array([3, 3, 7]), probs, prior)
    k = ceiling.PRIOR_ROWS
    assert g.means[(3,)] == pytest.approx((probs[0] + probs[1] + k * prior) / (2 + k))
    assert g.means[(7,)] == pytest.approx((probs[2] + k * prior) / (1 + k))
    got = g.predict(np.array([7, 5, 3]))
    assert got[0] == pytest.approx(g.means[(7,)]) and got[1] == pytest.approx(prior)
    # two-column keys: (leading class, second pattern shown)
    pairs = group_means(np.array([[0, 1], [0, -1], [0, 1]]), probs, prior)
    assert set(pairs.means) == {(0, 1), (0, -1)}
    assert pairs.predict(np.array([[0, -1]]))[0] == pytest.approx((probs[1] + k * prior) / (1 + k))


def test_class_reader_oof_fits_each_fold_on_the_other_folds_rows_of_its_kind():
    # leading classes 0, 0, 1, 1, 0; fold 0 holds rows 0-1, fold 1 rows 2-4
    true = np.array([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8], [0.4, 0.6], [0.5, 0.1]])
    true[4] = [0.6, 0.4]
    targets = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])
    folds = np.array([0, 0, 1, 1, 1])
    fit = np.array([True, True, True, True, False])  # row 4: too few votes to fit on
    got = class_reader_oof(true, targets, folds, fit)
    k = ceiling.PRIOR_ROWS
    prior1 = targets[2:].mean(axis=0)  # fold 0 is predicted from fold 1's rows
    assert got[0] == pytest.approx(got[1])
    # fold 1 holds no row led by class 0 to fit on: rows 0-1 get fold 1's prior
    assert got[0] == pytest.approx(prior1)
    prior0 = targets[:2].mean(axis=0)
    assert got[4] == pytest.approx((true[0] + true[1] + k * prior0) / (2 + k))
    assert got[2] == pytest.approx(prior0)  # fold 0 has no class-1 row
    # fold 0 holds no row to fit on: fold 1's rows get fold 0's prior, every class
    none = class_reader_oof(true, targets, folds, np.array([False, False, True, True, True]))
    assert none[2:] == pytest.approx(np.tile(prior0, (3, 1)))
    assert none[0] == pytest.approx((true[4] + k * prior1) / (1 + k))  # row 4 fits now


def test_reader_ceiling_sits_between_the_prior_and_the_oracle_and_the_patterns_add_to_the_class():
    table = reader_ceiling(3000, seed=5)
    assert set(table["rows"]) == {"train", "test"}
    for rows, g in table.groupby("rows"):
        kl = g.set_index("predictor")["kl"]
        assert kl["oracle"] < kl["pattern reader"] < kl["class reader"] < kl["prior"], rows
        closed = g.set_index("predictor")["closed"]
        assert closed["prior"] == 0 and closed["oracle"] == pytest.approx(1.0)
        assert (g["n"] > 500).all()
    assert reader_ceiling(3000, seed=5).equals(table)  # a plan of the seed: the same table
    text = ceiling.ceiling_markdown(table, 3000, 5)
    assert "| class reader |" in text and "seed 5" in text
