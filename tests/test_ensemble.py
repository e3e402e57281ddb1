"""Blending runs' OOF predictions: alignment, the two fits, the inner CV, the command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hms_kit import schema
from hms_kit.cli import main
from hms_kit.config import ConfigError
from hms_kit.ensemble import (
    BlendError,
    align_runs,
    apply_blend,
    blend_runs,
    blend_threshold,
    drop_members,
    file_sha,
    fit_logit,
    fit_simplex,
    logit_blend,
    read_blend,
    softmax,
)
from hms_kit.scoring.metric import kl_score

COLS = list(schema.VOTE_COLUMNS)


def test_softmax_gives_rows_of_probabilities_and_survives_large_logits():
    z = np.array([[0.0, 1.0, 2.0], [1000.0, 1000.0, 0.0]])
    p = softmax(z)
    assert np.allclose(p.sum(-1), 1) and np.isfinite(p).all()
    assert p[0] == pytest.approx(np.exp([0, 1, 2]) / np.exp([0, 1, 2]).sum())
    assert p[1] == pytest.approx([0.5, 0.5, 0.0])
    assert softmax(z[None])[0] == pytest.approx(p)  # the last axis, whatever the leading ones


@pytest.fixture(scope="module")
def truth() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """600 rows: true class probabilities, 10-vote targets drawn from them, 3 folds."""
    rng = np.random.default_rng(0)
    q = rng.dirichlet(np.full(6, 0.6), size=600)
    votes = np.stack([rng.multinomial(10, p) for p in q])
    targets = votes / votes.sum(axis=1, keepdims=True)
    patients = rng.integers(0, 60, size=600)
    return q, targets, patients % 3


def _write_run(
    run: Path, probs: np.ndarray, targets: np.ndarray, folds: np.ndarray, votes: int = 10
) -> Path:
    run.mkdir(parents=True)
    n = len(probs)
    oof = pd.DataFrame({"eeg_id": np.arange(n) + 1000, "eeg_sub_id": 0, "patient_id": folds})
    oof["fold"] = folds
    oof[[f"pred_{c}" for c in COLS]] = probs
    oof[[f"target_{c}" for c in COLS]] = targets
    oof["total_votes"] = votes
    oof.to_csv(run / "oof.csv", index=False)
    (run / "config.yaml").write_text(f"# {run.name}\n")
    return run


def _noisy(q: np.ndarray, seed: int, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return softmax(np.log(q + 1e-3) + rng.normal(0, scale, q.shape))


def test_logit_fit_undoes_a_temperature(truth) -> None:
    q, _, _ = truth
    soft = softmax(np.log(q + 1e-6) / 2)  # an over-smoothed model
    w, b = fit_logit(soft[None], q)
    assert w[0] == pytest.approx(2.0, rel=0.05)
    assert np.abs(b - b.mean()).max() < 0.05
    np.testing.assert_allclose(logit_blend(soft[None], w, b), q, atol=0.02)


def test_logit_blend_does_not_carry_the_fitting_folds_class_mix(tmp_path) -> None:
    """Each fold's patients lead with another class, and the member's OOF leans to the class
    mix of the folds it was trained on, as a weak model's does: the blend fitted on two folds
    and applied to the third must not shift the third towards the two folds' mix (with a
    bias pulled to 0 by only 1e-3 its inner-CV KL was 0.54, worse than the member's 0.41)."""
    rng = np.random.default_rng(0)
    folds = np.repeat(np.arange(3), 200)
    alpha = np.full((600, 6), 0.6)
    alpha[np.arange(600), folds] += 3.0  # fold k's rows lead with class k
    q = np.stack([rng.dirichlet(a) for a in alpha])
    targets = np.stack([rng.multinomial(10, p) for p in q]) / 10
    mix = np.stack([q[folds != k].mean(axis=0) for k in range(3)])  # its training folds' mix
    member = softmax(0.5 * np.log(q + 1e-6) + 0.5 * np.log(mix[folds]))
    run = _write_run(tmp_path / "member", member, targets, folds)
    s = blend_runs([run], population="all").blend["scores"]
    sharpened = logit_blend(member[None], [2.0], np.zeros(6))  # the weight alone, no bias
    assert s["blend_inner_cv"] < s["best_single"]
    assert s["blend_inner_cv"] < kl_score(targets, sharpened) + 0.02


def test_simplex_weights_prefer_the_better_run(truth) -> None:
    q, targets, _ = truth
    good, bad = _noisy(q, 1, 0.3), _noisy(q, 2, 2.0)
    w = fit_simplex(np.stack([good, bad]), targets)
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all() and w[0] > 0.7


