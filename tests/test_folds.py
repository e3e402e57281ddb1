"""Folds as data: the patient -> fold file, reading it back, assigning rows from it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_overrides

from hms_kit import schema
from hms_kit.cli import main
from hms_kit.config import load_config, to_dict
from hms_kit.data import Competition, DataError
from hms_kit.data.folds import (
    ROW_KEY,
    assign_folds,
    folds_sha,
    load_or_make_folds,
    patient_folds,
    read_folds_file,
    run_fingerprint,
)


@pytest.fixture(scope="module")
def comp(shared_comp) -> Competition:
    return shared_comp


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


@pytest.mark.parametrize(
    "damage", [b"", b"eeg_id,fold\n1,0\n", b'"unclosed\n1,2\n', b"\xff\xfe\x00bad"]
)
def test_a_runs_broken_folds_csv_gives_new_folds(comp, tmp_path, damage) -> None:
    rows = comp.read_train()
    made = load_or_make_folds(tmp_path, rows, 3, seed=0)
    path = tmp_path / "folds.csv"
    np.testing.assert_array_equal(load_or_make_folds(tmp_path, rows, 3, seed=0), made)
    path.write_bytes(damage)
    np.testing.assert_array_equal(load_or_make_folds(tmp_path, rows, 3, seed=0), made)
    assert pd.read_csv(path)["fold"].tolist() == made.tolist()  # and written again


def test_a_runs_folds_csv_without_every_fold_gives_new_folds(comp, tmp_path) -> None:
    rows = comp.read_train()
    made = load_or_make_folds(tmp_path, rows, 3, seed=0)
    saved = pd.read_csv(tmp_path / "folds.csv")
    saved["fold"] = np.where(made == 2, 2, -1)  # the right row keys and largest fold
    saved.to_csv(tmp_path / "folds.csv", index=False)
    np.testing.assert_array_equal(load_or_make_folds(tmp_path, rows, 3, seed=0), made)


VOTES = list(schema.VOTE_COLUMNS)
TINY = tiny_overrides(2)


def test_runs_on_one_folds_file_line_up_and_blend(
    comp, shared_folds, cnn_run, shared_cache, tmp_path, capsys
) -> None:
    """Two row modes on one shared folds file (the session's tiny CNN run, every row, and
    one on distinct (eeg_id, votes) rows): OOF per train row, scores per population, one
    folds fingerprint, and a blend of the two."""
    folds = shared_folds.path
    args = ["train", "--competition", str(comp.root), "--out", str(tmp_path / "dedup")]
    args += ["--workers", "1", "--folds-file", str(folds), "--cache", str(shared_cache)]
    for item in [*TINY, "data.row_mode=dedup"]:
        args += ["--set", item]
    assert main(args) == 0
    runs = [cnn_run.path, tmp_path / "dedup"]
    out = capsys.readouterr().out
    for printed in (out, cnn_run.printed.out):
        assert "checkpoints chosen on votes_ge_5" in printed
        assert "(golden: one >= 10-vote row per EEG)" in printed
    train = comp.read_train()
    scores = [json.loads((r / "scores.json").read_text()) for r in runs]
    for s in scores:
        assert s["complete"] and s["n_all"] == len(train)
        assert s["n_votes_le_3"] + s["n_votes_4_9"] + s["n_votes_ge_10"] == len(train)
        assert s["n_golden"] == train.loc[train[VOTES].sum(axis=1) >= 10, "eeg_id"].nunique()
    assert scores[0]["folds_sha"] == scores[1]["folds_sha"] == folds_sha(read_folds_file(folds))
    assert scores[1]["row_mode"] == "dedup"
    oofs = [pd.read_csv(r / "oof.csv") for r in runs]
    # the dedup run's predictions are mapped back to every train row, in its patient's fold
    assert sorted(oofs[1]["label_id"]) == sorted(train["label_id"])
    mapping = dict(zip(read_folds_file(folds)["patient_id"], read_folds_file(folds)["fold"]))
    assert (oofs[1]["fold"] == oofs[1]["patient_id"].map(mapping)).all()
    assert {f"logit_{c}" for c in VOTES} <= set(oofs[0].columns)
    blend = tmp_path / "blend"
    # on all rows: a small competition may hold its high-vote rows in one fold (the split
    # differs between scikit-learn versions), too few for the blend's inner CV
    args = ["blend", "--runs", ",".join(map(str, runs)), "--out", str(blend)]
    assert main([*args, "--population", "all"]) == 0
    assert json.loads((blend / "blend.json").read_text())["n_rows"] == len(train)
    # a folds file that lacks a patient is refused, naming it
    table = read_folds_file(folds)
    table.iloc[1:].to_csv(tmp_path / "short.csv", index=False)
    args = ["train", "--competition", str(comp.root), "--out", str(tmp_path / "x")]
    args += ["--folds-file", str(tmp_path / "short.csv"), *sum((["--set", t] for t in TINY), [])]
    assert main(args) == 2
    assert f"patient_id {int(table['patient_id'].iloc[0])} is not in it" in capsys.readouterr().err


def test_a_folds_file_with_an_empty_fold_is_named(comp, tmp_path, capsys) -> None:
    """issue 23 (8): an empty fold was a scikit-learn traceback."""
    from hms_kit.data.folds import folds_from_file

    rows = comp.read_train()
    patients = sorted(rows["patient_id"].unique())
    empty = tmp_path / "empty.csv"  # folds 0 and 2 only: fold 1 has no patient
    pd.DataFrame({"patient_id": patients, "fold": [0, 2] * (len(patients) // 2) + [0] * (
        len(patients) % 2)}).to_csv(empty, index=False)  # fmt: skip
    with pytest.raises(DataError, match=r"empty.csv: fold 1 is empty \(no patient\)"):
        folds_from_file(tmp_path / "a", rows, empty, 3)
    args = ["train", "--competition", str(comp.root), "--out", str(tmp_path / "run")]
    args += ["--folds-file", str(empty), "--config", "baseline", "--set", "train.n_folds=3"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "fold 1 is empty" in err and "Traceback" not in err


def test_a_folds_file_splitting_an_eeg_across_folds_is_named(comp, tmp_path) -> None:
    """issue 23 (8): one EEG's windows under two patients that the file puts in two folds."""
    from hms_kit.data.folds import folds_from_file

    rows = comp.read_train()
    patients = sorted(rows["patient_id"].unique())
    multi = rows["eeg_id"].value_counts()
    eeg = int(multi[multi > 1].index[0])
    idx = np.flatnonzero(rows["eeg_id"].to_numpy() == eeg)
    first = int(rows.loc[idx[0], "patient_id"])
    other = next(int(p) for p in patients if p != first)
    rows.loc[idx[-1], "patient_id"] = other
    table = pd.DataFrame({"patient_id": patients, "fold": np.arange(len(patients)) % 3})
    table.loc[table["patient_id"] == first, "fold"] = 0
    table.loc[table["patient_id"] == other, "fold"] = 1
    split = tmp_path / "split.csv"
    table.to_csv(split, index=False)
    with pytest.raises(DataError) as err:
        folds_from_file(tmp_path / "b", rows, split, 3)
    assert str(err.value).startswith(f"{split}: eeg_id {eeg} is split across folds")
    assert f"patient_id {first} in fold 0" in str(err.value)
    assert f"patient_id {other} in fold 1" in str(err.value)


