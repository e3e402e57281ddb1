"""Feature-combination experiments: every non-empty subset of the modalities, per model.

Each combination trains in its own run folder ``<out>/<model>__<modalities>/``; one whose
scores.json says complete, trained with the settings asked for now, is not trained again,
so an interrupted grid resumes (one trained with other settings trains again, its stale
folds moved aside by ``train``).
"""

from __future__ import annotations

import copy
import itertools
import json
import os
from pathlib import Path

import pandas as pd

from hms_kit import schema
from hms_kit.config import Config
from hms_kit.data.competition import Competition
from hms_kit.data.folds import set_aside
from hms_kit.io import atomic_write_csv, atomic_write_text
from hms_kit.report import markdown_table
from hms_kit.runlog import logger
from hms_kit.scoring.oof import high_population

TABLE_COLUMNS = [
    "Model",
    "Use Kaggle Spectrograms",
    "Use EEG Spectrograms",
    "Use Wavelet Spectrograms",
    "CV Result",
    "CV >= 10 votes",
    "CV golden",
    "CV per EEG",  # all rows, one prediction per eeg_id: MLE-bench's grader's view
    "Target population",
    # issue 21: against the best run on CV Result, by a patient-grouped paired bootstrap
    # (hms_kit.scoring.compare): "tie" when the 95 % interval of the difference holds 0
    "vs best",
]
BLEND_ROW = "blend of the runs above (nested CV; inner CV with 2 folds)"
PRIOR_ROW = "prior (the rows' mean target, for reference)"


def prior_row(run_dir: Path, threshold: int = schema.HIGH_VOTE_THRESHOLD) -> dict | None:
    """The table row of the class prior (the mean target of the run's OOF rows, as
    ``kl_prior``) scored on the same populations as the runs; None without an oof.csv."""
    import numpy as np

    from hms_kit.scoring.metric import prior_predictions
    from hms_kit.scoring.oof import TARGET_COLS, scores_per_population

    path = run_dir / "oof.csv"
    if not path.is_file():
        return None
    oof = pd.read_csv(path)
    t = oof[TARGET_COLS].to_numpy(np.float64)
    scores = scores_per_population(
        t, prior_predictions(t, len(t)), oof["total_votes"], oof["eeg_id"], threshold
    )
    # a constant prediction is its own per-EEG mean
    scores["kl_all_eeg_mean"] = scores["kl_all"]
    return {"Model": PRIOR_ROW, **_population_scores(scores, threshold)}


def combinations(modalities: tuple[str, ...] = schema.MODALITIES) -> list[list[str]]:
    """Every non-empty subset, in schema order: 7 for the three modalities."""
    return [
        list(c)
        for r in range(1, len(modalities) + 1)
        for c in itertools.combinations(modalities, r)
    ]


def run_name(model: str, mods: list[str]) -> str:
    return f"{model}__{'+'.join(mods)}"


def _population_scores(scores: dict, threshold: int) -> dict[str, float]:
    return {
        "CV Result": float(scores["kl_all"]),
        "CV >= 10 votes": float(scores.get(f"kl_{high_population(threshold)}", float("nan"))),
        "CV golden": float(scores.get("kl_golden", float("nan"))),
        "CV per EEG": float(scores.get("kl_all_eeg_mean", float("nan"))),
        "Target population": str(scores.get("target_population", "")),
    }


def blend_row(run_dirs: list[Path], threshold: int = schema.HIGH_VOTE_THRESHOLD) -> dict | None:
    """The table row of a blend of the grid's runs (they share their folds: same rows and
    seed), each population's blend chosen as ``predict`` would choose it (logit, simplex or
    the best single run, by inner CV) and scored out of sample on its own rows: by nested CV,
    the choice made without the fold it predicts (with two folds, the chosen candidate's
    inner CV); None when there are not two runs to blend or the rows cannot be
    cross-validated."""
    from hms_kit.ensemble import BlendError, choose_blend, chosen_oof_kl

    if len(run_dirs) < 2:
        return None

    def blended(population: str) -> float:
        return chosen_oof_kl(choose_blend(run_dirs, population, threshold, nested=True))[0]

    row = {"Model": BLEND_ROW}
    try:
        row["CV Result"] = blended("all")
        row["CV >= 10 votes"] = blended("hq")
    except BlendError as exc:
        logger().warning("no blend row: %s", exc)
        return None if "CV Result" not in row else {**row, "CV >= 10 votes": float("nan")}
    row["CV golden"] = float("nan")  # the blend is fitted per population, not per EEG
    row["CV per EEG"] = float("nan")
    return row


