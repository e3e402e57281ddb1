"""The kernels run locally, unchanged, against a local Kaggle tree: the demo flow on a tiny
synthetic competition (train kernel -> infer kernel -> score), and an inference kernel
with no checkpoint attached that must still write a valid submission."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import damaged_copy

from hms_kit import schema
from hms_kit.config import KAGGLE_CONFIGS, load_config
from hms_kit.data.synth import generate_competition
from hms_kit.predict import views_name
from hms_kit.tools.demo import layout_kaggle_tree, new_session, run_kernel
from hms_kit.tools.gpu_check import TINY_OVERRIDES

REPO = Path(__file__).resolve().parents[1]
TINY_YAML = """\
base: default
model: {name: test_efficientnet}
inputs: {scale: 0.25}
train:
  n_folds: 2
  batch_size: 8
  num_workers: 0
  stage1: {epochs: 1}
  stage2: {epochs: 1, min_votes: 5}
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("hms_kit-*-py3-none-any.whl")
    return found


@pytest.fixture(scope="module")
def competition(shared) -> Path:
    """The session's competition (conftest.shared: 24 EEGs, 6 test EEGs). Read only."""
    return shared.root


def test_a_session_timeout_brings_trainings_own_stop_before_it():
    from hms_kit.runtime.settings import session_limit_hours

    assert session_limit_hours(11.0, 12 * 3600) == pytest.approx(10.8)  # 10 % margin
    assert session_limit_hours(11.0, 3600) == pytest.approx(0.9)
    assert session_limit_hours(11.0, 1800) == pytest.approx(25 / 60)  # at least 5 min
    assert session_limit_hours(0.0, 3600) == pytest.approx(0.9)  # no limit: the session's
    assert session_limit_hours(2.0, 12 * 3600) == 2.0  # the config's, when earlier
    assert session_limit_hours(11.0, 400) == pytest.approx(200 / 3600)  # half, at least
    with pytest.raises(ValueError, match="HMS_TIMEOUT"):
        session_limit_hours(11.0, 0)


def test_the_train_kernel_trains_under_the_sessions_timeout(tmp_path, monkeypatch):
    """``make push-kernel TIMEOUT=3600`` fills SETTINGS' timeout: the kernel's training
    stops before Kaggle ends the session (Kaggle's own stop kills it mid-epoch)."""
    import hms_kit.data
    import hms_kit.runtime.train as runtime_train
    import hms_kit.train

    seen = {}

    def train_folds(comp, cfg, run_dir, **kwargs):
        seen["hours"] = cfg.train.time_limit_hours
        return {"complete": False}

    monkeypatch.setattr(hms_kit.train, "train_folds", train_folds)
    monkeypatch.setattr(hms_kit.train, "install_stop_handler", lambda: None)
    monkeypatch.setattr(hms_kit.data.Competition, "locate", staticmethod(lambda path: path))
    monkeypatch.setattr(runtime_train, "find_folds_file", lambda paths: None)
    monkeypatch.delenv("HMS_TIMEOUT", raising=False)
    try:
        runtime_train.run_train_kernel(tmp_path, {"config": "kaggle", "timeout": "3600"})
        assert seen["hours"] == pytest.approx(0.9)
        runtime_train.run_train_kernel(tmp_path, {"config": "kaggle"})
        assert seen["hours"] == load_config("kaggle").train.time_limit_hours
        log = (tmp_path / "working" / "training_record.log").read_text()
        assert "the session's TIMEOUT 3600 s" in log
    finally:
        from hms_kit.runlog import get_run_logger

        get_run_logger(None, console=False)


def test_a_demo_session_resumes_only_the_same_wheel_and_config(tmp_path):
    """``make demo`` again: a train kernel's earlier output is kept while the wheel and its
    config are the same (a demo stopped part way goes on), and emptied as a new Kaggle
    session's when either changed (a rebuilt wheel trains instead of scoring the older
    build's checkpoints); the infer kernel always starts empty."""
    wheel, root = tmp_path / "hms_kit-0-py3-none-any.whl", tmp_path / "kaggle_train"
    wheel.write_bytes(b"build 1")
    assert new_session(root, wheel, "base: default\n") is False  # nothing there yet
    (root / "working" / "checkpoints").mkdir(parents=True)
    (root / "working" / "checkpoints" / "fold0_best.pt").write_bytes(b"x")
    (root / "temp" / "cache").mkdir(parents=True)
    assert new_session(root, wheel, "base: default\n") is True
    assert (root / "working" / "checkpoints" / "fold0_best.pt").is_file()
    assert new_session(root, wheel, "base: seed\n") is False  # another config
    assert not (root / "working").exists() and not (root / "temp").exists()
    (root / "working").mkdir()
    (root / "working" / "oof.csv").write_text("x")
    wheel.write_bytes(b"build 2")
    assert new_session(root, wheel, "base: seed\n") is False  # a rebuilt wheel
    assert not (root / "working").exists()
    (root / "working").mkdir()
    (root / "working" / "submission.csv").write_text("x")
    assert new_session(root, wheel, "base: seed\n", resume=False) is False
    assert not (root / "working").exists()


