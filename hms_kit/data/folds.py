"""Folds: making them (patient- and EEG-grouped, stratified), a run's ``folds.csv``, and
the shared ``patient_id -> fold`` file every run can take, so the OOF predictions of different
runs (other models, row modes or inputs) line up and can be blended.

The shared file has the columns ``patient_id, fold``; its fingerprint (:func:`folds_sha`) is
recorded by each run that uses it. A run's own fingerprint (:func:`run_fingerprint`: its
folds and the config that decides each fold's model) is carried by every fold file it
writes; :func:`retire_stale_fold_files` sets aside those that another split or config made.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hms_kit import schema
from hms_kit.config import Config, ConfigError, flat_keys, to_dict
from hms_kit.data.labels import VOTES_PER_WINDOW, select_rows
from hms_kit.data.readers import DataError
from hms_kit.io import atomic_write_csv
from hms_kit.runlog import logger

if TYPE_CHECKING:
    from hms_kit.data.competition import Competition

FOLDS_COLUMNS = ["patient_id", "fold"]


def fold_list(text: str | int | None) -> list[int] | None:
    """``"0,1"`` -> ``[0, 1]``; None or blank -> None (all folds). Each item a non-negative
    integer, named once: ``1,1`` would train fold 1 twice (two fold workers into one fold's
    files at once) and ``0,`` hides a typo. ValueError names the item and the text."""
    if text is None or not str(text).strip():
        return None
    folds: list[int] = []
    for item in (part.strip() for part in str(text).split(",")):
        if not re.fullmatch(r"[0-9]+", item):
            raise ValueError(
                f"fold {item!r} in {str(text)!r} is not a non-negative integer (expected e.g. 0,1,2)"
            )
        if int(item) in folds:
            raise ValueError(f"fold {int(item)} appears twice in {str(text)!r}")
        folds.append(int(item))
    return folds


def patient_folds(rows: pd.DataFrame, fold_of_row: np.ndarray) -> pd.DataFrame:
    """``patient_id, fold`` (one line per patient, sorted) from a fold per row, checking
    that no patient sits in two folds."""
    table = pd.DataFrame({"patient_id": rows["patient_id"].to_numpy(), "fold": fold_of_row})
    per_patient = table.groupby("patient_id")["fold"].nunique()
    split = per_patient[per_patient > 1]
    if len(split):
        raise ValueError(f"patient_id {int(split.index[0])} sits in more than one fold")
    return table.drop_duplicates("patient_id").sort_values("patient_id").reset_index(drop=True)


def read_folds_file(path: str | Path) -> pd.DataFrame:
    """A folds file, checked: the two columns, integer values, each patient once."""
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: cannot read the folds file ({exc})") from exc
    missing = [c for c in FOLDS_COLUMNS if c not in table]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing} (expected {FOLDS_COLUMNS})")
    for col in FOLDS_COLUMNS:
        if not pd.api.types.is_integer_dtype(table[col]):
            raise DataError(f"{path}: column {col!r} must hold integers")
    if (table["fold"] < 0).any():
        raise DataError(f"{path}: a fold is negative")
    twice = table["patient_id"][table["patient_id"].duplicated()]
    if len(twice):
        raise DataError(f"{path}: patient_id {int(twice.iloc[0])} is listed twice")
    return table[FOLDS_COLUMNS].reset_index(drop=True)


def assign_folds(rows: pd.DataFrame, table: pd.DataFrame, source: str = "folds file") -> np.ndarray:
    """``(n,) int64`` fold of each row from its patient. Raises DataError naming the first
    patient the table lacks."""
    mapping = dict(zip(table["patient_id"].tolist(), table["fold"].tolist()))
    patients = rows["patient_id"].to_numpy()
    absent = [p for p in pd.unique(patients) if p not in mapping]
    if absent:
        raise DataError(
            f"{source}: patient_id {int(absent[0])} is not in it ({len(absent)} patients "
            "missing): make it from the same train.csv"
        )
    return np.array([mapping[p] for p in patients], dtype=np.int64)


def check_fold_rows(
    rows: pd.DataFrame, folds: np.ndarray, n_folds: int, table: pd.DataFrame, source: str
) -> None:
    """DataError naming the fold, its patients and the eeg_id when the folds a file gives the
    training ``rows`` cannot be trained on: a fold ``0..n_folds-1`` without a row, or an EEG
    whose rows sit in two folds (under two patients: its windows would be in training and
    validation at once, the leak the kit's own folds prevent)."""
    present = set(np.asarray(folds).tolist())
    for k in range(n_folds):
        if k not in present:
            listed = sorted(int(p) for p in table.loc[table["fold"] == k, "patient_id"])
            who = f"its patients {listed[:10]} have no training row" if listed else "no patient"
            raise DataError(f"{source}: fold {k} is empty ({who}): every fold needs rows")
    per_eeg = pd.DataFrame(
        {"eeg_id": rows["eeg_id"].to_numpy(), "fold": folds, "patient": rows["patient_id"]}
    )
    split = per_eeg.groupby("eeg_id")["fold"].nunique()
    if (split > 1).any():
        eeg = split.index[split > 1][0]
        these = per_eeg[per_eeg["eeg_id"] == eeg].drop_duplicates(["patient", "fold"])
        where = ", ".join(f"patient_id {int(p)} in fold {int(f)}" for p, f in
                          zip(these["patient"], these["fold"]))  # fmt: skip
        raise DataError(
            f"{source}: eeg_id {int(eeg)} is split across folds ({where}): put those patients "
            f"in one fold ({int((split > 1).sum())} such EEGs)"
        )


def folds_sha(table: pd.DataFrame) -> str:
    """The first 12 hex digits of the SHA-256 of the table as CSV, patients in order."""
    canon = table[FOLDS_COLUMNS].sort_values("patient_id").to_csv(index=False)
    return hashlib.sha256(canon.encode()).hexdigest()[:12]


# a run's folds.csv: the fold of every training row, keyed by these columns
ROW_KEY = [
    "eeg_id",
    "eeg_label_offset_seconds",
    "spectrogram_id",
    "spectrogram_label_offset_seconds",
]


def fold_groups(rows: pd.DataFrame) -> np.ndarray:
    """``(n,) int64`` group per row: the connected components of patient_id and eeg_id.

    Grouping by patient_id alone would let an eeg_id listed under two patient_ids (an error
    in train.csv, but one seen in the wild) put the same recording in training and in
    validation; linking every patient to every EEG it lists keeps them together.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    p_codes, _ = pd.factorize(rows["patient_id"])
    e_codes, e_uniques = pd.factorize(rows["eeg_id"])
    n_p = int(p_codes.max()) + 1 if len(p_codes) else 0
    n = n_p + len(e_uniques)
    graph = coo_matrix((np.ones(len(rows)), (p_codes, n_p + e_codes)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels[p_codes].astype(np.int64)


def make_folds(rows: pd.DataFrame, n_folds: int, seed: int) -> np.ndarray:
    """``(n,) int64`` fold per row: StratifiedGroupKFold grouped by ``fold_groups`` (patients
    joined through shared EEGs), stratified by expert_consensus, shuffled with ``seed``. No
    patient and no EEG lands in two folds. ConfigError when there are fewer groups than folds.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    groups = fold_groups(rows)
    n_groups = len(np.unique(groups))
    if n_groups < n_folds:
        raise ConfigError(
            f"train.n_folds = {n_folds}, but the training rows hold only {n_groups} separate "
            f"patients (patients sharing an EEG count once): set train.n_folds <= {n_groups}"
        )
    sgkf = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    folds = np.full(len(rows), -1, dtype=np.int64)
    y = rows[schema.CONSENSUS_COLUMN].astype(str).to_numpy()
    for k, (_, val) in enumerate(sgkf.split(rows, y, groups=groups)):
        folds[val] = k
    return folds


def load_or_make_folds(run_dir: Path, rows: pd.DataFrame, n_folds: int, seed: int) -> np.ndarray:
    """The run's folds.csv if it matches these rows and fold count, else new folds written there."""
    path = run_dir / "folds.csv"
    if path.is_file():
        try:
            saved = pd.read_csv(path)
        except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError):
            saved = pd.DataFrame()  # unreadable: new folds, as for one that does not match
        if set([*ROW_KEY, "fold"]) <= set(saved) and pd.api.types.is_integer_dtype(saved["fold"]):
            # every fold 0..n-1 and no other: a fold -1 would never be validated
            same = len(saved) == len(rows) and set(saved["fold"]) == set(range(n_folds))
            if same and (saved[ROW_KEY].to_numpy() == rows[ROW_KEY].to_numpy()).all():
                return saved["fold"].to_numpy(dtype=np.int64)
        logger().warning(
            "%s does not match the rows or fold count, or cannot be read: making new folds", path
        )
    folds = make_folds(rows, n_folds, seed)
    out = rows[[*ROW_KEY, "patient_id", schema.CONSENSUS_COLUMN]].copy()
    out["fold"] = folds
    atomic_write_csv(path, out)
    return folds


