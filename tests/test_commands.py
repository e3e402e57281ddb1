"""Every command the README documents, run as a user types it on the session's one tiny
competition (conftest.py: ``shared``, ``shared_folds``, ``cnn_run``, ``baseline_run``),
asserting on what it prints and writes.

Where another file already drives a command end to end, this file does not run it again; the
map of README commands to the tests that run them is in ``COVERED_ELSEWHERE`` below, and
``test_every_readme_command_is_run_by_a_test`` keeps it complete.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REAL, SHARED_SYNTH, Made, ok, run_command

from hms_kit import schema
from hms_kit.cli import COMMANDS
from hms_kit.data.folds import folds_sha, read_folds_file
from hms_kit.ensemble import apply_blend

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
VOTES = list(schema.VOTE_COLUMNS)

# README commands run end to end by another test file (command -> where).
# (experiment --competition A,B: test_experiment.py::test_experiment_over_two_competitions_resumes)
COVERED_ELSEWHERE = {
    "experiment": "test_pipeline.py::test_experiment_resumes",
    "demo": "test_kernels.py::test_demo_runs_both_kernels_and_scores",
    "repredict": "test_repredict.py::test_repredicted_oof_is_what_training_with_those_views_writes",
    "bench": "test_bench.py (make bench), test_bench_scale.py (bench --scale), "
    "test_quality.py (bench --quality)",
}


def kl_by_hand(answers: pd.DataFrame, sub: pd.DataFrame) -> float:
    """Kaggle's KL(votes || submission), rows paired in order, written out again here."""
    t = answers[VOTES].to_numpy(float)
    t = t / t.sum(axis=1, keepdims=True)
    p = np.clip(sub[VOTES].to_numpy(float), 1e-15, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(t > 0, t * np.log(t / p), 0.0)
    return float(terms.sum(axis=1).mean())


def csv_rows(path: Path) -> int:
    return len(pd.read_csv(path))


# ----------------------------------------------------------------------------- data commands


def test_synth_writes_what_it_prints(shared):
    """``synth OUT --layout mlebench``: the printed counts are the files' counts."""
    line, answers, split = shared.synth.out.strip().splitlines()
    m = re.search(r"train\.csv (\d+) rows, (\d+) EEGs, (\d+) spectrograms, (\d+) patients; "
                  r"(\d+) test EEGs", line)  # fmt: skip
    assert m, line
    rows, eegs, specs, patients, tests = map(int, m.groups())
    train = shared.comp.read_train()
    assert (rows, eegs, specs, patients) == (
        len(train),
        train["eeg_id"].nunique(),
        train["spectrogram_id"].nunique(),
        train["patient_id"].nunique(),
    )
    assert eegs == 24 and tests == 6 == csv_rows(shared.root / "test.csv")
    assert len(list((shared.root / "train_eegs").glob("*.parquet"))) == eegs
    assert csv_rows(shared.root / "_synth" / "test_answers.csv") == tests
    assert answers.endswith(str(shared.root / "_synth"))
    # the MLE-bench split: the source's rows divided between public train.csv and the answers
    m = re.search(r"(\d+) train rows, (\d+) test rows \((\d+) EEGs", split)
    assert m, split
    n_train, n_test, n_eegs = map(int, m.groups())
    answers_csv = pd.read_csv(shared.split / "private" / "answers.csv")
    assert n_train == csv_rows(shared.split / "public" / "train.csv") and n_test == len(answers_csv)
    assert n_train + n_test == rows and answers_csv["eeg_id"].nunique() == n_eegs
    assert not (shared.split / "public" / "_synth").exists()  # no answers in the public half


def test_synth_keeps_a_folder_in_the_splits_place_that_is_no_split(tmp_path):
    """``synth OUT --layout mlebench`` replaced ``OUT/mlebench`` whatever it held; now only
    an earlier split (or with --overwrite), checked before anything is drawn."""
    mine = tmp_path / "mlebench" / "notes.txt"
    mine.parent.mkdir()
    mine.write_text("mine")
    bad = run_command("synth", tmp_path, *SHARED_SYNTH, "--layout", "mlebench")
    assert bad.rc == 2 and "holds no MLE-bench split" in bad.err
    assert mine.read_text() == "mine" and not (tmp_path / "source").exists()


def test_mlebench_splits_as_synth_did(shared, tmp_path):
    """``mlebench SOURCE OUT``: the same split, file for file, as ``synth --layout mlebench``."""
    out = tmp_path / "split"
    printed = ok(run_command("mlebench", shared.root, out))
    assert printed.last().startswith("MLE-bench split: ") and str(out / "public") in printed.last()
    made = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert made == sorted(
        p.relative_to(shared.split) for p in shared.split.rglob("*") if p.is_file()
    )
    for rel in made:
        assert (out / rel).read_bytes() == (shared.split / rel).read_bytes(), rel


def test_folds_prints_each_fold_of_the_file(shared, shared_folds):
    """``folds --n-folds 2``: one line per fold (patients, rows) and the file's sha."""
    table = read_folds_file(shared_folds.path)
    train = shared.comp.read_train()
    lines = shared_folds.printed.out.strip().splitlines()
    fold_of = dict(zip(table["patient_id"], table["fold"]))
    for k in (0, 1):
        rows = train[train["patient_id"].map(fold_of) == k]
        assert f"fold {k}: {rows['patient_id'].nunique()} patients, {len(rows)} rows" in lines
    assert set(table["patient_id"]) == set(train["patient_id"])
    assert lines[-1].endswith(f"2 folds, sha {folds_sha(table)})")


def test_sample_takes_per_class_rows(shared, tmp_path):
    """``sample --per-class 3 --allow-smaller``: three rows of each class, train.csv's
    columns, every row a row of train.csv."""
    out = tmp_path / "balanced_train.csv"
    train_csv = shared.root / "train.csv"
    printed = ok(run_command("sample", "--train-csv", train_csv, "--per-class", 3,
                             "--allow-smaller", "--out", out))  # fmt: skip
    sample = pd.read_csv(out)
    train = pd.read_csv(train_csv)
    counts = train["expert_consensus"].value_counts()
    expected = {c: min(3, int(counts.get(c, 0))) for c in schema.CLASSES}
    assert sample["expert_consensus"].value_counts().to_dict() == {
        c: n for c, n in expected.items() if n
    }
    assert list(sample.columns) == list(train.columns)
    assert set(sample["label_id"]) <= set(train["label_id"])
    assert printed.last() == f"wrote {len(sample)} rows to {out}"
    smallest = counts.idxmin()
    assert f"smallest class: {smallest} with {counts.min()} rows" in printed.out


def test_synth_report_with_a_probe(shared, tmp_path):
    """``synth-report COMP --probe RUN``: the realism table, written to _synth/realism.md, and
    the baseline's share of the prior-to-oracle gap, which is its OOF's KL on >= 10 votes."""
    copy = tmp_path / "competition"  # the report writes into _synth/: not the shared one
    copy.mkdir()
    for item in shared.root.iterdir():
        if item.name != "_synth":
            (copy / item.name).symlink_to(item)
    shutil.copytree(shared.root / "_synth", copy / "_synth")
    run = tmp_path / "probe"
    args = ["--label-eegs", 0, "--ceiling-eegs", 0, "--probe", run, "--set", "train.n_folds=2"]
    printed = ok(run_command("synth-report", copy, *args))
    realism = (copy / "_synth" / "realism.md").read_text()
    assert realism.startswith("| measure |") and realism.strip() in printed.out
    met = [ln.rstrip(" |").rsplit("| ", 1)[-1] for ln in realism.splitlines()[2:] if ln[:2] == "| "]
    assert f"{met.count('yes')} of {len(met)} targets met." in realism
    assert met and set(met) <= {"yes", "NO"}
    line = printed.last()
    m = re.fullmatch(
        r"difficulty: the baseline closes (-?\d+)% of the prior-to-oracle gap on (\d+) rows "
        r"with >= 10 votes \(prior ([\d.]+), oracle ([\d.]+), baseline ([\d.]+); target <= 50 %\)",
        line,
    )
    assert m, line
    closed, n, prior, oracle, model = (float(g) for g in m.groups())
    oof = pd.read_csv(run / "oof.csv")
    high = oof[oof["total_votes"] >= 10]
    assert n == len(high) > 0
    targets = high[[f"target_{c}" for c in VOTES]].set_axis(VOTES, axis=1)
    preds = high[[f"pred_{c}" for c in VOTES]].set_axis(VOTES, axis=1)
    assert model == pytest.approx(kl_by_hand(targets, preds), abs=5e-5)
    assert closed == pytest.approx(100 * (prior - model) / (prior - oracle), abs=1.5)


def _check_cache(printed, rows: int) -> None:
    """The printed entries are the folders' values.npy, their sizes add up to the total."""
    entries = re.findall(r"^(\w+): (\d+) windows, ([\d.]+) MiB at (\S+)$", printed.out, re.M)
    assert entries, printed.out
    total = 0
    for name, n, mib, path in entries:
        values = np.load(Path(path) / "values.npy", mmap_mode="r")
        assert values.shape[0] == int(n) and values.dtype == np.float16, name
        assert np.isfinite(values).all(), name
        size = (Path(path) / "values.npy").stat().st_size
        assert float(mib) == pytest.approx(size / 2**20, abs=0.05)
        total += size
    summary = next(ln for ln in printed.out.splitlines() if " rows, " in ln and "KiB" in ln)
    assert summary.startswith(f"{rows} rows, {total / 2**20:.1f} MiB")
    assert printed.last().startswith("estimated for the full competition (all rows, 106800): ")


def test_cache_on_the_synthetic_competition(shared, tmp_path):
    """``cache``: the default config's two inputs, one window per distinct label window."""
    printed = ok(run_command("cache", "--competition", shared.root, "--out", tmp_path,
                             "--workers", 1))  # fmt: skip
    train = shared.comp.read_train()
    _check_cache(printed, len(train))
    windows = {
        "kaggle": train[["spectrogram_id", "spectrogram_label_offset_seconds"]],
        "eeg": train[["eeg_id", "eeg_label_offset_seconds"]],
    }
    for name, keys in windows.items():
        assert f"{name}: {len(keys.drop_duplicates())} windows, " in printed.out


def test_cache_on_the_real_files(tmp_path):
    """``cache`` on tests/data/real (the real competition's files): 9 label rows of one EEG."""
    printed = ok(run_command("cache", "--competition", REAL, "--out", tmp_path,
                             "--workers", 1))  # fmt: skip
    _check_cache(printed, 9)
    assert "kaggle: 9 windows, " in printed.out and "eeg: 9 windows, " in printed.out


@pytest.mark.parametrize(
    ("flags", "rc", "said"),
    [
        (["--modalities", "kagle"], 2, "error: --modalities 'kagle': each one of kaggle, eeg"),
        (["--config", "eeg1d", "--modalities", "kaggle"], 2, "the eeg1d family caches"),
        (["--config", "baseline"], 0, "the baseline family reads no cache"),
    ],
)
def test_cache_refuses_what_it_would_not_build(shared, tmp_path, flags, rc, said):
    """An unknown modality ended in a traceback; ``--modalities`` for a family that caches
    its own inputs was ignored; the baseline built image panels it never reads."""
    out = tmp_path / "cache"
    printed = run_command("cache", "--competition", shared.root, "--out", out, *flags)
    assert printed.rc == rc and said in printed.err + printed.out
    assert not out.exists()


def test_figures_draws_three_figures(shared, tmp_path):
    """``figures``: three drawn figures (not blank canvases), nothing half-written."""
    import matplotlib.image as mpimg

    printed = ok(run_command("figures", "--competition", shared.root, "--out", tmp_path))
    for name in ("spectrogram.png", "eeg.png", "inputs.png"):
        assert f"wrote {tmp_path / name}" in printed.out
        img = mpimg.imread(tmp_path / name)
        assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 600
        assert np.std(img[..., :3]) > 0.05, name
    assert not list(tmp_path.glob("*.tmp*"))


# ------------------------------------------------------------------------ training and after


def _oof_line(printed) -> dict[str, float]:
    """The ``OOF KL ...`` line ``train`` prints, as {population: score}."""
    line = next(ln for ln in printed.out.splitlines() if ln.startswith("OOF KL "))
    return {label: float(v) for v, label in re.findall(r"([\d.]+) \(([^)]*)\)", line)}


@pytest.mark.parametrize("family", ["cnn", "baseline"])
def test_train_prints_the_scores_it_writes(family, shared, shared_folds, request):
    """``train`` (the default CNN, tiny; ``--config baseline``): the printed OOF line is
    scores.json, the OOF covers every train row in the shared folds file's folds."""
    run: Made = request.getfixturevalue(f"{family}_run")
    scores = json.loads((run.path / "scores.json").read_text())
    printed = _oof_line(run.printed)
    assert printed["all rows"] == pytest.approx(scores["kl_all"], abs=5e-5)
    assert printed[">= 10 votes"] == pytest.approx(scores["kl_votes_ge_10"], abs=5e-5)
    assert printed["golden: one >= 10-vote row per EEG"] == pytest.approx(
        scores["kl_golden"], abs=5e-5
    )
    assert run.printed.last() == f"run folder: {run.path}"
    assert scores["complete"] and scores["folds_sha"] == folds_sha(
        read_folds_file(shared_folds.path)
    )
    oof = pd.read_csv(run.path / "oof.csv")
    train = shared.comp.read_train()
    assert sorted(oof["label_id"]) == sorted(train["label_id"])
    table = read_folds_file(shared_folds.path)
    fold_of = dict(zip(table["patient_id"], table["fold"]))
    assert (oof["fold"] == oof["patient_id"].map(fold_of)).all()
    probs = oof[[f"pred_{c}" for c in VOTES]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    targets = oof[[f"target_{c}" for c in VOTES]].rename(columns=lambda c: c[len("target_") :])
    preds = oof[[f"pred_{c}" for c in VOTES]].rename(columns=lambda c: c[len("pred_") :])
    assert kl_by_hand(targets, preds) == pytest.approx(scores["kl_all"], rel=1e-6)
    assert sorted(p.name for p in (run.path / "checkpoints").glob("fold*_best.pt")) == [
        "fold0_best.pt",
        "fold1_best.pt",
    ]


@pytest.fixture(scope="module")
def cnn_submission(shared, cnn_run, tmp_path_factory) -> Made:
    out = tmp_path_factory.mktemp("predict") / "submission.csv"
    printed = ok(run_command("predict", "--competition", shared.root, "--run", cnn_run.path,
                             "--out", out, "--workers", 1))  # fmt: skip
    return Made(out, printed)


def test_predict_writes_one_row_per_test_eeg(shared, cnn_submission):
    """``predict --run``: both folds' checkpoints, test.csv's EEGs in sample_submission's
    order, probabilities summing to 1, none on the prior."""
    sub = pd.read_csv(cnn_submission.path)
    assert list(sub.columns) == list(schema.SUBMISSION_COLUMNS)
    sample = shared.comp.read_sample_submission()
    assert sub["eeg_id"].tolist() == sample["eeg_id"].tolist()
    np.testing.assert_allclose(sub[VOTES].sum(axis=1), 1, rtol=1e-6)
    assert sub[VOTES].std().max() > 0  # the model, not one constant row
    lines = cnn_submission.printed.out.strip().splitlines()
    assert lines[-3] == f"2 checkpoints, {len(sub)} rows, 0 rows on the prior"
    assert lines[-2] == "views: plain (2 checkpoints)"  # the run's own: default has none
    assert lines[-1] == f"wrote {cnn_submission.path}"


def test_predict_of_a_run_with_no_checkpoint_writes_nothing(shared, tmp_path):
    """``predict --run`` with a mistyped or empty run folder: an error naming it, no
    submission of the prior alone."""
    out = tmp_path / "submission.csv"
    bad = run_command("predict", "--competition", shared.root, "--run", tmp_path / "typo",
                      "--out", out)  # fmt: skip
    assert bad.rc == 2 and f"no checkpoint of {tmp_path / 'typo'} predicted" in bad.err
    assert not out.exists()


def test_predict_refuses_a_setting_it_would_not_apply(shared, cnn_run, tmp_path):
    """``predict --set predict.batch_size=8`` (a run's own setting) or ``train.seed=1``:
    an error naming the key, where it was accepted and ignored; nothing written."""
    out = tmp_path / "submission.csv"
    base = ["predict", "--competition", shared.root, "--run", cnn_run.path, "--out", out]
    for key in ("predict.batch_size=8", "train.seed=1"):
        bad = run_command(*base, "--set", key)
        assert bad.rc == 2 and f"predict does not apply {key.split('=')[0]}" in bad.err
    assert not out.exists()


def test_score_is_kaggles_kl(shared, cnn_submission, tmp_path):
    """``score``: the last line is the KL of the votes against the submission; the answers
    scored against themselves give 0."""
    answers = shared.root / "_synth" / "test_answers.csv"
    printed = ok(run_command("score", "--submission", cnn_submission.path, "--answers", answers))
    sub = pd.read_csv(cnn_submission.path).set_index("eeg_id")
    truth = pd.read_csv(answers).set_index("eeg_id")
    expected = kl_by_hand(truth, sub.loc[truth.index])
    assert float(printed.last()) == pytest.approx(expected, abs=1e-6)
    perfect = truth[VOTES].div(truth[VOTES].sum(axis=1), axis=0).reset_index()
    perfect.to_csv(tmp_path / "perfect.csv", index=False)
    printed = ok(
        run_command("score", "--submission", tmp_path / "perfect.csv", "--answers", answers)
    )
    assert float(printed.last()) == pytest.approx(0, abs=1e-6)


@pytest.fixture(scope="module")
def blend(cnn_run, baseline_run, tmp_path_factory) -> Made:
    out = tmp_path_factory.mktemp("blend")
    runs = f"{cnn_run.path},{baseline_run.path}"
    printed = ok(run_command("blend", "--runs", runs, "--out", out, "--population", "all",
                             "--method", "simplex"))  # fmt: skip
    return Made(out / "blend.json", printed)


def test_blend_prints_what_blend_json_holds(shared, cnn_run, baseline_run, blend):
    """``blend --runs A,B``: both runs in order, simplex weights summing to 1, the printed
    scores are blend.json's, the best single run is the better run's OOF."""
    fitted = json.loads(blend.path.read_text())
    assert [Path(r["path"]) for r in fitted["runs"]] == [cnn_run.path, baseline_run.path]
    assert sum(fitted["weights"]) == pytest.approx(1) and min(fitted["weights"]) >= 0
    assert fitted["n_rows"] == len(shared.comp.read_train())
    s = fitted["scores"]
    single = [
        json.loads((r / "scores.json").read_text())["kl_all"]
        for r in (cnn_run.path, baseline_run.path)
    ]
    assert s["best_single"] == pytest.approx(min(single), abs=1e-9)
    assert blend.printed.last() == (
        f"blend KL {s['blend_inner_cv']:.4f} (inner CV) | best single {s['best_single']:.4f} | "
        f"prior {s['prior']:.4f} | {fitted['n_rows']} all rows"
    )


def test_compare_prints_each_runs_kl_and_the_interval(cnn_run, baseline_run, tmp_path):
    """``compare RUN_A RUN_B --csv F``: one line per population, each run's KL as its
    scores.json holds it, B - A inside its own interval, the table written to F."""
    table = tmp_path / "compare.csv"
    printed = ok(run_command("compare", cnn_run.path, baseline_run.path, "--resamples", 200,
                             "--csv", table))  # fmt: skip
    lines = printed.out.splitlines()
    assert lines[0] == f"A = {cnn_run.path}" and lines[1] == f"B = {baseline_run.path}"
    got = pd.read_csv(table).set_index("population")
    a, b = (json.loads((r / "scores.json").read_text()) for r in (cnn_run.path, baseline_run.path))
    assert got.loc["all", "kl_a"] == pytest.approx(a["kl_all"], abs=1e-9)
    assert got.loc["all", "kl_b"] == pytest.approx(b["kl_all"], abs=1e-9)
    scored = got[got["n_rows"] > 0]  # a population with no rows has no interval
    assert (scored["low"] <= scored["diff"]).all() and (scored["diff"] <= scored["high"]).all()
    row = next(line for line in lines if line.strip().startswith("all "))
    assert f"A {a['kl_all']:.4f}" in row and f"B {b['kl_all']:.4f}" in row
    assert printed.last() == f"wrote {table}"


def test_compare_over_competitions(cnn_run, baseline_run, tmp_path):
    """``compare EXP EXP --run A:B`` (an experiment's layout: a subfolder per competition,
    a run folder per grid row) and ``compare --pairs A1:B1,A2:B2``: the same table; each
    competition's row is ``compare``'s with seed + i, the mean row their mean. Both
    "competitions" here are the shared one: the same difference, an sd of 0 over them."""
    exp = tmp_path / "exp"
    for c in ("c1", "c2"):
        (exp / c).mkdir(parents=True)
        (exp / c / "cnn").symlink_to(cnn_run.path, target_is_directory=True)
        (exp / c / "base").symlink_to(baseline_run.path, target_is_directory=True)
    csv = tmp_path / "across.csv"
    printed = ok(run_command("compare", exp, exp, "--run", "cnn:base", "--resamples", 200,
                             "--seed", 3, "--csv", csv))  # fmt: skip
    assert printed.out.splitlines()[:2] == [f"A = {exp / '<competition>' / 'cnn'}",
                                            f"B = {exp / '<competition>' / 'base'}"]  # fmt: skip
    table = pd.read_csv(csv)
    single = tmp_path / "single.csv"
    for i, c in enumerate(("c1", "c2")):
        ok(run_command("compare", cnn_run.path, baseline_run.path, "--resamples", 200,
                       "--seed", 3 + i, "--csv", single))  # fmt: skip
        alone = pd.read_csv(single)
        cols = ["population", "n_rows", "kl_a", "kl_b", "diff", "low", "high", "tie"]
        mine = table.loc[table["competition"] == c, cols].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, alone[cols])  # NaN where a population is empty
    mean = table[(table["competition"] == "mean") & (table["population"] == "all")].iloc[0]
    a = json.loads((cnn_run.path / "scores.json").read_text())["kl_all"]
    b = json.loads((baseline_run.path / "scores.json").read_text())["kl_all"]
    assert mean["kl_a"] == pytest.approx(a) and mean["diff"] == pytest.approx(b - a)
    assert mean["sd_diff"] == pytest.approx(0, abs=1e-12) and mean["competitions"] == 2
    assert mean["low"] <= mean["diff"] <= mean["high"]
    line = next(ln for ln in printed.out.splitlines() if ln.strip().startswith("mean of 2"))
    assert f"B-A {b - a:+.4f} +- 0.0000 [{mean['low']:+.4f}, {mean['high']:+.4f}]" in line
    pairs = f"{exp / 'c1' / 'cnn'}:{baseline_run.path},{exp / 'c2' / 'cnn'}:{baseline_run.path}"
    ok(run_command("compare", "--pairs", pairs, "--resamples", 200, "--seed", 3, "--csv", csv))
    by_pairs = pd.read_csv(csv)
    assert by_pairs["competition"].unique().tolist() == ["c1-cnn", "c2-cnn", "mean"]
    np.testing.assert_allclose(by_pairs["high"], table["high"])
    bad = run_command("compare", exp, exp, "--run", "cnn:nosuch")
    assert bad.rc == 2 and "nosuch" in bad.err and "Traceback" not in bad.err


def test_predict_blend_applies_the_blend_to_each_members_prediction(
    shared, blend, cnn_submission, tmp_path
):
    """``predict --blend``: each member predicted as ``predict --run`` would, the submission
    is the blend of the members' files."""
    out = tmp_path / "submission.csv"
    printed = ok(run_command("predict", "--competition", shared.root, "--blend", blend.path,
                             "--out", out, "--workers", 1))  # fmt: skip
    fitted = json.loads(blend.path.read_text())
    weighted = sum(w != 0 for w in fitted["weights"])  # a simplex blend may give one none
    assert (
        f"2 of 2 members predicted, {weighted} with weight ({tmp_path / 'submission_members'}), "
        "6 rows, 0 rows on the prior" in printed.out.replace("\n", " ")
    )
    members = [pd.read_csv(tmp_path / "submission_members" / f"member{i}.csv") for i in (0, 1)]
    # member 0 is the CNN run: the same prediction as predict --run
    alone = pd.read_csv(cnn_submission.path)
    np.testing.assert_allclose(members[0][VOTES].to_numpy(), alone[VOTES].to_numpy(), atol=1e-6)
    expected = apply_blend(np.stack([m[VOTES].to_numpy(float) for m in members]), fitted)
    sub = pd.read_csv(out)
    assert sub["eeg_id"].tolist() == shared.comp.read_sample_submission()["eeg_id"].tolist()
    np.testing.assert_allclose(sub[VOTES].to_numpy(), expected, atol=1e-6)


def test_the_readmes_mlebench_block(shared, mlebench_run, tmp_path):
    """The README's MLE-bench block on the shared split: train for ``all_rows`` (the
    baseline family, for time: conftest.mlebench_run), predict the windowed layout,
    ``score --mlebench``."""
    public, answers = shared.split / "public", shared.split / "private" / "answers.csv"
    run, sub_path = mlebench_run.path, tmp_path / "submission.csv"
    scores = json.loads((run / "scores.json").read_text())
    assert scores["target_population"] == "all_rows"
    assert _oof_line(mlebench_run.printed)["all rows, one prediction per EEG"] == pytest.approx(
        scores["kl_all_eeg_mean"], abs=5e-5
    )
    ok(run_command("predict", "--competition", public, "--run", run, "--out", sub_path,
                   "--workers", 1))  # fmt: skip
    sub = pd.read_csv(sub_path)
    assert sub["eeg_id"].tolist() == pd.read_csv(public / "test.csv")["eeg_id"].tolist()
    # one prediction per EEG, copied to each of its rows
    assert sub.groupby("eeg_id")[VOTES].nunique().max().max() == 1
    printed = ok(run_command("score", "--mlebench", "--submission", sub_path, "--answers", answers))
    truth = pd.read_csv(answers).sort_values("eeg_id", kind="stable")
    mine = sub.sort_values("eeg_id", kind="stable")
    assert float(printed.last()) == pytest.approx(kl_by_hand(truth, mine), abs=1e-6)
    # a row short: MLE-bench's grader refuses it, and so does --mlebench
    sub.iloc[1:].to_csv(tmp_path / "short.csv", index=False)
    printed = run_command("score", "--mlebench", "--submission", tmp_path / "short.csv",
                          "--answers", answers)  # fmt: skip
    assert printed.rc == 2 and printed.err.startswith("error: ") and not printed.out


# ------------------------------------------------------------------------ planning


def test_plan_prints_each_config_and_the_limit_it_breaks():
    """``plan --config eeg1d,baseline``: the table's figures are the model's, the hours say
    they are a projection, and a config made too long is named with the limit it breaks."""
    from hms_kit.config import load_config
    from hms_kit.models import build_model

    printed = ok(
        run_command("plan", "--config", "eeg1d,baseline", "--set", "train.stage1.epochs=100000")
    )
    out = printed.out
    assert "projection, assumes one T4 sustains 2.0 effective TFLOP/s" in out
    header = next(line for line in out.splitlines() if line.startswith("|  "))
    assert [c.strip() for c in header.strip("|").split("|")][1:] == [
        "eeg1d",
        "baseline",
        "ensemble",
    ]
    cells = {
        line.split("|")[1].strip(): [c.strip() for c in line.strip().strip("|").split("|")][1:]
        for line in out.splitlines()
        if line.startswith("| ")
    }
    params = sum(p.numel() for p in build_model(load_config("eeg1d")).parameters())
    assert cells["parameters (M)"][:2] == [f"{params / 1e6:.2f}", "n/a"]
    assert cells["folds x seeds"][:2] == ["3 x 1", "5 x 1"]
    assert (
        cells["stage 1: samples per epoch x epochs"][0]
        == f"{round(schema.FULL_TRAIN_ROWS * 2 / 3):,} x 100000"
    )
    assert cells["fits Kaggle's limits"] == ["no", "yes", "no"]
    assert f"- eeg1d: breaks {schema.KAGGLE_SESSION_HOURS:g} h per session" in out
    assert "- ensemble: breaks" in out and "- baseline" not in out
    bad = run_command("plan", "--config", "eeg1d,nosuch")
    assert bad.rc == 2 and "nosuch" in bad.err and "Traceback" not in bad.err


# ------------------------------------------------------------------------ the device check


@pytest.mark.slow
def test_gpu_check_tiny_writes_its_section_and_keeps_the_rest(shared, tmp_path):
    """``gpu-check --tiny`` (``make gpu-check`` on the CPU, small models): one row per
    kaggle-* config in the GPU section of --out, between its markers, the rest of the file
    kept; a config not packaged yet is named, not a crash; the JSON holds what the table
    shows. Without CUDA and without --tiny it stops with a clear error."""
    from hms_kit.cli.bench import SCALE_END, SCALE_START
    from hms_kit.config import KAGGLE_CONFIGS
    from hms_kit.tools.gpu_check import GPU_END, GPU_START

    out, js = tmp_path / "BENCHMARKS.md", tmp_path / "gpu_check.json"
    before = f"# Benchmarks\n\nkept line\n\n{SCALE_START}\nscale\n{SCALE_END}\n"
    out.write_text(f"{before}\n{GPU_START}\nan older check\n{GPU_END}\n")
    args = ["gpu-check", "--tiny", "--competition", shared.root, "--out", out, "--json", js]
    printed = ok(run_command(*args))
    text = out.read_text()
    assert text.startswith(before) and "an older check" not in text
    assert text.count(GPU_START) == text.count(GPU_END) == 1
    section = text.split(GPU_START)[1].split(GPU_END)[0]
    assert section.strip() in printed.out
    rows = {line.split("|")[1].strip(): line for line in section.splitlines()[1:]
            if line.startswith("| ") and not line.startswith("| config")}  # fmt: skip
    assert list(rows) == list(KAGGLE_CONFIGS)
    data = json.loads(js.read_text())
    assert data["tiny"] is True and [c["name"] for c in data["configs"]] == list(KAGGLE_CONFIGS)
    for name, c in zip(KAGGLE_CONFIGS, data["configs"], strict=True):
        yaml_file = REPO / "hms_kit" / "configs" / f"{name}.yaml"
        if not yaml_file.is_file():
            assert f"not packaged: hms_kit/configs/{name}.yaml" in rows[name]
            assert c["skipped"] and c["full"] is None
            continue
        assert not c["skipped"], c["skipped"]
        cells = [x.strip() for x in rows[name].strip().strip("|").split("|")]
        assert cells[2] == str(c["batch_size"]) == "2"
        assert c["model_fp32"] > 0 and c["pipeline"] > 0 and c["full"] > 0
        assert cells[8] == f"{c['full']:.1f}" and c["effective_tflops"] > 0
        assert cells[3] == cells[4] == "n/a"  # no AMP, no GPU memory on the CPU
    # plan never takes a --tiny run for a GPU's measurement
    bad = run_command("plan", "--config", "eeg1d", "--measured", js)
    assert bad.rc == 2 and "--tiny run" in bad.err and "Traceback" not in bad.err
    import torch

    if not torch.cuda.is_available():
        refused = run_command("gpu-check", "--out", tmp_path / "B2.md", "--json", tmp_path / "g")
        assert refused.rc == 2 and "needs a CUDA GPU" in refused.err and "--tiny" in refused.err
        assert not (tmp_path / "B2.md").exists()


# ------------------------------------------------------------------------ the README as a map


def _readme_commands() -> list[tuple[str, list[str]]]:
    """Each ``python -m hms_kit`` command the README shows: (command, its --flags), from the
    command table and from every ``python -m hms_kit <command>`` in the text."""
    names = {name for name, _, _ in COMMANDS}
    found = []
    for line in README.splitlines():
        m = re.match(r"\| `([a-z-]+)[ `]", line)
        if m and m.group(1) in names:
            found.append((m.group(1), re.findall(r"--[a-z][a-z-]*", line)))
    for m in re.finditer(r"python -m hms_kit ([a-z-]+)([^`\n]*)", README):
        if m.group(1) in names:
            found.append((m.group(1), re.findall(r"--[a-z][a-z-]*", m.group(2))))
    return found


def test_every_readme_command_and_flag_exists():
    """Each command and flag the README shows is in that command's ``--help``."""
    found = _readme_commands()
    assert {name for name, _ in found} >= {"synth", "train", "predict", "score", "mlebench"}
    helps: dict[str, str] = {}
    for name, flags in found:
        if name not in helps:
            with pytest.raises(SystemExit) as exit_:
                run_command(name, "--help")
            assert exit_.value.code == 0
        helps.setdefault(name, _help_text(name))
        for flag in flags:
            assert flag in helps[name], f"README: {name} {flag} is not in its --help"


def _help_text(name: str) -> str:
    from hms_kit.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[name].format_help()


def test_every_readme_command_is_run_by_a_test():
    """The README's command table holds exactly the CLI's commands, and each is run here or
    in the file ``COVERED_ELSEWHERE`` names."""
    table = {name for name, _ in _readme_commands() if f"| `{name}" in README}
    assert table | {"demo", "bench"} == {name for name, _, _ in COMMANDS}
    here = Path(__file__).read_text()
    # synth, folds and train run in conftest.py's session fixtures
    fixtures = (REPO / "tests" / "conftest.py").read_text()
    for name in table:
        ran = f'run_command("{name}"' in here or f'["{name}", "--competition"' in fixtures
        assert ran or f'run_command("{name}"' in fixtures or name in COVERED_ELSEWHERE, name
    for where in COVERED_ELSEWHERE.values():
        path = REPO / "tests" / where.split("::")[0].split(" ")[0]
        assert path.is_file(), where
        if "::" in where:
            assert f"def {where.split('::')[1]}(" in path.read_text(), where


def test_every_make_target_the_readme_names_exists():
    """Each ``make <target>`` in the README is a rule of the Makefile."""
    makefile = (REPO / "Makefile").read_text()
    rules = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    named = set(re.findall(r"\bmake ([a-z][a-z-]*)", README))
    assert {"demo", "test", "test-compat", "push-dataset", "wait", "pull", "submit"} <= named
    assert named <= rules, named - rules


def test_make_test_spreads_files_over_workers_and_test_workers_0_runs_in_one_process(tmp_path):
    """The README's ``make test`` (and test-compat): a test file per xdist worker (the fake
    Kaggle server's port), at most TEST_WORKERS of them; 0 runs pytest without xdist."""
    stamp = tmp_path / "stamp"
    stamp.touch()

    def recipe(*variables: str) -> list[str]:
        printed = subprocess.run(
            ["make", "-n", "test", "test-compat", f"STAMP={stamp}", f"COMPAT_STAMP={stamp}",
             *variables],
            cwd=REPO, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return [line for line in printed.stdout.splitlines() if "-m pytest" in line]

    default, two, serial = recipe(), recipe("TEST_WORKERS=2"), recipe("TEST_WORKERS=0")
    assert len(default) == len(two) == len(serial) == 2
    for line in default:
        assert "-n auto --maxprocesses 4 --dist loadfile" in line and '-m "not slow"' in line
    assert all("--maxprocesses 2 --dist loadfile" in line for line in two)
    assert not any(flag in line for line in serial for flag in ("-n ", "--dist"))


def test_cache_refuses_a_missing_competition(tmp_path):
    """A command's error names the folder, in one line, exit status 2."""
    printed = run_command("cache", "--competition", tmp_path / "nowhere", "--out", tmp_path / "c")
    assert printed.rc == 2 and "nowhere" in printed.err and "Traceback" not in printed.err