ROWS_FILE = "rows.sha"  # in a run folder: the digest of the rows it was trained on
ROWS_DRIFT = "training rows"  # finished_scores' drift entry for them


def rows_digest(comp: Competition, cfg: Config) -> str:
    """16 hex digits naming the training rows ``cfg`` reads (``data.train_csv`` in its row
    mode: their keys and votes): a train.csv sampled again under the same name has another."""
    import hashlib

    from hms_kit.data.folds import ROW_KEY
    from hms_kit.data.labels import select_rows

    rows = select_rows(comp.read_train(cfg.data.train_csv), cfg.data.row_mode)
    values = rows[[*ROW_KEY, *schema.VOTE_COLUMNS]].to_numpy("float64")
    return hashlib.sha1(values.tobytes()).hexdigest()[:16]


def finished_scores(
    run_dir: Path, cfg: Config, rows: str | None = None
) -> tuple[dict | None, list[str]]:
    """``(scores, drift)``: the run's scores.json when it says complete, the run's
    config.yaml differs from ``cfg`` in no setting that decides a fold's model
    (``data.folds.config_drift``) and, with ``rows`` (:func:`rows_digest`), its recorded
    rows are those; else None. ``drift`` names what moved when a complete run was trained
    with other settings (``"key: old -> new"``) or rows. A run without a record of its rows
    (trained before they were recorded) is judged by its config alone."""
    import yaml

    from hms_kit.data.folds import config_drift

    path, saved = run_dir / "scores.json", run_dir / "config.yaml"
    scores = json.loads(path.read_text()) if path.is_file() else {}
    if not scores.get("complete"):
        return None, []
    drift = config_drift(yaml.safe_load(saved.read_text()) or {}, cfg) if saved.is_file() else []
    recorded = run_dir / ROWS_FILE
    if rows is not None and recorded.is_file() and recorded.read_text().strip() != rows:
        drift.append(f"{ROWS_DRIFT}: {recorded.read_text().strip()} -> {rows}")
    return (None, drift) if drift else (scores, [])