def test_keys_added_later_change_the_fingerprint_only_away_from_their_default() -> None:
    """A run made before train.sampler, model.eeg1d.topology/chain, model.eeg1d.chain.pool
    and model.baseline existed keeps its fingerprint (its folds are not retired on resume);
    setting one changes it (model.baseline only for a baseline run: no other family reads
    it)."""
    import hashlib

    rows = pd.DataFrame({k: np.arange(6) for k in ROW_KEY})
    folds = np.array([0, 1, 2, 0, 1, 2])

    def before(cfg, drop) -> str:
        """The fingerprint as run_fingerprint wrote it before the keys existed: the config
        less ``drop(d)``'s keys."""
        d = to_dict(cfg)
        d.pop("predict")
        for k in ("folds", "time_limit_hours", "num_workers", "log_every", "fold_workers",
                  "folds_file", "seeds", "sampler"):  # fmt: skip
            d["train"].pop(k)
        d["model"].pop("baseline")
        drop(d)
        h = hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode())
        h.update(np.ascontiguousarray(rows[ROW_KEY].to_numpy(np.float64)).tobytes())
        h.update(np.ascontiguousarray(folds.astype(np.int64)).tobytes())
        return h.hexdigest()[:16]

    cfg = load_config("eeg1d")
    base = run_fingerprint(cfg, rows, folds)
    assert base == before(
        cfg, lambda d: [d["model"]["eeg1d"].pop(k) for k in ("topology", "chain")]
    )
    changed = {
        run_fingerprint(load_config("eeg1d", [o]), rows, folds)
        for o in (
            "train.sampler=per_eeg",
            "model.eeg1d.topology=chain",
            "model.eeg1d.chain.width_mult=0.5",
        )  # fmt: skip
    }
    assert base not in changed and len(changed) == 3
    # a chain run made before model.eeg1d.chain.pool existed: its chain had no pool key
    chain_sets = ["model.eeg1d.topology=chain", "model.eeg1d.chain.depth=1"]
    chain = load_config("eeg1d", chain_sets)
    old_chain = before(chain, lambda d: d["model"]["eeg1d"]["chain"].pop("pool"))
    assert run_fingerprint(chain, rows, folds) == old_chain
    sides = load_config("eeg1d", [*chain_sets, "model.eeg1d.chain.pool=sides"])
    assert run_fingerprint(sides, rows, folds) != old_chain
    # the baseline's features change a baseline run, not one of another family
    assert (
        run_fingerprint(load_config("eeg1d", ["model.baseline.morphology=true"]), rows, folds)
        == base
    )
    plain = run_fingerprint(load_config("baseline"), rows, folds)
    morph = run_fingerprint(
        load_config("baseline", ["model.baseline.morphology=true"]), rows, folds
    )
    assert plain != morph