def test_blend_beats_every_member_out_of_sample(truth, tmp_path) -> None:
    q, targets, folds = truth
    runs = [_write_run(tmp_path / f"r{i}", _noisy(q, i, 1.0), targets, folds) for i in range(3)]
    report = blend_runs(runs, population="hq")
    s = report.blend["scores"]
    assert s["blend_inner_cv"] < s["best_single"] < s["prior"]
    assert s["blend_in_sample"] <= s["blend_inner_cv"]
    for member in report.blend["runs"]:
        # leaving a member out costs something when every member carries independent signal
        assert member["blend_kl_without"] > s["blend_inner_cv"]
        assert member["config_sha"] != "missing"
    simplex = blend_runs(runs, population="all", method="simplex").blend
    assert simplex["scores"]["blend_inner_cv"] < simplex["scores"]["best_single"]
    assert sum(simplex["weights"]) == pytest.approx(1.0)


def test_runs_with_other_folds_or_no_shared_rows_are_refused(truth, tmp_path) -> None:
    q, targets, folds = truth
    a = _write_run(tmp_path / "a", q, targets, folds)
    b = _write_run(tmp_path / "b", q, targets, (folds + 1) % 3)
    with pytest.raises(BlendError, match="different folds"):
        align_runs([a, b])
    # a run on a subset of the rows: blended on the shared rows only
    c = _write_run(tmp_path / "c", q[:100], targets[:100], folds[:100])
    assert len(align_runs([a, c]).targets) == 100
    lowvote = _write_run(tmp_path / "low", q, targets, folds, votes=3)
    with pytest.raises(BlendError, match="population 'hq'"):
        blend_runs([lowvote], population="hq")