def patient_folds_table(folds_csv: pd.DataFrame) -> pd.DataFrame:
    """A run's folds.csv (one line per row) as ``patient_id, fold``."""
    return folds_csv[["patient_id", "fold"]].drop_duplicates("patient_id")


def folds_from_file(
    run_dir: Path, rows: pd.DataFrame, path: str | Path, n_folds: int
) -> np.ndarray:
    """Folds of ``rows`` from a ``patient_id,fold`` file, written to the run's folds.csv.

    Raises ConfigError when the file's fold count is not ``n_folds``, DataError when it lacks
    a patient of these rows.
    """
    table = read_folds_file(path)
    have = int(table["fold"].max()) + 1 if len(table) else 0
    if have != n_folds:
        raise ConfigError(f"{path}: holds {have} folds but train.n_folds = {n_folds}")
    folds = assign_folds(rows, table, source=str(path))
    check_fold_rows(rows, folds, n_folds, table, str(path))
    out = rows[[*ROW_KEY, "patient_id", schema.CONSENSUS_COLUMN]].copy()
    out["fold"] = folds
    atomic_write_csv(run_dir / "folds.csv", out)
    logger().info("folds from %s (sha %s)", path, folds_sha(table))
    return folds


# ----------------------------------------------------------------------------- fingerprints
# A run's fingerprint names the folds and config that made each fold's files; files of other
# folds or settings are set aside before training.
# settings that do not change what a fold's model is: a run resumed with another time limit,
# worker count, log cadence or inference batch size keeps its folds
# the folds themselves are fingerprinted, so where they came from (folds_file) need not be
NOT_FINGERPRINTED = {
    "train": (
        "folds", "time_limit_hours", "num_workers", "log_every", "fold_workers", "folds_file",
        "seeds",  # a repeated run's seeds train in their own folders (hms_kit.repeats)
    )
}  # fmt: skip
# model sections one family alone reads (dotted): another family's run ignores them, whatever
# they are set to, when a fold's saved config is compared with today's (config_drift) and in
# the bench's staleness check, so a wheel that moves eeg1d's defaults leaves a timm2d run's
# folds alone.
FAMILY_SECTIONS: dict[str, str] = {
    "model.baseline": "baseline",
    "model.eeg1d": "eeg1d",
    "model.spec2d": "spec2d",
}
# of those, the ones the fingerprint itself leaves out: only model.baseline, as since it began,
# so every fingerprint written stays what it was (a fold whose fingerprint moved because
# another family's section did is kept through config_drift)
FINGERPRINT_SECTIONS = ("model.baseline",)


