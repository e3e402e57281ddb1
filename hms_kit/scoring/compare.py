"""How sure is a difference between two runs: scores over seeds and a patient-grouped
paired bootstrap (issue 21).

A run's OOF predictions are one draw of a noisy recipe: another seed, or another thread
count, moves the score. Two summaries say how much:

- ``seed_summary``: a population's KL for each seed of a repeated run (``train.seeds``:
  ``seeds/seed<s>/oof.csv``) as mean and sample standard deviation;
- ``paired_bootstrap``: the difference of two runs' KL on the same rows, with an interval
  from resampling *patients* with replacement (a patient's rows move together: its windows
  are not independent evidence), each resample scoring both runs on the same rows.

A difference whose interval holds 0 is a tie, and so is one under ``TIE_BELOW`` in size.
Scores are Kaggle's: the mean of the per-row KL over a population's rows
(``hms_kit.scoring.oof.population_masks``).

Over several competitions (synthetic ones of different generator seeds), ``compare_across``
gives each competition's difference and their mean, with an interval from resampling
patients within each competition (see its docstring for the method).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hms_kit import schema
from hms_kit.scoring.metric import PRED_COLS, TARGET_COLS, kl_per_row
from hms_kit.scoring.oof import SEEDS_DIR, population_masks, population_names

N_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
LEVEL = 0.95
ROW_KEY = ["eeg_id", "eeg_sub_id"]  # a train.csv row: every run's oof.csv carries it
# A difference smaller than this is a tie even when its interval misses 0: the tables print
# KL to 4 decimals, and a gap they cannot show is no reason to prefer one run
TIE_BELOW = 1e-4
MEAN_ROW = "mean"  # compare_across's row of the mean over competitions


@dataclass(frozen=True)
class Interval:
    """A difference ``b - a`` of two mean losses (KL) and its bootstrap interval."""

    diff: float
    low: float
    high: float
    n_rows: int
    n_groups: int

    @property
    def tie(self) -> bool:
        """The interval holds 0, or the difference is under ``TIE_BELOW``: the data do not
        tell the two runs apart."""
        return is_tie(self.diff, self.low, self.high)


def is_tie(diff: float, low: float, high: float) -> bool:
    """Whether a difference with interval ``[low, high]`` is a tie: the interval holds 0 or
    ``|diff| < TIE_BELOW`` (a NaN difference, of no rows, is a tie too)."""
    if math.isnan(diff):
        return True
    return bool(low <= 0.0 <= high or abs(diff) < TIE_BELOW)


def percentile_interval(stats: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap statistics ``(n_resamples,)``."""
    tail = (1 - level) / 2
    low, high = np.quantile(np.asarray(stats, np.float64), [tail, 1 - tail])
    return float(low), float(high)


def paired_bootstrap(
    loss_a: np.ndarray,
    loss_b: np.ndarray,
    groups: np.ndarray,
    n_resamples: int = N_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = LEVEL,
) -> Interval:
    """The difference of the mean per-row losses, ``mean(loss_b) - mean(loss_a)``, with a
    percentile interval at ``level`` from ``n_resamples`` resamples of the groups.

    ``loss_a``, ``loss_b``: ``(n,)`` per-row losses of two runs on the same rows;
    ``groups``: ``(n,)`` the rows' patients. Each resample draws as many patients as there
    are, with replacement, and takes every row of each drawn patient (a patient drawn twice
    counts twice), so rows of one patient move together. Seeded: the same inputs give the
    same interval. ValueError on mismatched lengths or no rows.
    """
    stats = bootstrap_differences(loss_a, loss_b, groups, n_resamples, seed)
    low, high = percentile_interval(stats, level)
    diff = np.asarray(loss_b, np.float64) - np.asarray(loss_a, np.float64)
    return Interval(float(diff.mean()), low, high, len(diff),
                    len(pd.unique(np.asarray(groups))))  # fmt: skip


