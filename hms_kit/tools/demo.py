"""The demo: the whole Kaggle story on the embedded synthetic competition, locally.

synthetic competition -> a local Kaggle tree (the competition, the wheel dataset, working/)
-> kernels/train.py -> kernels/infer.py (train's working folder attached as its input)
-> the submission scored against the synthetic answers next to the prior and the oracle.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hms_kit import schema
from hms_kit.paths import ENV_KAGGLE_ROOT, KagglePaths
from hms_kit.scoring.metric import kl_score, prior_predictions, score_submission, votes_to_targets

COMPETITION_FILES = (
    "train.csv",
    "test.csv",
    "sample_submission.csv",
    "train_eegs",
    "train_spectrograms",
    "test_eegs",
    "test_spectrograms",
)
WHEEL_DATASET = "hms-kit-wheel"
TRAIN_KERNEL_OUTPUT = "hms-kit-train"
LOCAL_OWNER = "local-user"  # stands for the Kaggle username in today's mount layout
LAYOUTS = ("current", "2024")


SESSION_FILE = ".demo_session"  # beside working/: the wheel and config its files came from


def new_session(root: Path, wheel: Path, config: str, resume: bool = True) -> bool:
    """Make ``root``'s ``working/`` and ``temp/`` what a kernel session starts with: kept
    when ``resume`` and the files there came from this wheel and config (a demo stopped part
    way goes on, as ``RESUME=1`` does on Kaggle), else emptied, as a new Kaggle session's are
    (a changed wheel must train, not score an older build's checkpoints). Records this
    session's wheel and config; returns whether the earlier files were kept."""
    import hashlib

    paths = KagglePaths(root)
    stamp = hashlib.sha256(wheel.read_bytes() + config.encode()).hexdigest()[:16]
    record = root / SESSION_FILE
    kept = resume and record.is_file() and record.read_text().strip() == stamp
    if not kept:
        shutil.rmtree(paths.working, ignore_errors=True)
        shutil.rmtree(paths.temp, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    record.write_text(stamp + "\n")
    return kept and paths.working.is_dir() and any(paths.working.iterdir())


def layout_kaggle_tree(
    root: Path,
    competition: Path,
    wheel: Path,
    config: str,
    kernel_outputs: dict[str, Path] | None = None,
    layout: str = "current",
    datasets: dict[str, Path] | None = None,
) -> KagglePaths:
    """A local Kaggle tree with the competition (links to its files, not its answers), the
    wheel dataset (the wheel and config.yaml), attached kernel outputs and other datasets
    (slug -> folder, e.g. a shared folds file), and ``working/``.

    ``layout="current"`` mounts them as Kaggle does today (``input/competitions/<slug>``,
    ``input/datasets/<owner>/hms-kit-wheel``, ``input/notebooks/<owner>/<kernel>``);
    ``"2024"`` as it did then (every input at ``input/<slug>``).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r} is not one of {LAYOUTS}")
    paths = KagglePaths(root)
    current = layout == "current"
    # links and copies only: a tree from an earlier demo (or the other layout) must not
    # attach its inputs twice
    shutil.rmtree(paths.input, ignore_errors=True)

    def mount(kind: str, slug: str) -> Path:
        if not current:
            return paths.input / slug
        return paths.input / kind / (slug if kind == "competitions" else f"{LOCAL_OWNER}/{slug}")

    comp = mount("competitions", schema.COMPETITION_SLUG)
    comp.mkdir(parents=True, exist_ok=True)
    for name in COMPETITION_FILES:
        link = comp / name
        if not link.exists():
            link.symlink_to((competition / name).resolve())
    ds = mount("datasets", WHEEL_DATASET)
    ds.mkdir(parents=True, exist_ok=True)
    for old in ds.glob("hms_kit-*.whl"):
        old.unlink()
    shutil.copy2(wheel, ds / wheel.name)
    (ds / "config.yaml").write_text(config)
    attached = [("notebooks", n, t) for n, t in (kernel_outputs or {}).items()]
    attached += [("datasets", n, t) for n, t in (datasets or {}).items()]
    for kind, name, target in attached:
        link = mount(kind, name)
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(target.resolve())
    paths.working.mkdir(parents=True, exist_ok=True)
    paths.temp.mkdir(parents=True, exist_ok=True)
    return paths


def run_kernel(
    script: Path, root: Path, env: dict[str, str] | None = None, check: bool = True
) -> float:
    """Run a kernel script as Kaggle would (cwd = working), with HMS_KAGGLE_ROOT=root and
    ``env`` added to this process's environment; seconds. ``check``: raise on a failure."""
    env = {**os.environ, ENV_KAGGLE_ROOT: str(root.resolve()), **(env or {})}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(script.resolve())], cwd=root / "working", env=env)
    if check and proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, str(script))
    return time.perf_counter() - start