# keys added after runs recorded fingerprints: at their default (what those runs trained
# with) they are left out, so a run made before them resumes with its folds kept. A key
# inside another one comes first: the section then compares without it.
_ADDED_KEYS: tuple[tuple[str, ...], ...] = (
    ("model", "eeg1d", "chain", "pool"),
    ("train", "sampler"),
    ("model", "eeg1d", "topology"),
    ("model", "eeg1d", "chain"),
    ("model", "baseline"),
)


def run_fingerprint(cfg: Config, rows: pd.DataFrame, folds: np.ndarray) -> str:
    """16 hex chars hashing the config (less ``NOT_FINGERPRINTED``, ``predict``, the
    ``_ADDED_KEYS`` at their defaults and another family's ``FINGERPRINT_SECTIONS``) and every
    row's key and fold: what decides each fold's training and validation rows and its
    model."""
    d = _model_settings(to_dict(cfg), FINGERPRINT_SECTIONS)
    default = to_dict(Config())
    for keys in _ADDED_KEYS:
        node, base = d, default
        for k in keys[:-1]:
            node, base = node.get(k, {}), base[k]
        if keys[-1] in node and node[keys[-1]] == base[keys[-1]]:
            del node[keys[-1]], base[keys[-1]]
    h = hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode())
    _hash_rows(h, rows, folds)
    return h.hexdigest()[:16]