def test_blend_command_writes_blend_json(truth, tmp_path, capsys) -> None:
    q, targets, folds = truth
    runs = [_write_run(tmp_path / f"r{i}", _noisy(q, i), targets, folds) for i in range(2)]
    out = tmp_path / "blend"
    assert main(["blend", "--runs", ",".join(map(str, runs)), "--out", str(out)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("blend KL ") and "600 hq rows" in last
    blend = read_blend(out)
    assert [r["path"] for r in blend["runs"]] == [str(r) for r in runs]
    probs = np.stack([pd.read_csv(r / "oof.csv")[[f"pred_{c}" for c in COLS]] for r in runs])
    np.testing.assert_allclose(apply_blend(probs, blend).sum(axis=1), 1.0)
    assert "blend (inner CV)" in (out / "training_record.log").read_text()
    bad = tmp_path / "bad"
    assert main(["blend", "--runs", str(tmp_path / "nowhere"), "--out", str(bad)]) == 2
    assert "no OOF file" in capsys.readouterr().err


def test_blend_command_blends_on_the_runs_own_high_vote_cut(truth, tmp_path, capsys) -> None:
    """Runs trained with ``data.high_vote_threshold: 8`` (their scores.json says so) are
    blended on their >= 8-vote rows, where ``--threshold`` defaulted to 10 (no rows here);
    runs of two cuts are refused, naming both, unless ``--threshold`` names the rows."""
    q, targets, folds = truth
    runs = [_write_run(tmp_path / f"r{i}", _noisy(q, i), targets, folds, 8) for i in range(2)]
    for run in runs:
        (run / "scores.json").write_text(json.dumps({"high_vote_threshold": 8}))
    out = tmp_path / "blend"
    assert main(["blend", "--runs", ",".join(map(str, runs)), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip().endswith("600 hq rows")
    assert read_blend(out)["threshold"] == 8
    (runs[1] / "scores.json").write_text(json.dumps({"high_vote_threshold": 10}))
    args = ["blend", "--runs", ",".join(map(str, runs)), "--out", str(tmp_path / "b2")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{runs[0]} >= 8 votes, {runs[1]} >= 10" in err
    assert main([*args, "--threshold", "8"]) == 0
    assert main([*args, "--population", "all"]) == 0  # every row: no cut to agree on
    assert read_blend(tmp_path / "b2")["n_rows"] == 600
    assert blend_threshold([tmp_path / "none"]) == schema.HIGH_VOTE_THRESHOLD
    # a run gathered before scores.json recorded its cut: its config.yaml's
    (runs[1] / "scores.json").write_text(json.dumps({"kl_all": 0.5}))
    (runs[1] / "config.yaml").write_text("data:\n  high_vote_threshold: 10\n")
    with pytest.raises(ConfigError, match="other high-vote cuts"):
        blend_threshold(runs)


def test_drop_members_keeps_the_weight_sum() -> None:
    blend = {"method": "logit", "runs": [{"path": "a"}, {"path": "b"}, {"path": "c"}]}
    blend.update(weights=[0.5, 0.3, 0.2], bias=[0.0] * 6)
    kept = drop_members(blend, [0, 2])
    assert [r["path"] for r in kept["runs"]] == ["a", "c"]
    assert sum(kept["weights"]) == pytest.approx(1.0)
    assert kept["weights"][0] / kept["weights"][1] == pytest.approx(0.5 / 0.2)
    with pytest.raises(BlendError):
        drop_members(blend, [])


def _member(ids: list[int], probs: np.ndarray) -> pd.DataFrame:
    sub = pd.DataFrame({"eeg_id": ids})
    sub[COLS] = probs
    return sub


def test_combine_members_per_row_and_per_run() -> None:
    from hms_kit.predict import combine_members

    ids = [11, 12, 13]
    a = _member(ids, np.tile([0.5, 0.1, 0.1, 0.1, 0.1, 0.1], (3, 1)))
    b = _member(ids, np.tile([0.1, 0.5, 0.1, 0.1, 0.1, 0.1], (3, 1)))
    prior = np.full(6, 1 / 6)
    reports = [{"fallback_rows": []}, {"fallback_rows": [12]}, {"fallback_rows": []}]
    # no blend: runs count once each; row 12 from run a alone; the failed run c is dropped
    sub, report = combine_members([a, b, None], reports, None, prior)
    assert report == {"members_used": [0, 1], "fallback_rows": []}
    got = sub[COLS].to_numpy()
    np.testing.assert_allclose(got[0], [0.3, 0.3, 0.1, 0.1, 0.1, 0.1])
    np.testing.assert_allclose(got[1], a[COLS].to_numpy()[1])
    # a blend: weights as fitted; a row no member predicted gets the prior
    blend = {"method": "simplex", "runs": [{}, {}], "weights": [0.75, 0.25], "bias": [0] * 6}
    reports = [{"fallback_rows": [13]}, {"fallback_rows": [13]}]
    sub, report = combine_members([a, b], reports, blend, prior)
    assert report["fallback_rows"] == [13]
    got = sub[COLS].to_numpy()
    np.testing.assert_allclose(got[0], [0.4, 0.2, 0.1, 0.1, 0.1, 0.1])
    np.testing.assert_allclose(got[2], prior)
    with pytest.raises(ValueError, match="no member"):
        combine_members([None], [{}], None, prior)


def test_choose_blend_keeps_the_best_single_run_when_no_blend_beats_it(truth, tmp_path) -> None:
    from hms_kit.ensemble import choose_blend

    q, targets, folds = truth
    # the true probabilities and a uniform guess: nothing to gain from blending them
    exact = _write_run(tmp_path / "exact", q, targets, folds)
    flat = _write_run(tmp_path / "flat", np.full_like(q, 1 / 6), targets, folds)
    chosen = choose_blend([flat, exact])
    assert chosen["chosen"] == "best single" and chosen["weights"] == [0.0, 1.0]
    assert chosen["candidates"]["best single"] < min(chosen["candidates"]["logit"], 10)
    # three runs with independent errors: a blend wins
    runs = [_write_run(tmp_path / f"r{i}", _noisy(q, i, 1.0), targets, folds) for i in range(3)]
    chosen = choose_blend(runs)
    assert chosen["chosen"] in ("logit", "simplex")
    assert chosen["candidates"][chosen["chosen"]] < chosen["candidates"]["best single"]


def test_the_nested_figure_predicts_each_fold_without_its_own_targets(
    truth, tmp_path, monkeypatch
) -> None:
    """The choice between logit, simplex and the best single run is made on the same inner
    CV it is reported by, so that figure is the least of three estimates. The nested figure
    chooses and fits without the fold it scores: changing one fold's targets changes its
    predictions of the other folds and never its own."""
    from hms_kit import ensemble
    from hms_kit.ensemble import AlignedOOF, choose_blend, chosen_oof_kl, nested_cv, read_oof

    q, targets, folds = truth
    probs = np.stack([_noisy(q, i, 1.0) for i in range(3)])
    keys = pd.DataFrame({"eeg_id": np.arange(len(q))})
    aligned = AlignedOOF([], keys, probs, targets, np.full(len(q), 10), folds)
    base = nested_cv(aligned)
    moved = targets.copy()
    moved[folds == 1] = np.roll(moved[folds == 1], 1, axis=1)  # fold 1's votes scrambled
    other = nested_cv(AlignedOOF([], keys, probs, moved, aligned.votes, folds))
    np.testing.assert_array_equal(other[folds == 1], base[folds == 1])
    assert not np.allclose(other[folds != 1], base[folds != 1])
    # choose_blend reports it, and it is what the blend's OOF is read by
    runs = [_write_run(tmp_path / f"r{i}", probs[i], targets, folds) for i in range(3)]
    reads: list[Path] = []
    monkeypatch.setattr(ensemble, "read_oof", lambda run: reads.append(run) or read_oof(run))
    chosen = choose_blend(runs, nested=True)
    assert sorted(reads) == sorted(runs)  # each OOF file read once for the three fits
    nested = chosen["scores"]["chosen_nested_cv"]
    assert nested == pytest.approx(kl_score(targets, base))
    assert chosen_oof_kl(chosen) == (nested, "nested CV")
    # the inference kernel's choice leaves it out (it doubles the fits): the chosen figure
    plain = choose_blend(runs)
    assert "chosen_nested_cv" not in plain["scores"]
    assert chosen_oof_kl(plain) == (plain["candidates"][plain["chosen"]], "inner CV")
    with pytest.raises(BlendError, match="a nested CV needs 3 or more"):
        nested_cv(aligned.subset(folds < 2))


def test_zero_weight_left_falls_back_to_the_best_surviving_member() -> None:
    """issue 23 (2): the members that predicted all have weight 0 in the blend."""
    from hms_kit.predict import combine_members

    ids = [11, 12]
    runs = [_member(ids, np.tile(np.eye(6)[k] * 0.5 + 1 / 12, (2, 1))) for k in range(3)]
    blend = {
        "method": "logit",
        "runs": [{"path": "a", "oof_kl": 0.5}, {"path": "b", "oof_kl": 0.9}, {"oof_kl": 0.7}],
        "weights": [1.0, 0.0, 0.0],
        "bias": [0.3, -0.3, 0.0, 0.0, 0.1, -0.1],
    }
    reports = [{"fallback_rows": []}] * 3
    sub, _ = combine_members([None, runs[1], runs[2]], reports, blend, np.full(6, 1 / 6))
    # run c (OOF KL 0.7) alone, not softmax(bias) on every row
    np.testing.assert_allclose(sub[COLS].to_numpy(), runs[2][COLS].to_numpy())
    kept = drop_members(blend, [1, 2])
    assert kept["chosen"] == "best single" and kept["weights"] == [0.0, 1.0]
    assert "no weight" in kept["fallback"]


def _write_member(run: Path, q: np.ndarray, targets: np.ndarray, folds: np.ndarray) -> Path:
    """A train output as the infer kernel finds it: config.yaml, a checkpoint, and (``q``
    given) its oof_fold<k>.csv."""
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"# {run.name}\n")
    (run / "fold0_best.pt").write_bytes(b"")
    if q is not None:
        for k in np.unique(folds):
            rows = folds == k
            oof = pd.DataFrame({"eeg_id": np.flatnonzero(rows) + 1000, "eeg_sub_id": 0})
            oof["patient_id"], oof["fold"], oof["total_votes"] = k, k, 10
            oof[[f"pred_{c}" for c in COLS]] = q[rows]
            oof[[f"target_{c}" for c in COLS]] = targets[rows]
            oof.to_csv(run / f"oof_fold{k}.csv", index=False)
    return run


class _NoTrain:
    def read_train(self) -> pd.DataFrame:
        raise OSError("train.csv: not attached")


def test_fold_kernels_of_one_config_are_one_member_whatever_their_mount_or_wheel(tmp_path):
    """Fold kernels of one config whose config.yaml differ only in where the shared folds
    file was mounted (2024's layout against today's) and in a key a newer wheel added at its
    default are one member; another model setting is another member; a copy of a run's
    config.yaml beside its checkpoints adds no second member of the same checkpoints."""
    import yaml

    from hms_kit.config import Config, save_config, to_dict
    from hms_kit.ensemble import find_members

    def fold_kernel(name: str, fold: int, edit=None) -> Path:
        run = tmp_path / name
        (run / "checkpoints").mkdir(parents=True)
        (run / "checkpoints" / f"fold{fold}_best.pt").write_bytes(b"")
        cfg = Config()
        cfg.train.folds_file = f"/kaggle/input/{name}-mount/folds.csv"
        save_config(cfg, run / "config.yaml")
        if edit:
            d = yaml.safe_load((run / "config.yaml").read_text())
            edit(d)
            (run / "config.yaml").write_text(yaml.safe_dump(d))
        return run

    a = fold_kernel("a", 0)
    b = fold_kernel("b", 1, lambda d: d["train"].pop("grad_accum"))  # an older wheel's
    c = fold_kernel("c", 2, lambda d: d["train"]["stage1"].update(max_lr=1.0))
    seeds = fold_kernel("seeds", 0, lambda d: d["train"].update(seeds=3))
    assert to_dict(Config())["train"]["grad_accum"] == 1
    (a / "checkpoints" / "config.yaml").write_bytes((a / "config.yaml").read_bytes())
    members = find_members([a, b, c, seeds])
    assert [m.runs for m in members] == [[a, b], [c], [seeds]]
    assert len(members[0].file_shas) == 2  # what a blend.json before stop 54 names


def test_kernel_without_a_fittable_blend_still_submits(truth, tmp_path, monkeypatch) -> None:
    """issue 23 (1): a member without OOF files used to cost the submission ('runs')."""
    from hms_kit import predict as predict_mod
    from hms_kit.config import load_config
    from hms_kit.ensemble import config_identity, find_members
    from hms_kit.paths import KagglePaths
    from hms_kit.predict import predict_ensemble
    from hms_kit.runtime.infer import commit_run_problems

    q, targets, folds = truth
    paths = KagglePaths(tmp_path)
    _write_member(paths.input / "a", _noisy(q, 1, 0.5), targets, folds)
    _write_member(paths.input / "b", None, targets, folds)
    members = find_members([paths.input / "a", paths.input / "b"])
    assert [m.config_sha for m in members] == [
        config_identity(paths.input / d / "config.yaml") for d in "ab"
    ]
    ids = [7, 8, 9]
    preds = {"a": np.eye(6)[0] * 0.4 + 0.1, "b": np.eye(6)[1] * 0.4 + 0.1}
    broken: set[str] = set()

    def fake_predict_test(comp, runs, **kwargs):
        name = Path(runs[0]).name
        ok = name not in broken
        report = {"checkpoints": ["fold0_best.pt"], "predicted_with": ["x"] if ok else []}
        report.update(fallback_rows=[], sample_submission_mismatch=[])
        return _member(ids, np.tile(preds[name], (3, 1))), report

    monkeypatch.setattr(predict_mod, "predict_test", fake_predict_test)
    cfg = load_config(None)
    sub, report = predict_ensemble(_NoTrain(), members, cfg, paths)
    # member a (the only one with OOF) alone; member b its backup, with the reason it has no
    # weight: predicted, not dropped
    np.testing.assert_allclose(sub[COLS].to_numpy(), np.tile(preds["a"], (3, 1)))
    assert report["members_dropped"] == [] and report["members_used"] == [0]
    (line,) = report["members_backup"]
    assert line.startswith("member 1 (") and "have no OOF files" in line
    assert "INFO backup member 1 (" in (paths.working / "training_record.log").read_text()
    assert commit_run_problems(report) == []
    # the best member predicts nothing: the other one, and the commit run says which and why
    broken.add("a")
    sub, report = predict_ensemble(_NoTrain(), members, cfg, paths)
    np.testing.assert_allclose(sub[COLS].to_numpy(), np.tile(preds["b"], (3, 1)))
    assert report["members_used"] == [1] and len(report["members_backup"]) == 1
    (problem,) = commit_run_problems(report)
    assert "members [0] predicted nothing" in problem and str(paths.input / "a") in problem
    assert "no checkpoint predicted" in problem


def test_a_member_of_weight_zero_is_a_backup_whatever_chose_the_weights(
    truth, tmp_path, monkeypatch
) -> None:
    """A blend that chose its best single member (no fallback) leaves the other at weight 0:
    it is still predicted and fills the rows the chosen one misses, so the report lists it as
    a backup (it was in neither list), and ``members_used`` only once it carried a row."""
    import hms_kit.ensemble as ensemble_mod
    from hms_kit import predict as predict_mod
    from hms_kit.config import load_config
    from hms_kit.ensemble import find_members
    from hms_kit.paths import KagglePaths
    from hms_kit.predict import predict_ensemble

    q, targets, folds = truth
    paths = KagglePaths(tmp_path)
    runs = [_write_member(paths.input / n, _noisy(q, i, 0.5), targets, folds)
            for i, n in enumerate("ab")]  # fmt: skip
    chosen = {"method": "simplex", "weights": [1.0, 0.0], "bias": [0.0] * 6}
    chosen.update(runs=[{"path": str(r), "oof_kl": 0.5} for r in runs], chosen="best single")
    monkeypatch.setattr(ensemble_mod, "member_blend", lambda *a, **k: dict(chosen))
    ids, missed = [7, 8, 9], {"a": [9], "b": []}

    def fake_predict_test(comp, runs, **kwargs):
        name = Path(runs[0]).name
        report = {"checkpoints": ["fold0_best.pt"], "predicted_with": ["x"]}
        report.update(fallback_rows=missed[name], sample_submission_mismatch=[])
        return _member(ids, np.tile(np.eye(6)["ab".index(name)] * 0.4 + 0.1, (3, 1))), report

    monkeypatch.setattr(predict_mod, "predict_test", fake_predict_test)
    sub, report = predict_ensemble(_NoTrain(), find_members(runs), load_config(None), paths)
    (line,) = report["members_backup"]
    assert line.startswith("member 1 (") and "weight 0 (best single blend)" in line
    assert report["members_dropped"] == [] and report["members_used"] == [0, 1]
    assert sub[COLS].to_numpy().argmax(axis=1).tolist() == [0, 0, 1]  # eeg 9 from b
    missed["a"] = []
    _, report = predict_ensemble(_NoTrain(), find_members(runs), load_config(None), paths)
    assert report["members_used"] == [0] and len(report["members_backup"]) == 1


@pytest.mark.parametrize(
    ("population", "cut"), [("all_rows", 10), ("kaggle_hq", 10), ("kaggle_hq", 8)]
)
def test_the_kernels_blend_fits_the_rows_its_members_were_trained_for(
    truth, tmp_path, population, cut
) -> None:
    """Members trained for every row (MLE-bench's grader) are blended on every row, as the
    blend command does; Kaggle's members on their rows with at least their own cut of votes
    (``data.high_vote_threshold``: 9-vote rows count at 8, not at 10)."""
    from hms_kit.config import load_config, save_config
    from hms_kit.ensemble import find_members, member_blend

    q, targets, folds = truth
    runs = [_write_member(tmp_path / name, _noisy(q, seed, 0.5), targets, folds)
            for name, seed in (("a", 1), ("b", 2))]  # fmt: skip
    for i, run in enumerate(runs):
        sets = [f"target.population={population}", f"train.seed={i}"]
        save_config(load_config(None, [*sets, f"data.high_vote_threshold={cut}"]),
                    run / "config.yaml")  # fmt: skip
        for f in run.glob("oof_fold*.csv"):  # a third of the rows just below 10 votes
            oof = pd.read_csv(f)
            oof.loc[oof.index % 3 == 0, "total_votes"] = 9
            oof.to_csv(f, index=False)
    members = find_members(runs)
    assert len(members) == 2
    blend = member_blend(members, runs, tmp_path / "work")
    n_high = sum((pd.read_csv(f)["total_votes"] >= 10).sum() for f in runs[0].glob("oof_*.csv"))
    if population == "all_rows":
        assert blend["population"] == "all" and blend["n_rows"] == len(q)
    elif cut == 8:
        assert blend["population"] == "hq" and blend["n_rows"] == len(q)
        assert blend["threshold"] == 8
    else:
        assert blend["population"] == "hq" and blend["n_rows"] == n_high < len(q)
    assert all(np.isfinite(r["oof_kl"]) for r in blend["runs"])


def test_a_member_whose_training_is_unfinished_fails_the_commit_run(
    truth, tmp_path, monkeypatch
) -> None:
    """A train kernel stopped at its time limit: a fold missing (the blend falls back to one
    member) or a fold stopped part way. The commit run names the member and says what to do;
    ``predict.allow_incomplete`` submits it as it is."""
    from hms_kit import predict as predict_mod
    from hms_kit.config import load_config
    from hms_kit.ensemble import find_members
    from hms_kit.paths import KagglePaths
    from hms_kit.predict import predict_ensemble
    from hms_kit.runtime.infer import commit_run_problems

    q, targets, folds = truth
    paths = KagglePaths(tmp_path)
    a = _write_member(paths.input / "a", _noisy(q, 1, 0.5), targets, folds)
    b = _write_member(paths.input / "b", _noisy(q, 2, 0.5), targets, folds)
    ids = [7, 8, 9]

    def fake_predict_test(comp, runs, **kwargs):
        report = {"checkpoints": ["fold0_best.pt"], "predicted_with": ["x"]}
        report.update(fallback_rows=[], sample_submission_mismatch=[])
        return _member(ids, np.full((3, 6), 1 / 6)), report

    monkeypatch.setattr(predict_mod, "predict_test", fake_predict_test)
    cfg = load_config(None)
    members = find_members([a, b])
    _, report = predict_ensemble(_NoTrain(), members, cfg, paths)
    assert report["members_incomplete"] == [] and commit_run_problems(report) == []
    # b's fold 2 stopped part way, then b's fold 2 never trained
    (b / "fold2_summary.json").write_text(json.dumps({"fold": 2, "stopped": True}))
    _, report = predict_ensemble(_NoTrain(), members, cfg, paths)
    (line,) = report["members_incomplete"]
    assert line.startswith(f"member 1 ({b})") and "[2] stopped at train.time_limit_hours" in line
    (b / "oof_fold2.csv").unlink()
    (b / "fold2_summary.json").unlink()
    _, report = predict_ensemble(_NoTrain(), members, cfg, paths)
    (line,) = report["members_incomplete"]
    assert "OOF of folds [0, 1]" in line and "stopped" not in line
    (problem,) = commit_run_problems(report)
    assert problem.startswith("training unfinished (member 1 (") and "RESUME=1" in problem
    assert commit_run_problems(report, allow_incomplete=True) == []
    log = (paths.working / "training_record.log").read_text()
    assert "WARNING training unfinished: member 1 (" in log
    # a repeated run (train.seeds) whose second seed never started: its seeds' folds, no
    # average; one seed's OOF is not what its test predictions average
    seed = b / "seeds" / "seed42"
    seed.mkdir(parents=True)
    for f in b.glob("oof_fold*.csv"):
        f.rename(seed / f.name)
    (b / "seeds" / "seed43").mkdir()
    _, report = predict_ensemble(_NoTrain(), members, cfg, paths)
    (line,) = report["members_incomplete"]
    assert line == f"member 1 ({b}): OOF of its seeds, no fold every seed finished"
    # every seed reached every fold, but the last seed's fold 1 stopped part way: the
    # averaged folds are there, the stop is in the seed's summary
    for f in seed.glob("oof_fold*.csv"):
        shutil.copyfile(f, b / f.name)
    (b / "seeds" / "seed43" / "fold1_summary.json").write_text(json.dumps({"stopped": True}))
    _, report = predict_ensemble(_NoTrain(), members, cfg, paths)
    (line,) = report["members_incomplete"]
    assert "[1] stopped at train.time_limit_hours" in line
    # one member (one config, or its fold kernels): the infer kernel checks it the same way
    from hms_kit.runtime.infer import unfinished_members

    (got,) = unfinished_members([members[1]], paths, _NoTrain())
    assert got.startswith(f"member 0 ({b})") and "[1] stopped" in got
    assert unfinished_members([members[0]], paths, _NoTrain()) == []


def test_a_member_that_raises_or_a_blend_without_hashes_costs_no_other_member(
    truth, tmp_path, monkeypatch
) -> None:
    """A member whose prediction raises (a checkpoint of another kit version's family) is
    dropped naming why, and an attached blend.json whose runs carry no ``config_sha`` (hand
    written, or an older format) is passed over: both used to end the whole prediction."""
    import json

    from hms_kit import predict as predict_mod
    from hms_kit.config import load_config
    from hms_kit.ensemble import find_members
    from hms_kit.paths import KagglePaths
    from hms_kit.predict import predict_ensemble
    from hms_kit.runtime.infer import commit_run_problems

    q, targets, folds = truth
    paths = KagglePaths(tmp_path)
    for i, name in enumerate("ab"):
        _write_member(paths.input / name, _noisy(q, i, 0.5), targets, folds)
    (paths.input / "old").mkdir()
    (paths.input / "old" / "blend.json").write_text(json.dumps({
        "method": "logit", "runs": [{"path": "a"}, {"path": "b"}], "weights": [0.5, 0.5],
        "bias": [0.0] * 6,
    }))  # fmt: skip
    members = find_members([paths.input / "a", paths.input / "b"])
    ids = [7, 8, 9]
    pred_b = np.eye(6)[1] * 0.4 + 0.1

    def fake_predict_test(comp, runs, **kwargs):
        if Path(runs[0]).name == "a":
            raise ValueError("unknown model family 'eeg1d_next'")
        report = {"checkpoints": ["fold0_best.pt"], "predicted_with": ["x"]}
        report.update(fallback_rows=[], sample_submission_mismatch=[])
        return _member(ids, np.tile(pred_b, (3, 1))), report

    monkeypatch.setattr(predict_mod, "predict_test", fake_predict_test)
    sub, report = predict_ensemble(_NoTrain(), members, load_config(None), paths)
    # member b through the blend's weight for it (renormalised), not the prior
    assert report["members_used"] == [1] and report["members_failed"] == [0]
    assert (sub[COLS].to_numpy().argmax(axis=1) == 1).all()
    log = (paths.working / "training_record.log").read_text()
    assert "blend fitted on the members' OOF" in log  # not the hashless file
    (line,) = report["members_dropped"]
    assert line.startswith("member 0 (") and "unknown model family 'eeg1d_next'" in line
    (problem,) = commit_run_problems(report)  # the commit run stops, saying which and why
    assert "members [0] predicted nothing" in problem and "eeg1d_next" in problem


@pytest.mark.parametrize(
    "change, named",
    [
        (lambda b: b["weights"].__setitem__(0, -0.5), "'weights'"),
        (lambda b: b["weights"].__setitem__(1, float("nan")), "'weights'"),
        (lambda b: b.update(method="Logit"), "'method' is 'Logit'"),
        (lambda b: b.update(bias=b["bias"][:5]), "'bias'"),
        (lambda b: b.update(weights=b["weights"][:1]), "'weights' has 1 values for 2 runs"),
        (lambda b: b.update(weights=1.0), "'weights' has 1.0 values for 2 runs"),
        (lambda b: b.update(population="HQ"), "'population' is 'HQ'"),
        (lambda b: b.update(weights=[0.0, 0.0]), "not all 0"),
    ],
    ids=["negative", "nan", "Logit", "bias5", "one-weight", "scalar", "population", "zeros"],
)
def test_read_blend_checks_every_key_before_any_member_predicts(
    truth, tmp_path, real_dir, capsys, change, named
) -> None:
    """issue 23 (3): each of these used to be applied, or to fail after the members ran."""
    import json

    q, targets, folds = truth
    runs = [_write_run(tmp_path / f"r{i}", _noisy(q, i), targets, folds) for i in range(2)]
    blend = blend_runs(runs, population="all").blend
    change(blend)
    path = tmp_path / "blend.json"
    path.write_text(json.dumps(blend))
    with pytest.raises(BlendError, match=named) as err:
        read_blend(path)
    assert str(path) in str(err.value)
    out = tmp_path / "sub.csv"
    argv = ["predict", "--competition", str(real_dir), "--blend", str(path), "--out", str(out)]
    assert main(argv) == 2
    assert f"error: {path}" in capsys.readouterr().err and not out.exists()


def test_a_run_retrained_after_the_blend_is_refused(truth, tmp_path) -> None:
    q, targets, folds = truth
    runs = [_write_run(tmp_path / f"r{i}", _noisy(q, i), targets, folds) for i in range(2)]
    out = tmp_path / "blend"
    assert main(["blend", "--runs", ",".join(map(str, runs)), "--out", str(out)]) == 0
    assert read_blend(out)["runs"][1]["path"] == str(runs[1])
    # a later wheel moving a default moves a run's identity, not its file: still the run
    blend = json.loads((out / "blend.json").read_text())
    blend["runs"][1]["config_sha"] = "000000000000"
    (out / "blend.json").write_text(json.dumps(blend))
    assert read_blend(out)["runs"][1]["config_file_sha"] == file_sha(runs[1] / "config.yaml")
    (runs[1] / "config.yaml").write_text("# retrained\n")
    with pytest.raises(BlendError, match=r"runs\[1\].config_sha .* changed after the blend"):
        read_blend(out)
    # a run gone is not an error here: predict drops it and blends the others
    import shutil

    shutil.rmtree(runs[1])
    assert len(read_blend(out)["runs"]) == 2


def _oof_text(run: Path) -> str:
    return (run / "oof.csv").read_text()


@pytest.mark.parametrize("damage", ["nan", "cut", "fold"])
def test_blend_refuses_damaged_oof_naming_file_and_row(truth, tmp_path, capsys, damage) -> None:
    """issue 23 (3): NaN predictions, a partial last line, a fold without rows."""
    q, targets, folds = truth
    good = _write_run(tmp_path / "good", _noisy(q, 1), targets, folds)
    bad = _write_run(tmp_path / "bad", _noisy(q, 2), targets, folds)
    oof = pd.read_csv(bad / "oof.csv")
    if damage == "nan":
        oof.loc[7, "pred_lpd_vote"] = np.nan
        oof.to_csv(bad / "oof.csv", index=False)
        named = "line 9 (eeg_id 1007) has no value in 'pred_lpd_vote'"
    elif damage == "cut":
        text = _oof_text(bad)
        (bad / "oof.csv").write_text(text[: text.rindex(",") + 3])
        named = "line 601 is cut short"
    else:
        oof[oof["fold"] != 2].to_csv(bad / "oof.csv", index=False)
        named = "no row of fold [2] of the run's 3"
    out = tmp_path / "blend"
    assert main(["blend", "--runs", f"{good},{bad}", "--out", str(out)]) == 2
    printed = capsys.readouterr().err
    assert f"error: {bad / 'oof.csv'}" in printed
    assert named in printed, printed
    assert not (out / "blend.json").exists()


def test_blend_worse_than_its_best_member_warns_and_keeps_that_member(
    truth, tmp_path, capsys
) -> None:
    """issue 23 (3): a logit blend that loses to a member in inner CV used to be written."""
    import json

    q, targets, folds = truth
    # the exact probabilities, tiny rows count per fold: the bias fit cannot help out of sample
    exact = _write_run(tmp_path / "exact", q, targets, folds)
    out = tmp_path / "blend"
    assert main(["blend", "--runs", str(exact), "--out", str(out), "--population", "all"]) == 0
    printed = capsys.readouterr().out
    blend = json.loads((out / "blend.json").read_text())
    s = blend["scores"]
    assert s["blend_inner_cv"] > s["best_single"], s
    assert "worse than its best member" in blend["warning"]
    assert f"warning: {blend['warning']}" in printed
    assert blend["weights"] == [1.0] and blend["method"] == "simplex"
    assert blend["bias"] == [0.0] * 6 and blend["fitted"]["method"] == "logit"