@pytest.mark.slow  # the whole demo: two train kernels, the infer kernel, figures
def test_demo_runs_both_kernels_and_scores(wheel, tmp_path):
    # its own competition: the demo writes its realism table into _synth/
    competition = tmp_path / "competition"
    generate_competition(competition, n_eegs=24, seed=11, n_test=5)
    out = tmp_path / "demo"
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    (out / "competition").parent.mkdir(parents=True)
    (out / "competition").symlink_to(competition)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hms_kit",
            "demo",
            "--out",
            str(out),
            "--wheel",
            str(wheel),
            "--config",
            str(tmp_path / "tiny.yaml"),
            "--n-eegs",
            "24",
            "--seed",
            "11",
            "--n-test",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    last = proc.stdout.strip().splitlines()[-1]
    m = re.fullmatch(
        r"submission KL (\d+\.\d{4}) \| OOF KL (\d+\.\d{4}) \| best single OOF KL "
        r"(\d+\.\d{4}) \| prior KL (\d+\.\d{4}) \| oracle KL (\d+\.\d{4})",
        last,
    )
    assert m, last
    blend = json.loads((out / "blend" / "blend.json").read_text())
    # the blend's OOF (nested CV; with two folds the chosen candidate's inner CV) and the
    # best member's, as the last line says
    nested = blend["scores"]["chosen_nested_cv"]
    shown = nested if np.isfinite(nested) else blend["candidates"][blend["chosen"]]
    assert float(m.group(2)) == pytest.approx(shown, abs=1e-4)
    assert float(m.group(3)) == pytest.approx(blend["scores"]["best_single"], abs=1e-4)
    folds = [
        pd.read_csv(out / d / "working" / "oof.csv")
        for d in ("kaggle_train", "kaggle_train_member2")
    ]
    assert (
        folds[0].sort_values("label_id")["fold"].to_numpy()
        == folds[1].sort_values("label_id")["fold"].to_numpy()
    ).all()
    sub = pd.read_csv(out / "kaggle_infer" / "working" / "submission.csv")
    assert list(sub.columns) == list(schema.SUBMISSION_COLUMNS)
    test = pd.read_csv(competition / "test.csv")
    assert sub["eeg_id"].tolist() == pd.read_csv(competition / "sample_submission.csv")[
        "eeg_id"
    ].tolist() and len(sub) == len(test)
    assert np.allclose(sub[list(schema.VOTE_COLUMNS)].sum(axis=1), 1)
    work = out / "kaggle_train" / "working"
    for name in ("config.yaml", "oof.csv", "folds.csv", "training_record.log", "lr.png"):
        assert (work / name).is_file(), name
    assert sorted(p.name for p in (work / "checkpoints").glob("fold*_best.pt")) == [
        "fold0_best.pt",
        "fold1_best.pt",
    ]
    infer_log = (out / "kaggle_infer" / "working" / "training_record.log").read_text()
    # two members of two folds each: the CNN and the baseline, blended on their OOF
    assert infer_log.count("predicted 5 test rows with") == 4
    assert "blend fitted on the members' OOF" in infer_log
    assert (out / "kaggle_infer" / "working" / "members" / "m1" / "oof.csv").is_file()
    for name in ("spectrogram.png", "eeg.png", "inputs.png"):
        assert (out / "figures" / name).is_file()
    assert (out / "balanced_train.csv").is_file()


RERUN = {"KAGGLE_IS_COMPETITION_RERUN": "True"}