def _hash_rows(h: Any, rows: pd.DataFrame, folds: np.ndarray) -> None:
    """Every row's key and fold into ``h``, and a ``per_eeg`` row's votes per window (which
    decide its stage and checkpoint rows; runs before they were counted hashed without)."""
    h.update(np.ascontiguousarray(rows[ROW_KEY].to_numpy(np.float64)).tobytes())
    h.update(np.ascontiguousarray(np.asarray(folds, dtype=np.int64)).tobytes())
    if VOTES_PER_WINDOW in rows.columns:
        h.update(np.ascontiguousarray(rows[VOTES_PER_WINDOW].to_numpy(np.float64)).tobytes())


def rows_fingerprint(rows: pd.DataFrame, folds: np.ndarray) -> str:
    """16 hex chars hashing every row's key and fold alone (no config): recorded beside the
    run's fingerprint, so that a fold file can be judged by its saved config when the
    fingerprint itself moved (:meth:`RunPrint.stale_reason`)."""
    h = hashlib.sha1(b"rows and folds")
    _hash_rows(h, rows, folds)
    return h.hexdigest()[:16]


def _model_settings(
    d: dict[str, Any], sections: Iterable[str] = tuple(FAMILY_SECTIONS)
) -> dict[str, Any]:
    """A config dict (``to_dict``'s form, of any kit version) less what decides no fold's
    model: ``predict``, ``NOT_FINGERPRINTED``, another family's ``FAMILY_SECTIONS`` (those
    of them in ``sections``), with the ``PATH_SETTINGS`` by file name."""
    d = json.loads(json.dumps(d, default=str))  # a copy, tuples as lists
    d.pop("predict", None)
    for section, keys in NOT_FINGERPRINTED.items():
        for k in keys:
            d.get(section, {}).pop(k, None)
    for dotted in sections:
        if d.get("model", {}).get("family") != FAMILY_SECTIONS[dotted]:
            *parents, last = dotted.split(".")
            node = d
            for k in parents:
                node = node.get(k, {})
            node.pop(last, None)
    # a file by its name: a run resumed after its weights' mount moved (another Kaggle
    # layout) trains the same model, and its finished folds are kept
    for dotted in PATH_SETTINGS:
        *parents, last = dotted.split(".")
        node = d
        for k in parents:
            node = node.get(k) if isinstance(node.get(k), dict) else {}
        if node.get(last):
            node[last] = Path(str(node[last])).name
    return d


# settings that name a file where the run found it: the same file mounts elsewhere in another
# Kaggle layout, so only its name tells one run's settings from another's
PATH_SETTINGS = ("model.weights", "data.train_csv", "train.folds_file")


def settings_identity(saved: dict[str, Any]) -> str:
    """12 hex digits naming the model a saved config (``to_dict``'s form, of any kit version)
    trains: its ``_model_settings`` less those at today's defaults (so keys a newer kit added
    at their defaults change nothing), the ``PATH_SETTINGS`` by file name. Fold kernels of
    one config get one identity whatever their mount paths or wheel versions, unless a
    setting that decides the model differs."""
    flat = flat_keys(_model_settings(saved))
    train = saved.get("train") or {}
    # a repeated run's seeds are models of their own: another seed set, another member; and
    # runs on another folds file are not one member's folds
    flat["train.seeds"] = train.get("seeds", Config().train.seeds)
    flat["train.folds_file"] = train.get("folds_file", "")
    default = flat_keys(to_dict(Config()))
    for key in PATH_SETTINGS:
        if flat.get(key):
            flat[key] = Path(str(flat[key])).name
    kept = {k: v for k, v in flat.items() if k not in default or v != default[k]}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:12]


def config_drift(saved: dict[str, Any], cfg: Config) -> list[str]:
    """The settings that decide a fold's model on which a fold's saved config (``to_dict``'s
    form, as its checkpoint holds it, written by this or an older kit) and ``cfg`` differ:
    ``"key: old -> new"``. A key the saved config lacks was added to the kit since; it
    counts only when ``cfg`` sets it off its default (what the older kit did). A key only the
    saved config has was removed since, and counts."""
    old = flat_keys(_model_settings(saved))
    new = flat_keys(_model_settings(to_dict(cfg)))
    default = flat_keys(to_dict(Config()))
    out = []
    for key in sorted(old.keys() | new.keys()):
        if key in old and key in new:
            if old[key] != new[key]:
                out.append(f"{key}: {old[key]!r} -> {new[key]!r}")
        elif key in new:
            if key not in default or new[key] != default[key]:
                out.append(f"{key}: not a setting then -> {new[key]!r}")
        else:
            out.append(f"{key}: {old[key]!r} -> not a setting now")
    return out