def test_a_file_setting_moved_to_another_mount_is_the_same_model() -> None:
    """A run resumed after its weights' dataset mounts elsewhere (2024's layout against
    today's) keeps its folds: the fingerprint and the drift read the file's name."""
    from hms_kit.data.folds import config_drift

    rows = pd.DataFrame({k: np.arange(6) for k in ROW_KEY})
    folds = np.array([0, 1, 2, 0, 1, 2])
    then = load_config("default", ["model.weights=/kaggle/input/w/b0.safetensors"])
    now = load_config("default", ["model.weights=/kaggle/input/datasets/o/w/b0.safetensors"])
    other = load_config("default", ["model.weights=/kaggle/input/w/b4.safetensors"])
    assert run_fingerprint(then, rows, folds) == run_fingerprint(now, rows, folds)
    assert run_fingerprint(then, rows, folds) != run_fingerprint(other, rows, folds)
    assert config_drift(to_dict(then), now) == []
    assert config_drift(to_dict(then), other) == [
        "model.weights: 'b0.safetensors' -> 'b4.safetensors'"
    ]


def test_a_per_eeg_rows_votes_per_window_are_part_of_its_fingerprint() -> None:
    """The votes per window decide a per_eeg run's stage-2 and checkpoint rows: a run trained
    when its summed votes counted is not this one's."""
    from hms_kit.data.folds import rows_fingerprint
    from hms_kit.data.labels import VOTES_PER_WINDOW

    rows = pd.DataFrame({k: np.arange(6) for k in ROW_KEY})
    folds = np.array([0, 1, 2, 0, 1, 2])
    counted = rows.assign(**{VOTES_PER_WINDOW: [3.0, 3, 14, 3, 3, 3]})
    cfg = load_config("default", ["data.row_mode=per_eeg"])
    assert run_fingerprint(cfg, counted, folds) != run_fingerprint(cfg, rows, folds)
    assert rows_fingerprint(counted, folds) != rows_fingerprint(rows, folds)
    more = counted.assign(**{VOTES_PER_WINDOW: [3.0, 3, 15, 3, 3, 3]})
    assert rows_fingerprint(more, folds) != rows_fingerprint(counted, folds)


