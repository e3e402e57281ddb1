"""Ensembles: runs' out-of-fold predictions aligned by row, a blend fitted on them, and the
blend applied to test predictions.

Two blends, both fitted by minimising the competition's KL on one population of OOF rows
(``hq``: rows with >= ``threshold`` votes, Kaggle's hidden test population; ``all``: every
row, MLE-bench's):

- ``logit`` (the default): a weight per run on its log-probabilities plus a per-class bias
  held near 0, ``softmax(sum_r w_r * log p_r + b)``;
- ``simplex``: probabilities averaged with non-negative weights summing to 1, found by
  Nelder-Mead; the simple alternative.

The blend's reported score is out of sample: an inner cross-validation over the runs' own
patient-grouped folds (fit on the other folds, score the held-out one). Runs must share their
folds (``python -m hms_kit folds`` writes one folds file that every run can take); runs whose
folds differ on a shared row are refused.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from hms_kit import schema
from hms_kit.runlog import logger
from hms_kit.scoring.metric import EPS, kl_score, prior_predictions
from hms_kit.scoring.oof import PRED_COLS, SEEDS_DIR, TARGET_COLS, gather_fold_oof, high_population

OOF_KEY = ["eeg_id", "eeg_sub_id"]
POPULATIONS = ("hq", "all")
METHODS = ("logit", "simplex")
BLEND_FILE = "blend.json"
RUN_CONFIG = "config.yaml"  # a run folder's resolved config; its hash names the run


class BlendError(ValueError):
    """Runs that cannot be blended (no OOF, differing folds, no shared rows)."""


@dataclass
class AlignedOOF:
    """OOF predictions of several runs on the rows they share, in one row order.

    ``probs``: ``(n_runs, n_rows, 6) float64``; ``targets``: ``(n_rows, 6)`` vote
    distributions; ``votes``: ``(n_rows,)`` total votes; ``folds``: ``(n_rows,)`` the shared
    fold of each row; ``keys``: the rows' eeg_id, eeg_sub_id and patient_id.
    """

    runs: list[Path]
    keys: pd.DataFrame
    probs: np.ndarray
    targets: np.ndarray
    votes: np.ndarray
    folds: np.ndarray

    def subset(self, mask: np.ndarray) -> AlignedOOF:
        return AlignedOOF(
            self.runs,
            self.keys[mask].reset_index(drop=True),
            self.probs[:, mask],
            self.targets[mask],
            self.votes[mask],
            self.folds[mask],
        )


def file_sha(path: Path) -> str:
    """First 12 hex digits of the file's SHA-256 (``"missing"`` when it does not exist)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.is_file() else "missing"


def config_identity(path: Path) -> str:
    """A run's ``config.yaml`` named by the model it trains (``data.folds.settings_identity``:
    paths, keys added at their defaults and settings that decide no model left out), so fold
    kernels of one config are one member even when one ran under another mount layout or
    wheel; ``"missing"`` when the file does not exist, its bytes' hash when it is no config."""
    import yaml

    from hms_kit.data.folds import settings_identity

    if not path.is_file():
        return "missing"
    try:
        saved = yaml.safe_load(path.read_text())
        return settings_identity(saved) if isinstance(saved, dict) else file_sha(path)
    except (yaml.YAMLError, ValueError, TypeError, KeyError):
        return file_sha(path)


def folds_sha(keys: pd.DataFrame, folds: np.ndarray) -> str:
    """A fingerprint of a fold assignment: row keys and folds, in key order."""
    table = keys[OOF_KEY].assign(fold=folds).sort_values(OOF_KEY)
    return hashlib.sha256(table.to_csv(index=False).encode()).hexdigest()[:12]


def _run_folds(run: Path) -> int | None:
    """``train.n_folds`` of the run's config.yaml (None when it has no readable one)."""
    from hms_kit.config import ConfigError, load_config

    try:
        return load_config(run / "config.yaml").train.n_folds
    except (ConfigError, OSError, ValueError):
        return None