def bootstrap_differences(
    loss_a: np.ndarray,
    loss_b: np.ndarray,
    groups: np.ndarray,
    n_resamples: int = N_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> np.ndarray:
    """``(n_resamples,) float64``: ``mean(loss_b - loss_a)`` over the rows of each
    patient-grouped resample (see ``paired_bootstrap``)."""
    a, b = np.asarray(loss_a, np.float64), np.asarray(loss_b, np.float64)
    g = np.asarray(groups)
    if not (a.shape == b.shape == g.shape) or a.ndim != 1:
        raise ValueError(f"losses {a.shape}, {b.shape} and groups {g.shape} must be (n,) alike")
    if len(a) == 0:
        raise ValueError("no rows to compare")
    codes, _ = pd.factorize(g)
    n_groups = int(codes.max()) + 1
    # per patient: the summed difference and the row count; a resample's mean difference
    # is sum(times drawn * diff_sum) / sum(times drawn * rows)
    diff_sum = np.bincount(codes, weights=b - a, minlength=n_groups)
    rows = np.bincount(codes, minlength=n_groups).astype(np.float64)
    draws = resample_counts(n_groups, n_resamples, seed)
    return (draws @ diff_sum) / (draws @ rows)


def resample_counts(n_groups: int, n_resamples: int, seed: int) -> np.ndarray:
    """``(n_resamples, n_groups) float64``: how often each group is drawn in each resample
    (n_groups draws with replacement: each row a multinomial count)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_groups, np.full(n_groups, 1 / n_groups), size=n_resamples).astype(
        np.float64
    )


def seed_summary(scores: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; NaN for one seed) of per-seed scores."""
    x = np.asarray(scores, np.float64)
    if len(x) == 0:
        return math.nan, math.nan
    return float(x.mean()), float(x.std(ddof=1)) if len(x) > 1 else math.nan


def population_scores(
    oof: pd.DataFrame, threshold: int = schema.HIGH_VOTE_THRESHOLD
) -> dict[str, float]:
    """``{population: KL}`` of an oof.csv frame (NaN for an empty population)."""
    loss = kl_per_row(oof[TARGET_COLS].to_numpy(), oof[PRED_COLS].to_numpy())
    masks = population_masks(oof["eeg_id"].to_numpy(), oof["total_votes"].to_numpy(), threshold)
    return {n: float(loss[m].mean()) if m.any() else math.nan for n, m in masks.items()}


def finished_seeds(run_dir: str | Path) -> dict[int, Path]:
    """``{seed: its run folder}`` of a repeated run's finished seeds (those with an oof.csv),
    in seed order; empty for a single run."""
    out = {}
    for d in (Path(run_dir) / SEEDS_DIR).glob("seed*"):
        if (d / "oof.csv").is_file() and d.name[4:].lstrip("-").isdigit():
            out[int(d.name[4:])] = d
    return dict(sorted(out.items()))


def seed_oofs(run_dir: str | Path) -> dict[int, pd.DataFrame]:
    """``{seed: oof frame}`` of a repeated run's finished seeds (empty for a single run)."""
    return {s: pd.read_csv(d / "oof.csv") for s, d in finished_seeds(run_dir).items()}


def run_threshold(run_dir: str | Path) -> int:
    """The run's ``data.high_vote_threshold`` (config.yaml), else the default."""
    from hms_kit.config import ConfigError, load_config

    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        return schema.HIGH_VOTE_THRESHOLD
    try:
        return load_config(path).data.high_vote_threshold
    except ConfigError:
        return schema.HIGH_VOTE_THRESHOLD


def read_oof(run_dir: str | Path) -> pd.DataFrame:
    """A run's oof.csv (FileNotFoundError naming it when the run has none: not finished)."""
    path = Path(run_dir) / "oof.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no OOF predictions (has the run finished?)")
    oof = pd.read_csv(path)
    missing = [c for c in [*ROW_KEY, "patient_id", "total_votes", *PRED_COLS, *TARGET_COLS]
               if c not in oof]  # fmt: skip
    if missing:
        raise ValueError(f"{path}: lacks column {missing[0]}")
    return oof