def test_config_drift_counts_an_added_key_only_off_its_default() -> None:
    from hms_kit.data.folds import config_drift

    cfg = load_config("eeg1d", ["model.eeg1d.topology=chain", "model.eeg1d.chain.depth=1"])
    saved = to_dict(cfg)
    assert config_drift(saved, cfg) == []
    # what an older kit saved: no stem_stride (added since), and no predict or time limit
    # changes count (they decide no model)
    older = to_dict(cfg)
    del older["model"]["eeg1d"]["chain"]["stem_stride"]
    older["predict"]["tta_flip"] = True
    older["train"]["time_limit_hours"] = 3.0
    assert config_drift(older, cfg) == []
    off = load_config("eeg1d", ["model.eeg1d.topology=chain", "model.eeg1d.chain.depth=1",
                                "model.eeg1d.chain.stem_stride=2"])  # fmt: skip
    assert config_drift(older, off) == ["model.eeg1d.chain.stem_stride: not a setting then -> 2"]
    # a default that moved shows: the older kit saved the value it trained with
    older["train"]["stage1"]["epochs"] = 99
    assert config_drift(older, cfg) == [f"train.stage1.epochs: 99 -> {cfg.train.stage1.epochs}"]
    # a setting since removed counts too
    removed = to_dict(cfg)
    removed["model"]["eeg1d"]["old_knob"] = 1
    assert config_drift(removed, cfg) == ["model.eeg1d.old_knob: 1 -> not a setting now"]
    # another family's section moved (a wheel with new eeg1d defaults): no drift for a
    # timm2d fold, a drift for an eeg1d one
    timm = load_config("default")
    moved = to_dict(timm)
    moved["model"]["eeg1d"]["widths"] = [1, 2, 3]
    moved["model"]["spec2d"]["top_db"] = 1.0
    assert config_drift(moved, timm) == []
    mine = to_dict(cfg)
    mine["model"]["eeg1d"]["widths"] = [1, 2, 3]
    assert config_drift(mine, cfg) == [
        f"model.eeg1d.widths: [1, 2, 3] -> {cfg.model.eeg1d.widths!r}"
    ]


def test_a_fold_an_older_kit_trained_is_kept_on_resume_when_only_new_keys_differ(
    shared, shared_folds, shared_cache, tmp_path
) -> None:
    """A wheel upgraded between two sessions of a run: its folds carry the fingerprint the
    older kit computed (a config without the keys added since). Resumed, the fold is kept,
    not trained again; set off its default, the added key trains the fold again (a saved
    setting that differs: ``test_config_drift_counts_an_added_key_only_off_its_default``)."""
    import torch

    from hms_kit.checkpoint import fold_checkpoint_path, load_checkpoint, save_checkpoint

    run = tmp_path / "run"
    base = ["train", "--competition", shared.root, "--out", run, "--config", "eeg1d",
            "--folds-file", shared_folds.path, "--cache", shared_cache, "--workers", 1]  # fmt: skip
    sets = [*tiny_overrides(2), "train.folds=[0]", "train.two_stage=false"]

    def train(*more: str, resume: bool = False) -> str:
        args = [*base, *(["--resume"] if resume else [])]
        for s in [*sets, *more]:
            args += ["--set", s]
        from conftest import ok, run_command

        printed = ok(run_command(*args))
        return printed.out + printed.err

    train()
    final = fold_checkpoint_path(run / "checkpoints", 0, "final")

    def as_older_kit() -> None:
        """Rewrite fold 0's files as a kit before model.eeg1d.chain and train.grad_accum
        wrote them: those keys absent, another fingerprint (the same rows and folds)."""
        for f in sorted((run / "checkpoints").glob("fold0_*.pt")):
            state = torch.load(f, weights_only=True)
            state["config"]["model"]["eeg1d"].pop("chain")
            state["config"]["train"].pop("grad_accum")
            state["fingerprint"] = "0123456789abcdef"
            save_checkpoint(state, f)  # its kind is in the state already
        summary = json.loads((run / "fold0_summary.json").read_text())
        summary["fingerprint"] = "0123456789abcdef"
        (run / "fold0_summary.json").write_text(json.dumps(summary))

    as_older_kit()
    kept = final.read_bytes()
    log = train(resume=True)
    assert "fold 0: already finished, kept" in log and final.read_bytes() == kept
    assert not (run / "stale").exists()
    # a key the older kit did not have, now set off its default: trained again
    log = train("train.grad_accum=2", resume=True)
    assert (
        "fold 0 files moved to stale/: trained with other settings: train.grad_accum: "
        "not a setting then -> 2" in log
    )
    assert load_checkpoint(final)["fingerprint"] != "0123456789abcdef"
