"""Feature-combination experiments: every non-empty subset of the modalities, per model.

Each combination trains in its own run folder ``<out>/<model>__<modalities>/``; one whose
scores.json says complete is not trained again, so an interrupted grid resumes.
"""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path

import pandas as pd

from hms_kit import schema
from hms_kit.config import Config
from hms_kit.data.competition import Competition
from hms_kit.io import atomic_write_csv, atomic_write_text
from hms_kit.report import markdown_table
from hms_kit.runlog import logger

TABLE_COLUMNS = [
    "Model",
    "Use Kaggle Spectrograms",
    "Use EEG Spectrograms",
    "Use Wavelet Spectrograms",
    "CV Result",
]


def combinations(modalities: tuple[str, ...] = schema.MODALITIES) -> list[list[str]]:
    """Every non-empty subset, in schema order: 7 for the three modalities."""
    return [
        list(c)
        for r in range(1, len(modalities) + 1)
        for c in itertools.combinations(modalities, r)
    ]


def run_name(model: str, mods: list[str]) -> str:
    return f"{model}__{'+'.join(mods)}"


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
    for model in models:
        for mods in combinations():
            run_dir = out / run_name(model, mods)
            scores_path = run_dir / "scores.json"
            scores = json.loads(scores_path.read_text()) if scores_path.is_file() else {}
            if scores.get("complete"):
                logger().info("%s: finished before, kept (CV %.4f)", run_dir.name, scores["kl_all"])
            else:
                c = copy.deepcopy(cfg)
                c.model.name = model
                c.inputs.modalities = mods
                scores = train_folds(
                    comp, c, run_dir, cache_dir=cache_dir, resume=True, workers=workers
                )
            rows.append(
                {
                    "Model": model,
                    "Use Kaggle Spectrograms": "kaggle" in mods,
                    "Use EEG Spectrograms": "eeg" in mods,
                    "Use Wavelet Spectrograms": "wavelet" in mods,
                    "CV Result": float(scores["kl_all"]),
                }
            )
    return (
        pd.DataFrame(rows, columns=TABLE_COLUMNS)
        .sort_values("CV Result", kind="stable")
        .reset_index(drop=True)
    )


def write_results(table: pd.DataFrame, out: str | Path) -> tuple[Path, Path]:
    """results.csv and results.md (best first; each model's best row in bold)."""
    out = Path(out)
    best = {int(table[table["Model"] == m]["CV Result"].idxmin()) for m in table["Model"].unique()}
    md = markdown_table(table, bold_rows=best)
    return atomic_write_csv(out / "results.csv", table), atomic_write_text(
        out / "results.md", md + "\n"
    )