def run_experiment(
    comp: Competition,
    cfg: Config,
    out: str | Path,
    models: list[str],
    cache_dir: str | Path | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """Train every (model, combination) not finished yet; return the sorted results table."""
    from hms_kit.train import train_folds

    out = Path(out)
    cache_dir = Path(cache_dir) if cache_dir else out / "cache"
    rows = []
    run_dirs = []
    digest = rows_digest(comp, cfg) if comp is not None else None
    for model in models:
        for mods in combinations():
            run_dir = out / run_name(model, mods)
            c = copy.deepcopy(cfg)
            c.model.name = model
            c.inputs.modalities = mods
            scores, drift = finished_scores(run_dir, c, digest)
            if scores is not None:
                logger().info("%s: finished before, kept (CV %.4f)", run_dir.name, scores["kl_all"])
            else:
                if drift:
                    logger().warning("%s: finished with other settings (%s): training again",
                                     run_dir.name, "; ".join(drift))  # fmt: skip
                    # its scores must not outlive a retrain cut short: set aside with its
                    # OOF (train moves the stale fold files); rows of other votes under the
                    # same keys would pass train's checks: its folds go too
                    moved = [run_dir / "scores.json", run_dir / "oof.csv"]
                    if any(d.startswith(ROWS_DRIFT) for d in drift):
                        moved += [run_dir / "checkpoints", *run_dir.glob("oof_fold*.csv"),
                                  *run_dir.glob("fold*_summary.json")]  # fmt: skip
                    set_aside(run_dir, moved)
                scores = train_folds(
                    comp, c, run_dir, cache_dir=cache_dir, resume=True, workers=workers
                )
                if digest is not None:
                    atomic_write_text(run_dir / ROWS_FILE, digest + "\n")
            run_dirs.append(run_dir)
            rows.append(
                {
                    "run_dir": run_dir,
                    "Model": model,
                    "Use Kaggle Spectrograms": "kaggle" in mods,
                    "Use EEG Spectrograms": "eeg" in mods,
                    "Use Wavelet Spectrograms": "wavelet" in mods,
                    **_population_scores(scores, cfg.data.high_vote_threshold),
                }
            )
    from hms_kit.scoring.compare import tie_marks

    marks = tie_marks(run_dirs, "all")
    for r in rows:
        r["vs best"] = marks.get(r.pop("run_dir"), "")
    blend = blend_row(run_dirs, cfg.data.high_vote_threshold)
    if blend is not None:
        rows.append({**blend, **{c: "" for c in TABLE_COLUMNS[1:4]}})
    prior = prior_row(run_dirs[0], cfg.data.high_vote_threshold) if run_dirs else None
    if prior is not None:
        rows.append({**prior, **{c: "" for c in TABLE_COLUMNS[1:4]}})
    t = cfg.data.high_vote_threshold
    return (
        pd.DataFrame(rows, columns=TABLE_COLUMNS)
        .sort_values("CV Result", kind="stable")
        .reset_index(drop=True)
        .rename(columns={"CV >= 10 votes": f"CV >= {t} votes"})
    )


def write_results(table: pd.DataFrame, out: str | Path) -> tuple[Path, Path]:
    """results.csv and results.md (best first; each model's best row in bold)."""
    out = Path(out)
    best = {
        int(table[table["Model"] == m]["CV Result"].idxmin())
        for m in table["Model"].unique()
        if m not in (BLEND_ROW, PRIOR_ROW)
    }
    md = markdown_table(table, bold_rows=best)
    return atomic_write_csv(out / "results.csv", table), atomic_write_text(
        out / "results.md", md + "\n"
    )


# ------------------------------------------------------------------ over several competitions

COMPETITIONS_FILE = "competitions.json"  # {subfolder: competition folder} of a multi experiment
GRID_KEY = TABLE_COLUMNS[:4]  # what makes a row the same row in every competition's table
POPULATION_COLUMNS = ("CV Result", "CV >= 10 votes", "CV golden", "CV per EEG")


def _population_columns(table: pd.DataFrame) -> list[str]:
    # the >= T votes column is named after the config's threshold
    return [c for c in table.columns if c in POPULATION_COLUMNS or c.startswith("CV >= ")]


def across_competitions(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per grid row (model and modalities; the blend and prior rows too) over the
    competitions' tables (``run_experiment``'s, keyed by competition name, in order).

    Columns: Model, the three modality columns; per population column P of the tables
    (``CV Result``, ``CV >= T votes``, ...): ``P mean`` and ``P sd`` (sample sd, ddof 1, over
    the competitions that have the row; NaN for one) then ``P (name)`` per competition; then
    ``vs best (name)`` per competition (that table's tie mark, "" where it has none) and
    ``competitions`` (how many have the row). Sorted by ``CV Result mean``, stable.
    """
    from hms_kit.scoring.compare import seed_summary

    if not tables:
        raise ValueError("no competition's table")
    names = list(tables)
    populations = _population_columns(tables[names[0]])

    def key(row: pd.Series) -> tuple[str, ...]:
        return tuple(str(row[c]) for c in GRID_KEY)

    rows: dict[tuple[str, ...], dict] = {}
    for name, table in tables.items():
        for _, r in table.iterrows():
            entry = rows.setdefault(key(r), {c: r[c] for c in GRID_KEY})
            for p in populations:
                entry[f"{p} ({name})"] = float(r.get(p, float("nan")))
            mark = r.get("vs best", "")
            entry[f"vs best ({name})"] = mark if isinstance(mark, str) else ""  # NaN: unmarked
    out = []
    for entry in rows.values():
        row = {c: entry[c] for c in GRID_KEY}
        present = [n for n in names if f"{populations[0]} ({n})" in entry]
        for p in populations:
            values = [entry.get(f"{p} ({n})", float("nan")) for n in names]
            mean, sd = seed_summary([v for v in values if v == v])  # NaN: no rows there
            row[f"{p} mean"], row[f"{p} sd"] = mean, sd
            row.update({f"{p} ({n})": v for n, v in zip(names, values)})
        row.update({f"vs best ({n})": entry.get(f"vs best ({n})", "") for n in names})
        row["competitions"] = len(present)
        out.append(row)
    return (
        pd.DataFrame(out)
        .sort_values(f"{populations[0]} mean", kind="stable")
        .reset_index(drop=True)
    )


def across_markdown(table: pd.DataFrame) -> str:
    """``across_competitions``'s table in short: per population ``mean +- sd`` and the
    competitions' values, then the tie marks, one cell each."""
    names = [c[len("vs best (") : -1] for c in table.columns if c.startswith("vs best (")]
    populations = [c[: -len(" mean")] for c in table.columns if c.endswith(" mean")]
    short = table[GRID_KEY].copy()
    for p in populations:
        short[p] = [
            f"{m:.4f} +- {s:.4f}" if s == s else f"{m:.4f}"
            for m, s in zip(table[f"{p} mean"], table[f"{p} sd"])
        ]
        short[f"{p}: {', '.join(names)}"] = [
            ", ".join(f"{v:.4f}" for v in vals)
            for vals in table[[f"{p} ({n})" for n in names]].itertuples(index=False)
        ]
    short[f"vs best: {', '.join(names)}"] = [
        ", ".join(v or "-" for v in vals)
        for vals in table[[f"vs best ({n})" for n in names]].itertuples(index=False)
    ]
    return markdown_table(short)


def competition_record(out: str | Path, folders: list[str | Path]) -> dict[str, Path]:
    """``{subfolder name: competition folder}`` for an experiment over ``folders``
    (``hms_kit.scoring.compare.folder_names``), checked against the record an earlier run
    left in ``out/competitions.json``: ValueError naming a subfolder that holds another
    competition's runs (resuming there would mix them). Writes the merged record."""
    from hms_kit.scoring.compare import folder_names

    out = Path(out)
    names = folder_names(folders)
    path = out / COMPETITIONS_FILE
    before = json.loads(path.read_text()) if path.is_file() else {}
    # as given (made absolute), not resolved: two links to one folder are two competitions
    record = {n: Path(os.path.abspath(f)) for n, f in zip(names, folders)}
    for n, f in record.items():
        if n in before and Path(before[n]) != f:
            raise ValueError(f"{out / n}: holds the runs of {before[n]}, not of {f} ({path})")
    merged = {**before, **{n: str(f) for n, f in record.items()}}
    atomic_write_text(path, json.dumps(merged, indent=1) + "\n")
    return record


def run_across(
    folders: list[str | Path],
    cfg: Config,
    out: str | Path,
    models: list[str],
    workers: int | None = None,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The same grid on each competition in ``folders``, in ``out/<name>/`` (each resumable
    as ``run_experiment``, its cache in ``out/<name>/cache``); returns the table over the
    competitions (``across_competitions``) and each competition's table, after writing each
    competition's results.csv and results.md in its subfolder."""
    out = Path(out)
    comps = [Competition.locate(f) for f in folders]  # a missing one named before any write
    record = competition_record(out, folders)
    tables = {}
    for (name, folder), comp in zip(record.items(), comps):
        logger().info("competition %s: %s", name, folder)
        tables[name] = run_experiment(comp, cfg, out / name, models, workers=workers)
        write_results(tables[name], out / name)
    return across_competitions(tables), tables


def write_across(table: pd.DataFrame, out: str | Path) -> tuple[Path, Path]:
    """results.csv (every column) and results.md (``across_markdown``) of a multi-competition
    experiment."""
    out = Path(out)
    return atomic_write_csv(out / "results.csv", table), atomic_write_text(
        out / "results.md", across_markdown(table) + "\n"
    )