def run_summary(run_dir: str | Path, threshold: int) -> pd.DataFrame:
    """One row per population: the run's KL (its OOF, seeds averaged), and over its seeds
    the mean, sd and count (NaN and 0 for a single run)."""
    oof = read_oof(run_dir)
    kl = population_scores(oof, threshold)
    per_seed = [population_scores(o, threshold) for o in seed_oofs(run_dir).values()]
    rows = []
    for name in population_names(threshold):
        mean, sd = seed_summary([s[name] for s in per_seed])
        rows.append({"population": name, "kl": kl[name], "seed_mean": mean, "seed_sd": sd,
                     "seeds": len(per_seed)})  # fmt: skip
    return pd.DataFrame(rows)


def compare_runs(
    run_a: str | Path,
    run_b: str | Path,
    n_resamples: int = N_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = LEVEL,
) -> pd.DataFrame:
    """Per population: each run's KL (with mean +- sd over seeds where it has seeds) and the
    difference B - A on the rows both runs predicted, with its patient-grouped paired
    bootstrap interval and whether it is a tie (the interval holds 0, or the difference is
    under ``TIE_BELOW``).

    Columns: population, n_rows, n_patients, kl_a, seeds_a, seed_mean_a, seed_sd_a, kl_b,
    seeds_b, seed_mean_b, seed_sd_b, diff, low, high, tie. ValueError when the runs share
    no row or their populations were cut at different vote thresholds.
    """
    return _compare(run_a, run_b, n_resamples, seed, level)[0]