def _fold_record(path: Path) -> tuple[str | None, str | None, dict[str, Any] | None]:
    """A fold file's ``(fingerprint, rows_fingerprint, config)``: a summary has no config, a
    checkpoint has all three; None where absent or unreadable."""
    from hms_kit.checkpoint import CheckpointError, load_checkpoint  # here: it brings torch

    try:
        if path.suffix == ".json":
            d = json.loads(path.read_text())
            return d.get("fingerprint"), d.get("rows_fingerprint"), None
        if path.suffix == ".pt":
            state = load_checkpoint(path, check_finite=False)
            config = state.get("config")
            config = config if isinstance(config, dict) else None
            return state.get("fingerprint"), state.get("rows_fingerprint"), config
    except (CheckpointError, OSError, ValueError, AttributeError):
        pass
    return None, None, None


@dataclass(frozen=True)
class RunPrint:
    """What a run's fold files must have been made by: ``fingerprint`` (:func:`run_fingerprint`,
    config and rows in one hash), ``rows`` (:func:`rows_fingerprint`) and the config."""

    fingerprint: str
    rows: str
    cfg: Config

    @classmethod
    def of(cls, cfg: Config, rows: pd.DataFrame, folds: np.ndarray) -> RunPrint:
        return cls(run_fingerprint(cfg, rows, folds), rows_fingerprint(rows, folds), cfg)

    def stale_reason(self, files: list[Path]) -> str | None:
        """Why one fold's files (its summary, checkpoints, OOF) are not this run's, or None
        when they are. Every summary and checkpoint must carry the fingerprint, or another
        one that a checkpoint of the fold shows to be this run's under an older kit: the same
        rows and folds, and a saved config that differs only by keys added since at their
        defaults (:func:`config_drift`). So a wheel upgraded between two sessions of a run
        keeps its finished folds, without a list of the keys each version added."""
        carried = [f for f in files if f.suffix != ".csv"]
        if not carried:
            return "no summary or checkpoint"
        records = [_fold_record(f) for f in carried]
        current = {self.fingerprint}
        drift: list[str] = []
        for fp, rows, config in records:
            if fp is None or fp in current or rows != self.rows or config is None:
                continue
            drift = config_drift(config, self.cfg)
            if not drift:
                current.add(fp)
        if all(fp in current for fp, _, _ in records):
            return None
        if drift:
            more = f" (and {len(drift) - 3} more)" if len(drift) > 3 else ""
            return "trained with other settings: " + "; ".join(drift[:3]) + more
        return "made by other folds or another config"


_FOLD_FILE = re.compile(r"^(?:oof_fold|fold)(\d+)[_.]")


def fold_files(run_dir: Path) -> dict[int, list[Path]]:
    """A run folder's own fold files by fold: ``oof_fold{k}.csv``, ``fold{k}_summary.json``,
    ``checkpoints/fold{k}_*.pt`` (not those of its ``seeds/`` or ``stale/``)."""
    out: dict[int, list[Path]] = {}
    for p in [*run_dir.glob("oof_fold*.csv"), *run_dir.glob("fold*_summary.json"),
              *(run_dir / "checkpoints").glob("fold*.pt")]:  # fmt: skip
        m = _FOLD_FILE.match(p.name)
        if m:
            out.setdefault(int(m.group(1)), []).append(p)
    return out


def recorded_fingerprint(path: Path) -> str | None:
    """The fingerprint a fold file carries (None: none, or unreadable)."""
    return _fold_record(path)[0]


def retire_stale_fold_files(run_dir: Path, n_folds: int, current: RunPrint) -> dict[int, str]:
    """Move to ``stale/<UTC time>/`` every file of a fold >= ``n_folds`` and every file of a
    fold whose files are not ``current``'s (:meth:`RunPrint.stale_reason`; oof_fold{k}.csv
    follows its summary).

    Returns ``{fold: reason}`` for the folds moved.
    """
    moved: dict[int, str] = {}
    dest = _stale_dir(run_dir)
    for k, files in sorted(fold_files(run_dir).items()):
        if k >= n_folds:
            reason = f"fold {k} does not exist with n_folds = {n_folds}"
        else:
            why = current.stale_reason(files)
            if why is None:
                continue
            reason = why
        _move_files(files, run_dir, dest)
        moved[k] = reason
    return moved