def test_infer_kernel_without_checkpoints_fails_the_commit_run_and_submits_the_prior_in_the_rerun(
    wheel, competition, tmp_path
):
    root = tmp_path / "kaggle"
    paths = layout_kaggle_tree(root, competition, wheel, TINY_YAML)
    # the commit run: a prior-only submission must not be written, so it cannot be submitted
    run_kernel(
        REPO / "kernels" / "infer.py", root, env={"KAGGLE_IS_COMPETITION_RERUN": ""}, check=False
    )
    assert not (paths.working / "submission.csv").exists()
    log = (paths.working / "training_record.log").read_text()
    assert "commit run: no checkpoint predicted (0 found)" in log
    # Kaggle's rerun with the same inputs: the prior for every row of test.csv
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    run_kernel(REPO / "kernels" / "infer.py", root, env={**RERUN, "TMPDIR": str(tmp)})
    assert not list(tmp.glob("hms_kit_*")), "the kernel left its copy of the wheel in TMPDIR"
    sub = pd.read_csv(paths.working / "submission.csv")
    expected = pd.read_csv(competition / "test.csv")["eeg_id"]
    assert sorted(sub["eeg_id"].tolist()) == sorted(expected.tolist())
    probs = sub[list(schema.VOTE_COLUMNS)].to_numpy()
    train = pd.read_csv(competition / "train.csv")[list(schema.VOTE_COLUMNS)].to_numpy(float)
    prior = (train / train.sum(axis=1, keepdims=True)).mean(axis=0)
    assert np.allclose(probs, prior[None, :], atol=1e-6)
    log = (paths.working / "training_record.log").read_text()
    assert "no usable checkpoint" in log


def test_the_rerun_writes_the_prior_first_and_survives_unreadable_model_inputs(
    wheel, competition, tmp_path, monkeypatch
):
    """The rerun on the hidden test set writes the prior before it reads any model input, and
    an attached folder that cannot be read (here: ``find_members`` raising) costs the
    models, not the submission; the commit run stops on it, naming it."""
    import hms_kit.ensemble
    from hms_kit.runtime.infer import CommitRunError, run_infer_kernel

    root = tmp_path / "kaggle"
    paths = layout_kaggle_tree(root, competition, wheel, TINY_YAML)
    written = []

    def unreadable(inputs):
        written.append((paths.working / "submission.csv").is_file())
        raise PermissionError(f"{inputs[0]}: permission denied")

    monkeypatch.setattr(hms_kit.ensemble, "find_members", unreadable)
    monkeypatch.setenv("KAGGLE_IS_COMPETITION_RERUN", "")
    with pytest.raises(CommitRunError, match="model inputs unreadable: .* permission denied"):
        run_infer_kernel(root)
    monkeypatch.setenv("KAGGLE_IS_COMPETITION_RERUN", "True")
    run_infer_kernel(root)
    assert written == [False, True]  # the rerun's prior was there before the inputs were read
    sub = pd.read_csv(paths.working / "submission.csv")
    assert sorted(sub["eeg_id"]) == sorted(pd.read_csv(competition / "test.csv")["eeg_id"])
    assert "model inputs unreadable" in (paths.working / "training_record.log").read_text()