def read_oof(run: Path) -> pd.DataFrame:
    """A run's ``oof.csv``, checked for what a blend needs: the columns, every row whole
    (no NaN, no line cut short) and a row in each of the run's folds (``train.n_folds`` of
    its config.yaml). Raises BlendError naming the file and the row."""
    path = Path(run) / "oof.csv"
    if not path.is_file():
        raise BlendError(f"{path}: no OOF file (train the run's folds first)")
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        line = raw.count(b"\n") + 1
        raise BlendError(f"{path}: line {line} is cut short (no line end): write the file again")
    oof = pd.read_csv(path)
    needed = [*OOF_KEY, "fold", "total_votes", *PRED_COLS, *TARGET_COLS]
    missing = [c for c in needed if c not in oof]
    if missing:
        raise BlendError(f"{path}: missing columns {missing}")
    bad = oof[needed].isna().to_numpy()
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise BlendError(
            f"{path}: line {row + 2} (eeg_id {oof['eeg_id'].iloc[row]}) has no value in "
            f"{needed[col]!r} ({int(bad.any(axis=1).sum())} such rows): refit or retrain the run"
        )
    if oof.duplicated(OOF_KEY).any():
        raise BlendError(f"{path}: a row appears twice ({OOF_KEY})")
    n_folds = _run_folds(Path(run))
    if n_folds is not None:
        absent = sorted(set(range(n_folds)) - set(oof["fold"].astype(int)))
        if absent:
            raise BlendError(
                f"{path}: no row of fold {absent} of the run's {n_folds} (train.n_folds in "
                f"{Path(run) / 'config.yaml'}): train those folds first"
            )
    return oof


def align_runs(runs: list[Path]) -> AlignedOOF:
    """The runs' OOF on the rows every run has, with one fold per row.

    Raises BlendError when fewer than one run is given, no row is shared, or a shared row
    sits in different folds in two runs (their OOF predictions would not be comparable).
    """
    if not runs:
        raise BlendError("no run to blend")
    oofs = [read_oof(r) for r in runs]
    keys = oofs[0][[*OOF_KEY, "patient_id", "fold", "total_votes", *TARGET_COLS]]
    for run, oof in zip(runs[1:], oofs[1:]):
        joined = keys.merge(oof[[*OOF_KEY, "fold"]], on=OOF_KEY, suffixes=("", "_other"))
        differ = joined["fold"] != joined["fold_other"]
        if differ.any():
            raise BlendError(
                f"{run} and {runs[0]} put {int(differ.sum())} shared rows in different folds "
                f"(e.g. eeg_id {int(joined.loc[differ, 'eeg_id'].iloc[0])}): train both with "
                "the same --folds-file"
            )
        keys = joined.drop(columns="fold_other")
    if keys.empty:
        raise BlendError(f"the runs {[str(r) for r in runs]} share no OOF row")
    keys = keys.sort_values(OOF_KEY).reset_index(drop=True)
    probs = np.stack(
        [keys[OOF_KEY].merge(o, on=OOF_KEY, how="left")[PRED_COLS].to_numpy(float) for o in oofs]
    )
    return AlignedOOF(
        list(runs),
        keys[[*OOF_KEY, "patient_id"]],
        probs,
        keys[TARGET_COLS].to_numpy(float),
        keys["total_votes"].to_numpy(float),
        keys["fold"].to_numpy(int),
    )


def population_mask(votes: np.ndarray, population: str, threshold: int = 10) -> np.ndarray:
    """Rows of ``population``: ``hq`` (>= threshold votes) or ``all``."""
    if population not in POPULATIONS:
        raise BlendError(f"population {population!r} is not one of {POPULATIONS}")
    return np.ones(len(votes), bool) if population == "all" else np.asarray(votes) >= threshold


def _log_probs(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(probs, EPS, 1.0))