def _stale_dir(run_dir: Path) -> Path:
    from hms_kit.checkpoint import STALE_DIR

    return run_dir / STALE_DIR / time.strftime("%Y%m%dT%H%M%S", time.gmtime())


def _move_files(files: list[Path], src: Path, dest: Path) -> None:
    """Each of ``files`` (under ``src``) to the same relative path under ``dest``."""
    for f in files:
        target = dest / f.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(f), str(target))


def set_aside(run_dir: Path, files: list[Path]) -> Path | None:
    """Those of ``files`` (under ``run_dir``) that exist moved to ``stale/<UTC time>/``;
    returns that folder, or None when none existed."""
    there = [f for f in files if f.exists()]
    if not there:
        return None
    dest = _stale_dir(run_dir)
    _move_files(there, run_dir, dest)
    return dest


def model_folds(run_dir: Path) -> set[int]:
    """The folds with a checkpoint in ``run_dir/checkpoints`` (a model, or a stopped fold's
    last state): a fold's files are moved or linked models last, so a fold counts as there
    only once the whole of it is."""
    return {k for k, fs in fold_files(run_dir).items() if any(f.suffix == ".pt" for f in fs)}


def models_last(files: list[Path]) -> list[Path]:
    """A fold's files in the order to move or link them: OOF, summary, checkpoints."""
    return sorted(files, key=lambda f: (".csv", ".json", ".pt").index(f.suffix))


def adopt_single_run(
    run_dir: Path, seed_run: Path, first_seed: RunPrint, adopt: bool
) -> tuple[list[int], list[int]]:
    """Move a run's own fold files (a run trained without seeds in ``run_dir``, now trained
    with them) out of the way of its seeds: each fold whose files are ``first_seed``'s
    (:meth:`RunPrint.stale_reason`) into ``seed_run`` when ``adopt`` and ``seed_run`` has no
    model of that fold (it counts as that seed: no fold trained twice), every other to
    ``stale/``. A seeds run's own ``oof_fold{k}.csv`` (the seeds' average: no summary or
    checkpoint beside it) stays. Left in place, a single run's checkpoints would be averaged
    into the seeds' in ``predict`` (it finds every ``fold*_best.pt`` under a run).

    Returns ``(adopted folds, folds moved to stale/)``."""
    adopted: list[int] = []
    retired: list[int] = []
    theirs = model_folds(seed_run)
    stale = _stale_dir(run_dir)
    for k, files in sorted(fold_files(run_dir).items()):
        carried = [f for f in files if f.suffix != ".csv"]
        if not carried:
            continue
        if adopt and k not in theirs and first_seed.stale_reason(files) is None:
            _move_files(models_last(files), run_dir, seed_run)
            adopted.append(k)
        else:
            _move_files(files, run_dir, stale)
            retired.append(k)
    return adopted, retired


# ----------------------------------------------------------------------------- a run's folds


def run_folds(
    comp: Competition, cfg: Config, run_dir: Path
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, RunPrint]:
    """What every family's run starts with: train.csv, the training rows, their folds (the
    folds file, else the run's folds.csv, else new ones) and what its fold files must carry
    (:class:`RunPrint`), with the files of other folds or configs moved to ``stale/`` (the
    one place that retires them). Returns ``(train, rows, folds (n_rows,) int, RunPrint)``."""
    train = comp.read_train(cfg.data.train_csv)
    rows = select_rows(train, cfg.data.row_mode)
    if cfg.train.folds_file:
        fold_of = folds_from_file(run_dir, rows, cfg.train.folds_file, cfg.train.n_folds)
    else:
        fold_of = load_or_make_folds(run_dir, rows, cfg.train.n_folds, cfg.train.seed)
    current = RunPrint.of(cfg, rows, fold_of)
    from hms_kit.checkpoint import STALE_DIR

    for k, reason in retire_stale_fold_files(run_dir, cfg.train.n_folds, current).items():
        logger().warning("fold %d files moved to %s/: %s", k, STALE_DIR, reason)
    return train, rows, fold_of, current