def test_infer_kernel_without_the_wheel(competition, tmp_path):
    root = tmp_path / "kaggle"
    comp = root / "input" / "competitions" / schema.COMPETITION_SLUG
    comp.mkdir(parents=True)
    for name in ("train.csv", "test.csv", "sample_submission.csv", "test_eegs"):
        (comp / name).symlink_to(competition / name)
    (root / "working").mkdir()
    script = str(REPO / "kernels" / "infer.py")
    env = {**os.environ, "HMS_KAGGLE_ROOT": str(root), "KAGGLE_IS_COMPETITION_RERUN": ""}
    proc = subprocess.run([sys.executable, script], env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "no hms_kit-*.whl" in proc.stderr
    assert not (root / "working" / "submission.csv").exists()
    proc = subprocess.run(
        [sys.executable, script], env={**env, **RERUN}, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    sub = pd.read_csv(root / "working" / "submission.csv")
    assert sub["eeg_id"].tolist() == pd.read_csv(competition / "test.csv")["eeg_id"].tolist()
    assert np.allclose(sub[list(schema.VOTE_COLUMNS)].to_numpy(), 1 / 6)

    # a wheel that pip cannot install: the commit run fails naming it, the rerun submits 1/6
    (root / "working" / "submission.csv").unlink()
    broken = root / "input" / "datasets" / "me" / "hms-kit-wheel" / "hms_kit-0.0.0-py3-none-any.whl"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not a zip file")
    proc = subprocess.run([sys.executable, script], env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and f"pip could not install {broken}" in proc.stderr
    assert not (root / "working" / "submission.csv").exists()
    # an earlier run's file in working/ is not what this rerun wrote: replaced, not kept
    (root / "working" / "submission.csv").write_text("eeg_id,seizure_vote\n1,1.0\n")
    proc = subprocess.run(
        [sys.executable, script], env={**env, **RERUN}, capture_output=True, text=True
    )
    assert proc.returncode == 0 and "the rerun failed" in proc.stderr, proc.stderr
    sub = pd.read_csv(root / "working" / "submission.csv")
    assert len(sub) == len(pd.read_csv(competition / "test.csv"))
    assert np.allclose(sub[list(schema.VOTE_COLUMNS)].to_numpy(), 1 / 6)
    assert sorted(p.name for p in (root / "working").iterdir()) == ["submission.csv"]


def _rerun_without_wheel(root: Path, test_csv: str) -> subprocess.CompletedProcess:
    comp = root / "input" / "competitions" / schema.COMPETITION_SLUG
    comp.mkdir(parents=True)
    (comp / "test.csv").write_text(test_csv)
    env = {**os.environ, "HMS_KAGGLE_ROOT": str(root), **RERUN}
    script = str(REPO / "kernels" / "infer.py")
    return subprocess.run([sys.executable, script], env=env, capture_output=True, text=True)


def test_last_resort_reads_eeg_id_in_any_column_and_leaves_no_half_file(tmp_path):
    # eeg_id last, Windows line ends: the id keeps no line end
    proc = _rerun_without_wheel(
        tmp_path / "a", "spectrogram_id,patient_id,eeg_id\r\n1,2,30\r\n4,5,60\r\n"
    )
    assert proc.returncode == 0, proc.stderr
    sub = pd.read_csv(tmp_path / "a" / "working" / "submission.csv")
    assert sub["eeg_id"].tolist() == [30, 60]
    assert np.allclose(sub[list(schema.VOTE_COLUMNS)].to_numpy(), 1 / 6)
    # no eeg_id column: the rerun says so and leaves nothing under the real or a temporary name
    proc = _rerun_without_wheel(tmp_path / "b", "spectrogram_id,patient_id\n1,2\n")
    assert proc.returncode == 0 and "no submission.csv could be written" in proc.stderr
    assert list((tmp_path / "b" / "working").iterdir()) == []


def _train_kernel(tmp_path_factory, competition, wheel, name: str, config: str, layout: str):
    root = tmp_path_factory.mktemp(f"train_{name}")
    layout_kaggle_tree(root, competition, wheel, config, layout=layout)
    run_kernel(REPO / "kernels" / "train.py", root)
    return root / "working"


@pytest.fixture(scope="module")
def train_a(wheel, competition, tmp_path_factory) -> Path:
    """A train kernel's output (its /kaggle/working), laid out the 2024 way."""
    return _train_kernel(tmp_path_factory, competition, wheel, "a", TINY_YAML, "2024")


@pytest.fixture(scope="module")
def train_b(wheel, competition, tmp_path_factory) -> Path:
    """A second member on the same folds: another learning rate, today's layout."""
    config = TINY_YAML.replace("stage1: {epochs: 1}", "stage1: {epochs: 1, max_lr: 0.01}")
    return _train_kernel(tmp_path_factory, competition, wheel, "b", config, "current")


@pytest.mark.slow  # a second train kernel
def test_infer_kernel_blends_two_members(wheel, competition, train_a, train_b, tmp_path):
    assert (train_a / "config.yaml").read_text() != (train_b / "config.yaml").read_text()
    root = tmp_path / "infer"
    paths = layout_kaggle_tree(
        root,
        competition,
        wheel,
        TINY_YAML,
        {"hms-kit-train-a": train_a, "hms-kit-train-b": train_b},
    )
    run_kernel(REPO / "kernels" / "infer.py", root, env={"KAGGLE_IS_COMPETITION_RERUN": ""})
    log = (paths.working / "training_record.log").read_text()
    assert "blend fitted on the members' OOF" in log, log[-3000:]
    assert "member 0: 2 checkpoints" in log and "member 1: 2 checkpoints" in log
    for i in range(2):
        assert (paths.working / "members" / f"m{i}" / "oof.csv").is_file()
    sub = pd.read_csv(paths.working / "submission.csv")
    assert sorted(sub["eeg_id"]) == sorted(pd.read_csv(competition / "test.csv")["eeg_id"])
    assert np.allclose(sub[list(schema.VOTE_COLUMNS)].sum(axis=1), 1)
    assert log.count("(views: plain)") == 4  # each member's own (TINY_YAML: none)
    # a view the kernel's config.yaml writes itself is imposed on every member
    root = tmp_path / "infer_mirror"
    paths = layout_kaggle_tree(
        root,
        competition,
        wheel,
        TINY_YAML + "predict: {tta_mirror: true}\n",
        {"hms-kit-train-a": train_a, "hms-kit-train-b": train_b},
    )
    run_kernel(REPO / "kernels" / "infer.py", root, env={"KAGGLE_IS_COMPETITION_RERUN": ""})
    log = (paths.working / "training_record.log").read_text()
    assert log.count("(views: mirror)") == 4 and "(views: plain)" not in log, log[-3000:]
    mirrored = pd.read_csv(paths.working / "submission.csv")
    assert not np.allclose(mirrored[list(schema.VOTE_COLUMNS)], sub[list(schema.VOTE_COLUMNS)])


@pytest.mark.slow  # a train kernel and two runs of the infer kernel: half a minute
def test_2024_layout_train_then_a_missing_test_file(wheel, competition, train_a, tmp_path):
    """The train kernel on the 2024 mount layout; the inference kernel on today's, where one
    test EEG's parquet is gone: the commit run fails naming it, the rerun gives that row the
    prior."""
    files = sorted((competition / "test_eegs").glob("*.parquet"))
    broken = damaged_copy(
        competition, tmp_path / "competition", "test_eegs", {int(files[0].stem): None}
    )
    train_working = train_a
    assert (train_working.parent / "input" / schema.COMPETITION_SLUG / "train.csv").exists()
    assert len(list((train_working / "checkpoints").glob("fold*_best.pt"))) == 2
    root = tmp_path / "infer"
    paths = layout_kaggle_tree(root, broken, wheel, TINY_YAML, {"hms-kit-train": train_working})
    run_kernel(
        REPO / "kernels" / "infer.py", root, env={"KAGGLE_IS_COMPETITION_RERUN": ""}, check=False
    )
    assert not (paths.working / "submission.csv").exists()
    log = (paths.working / "training_record.log").read_text()
    assert f"1 rows fell back to the prior (eeg_id [{files[0].stem}])" in log
    run_kernel(REPO / "kernels" / "infer.py", root, env=RERUN)
    sub = pd.read_csv(paths.working / "submission.csv")
    assert len(sub) == len(files)
    assert np.allclose(sub[list(schema.VOTE_COLUMNS)].sum(axis=1), 1)
    log = (paths.working / "training_record.log").read_text()
    assert files[0].stem in log and "prior" in log


# ----------------------------------------------------------------------------- issue 20
# The packaged kaggle-* configs (hms_kit.config.KAGGLE_CONFIGS) through the kernels as
# `make push-kernel` pushes them: train.py with its SETTINGS line naming the config, small
# overrides (HMS_SET: the family's small model, 2 folds, one epoch a stage, batch 4) on the
# session's tiny competition and its shared folds; the infer kernel attaching all three.
MISSING_KAGGLE_CONFIGS = {
    name: f"hms_kit/configs/{name}.yaml"
    for name in KAGGLE_CONFIGS
    if not (REPO / "hms_kit" / "configs" / f"{name}.yaml").is_file()
}


def kaggle_kernel_overrides(name: str) -> list[str]:
    """Small overrides for packaged config ``name``: its family's small model (the
    gpu-check's ``TINY_OVERRIDES``), never pretrained, one seed, 2 folds, one epoch a stage
    (stage 2 on every row: on this competition's few high-vote EEGs the per-EEG sampler can
    draw a one-row batch, which eeg1d's batch-normed head refuses), batch 4, no loader
    workers; its inputs untouched."""
    family = load_config(name).model.family
    return [
        *TINY_OVERRIDES.get(family, ()),
        "model.pretrained=false",
        "train.seeds=[]",
        "train.n_folds=2",
        "train.stage1.epochs=1",
        "train.stage2.epochs=1",
        "train.stage1.min_votes=0",
        "train.stage2.min_votes=0",
        "train.batch_size=4",
        "train.num_workers=0",
    ]


@pytest.fixture(scope="module")
def kaggle_train(wheel, competition, shared_folds, tmp_path_factory):
    """``name -> the working folder of the train kernel that ran packaged config name``,
    each trained once per module; skips naming the file while a config is not packaged."""
    from hms_kit.publish import with_settings

    done: dict[str, Path] = {}
    folds_dir = tmp_path_factory.mktemp("kaggle_folds")
    shutil.copy2(shared_folds.path, folds_dir / "folds.csv")

    def train(name: str) -> Path:
        if name in MISSING_KAGGLE_CONFIGS:
            pytest.skip(f"not packaged yet: {MISSING_KAGGLE_CONFIGS[name]}")
        if name not in done:
            root = tmp_path_factory.mktemp(f"train_{name}")
            config = (REPO / "kernels" / "config.yaml").read_text()
            layout_kaggle_tree(
                root, competition, wheel, config, datasets={"hms-kit-folds": folds_dir}
            )
            # the script exactly as push-kernel sends it for this config
            script = root / "train.py"
            source = (REPO / "kernels" / "train.py").read_text()
            script.write_text(with_settings(source, {"config": name}))
            env = {"HMS_SET": ";".join(kaggle_kernel_overrides(name)), "HMS_CONFIG": ""}
            run_kernel(script, root, env=env)
            done[name] = root / "working"
        return done[name]

    return train


@pytest.mark.slow  # a train kernel per config: a cache and 2 folds x 2 stages each
@pytest.mark.parametrize("name", KAGGLE_CONFIGS)
def test_train_kernel_runs_each_kaggle_config(kaggle_train, name):
    working = kaggle_train(name)
    packaged = load_config(name)
    ran = load_config(working / "config.yaml")
    # the packaged recipe at its real inputs, only smaller models and fewer epochs
    assert ran.model.family == packaged.model.family and ran.inputs == packaged.inputs
    assert (ran.train.n_folds, ran.train.stage1.epochs) == (2, 1)
    assert f"config {name}, folds all" in (working / "training_record.log").read_text()
    assert sorted(p.name for p in (working / "checkpoints").glob("fold*_best.pt")) == [
        "fold0_best.pt",
        "fold1_best.pt",
    ]
    oof = pd.read_csv(working / "oof.csv")
    assert len(oof) and oof["fold"].isin([0, 1]).all()
    folds = pd.read_csv(working / "folds.csv")
    assert set(folds["fold"]) == {0, 1}


@pytest.mark.slow  # the three train kernels (shared with the test above) and the infer kernel
def test_infer_kernel_blends_the_kaggle_configs(wheel, competition, kaggle_train, tmp_path):
    if MISSING_KAGGLE_CONFIGS:
        pytest.skip(f"not packaged yet: {', '.join(MISSING_KAGGLE_CONFIGS.values())}")
    outputs = {f"hms-kit-train-{name}": kaggle_train(name) for name in KAGGLE_CONFIGS}
    root = tmp_path / "infer"
    config = (REPO / "kernels" / "config.yaml").read_text()
    paths = layout_kaggle_tree(root, competition, wheel, config, outputs)
    run_kernel(REPO / "kernels" / "infer.py", root, env={"KAGGLE_IS_COMPETITION_RERUN": ""})
    log = (paths.working / "training_record.log").read_text()
    assert "blend fitted on the members' OOF" in log, log[-3000:]
    for i in range(len(KAGGLE_CONFIGS)):
        assert f"member {i}: 2 checkpoints" in log, log[-3000:]
        assert (paths.working / "members" / f"m{i}" / "oof.csv").is_file()
    # each member predicts with its own config's views, not the kernel's (kaggle: flip for
    # all), so kaggle-spec2d, trained without time reversal, is not predicted reversed
    for name in KAGGLE_CONFIGS:
        own = load_config(name).predict
        lines = [x for x in log.splitlines() if f"hms-kit-train-{name}/" in x and "views:" in x]
        assert len(lines) == 2, log[-3000:]
        assert all(f"(views: {views_name(own.tta_flip, own.tta_mirror)})" in x for x in lines)
    assert "dropped member" not in log
    sub = pd.read_csv(paths.working / "submission.csv")
    assert sorted(sub["eeg_id"]) == sorted(pd.read_csv(competition / "test.csv")["eeg_id"])
    assert np.allclose(sub[list(schema.VOTE_COLUMNS)].sum(axis=1), 1)
