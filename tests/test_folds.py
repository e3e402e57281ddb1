"""Folds as data: the patient -> fold file, reading it back, assigning rows from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hms_kit.cli import main
from hms_kit.data import Competition, DataError
from hms_kit.data.folds import assign_folds, folds_sha, patient_folds, read_folds_file
from hms_kit.data.synth import generate_competition


@pytest.fixture(scope="module")
def comp(tmp_path_factory) -> Competition:
    root = tmp_path_factory.mktemp("synth") / "competition"
    generate_competition(root, n_eegs=30, seed=8, n_test=2)
    return Competition(root)


def test_folds_command_writes_one_fold_per_patient(comp, tmp_path, capsys) -> None:
    out = tmp_path / "folds.csv"
    args = ["folds", "--competition", str(comp.root), "--out", str(out), "--n-folds", "3"]
    assert main(args) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    table = read_folds_file(out)
    rows = comp.read_train()
    assert set(table["patient_id"]) == set(rows["patient_id"]) and set(table["fold"]) == {0, 1, 2}
    assert f"sha {folds_sha(table)}" in last
    folds = assign_folds(rows, table)
    assert pd.Series(folds).groupby(rows["patient_id"].to_numpy()).nunique().max() == 1
    # the same seed gives the same file
    again = tmp_path / "again.csv"
    assert main([*args[:4], str(again), "--n-folds", "3"]) == 0
    assert again.read_bytes() == out.read_bytes()


def test_bad_folds_files_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "f.csv"
    bad.write_text("patient,fold\n1,0\n")
    with pytest.raises(DataError, match="f.csv: missing column"):
        read_folds_file(bad)
    bad.write_text("patient_id,fold\n1,0\n1,1\n")
    with pytest.raises(DataError, match="patient_id 1 is listed twice"):
        read_folds_file(bad)
    table = pd.DataFrame({"patient_id": [1, 2], "fold": [0, 1]})
    rows = pd.DataFrame({"patient_id": [1, 2, 3]})
    with pytest.raises(DataError, match="patient_id 3 is not in it"):
        assign_folds(rows, table)
    with pytest.raises(ValueError, match="patient_id 5 sits in more than one fold"):
        patient_folds(pd.DataFrame({"patient_id": [5, 5]}), np.array([0, 1]))