@dataclass
class DemoScores:
    """Kaggle KL scores of the demo. The synthetic test set, like the hidden one, has only
    high-vote rows, so the OOF score it is compared with is over rows with >= 10 votes.

    submission, prior, oracle: on the synthetic test set. oof, oof_all: out-of-fold, rows with
    >= 10 votes and all rows. oof_prior, oof_oracle: the prior and the oracle on the same
    high-vote OOF rows.
    """

    submission: float
    oof: float
    prior: float
    oracle: float
    oof_all: float = float("nan")
    oof_prior: float = float("nan")
    oof_oracle: float = float("nan")
    best_single: float | None = None  # with several members: the best one's OOF (oof: the blend's)

    def gap_closed(self) -> tuple[float, float]:
        """Share of the prior-to-oracle distance closed by the OOF and by the submission."""
        return (
            (self.oof_prior - self.oof) / (self.oof_prior - self.oof_oracle),
            (self.prior - self.submission) / (self.prior - self.oracle),
        )

    def line(self) -> str:
        best = "" if self.best_single is None else f"best single OOF KL {self.best_single:.4f} | "
        return (
            f"submission KL {self.submission:.4f} | OOF KL {self.oof:.4f} | {best}"
            f"prior KL {self.prior:.4f} | oracle KL {self.oracle:.4f}"
        )


def score_demo(
    competition: Path, submission: Path, oof_csv: Path, threshold: int = 10
) -> DemoScores:
    """Score the submission against the synthetic answers, and the OOF predictions; the prior
    and the oracle on the same rows.

    prior: the training rows' mean vote distribution; oracle: the true probabilities the
    votes were drawn from (``_synth/``).
    """
    cols = list(schema.VOTE_COLUMNS)
    synth = competition / "_synth"
    answers = pd.read_csv(synth / "test_answers.csv")
    truth = pd.read_csv(synth / "test_true_probs.csv").set_index("eeg_id")
    targets = votes_to_targets(answers[cols].to_numpy())
    train = pd.read_csv(competition / "train.csv")
    prior = prior_predictions(votes_to_targets(train[cols].to_numpy()), 1)[0]
    oracle = truth.loc[answers["eeg_id"], cols].to_numpy()

    oof = pd.read_csv(oof_csv)
    t_oof = oof[[f"target_{c}" for c in cols]].to_numpy()
    p_oof = oof[[f"pred_{c}" for c in cols]].to_numpy()
    high = oof["total_votes"].to_numpy() >= threshold
    row_truth = pd.read_csv(synth / "train_true_probs.csv")
    o_oof = oof[["eeg_id", "eeg_sub_id"]].merge(row_truth, on=["eeg_id", "eeg_sub_id"], how="left")
    return DemoScores(
        submission=score_submission(pd.read_csv(submission), answers),
        oof=kl_score(t_oof[high], p_oof[high]),
        prior=kl_score(targets, np.tile(prior, (len(targets), 1))),
        oracle=kl_score(targets, np.asarray(oracle)),
        oof_all=kl_score(t_oof, p_oof),
        oof_prior=kl_score(t_oof[high], np.tile(prior, (int(high.sum()), 1))),
        oof_oracle=kl_score(t_oof[high], o_oof[cols].to_numpy()[high]),
    )