def _compare(
    run_a: str | Path, run_b: str | Path, n_resamples: int, seed: int, level: float
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """``compare_runs``'s table and, per population with rows, its ``(n_resamples,)``
    bootstrap differences (what ``compare_across`` combines)."""
    threshold = run_threshold(run_a)
    if run_threshold(run_b) != threshold:
        raise ValueError(
            f"{run_a} and {run_b} use different data.high_vote_threshold: "
            "their populations are not the same rows"
        )
    a, b = read_oof(run_a), read_oof(run_b)
    both = a.merge(b, on=ROW_KEY, suffixes=("_a", "_b"))
    if both.empty:
        raise ValueError(f"{run_a} and {run_b} share no train.csv row ({'+'.join(ROW_KEY)})")
    loss_a = kl_per_row(both[[f"{c}_a" for c in TARGET_COLS]].to_numpy(),
                        both[[f"{c}_a" for c in PRED_COLS]].to_numpy())  # fmt: skip
    loss_b = kl_per_row(both[[f"{c}_b" for c in TARGET_COLS]].to_numpy(),
                        both[[f"{c}_b" for c in PRED_COLS]].to_numpy())  # fmt: skip
    masks = population_masks(both["eeg_id"].to_numpy(), both["total_votes_a"].to_numpy(),
                             threshold)  # fmt: skip
    sa, sb = run_summary(run_a, threshold), run_summary(run_b, threshold)
    rows, stats = [], {}
    for name, m in masks.items():
        ra = sa[sa["population"] == name].iloc[0]
        rb = sb[sb["population"] == name].iloc[0]
        row = {"population": name, "n_rows": int(m.sum()),
               "n_patients": int(both.loc[m, "patient_id_a"].nunique())}  # fmt: skip
        for tag, r, loss in (("a", ra, loss_a), ("b", rb, loss_b)):
            row[f"kl_{tag}"] = float(loss[m].mean()) if m.any() else math.nan
            row[f"seeds_{tag}"] = int(r["seeds"])
            row[f"seed_mean_{tag}"] = float(r["seed_mean"])
            row[f"seed_sd_{tag}"] = float(r["seed_sd"])
        if m.any():
            groups = both.loc[m, "patient_id_a"].to_numpy()
            stats[name] = bootstrap_differences(loss_a[m], loss_b[m], groups, n_resamples, seed)
            low, high = percentile_interval(stats[name], level)
            diff = float((loss_b[m] - loss_a[m]).mean())
            row.update(diff=diff, low=low, high=high, tie=is_tie(diff, low, high))
        else:
            row.update(diff=math.nan, low=math.nan, high=math.nan, tie=True)
        rows.append(row)
    return pd.DataFrame(rows), stats


def compare_across(
    pairs: dict[str, tuple[str | Path, str | Path]],
    n_resamples: int = N_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = LEVEL,
    groups: dict[str, list[str]] | None = None,
) -> pd.DataFrame:
    """Two recipes A and B, each run on several competitions: per competition and population
    ``compare_runs``'s row, and per population a row ``competition == MEAN_ROW`` of the mean
    over the competitions; before it, a mean row per entry of ``groups`` (``{row name:
    competition names}``, two or more each, e.g. the competitions of one size), resampled as
    the whole mean is.

    ``pairs``: ``{competition name: (run A's folder, run B's folder)}``, both runs on that
    competition's rows; competition ``i`` (in the order given) is resampled with seed
    ``seed + i``, so its rows are those of ``compare_runs(A_i, B_i, seed=seed + i)``.

    The method. Each competition weighs the same (the question is the recipe's mean over
    generator seeds, not over rows). The mean difference is ``D = mean_c d_c`` of the
    competitions' differences ``d_c = mean(loss_B - loss_A)`` over their rows. Its interval
    is a stratified bootstrap: the competitions are fixed strata, and each resample ``r``
    draws patients with replacement within every competition independently (its own seed),
    as ``paired_bootstrap`` does, giving ``d_c^r``; then ``D^r = mean_c d_c^r`` and the
    interval is the central ``level`` percentile interval of the ``D^r``. So it measures how
    much the patients drawn in these competitions move the mean, not how much another
    generator seed would: ``sd_diff`` (the sample sd of the ``d_c``) says that, and with two
    or three competitions it is a rough figure. A tie: the interval holds 0 or
    ``|D| < TIE_BELOW``. Competitions where a population has no row are left out of its mean.

    Columns: competition, then ``compare_runs``'s columns, then competitions (how many
    entered the mean; 1 on a competition's own row), sd_a, sd_b, sd_diff (sample sd over the
    competitions, ddof 1; NaN on a competition's row). On the mean row kl_a, kl_b are the
    means over the competitions, n_rows and n_patients the sums, the seed columns NaN.
    ValueError with no pair, or as ``compare_runs`` names a bad pair.
    """
    if not pairs:
        raise ValueError("no competition to compare")
    groups = groups or {}
    for group, names in groups.items():
        if len(names) < 2 or not set(names) <= set(pairs) or group in (*pairs, MEAN_ROW):
            raise ValueError(f"mean row {group!r}: want two or more of the competitions "
                             f"{list(pairs)}, got {names} (and a name of its own)")  # fmt: skip
    tables, stats = {}, {}
    for i, (name, (run_a, run_b)) in enumerate(pairs.items()):
        tables[name], stats[name] = _compare(run_a, run_b, n_resamples, seed + i, level)
    first = next(iter(tables))
    populations = list(tables[first]["population"])
    for name, table in tables.items():
        if list(table["population"]) != populations:
            raise ValueError(f"competition {name}: populations {list(table['population'])}, "
                             f"not {first}'s {populations} (another vote threshold?)")  # fmt: skip
    rows = []
    for population in populations:
        per = {}
        for name, table in tables.items():
            r = table[table["population"] == population].iloc[0].to_dict()
            rows.append({"competition": name, **r, "competitions": 1})
            if population in stats[name]:
                per[name] = (r, stats[name][population])
        for group, names in groups.items():
            got = [per[n] for n in names if n in per]
            rows.append({**mean_row(population, got, level), "competition": group})
        rows.append(mean_row(population, list(per.values()), level))
    columns = ["competition", *tables[first].columns, "competitions", "sd_a",
               "sd_b", "sd_diff"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def mean_row(population: str, per: list[tuple[dict, np.ndarray]], level: float) -> dict:
    """The mean-over-competitions row of one population from each competition's row and
    bootstrap differences (see ``compare_across``)."""
    row: dict = {"competition": MEAN_ROW, "population": population, "competitions": len(per)}
    row.update({f"{k}_{t}": math.nan for k in ("seeds", "seed_mean", "seed_sd") for t in "ab"})
    if not per:
        return {**row, "n_rows": 0, "n_patients": 0, "kl_a": math.nan, "kl_b": math.nan,
                "diff": math.nan, "low": math.nan, "high": math.nan, "tie": True,
                "sd_a": math.nan, "sd_b": math.nan, "sd_diff": math.nan}  # fmt: skip
    rows = [r for r, _ in per]
    for key in ("kl_a", "kl_b", "diff"):
        mean, sd = seed_summary([r[key] for r in rows])
        row[key] = mean
        row["sd_" + key.removeprefix("kl_")] = sd
    # each competition resampled on its own stream: resample r of the mean is the mean of
    # the competitions' resample r
    low, high = percentile_interval(np.mean([s for _, s in per], axis=0), level)
    row.update(n_rows=sum(int(r["n_rows"]) for r in rows),
               n_patients=sum(int(r["n_patients"]) for r in rows), low=low, high=high,
               tie=is_tie(row["diff"], low, high))  # fmt: skip
    return row


def folder_names(paths: list[str | Path]) -> list[str]:
    """A short distinct name per folder: its last path part, or as many trailing parts as
    tell the folders apart, joined with ``-`` (``s1/source``, ``s2/source`` -> ``s1-source``,
    ``s2-source``). ValueError naming a folder given twice."""
    # not resolved: two links to one folder are two names the user chose
    parts = [Path(os.path.abspath(p)).parts for p in paths]
    seen: dict[tuple[str, ...], str] = {}
    for p, given in zip(parts, paths):
        if p in seen:
            raise ValueError(f"{given}: given twice ({seen[p]})")
        seen[p] = str(given)
    for k in range(1, max((len(p) for p in parts), default=1) + 1):
        names = ["-".join(p[-k:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return ["-".join(p) for p in parts]


def pairs_from_folders(
    dir_a: str | Path, dir_b: str | Path, run: str | None = None
) -> dict[str, tuple[Path, Path]]:
    """``{competition: (run A, run B)}`` of two folders holding one subfolder per
    competition (``experiment --competition A,B``'s layout), sorted by name.

    Without ``run`` each subfolder is a run folder (its oof.csv); with ``run`` (``NAME`` or
    ``NAME_A:NAME_B``) the run is ``<dir>/<competition>/NAME`` (an experiment's
    ``<model>__<modalities>``). A competition is a subfolder holding its run folder;
    ValueError naming one that is on one side only, or when there is none.
    """
    name_a, _, name_b = (run or "").partition(":")
    name_b = name_b or name_a
    found = {}
    for side, folder, name in (("A", Path(dir_a), name_a), ("B", Path(dir_b), name_b)):
        if not folder.is_dir():
            raise ValueError(f"{folder}: no such folder ({side})")
        subs = sorted(d for d in folder.iterdir() if d.is_dir())
        found[side] = {d.name: d / name if name else d for d in subs
                       if (d / name if name else d / "oof.csv").exists()}  # fmt: skip
        if not found[side]:
            what = f"run folder {name}" if name else "run (oof.csv)"
            hint = "" if name else "; an experiment folder? name its run with --run NAME"
            raise ValueError(f"{folder}: no competition subfolder holds a {what}{hint}")
    for side, other, folder in (("A", "B", dir_b), ("B", "A", dir_a)):
        missing = sorted(set(found[side]) - set(found[other]))
        if missing:
            raise ValueError(f"competition {missing[0]} is in {side} but not in {other} "
                             f"({Path(folder) / missing[0]})")  # fmt: skip
    return {c: (found["A"][c], found["B"][c]) for c in sorted(found["A"])}


def format_comparison(table: pd.DataFrame, name_a: str, name_b: str, level: float = LEVEL) -> str:
    """``compare_runs``'s table as aligned text lines (what the CLI prints)."""

    def score(kl: float, n: int, mean: float, sd: float) -> str:
        s = f"{kl:.4f}"
        if n > 1:
            s += f" (seeds {mean:.4f} +- {sd:.4f}, n={n})"
        return s

    lines = [f"A = {name_a}", f"B = {name_b}",
             f"difference B - A with its {level:.0%} patient-grouped paired bootstrap interval"]  # fmt: skip
    for r in table.itertuples():
        verdict = "tie" if r.tie else ("B better" if r.diff < 0 else "A better")
        lines.append(
            f"  {r.population:<12} rows {r.n_rows:>6} patients {r.n_patients:>5}  "
            f"A {score(r.kl_a, r.seeds_a, r.seed_mean_a, r.seed_sd_a)}  "
            f"B {score(r.kl_b, r.seeds_b, r.seed_mean_b, r.seed_sd_b)}  "
            f"B-A {r.diff:+.4f} [{r.low:+.4f}, {r.high:+.4f}] {verdict}"
        )
    return "\n".join(lines)


def format_across(table: pd.DataFrame, name_a: str, name_b: str, level: float = LEVEL) -> str:
    """``compare_across``'s table as aligned text lines (what the CLI prints): per
    population, a line per competition and one for their mean (+- sd over competitions)."""
    width = max(len(str(c)) for c in table["competition"]) + 2

    def verdict(r) -> str:
        return "tie" if r.tie else ("B better" if r.diff < 0 else "A better")

    def sd(x: float) -> str:
        return "" if math.isnan(x) else f" +- {x:.4f}"

    # a competition's own row counts 1 competition, a mean row (a group's included) two or more
    own = table["competition"].ne(MEAN_ROW) & table["competitions"].eq(1)
    n = own.groupby(table["population"]).sum().max()
    lines = [f"A = {name_a}", f"B = {name_b}",
             f"difference B - A with its {level:.0%} patient-grouped paired bootstrap interval "
             f"on each of {n} competitions, and their mean with its interval from patients "
             "resampled within each competition (+- sd over competitions)"]  # fmt: skip
    for population, rows in table.groupby("population", sort=False):
        lines.append(population)
        for r in rows.itertuples():
            label = (f"mean of {r.competitions}" if r.competition == MEAN_ROW
                     else r.competition if r.competitions == 1
                     else f"{r.competition} (mean of {r.competitions})")  # fmt: skip
            lines.append(
                f"  {label:<{width + 6}} rows {r.n_rows:>6} patients {r.n_patients:>5}  "
                f"A {r.kl_a:.4f}{sd(r.sd_a)}  B {r.kl_b:.4f}{sd(r.sd_b)}  "
                f"B-A {r.diff:+.4f}{sd(r.sd_diff)} [{r.low:+.4f}, {r.high:+.4f}] {verdict(r)}"
            )
    return "\n".join(lines)


def tie_marks(
    run_dirs: list[Path], population: str, n_resamples: int = N_RESAMPLES
) -> dict[Path, str]:
    """For the experiment table: each run against the best run on ``population`` (lowest
    KL): ``best``, ``tie`` (``Interval.tie``) or ``worse``; runs without an
    oof.csv are left out."""
    scored = {}
    for d in run_dirs:
        if (Path(d) / "oof.csv").is_file():
            scored[Path(d)] = population_scores(read_oof(d), run_threshold(d))[population]
    if not scored:
        return {}
    best = min(scored, key=lambda d: (math.isnan(scored[d]), scored[d]))
    marks = {best: "best"}
    for d in scored:
        if d != best:
            t = compare_runs(best, d, n_resamples)
            marks[d] = (
                "tie" if bool(t.loc[t["population"] == population, "tie"].iloc[0]) else "worse"
            )
    return marks