def softmax(z: np.ndarray) -> np.ndarray:
    """Probabilities from logits along the last axis: ``(..., 6)`` -> ``(..., 6)``, each row
    summing to 1 (shifted by its max first, so large logits do not overflow)."""
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def logit_blend(probs: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``softmax(sum_r w_r * log p_r + b)``: ``(n_runs, n, 6)`` -> ``(n, 6)``."""
    z = np.tensordot(np.asarray(weights, float), _log_probs(probs), axes=1) + np.asarray(bias)
    return softmax(z)


def simplex_blend(probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``sum_r w_r * p_r`` with the weights normalised to sum to 1."""
    w = np.asarray(weights, float)
    return np.tensordot(w / w.sum(), probs, axes=1)


RIDGE = 1e-3  # L2 pull of the weights to equal shares
# L2 pull of the per-class bias to 0, strong: the folds split patients, so the rows a blend is
# fitted on have another class mix than the rows it predicts (the demo's >= 10-vote rows are
# 30 % seizure in one fold, 2-4 % in the other two), and each member's OOF leans to its own
# training folds' mix. A free bias learned the fitting rows' mix and carried it over: the
# logit blend's inner-CV share of the prior-to-oracle gap, bias pull 1e-3 -> 1.0, was
# 10.9 -> 22.1, 41.1 -> 43.4, 45.5 -> 46.8 % at 300 EEGs (seeds 13-15; baseline-morph and
# eeg1d-chain-s2-tta) and 57.9 -> 58.7 % at 1,200 (seed 13; baseline and the chain), never
# worse (README, "Runs you can rank", stop 52). At 1.0 a class's bias moves by about half the
# blend's mean miss on it.
BIAS_RIDGE = 1.0


def fit_logit(probs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``(n_runs,)`` and bias ``(6,)`` minimising the mean KL of :func:`logit_blend`
    (L-BFGS with the exact gradient, from equal weights and no bias).

    Weights are kept non-negative and gently pulled (``RIDGE``) towards equal shares: runs
    that predict almost alike would otherwise get large weights of opposite signs, which
    fit the rows seen and fail on the next fold. The bias is pulled to 0 hard
    (``BIAS_RIDGE``): it would learn the fitting rows' class mix, which the next fold's
    patients do not share.
    """
    logp = _log_probs(probs)
    m = len(probs)
    n = targets.shape[0]
    w0 = np.full(m, 1.0 / m)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:m], theta[m:]
        z = np.tensordot(w, logp, axes=1) + b
        z = z - z.max(axis=1, keepdims=True)
        log_q = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        # KL up to the targets' entropy, which does not depend on theta
        value = -float((targets * log_q).sum() / n)
        value += RIDGE * float(((w - w0) ** 2).sum()) + BIAS_RIDGE * float((b**2).sum())
        d = (np.exp(log_q) - targets) / n
        grad_w = np.einsum("rnc,nc->r", logp, d) + 2 * RIDGE * (w - w0)
        return value, np.concatenate([grad_w, d.sum(axis=0) + 2 * BIAS_RIDGE * b])

    theta0 = np.concatenate([w0, np.zeros(targets.shape[1])])
    bounds = [(0.0, None)] * m + [(None, None)] * targets.shape[1]
    res = minimize(loss, theta0, jac=True, method="L-BFGS-B", bounds=bounds)
    return res.x[:m], res.x[m:]


def fit_simplex(probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to 1 minimising the KL of :func:`simplex_blend`
    (Nelder-Mead over a softmax parametrisation)."""
    m = len(probs)
    if m == 1:
        return np.ones(1)

    def loss(u: np.ndarray) -> float:
        return kl_score(targets, simplex_blend(probs, softmax(u)))

    res = minimize(loss, np.zeros(m), method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-7})
    return softmax(res.x)


def fit_blend(probs: np.ndarray, targets: np.ndarray, method: str) -> dict[str, list[float]]:
    """``{"weights": [...], "bias": [...]}`` of ``method`` (bias all 0 for ``simplex``)."""
    if method == "logit":
        w, b = fit_logit(probs, targets)
    elif method == "simplex":
        w, b = fit_simplex(probs, targets), np.zeros(targets.shape[1])
    else:
        raise BlendError(f"method {method!r} is not one of {METHODS}")
    return {"weights": w.tolist(), "bias": b.tolist()}


def apply_blend(probs: np.ndarray, blend: dict[str, Any]) -> np.ndarray:
    """The blend of ``probs`` ``(n_runs, n, 6)``, runs in the blend's order."""
    if blend["method"] == "logit":
        return logit_blend(probs, blend["weights"], blend["bias"])
    return simplex_blend(probs, blend["weights"])


def _cross_fit(
    aligned: AlignedOOF, fit: Callable[[AlignedOOF], dict[str, Any]], need: int, what: str
) -> np.ndarray:
    """Each fold's rows ``(n, 6)`` predicted by the blend ``fit`` makes of the other folds'
    rows alone; BlendError when the rows hold fewer than ``need`` folds."""
    folds = np.unique(aligned.folds)
    if len(folds) < need:
        raise BlendError(f"the OOF rows hold {len(folds)} fold(s): {what} needs {need} or more")
    out = np.zeros_like(aligned.targets)
    for k in folds:
        held = aligned.folds == k
        out[held] = apply_blend(aligned.probs[:, held], fit(aligned.subset(~held)))
    return out


def inner_cv(aligned: AlignedOOF, method: str) -> np.ndarray:
    """Out-of-sample blend predictions ``(n, 6)``: each fold's rows blended with weights
    fitted on the other folds' rows (the runs' folds are patient-grouped, so no patient is
    in both)."""

    def fit(rest: AlignedOOF) -> dict[str, Any]:
        return {"method": method, **fit_blend(rest.probs, rest.targets, method)}

    return _cross_fit(aligned, fit, 2, "an inner CV")


def one_hot(n: int, best: int) -> list[float]:
    """Blend weights for run ``best`` of ``n`` alone."""
    return [float(i == best) for i in range(n)]


def _choose(candidates: dict[str, float]) -> str:
    """The candidate :func:`choose_blend` takes: the lower-scoring blend method when it beats
    ``best single``, else ``best single``."""
    method = min(METHODS, key=lambda m: candidates[m])
    return method if candidates[method] < candidates["best single"] else "best single"


def _choice_fit(aligned: AlignedOOF) -> dict[str, Any]:
    """What :func:`choose_blend` would predict with, chosen and fitted on ``aligned`` alone:
    the blend's ``method``, ``weights`` and ``bias``."""
    candidates = {m: kl_score(aligned.targets, inner_cv(aligned, m)) for m in METHODS}
    singles = [kl_score(aligned.targets, p) for p in aligned.probs]
    candidates["best single"] = min(singles)
    chosen = _choose(candidates)
    if chosen == "best single":
        weights = one_hot(len(singles), int(np.argmin(singles)))
        return {"method": "simplex", "weights": weights, "bias": [0.0] * len(schema.CLASSES)}
    return {"method": chosen, **fit_blend(aligned.probs, aligned.targets, chosen)}


def nested_cv(aligned: AlignedOOF) -> np.ndarray:
    """Out-of-sample predictions ``(n, 6)`` of the whole choice :func:`choose_blend` makes:
    each fold's rows predicted by the candidate chosen, and then fitted, on the other folds
    alone (their own inner CV). The chosen candidate's inner-CV KL is the least of three
    estimates made on the same rows, so it flatters the blend; this figure does not. Where
    every fold's choice is the candidate chosen on all of them, the two are the same figure.
    Needs three folds or more (the choice on the other folds needs an inner CV of two)."""
    return _cross_fit(aligned, _choice_fit, 3, "a nested CV")


@dataclass
class BlendReport:
    """What ``blend.json`` holds; ``table`` is the printable summary."""

    blend: dict[str, Any]
    table: pd.DataFrame = field(repr=False)


def blend_runs(
    runs: list[str | Path],
    population: str = "hq",
    method: str = "logit",
    threshold: int = 10,
    aligned: AlignedOOF | None = None,
) -> BlendReport:
    """Fit a blend of ``runs`` on the aligned OOF rows of ``population`` and score it.

    Scores (KL on the population's rows): each run's OOF; the blend in sample and out of
    sample (inner CV); the blend with each run left out (inner CV); the prior (the rows' mean
    target) for reference. ``aligned``: ``align_runs(runs)`` already read (None: read here).
    """
    runs = [Path(r) for r in runs]
    aligned = align_runs(runs) if aligned is None else aligned
    if [Path(r) for r in aligned.runs] != runs:  # each run's path must name its own OOF
        raise BlendError(f"the aligned OOF holds {aligned.runs}, not the runs {runs}")
    pop = aligned.subset(population_mask(aligned.votes, population, threshold))
    if len(pop.targets) == 0:
        raise BlendError(f"no shared OOF row in population {population!r}")
    fit = fit_blend(pop.probs, pop.targets, method)
    blend_in = apply_blend(pop.probs, {"method": method, **fit})
    cv = kl_score(pop.targets, inner_cv(pop, method))
    singles = [kl_score(pop.targets, p) for p in pop.probs]
    leave_out = []
    for i in range(len(runs)):
        if len(runs) == 1:
            leave_out.append(float("nan"))
            continue
        keep = [j for j in range(len(runs)) if j != i]
        sub = AlignedOOF(
            [runs[j] for j in keep], pop.keys, pop.probs[keep], pop.targets, pop.votes, pop.folds
        )
        leave_out.append(kl_score(pop.targets, inner_cv(sub, method)))
    prior = kl_score(pop.targets, prior_predictions(pop.targets, len(pop.targets)))
    fitted = {"method": method, **fit}
    warning = None
    best = int(np.argmin(singles))
    if cv > singles[best]:  # the fit does not carry over to unseen folds: the best run alone
        warning = (
            f"the {method} blend scores KL {cv:.4f} in inner CV, worse than its best member "
            f"{runs[best]} ({singles[best]:.4f}): that member alone is used"
        )
        fit = {
            "weights": one_hot(len(runs), best),
            "bias": [0.0] * len(schema.CLASSES),
        }
    blend = {
        "method": method if warning is None else "simplex",
        "population": population,
        "threshold": threshold,
        "n_rows": int(len(pop.targets)),
        "folds_sha": folds_sha(pop.keys, pop.folds),
        "runs": [
            {
                "path": str(r),
                "config_sha": config_identity(r / "config.yaml"),
                # the file's own hash too: a later wheel that moves a default moves the identity
                "config_file_sha": file_sha(r / "config.yaml"),
                "weight": float(w),
                "oof_kl": s,
                "blend_kl_without": lo,
            }
            for r, w, s, lo in zip(runs, fit["weights"], singles, leave_out)
        ],
        "weights": fit["weights"],
        "bias": fit["bias"],
        "scores": {
            "blend_inner_cv": cv,
            "blend_in_sample": kl_score(pop.targets, blend_in),
            "best_single": min(singles),
            "prior": prior,
        },
    }
    if warning is not None:
        blend.update(warning=warning, fitted=fitted)
    rows = [
        {"member": str(r), "weight": w, "oof_kl": s, "blend_kl_without": lo}
        for r, w, s, lo in zip(runs, fit["weights"], singles, leave_out)
    ]
    rows.append({"member": "blend (inner CV)", "oof_kl": cv})
    rows.append({"member": "blend (in sample)", "oof_kl": blend["scores"]["blend_in_sample"]})
    rows.append({"member": "prior", "oof_kl": prior})
    return BlendReport(blend, pd.DataFrame(rows))


def choose_blend(
    runs: list[str | Path], population: str = "hq", threshold: int = 10, nested: bool = False
) -> dict[str, Any]:
    """The blend to predict with: the ``logit`` or ``simplex`` blend, whichever scores lower
    out of sample (inner CV), or the best single run alone (weight 1) when neither beats it.
    Returns the blend dict, ``chosen`` naming the choice and ``candidates`` their scores.
    With ``nested`` (reports; the inference kernel leaves it off, it doubles the fits) also
    ``scores["chosen_nested_cv"]``: the KL of the choice itself out of sample
    (:func:`nested_cv`; NaN with two folds), the figure to read the blend by."""
    aligned = align_runs([Path(r) for r in runs])  # each run's OOF file read once
    blends = [blend_runs(runs, population, method, threshold, aligned).blend for method in METHODS]
    candidates = {m: b["scores"]["blend_inner_cv"] for m, b in zip(METHODS, blends)}
    best = min(blends, key=lambda b: b["scores"]["blend_inner_cv"])
    singles = [r["oof_kl"] for r in best["runs"]]
    candidates["best single"] = min(singles)
    if nested:
        pop = aligned.subset(population_mask(aligned.votes, population, threshold))
        try:
            figure = kl_score(pop.targets, nested_cv(pop))
        except BlendError:  # two folds: only the chosen candidate's figure
            figure = float("nan")
        best = {**best, "scores": {**best["scores"], "chosen_nested_cv": figure}}
    if _choose(candidates) != "best single":
        return {**best, "chosen": best["method"], "candidates": candidates}
    return {
        **best,
        "method": "simplex",
        "weights": one_hot(len(singles), int(np.argmin(singles))),
        "bias": [0.0] * len(schema.CLASSES),
        "chosen": "best single",
        "candidates": candidates,
    }


def chosen_oof_kl(blend: dict[str, Any]) -> tuple[float, str]:
    """A :func:`choose_blend` blend's OOF KL to report and what it is: the nested figure
    (``"nested CV"``), or where there is none (two folds, or a blend chosen without
    ``nested``) the chosen candidate's inner-CV KL (``"inner CV"``)."""
    value = blend.get("scores", {}).get("chosen_nested_cv")
    if isinstance(value, (int, float)) and np.isfinite(value):
        return float(value), "nested CV"
    return float(blend["candidates"][blend["chosen"]]), "inner CV"


def _numbers(value: Any, n: int | None) -> bool:
    """Whether ``value`` is a list of ``n`` (any, when None) finite numbers."""
    return (
        isinstance(value, list)
        and (n is None or len(value) == n)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        and bool(np.isfinite(np.asarray(value, float)).all())
    )


def read_blend(path: str | Path, check_runs: bool = True) -> dict[str, Any]:
    """A ``blend.json`` (or the folder holding one), checked for everything applying it needs
    before any member predicts: a known ``method`` and ``population``, ``runs`` entries with
    a ``path``, one finite non-negative weight per run (not all 0), ``bias`` of one finite
    number per class. With ``check_runs``, each run whose config.yaml is there must still
    have the ``config_sha`` the blend was fitted with (a run gone is left to the caller,
    which drops it). Raises BlendError naming the file and the key."""
    path = Path(path)
    path = path / BLEND_FILE if path.is_dir() else path
    try:
        blend = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BlendError(f"{path}: cannot read the blend ({exc})") from exc
    if not isinstance(blend, dict):
        raise BlendError(f"{path}: not a blend (a JSON object)")
    for key in ("method", "runs", "weights", "bias"):
        if key not in blend:
            raise BlendError(f"{path}: no {key!r}")
    if blend["method"] not in METHODS:  # case matters: "Logit" would not apply the bias
        raise BlendError(f"{path}: 'method' is {blend['method']!r}, not one of {METHODS}")
    if "population" in blend and blend["population"] not in POPULATIONS:
        raise BlendError(
            f"{path}: 'population' is {blend['population']!r}, not one of {POPULATIONS}"
        )
    runs = blend["runs"]
    if not isinstance(runs, list) or not runs:
        raise BlendError(f"{path}: 'runs' is not a non-empty list")
    for i, run in enumerate(runs):
        if not isinstance(run, dict) or not isinstance(run.get("path"), str):
            raise BlendError(f"{path}: runs[{i}] has no 'path'")
    weights = blend["weights"]
    if not isinstance(weights, list) or len(weights) != len(runs):
        n = len(weights) if isinstance(weights, list) else repr(weights)
        raise BlendError(f"{path}: 'weights' has {n} values for {len(runs)} runs (one per run)")
    if not _numbers(weights, None) or min(weights) < 0 or sum(weights) <= 0:
        raise BlendError(f"{path}: 'weights' {weights} must be finite, non-negative and not all 0")
    if not _numbers(blend["bias"], len(schema.CLASSES)):
        raise BlendError(
            f"{path}: 'bias' {blend['bias']} must be {len(schema.CLASSES)} finite numbers "
            f"(one per class, {list(schema.CLASSES)})"
        )
    for i, run in enumerate(runs if check_runs else []):
        config = Path(run["path"]) / "config.yaml"
        now = config_identity(config)
        # a blend.json written before stop 54 holds the file's hash as config_sha
        same = run.get("config_sha") in (None, now) or file_sha(config) in (
            run.get("config_sha"),
            run.get("config_file_sha"),
        )
        if now != "missing" and not same:
            raise BlendError(
                f"{path}: runs[{i}].config_sha is {run['config_sha']} but {config} is now "
                f"{now}: the run changed after the blend was fitted; blend again"
            )
    return blend


def _oof_rank(run: dict[str, Any]) -> float:
    kl = run.get("oof_kl")
    return float(kl) if isinstance(kl, (int, float)) and np.isfinite(kl) else np.inf


def fallback_blend(runs: list[dict[str, Any]], reason: str) -> dict[str, Any]:
    """A blend that needs no fit, for when none can be fitted or the fitted one has no weight
    left: the run with the lowest ``oof_kl`` alone (weight 1), else (no run has an OOF score)
    equal weights. ``runs``: blend.json's run entries; ``reason`` is kept as ``fallback``."""
    ranks = [_oof_rank(r) for r in runs]
    if not runs:
        raise BlendError("no blend member left")
    if np.isfinite(min(ranks)):
        best = int(np.argmin(ranks))
        weights, chosen = one_hot(len(runs), best), "best single"
    else:
        weights, chosen = [1.0 / len(runs)] * len(runs), "equal weights"
    return {
        "method": "simplex",
        "runs": list(runs),
        "weights": weights,
        "bias": [0.0] * len(schema.CLASSES),
        "chosen": chosen,
        "fallback": reason,
    }


def drop_members(blend: dict[str, Any], keep: list[int]) -> dict[str, Any]:
    """The blend restricted to the members ``keep`` (indices into its runs), weights
    renormalised so that they sum as before (a member whose predictions failed is dropped).
    When the members kept carry no weight, the best of them by OOF alone (see
    :func:`fallback_blend`): zero weights would make every row the same."""
    if not keep:
        raise BlendError("no blend member left")
    w = np.asarray(blend["weights"], float)
    kept = w[keep]
    runs = [blend["runs"][i] for i in keep]
    if not kept.sum() > 0:
        return {**blend, **fallback_blend(runs, "the members left have no weight in the blend")}
    return {**blend, "runs": runs, "weights": (kept * w.sum() / kept.sum()).tolist()}


# ---------------------------------------------------------------------------- members
# What the inference kernel blends: the train outputs attached to it, grouped by config.


@dataclass
class Member:
    """One ensemble member among the attached inputs: the train outputs (one per fold
    kernel, or one for all folds) written with one config, identified by
    :func:`config_identity` (``file_shas``: its runs' config files' hashes, which a
    blend.json written before stop 54 names)."""

    config_sha: str
    runs: list[Path]
    file_shas: tuple[str, ...] = ()

    def checkpoints(self) -> int:
        from hms_kit.checkpoint import STALE_DIR  # imported here: it brings torch

        return sum(1 for r in self.runs for f in r.rglob("fold*_best.pt")
                   if STALE_DIR not in f.relative_to(r).parts)  # fmt: skip


def find_members(inputs: list[Path]) -> list[Member]:
    """Attached train outputs (a ``config.yaml`` with ``fold*_best.pt`` below it), grouped by
    the config that trained them: fold kernels of one config are one member."""
    from hms_kit.checkpoint import STALE_DIR  # imported here: it brings torch

    runs: list[Path] = []
    for d in inputs:
        # shallowest first: a run's own config.yaml before one inside it (a copy beside its
        # checkpoints), which would otherwise make a second member of the same checkpoints
        for cfg in sorted(d.rglob(RUN_CONFIG), key=lambda p: (len(p.parts), p)):
            run = cfg.parent
            if not cfg.is_file() or run in runs or any(r in run.parents for r in runs):
                continue
            if any(STALE_DIR not in f.relative_to(run).parts for f in run.rglob("fold*_best.pt")):
                runs.append(run)
    by_sha: dict[str, list[Path]] = {}
    for run in runs:
        by_sha.setdefault(config_identity(run / RUN_CONFIG), []).append(run)
    return [
        Member(sha, rs, tuple(sorted({file_sha(r / RUN_CONFIG) for r in rs})))
        for sha, rs in by_sha.items()
    ]


def blend_population(runs: list[Path]) -> str:
    """``all`` when every run's scores.json says ``target_population: all_rows``, else ``hq``."""
    targets = set()
    for run in runs:
        try:
            targets.add(
                json.loads((Path(run) / "scores.json").read_text()).get("target_population")
            )
        except (OSError, ValueError):
            targets.add(None)
    return "all" if targets == {"all_rows"} else "hq"


def recorded_cut(run: Path) -> int | None:
    """The high-vote cut a run was trained with: its scores.json's ``high_vote_threshold``,
    else its config.yaml's ``data.high_vote_threshold`` (scores.json has recorded it since
    stop 57); None where neither says (missing or unreadable files)."""
    import yaml

    for name, keys in (("scores.json", ("high_vote_threshold",)),
                       (RUN_CONFIG, ("data", "high_vote_threshold"))):  # fmt: skip
        try:
            text = (Path(run) / name).read_text()
            node: Any = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
            for key in keys:
                node = node.get(key) if isinstance(node, dict) else None
            if node is not None:
                return int(node)
        except (OSError, ValueError, TypeError, yaml.YAMLError):
            continue
    return None


def blend_threshold(runs: list[Path]) -> int:
    """The high-vote cut the runs were trained with (:func:`recorded_cut`), the schema's
    where none records one; ConfigError naming two runs that record different cuts (their hq
    rows are not the same rows)."""
    from hms_kit.config import ConfigError

    cuts: dict[int, Path] = {}
    for run in runs:
        cut = recorded_cut(run)
        if cut is not None:
            cuts.setdefault(cut, Path(run))
    if len(cuts) > 1:
        (a, ra), (b, rb) = list(cuts.items())[:2]
        raise ConfigError(
            f"the runs were trained on other high-vote cuts: {ra} >= {a} votes, {rb} >= {b}; "
            "name the rows to blend on with --threshold"
        )
    return next(iter(cuts), schema.HIGH_VOTE_THRESHOLD)


def member_blend(
    members: list[Member], inputs: list[Path], work: Path, train: pd.DataFrame | None = None
) -> dict:
    """The blend of ``members`` (weights and runs in members' order): an attached
    ``blend.json`` whose runs are these members (matched by config hash), else one fitted here
    on the members' OOF files (gathered into ``work/m<i>/``), else (``fallback`` says why) the
    member with the best OOF KL alone, else equal weights. Always a valid blend: ``runs``
    holds one entry per member. ``incomplete`` lists the members whose training did not
    finish (``gather_members``; a missing fold also leaves no blend to fit)."""
    runs, incomplete = gather_members(members, work, train)
    blend = _attached_blend(members, inputs)
    if blend is None:
        blend = _fitted_or_fallback(runs, work)
    if incomplete:
        blend["incomplete"] = incomplete
    return blend


def _attached_blend(members: list[Member], inputs: list[Path]) -> dict | None:
    """An attached ``blend.json`` whose runs are ``members`` (matched by config hash), its
    weights in members' order; None when there is none."""
    log = logger()
    shas = [m.config_sha for m in members]
    for d in inputs:
        for path in sorted(d.rglob(BLEND_FILE)):
            try:
                blend = read_blend(path, check_runs=False)  # matched by hash below
            except BlendError as exc:
                log.warning("%s", exc)
                continue
            # a run without its hash (a hand-written or older blend.json) matches no member;
            # one written before stop 54 names its member by a config file's hash
            order = [
                next(
                    (m.config_sha for m in members
                     if r.get("config_sha") in m.file_shas or r.get("config_file_sha") in m.file_shas),
                    r.get("config_sha"),
                )
                for r in blend["runs"]
            ]  # fmt: skip
            if all(isinstance(o, str) for o in order) and sorted(order) == sorted(shas):
                log.info("blend: %s", path)
                at = [order.index(s) for s in shas]
                runs = [blend["runs"][i] for i in at]
                return {**blend, "runs": runs, "weights": [blend["weights"][i] for i in at]}
    return None


def gather_members(
    members: list[Member], work: Path, train: pd.DataFrame | None = None
) -> tuple[list[dict], list[str]]:
    """Each member's OOF gathered into ``work/m<i>/`` (``scoring.oof.gather_fold_oof``):
    ``(entries, unfinished)``, an entry (path, config_sha, oof_kl: None without OOF) per
    member and a line per member whose training did not finish (a fold missing, one stopped
    at the time limit, a repeated run with no fold every seed finished)."""
    log = logger()
    runs: list[dict] = []
    incomplete: list[str] = []
    for i, m in enumerate(members):
        entry = {"path": str(m.runs[0]), "config_sha": m.config_sha, "oof_kl": None}
        try:
            scores = gather_fold_oof(m.runs, work / f"m{i}", train)
        except Exception as exc:  # one member's broken OOF must not cost the blend
            log.warning("member %d (%s): OOF files unreadable (%s)", i, m.runs[0], exc)
            runs.append(entry)
            continue
        if scores is not None:
            shutil.copyfile(m.runs[0] / RUN_CONFIG, work / f"m{i}" / RUN_CONFIG)
            # the rows the member was trained for: every row's KL for all_rows (MLE-bench's
            # grader), else its own high-vote cut's
            every_row = scores.get("target_population") == "all_rows"
            cut = scores.get("high_vote_threshold", schema.HIGH_VOTE_THRESHOLD)
            key = "kl_all" if every_row else f"kl_{high_population(cut)}"
            kl = scores.get(key, float("nan"))
            entry["oof_kl"] = kl if np.isfinite(kl) else scores.get("kl_all")
            if not scores.get("complete"):
                stopped = scores.get("folds_stopped") or []
                incomplete.append(
                    f"member {i} ({m.runs[0]}): OOF of folds {scores.get('folds')}"
                    + (f", {stopped} stopped at train.time_limit_hours" if stopped else "")
                )  # fmt: skip
        elif any(f for r in m.runs for f in r.rglob(f"{SEEDS_DIR}/*/oof_fold*.csv")):
            incomplete.append(f"member {i} ({m.runs[0]}): OOF of its seeds, no fold every "
                              "seed finished")  # fmt: skip
        runs.append(entry)
    return runs, incomplete


def _member_threshold(dirs: list[Path]) -> int:
    """The members' common high-vote cut (:func:`blend_threshold`); the largest when they
    differ: the kernel must still blend, and the larger cut's rows are hq for every member."""
    from hms_kit.config import ConfigError

    try:
        return blend_threshold(dirs)
    except ConfigError as exc:
        logger().warning("%s: blending on the largest cut", exc)
        return max(c for c in map(recorded_cut, dirs) if c is not None)


def _fitted_or_fallback(runs: list[dict], work: Path) -> dict:
    """member_blend's blend of the members' OOF gathered under ``work/m<i>/`` (``runs``:
    their entries), else its fallback."""
    log = logger()
    try:
        missing = [f"{i} ({r['path']})" for i, r in enumerate(runs) if r["oof_kl"] is None]
        if missing:
            raise BlendError(f"members {', '.join(missing)} have no OOF files")
        dirs = [work / f"m{i}" for i in range(len(runs))]
        # the population the members were trained for, as the blend command chooses it
        if blend_population(dirs) == "all":
            blend = choose_blend(dirs, population="all")
        else:
            try:
                blend = choose_blend(dirs, "hq", _member_threshold(dirs))
            except BlendError as exc:  # e.g. too few high-vote rows to cross-validate on
                log.warning("no blend on the high-vote rows (%s): fitted on all rows", exc)
                blend = choose_blend(dirs, population="all")
        log.info(
            "blend fitted on the members' OOF (%s rows): %s chosen, weights %s; inner-CV KL %s",
            blend["population"],
            blend["chosen"],
            [round(w, 3) for w in blend["weights"]],
            {k: round(v, 4) for k, v in blend["candidates"].items()},
        )
        return blend
    except (BlendError, OSError, ValueError) as exc:
        blend = fallback_blend(runs, f"no blend could be fitted: {exc}")
        log.warning("%s: %s, weights %s", blend["fallback"], blend["chosen"], blend["weights"])
        return blend
