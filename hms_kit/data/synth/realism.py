"""How realistic a synthetic competition is: measures of its signals, spectrograms and labels
next to the real files' (tests/data/real) and the real label table's (LABEL_STATS.md).

Pure functions return numbers and frames; ``python -m hms_kit synth-report`` prints them and
writes ``_synth/realism.md``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import scipy.signal

from hms_kit import schema
from hms_kit.data.competition import Competition
from hms_kit.data.synth.spectrogram import kaggle_spectrogram

FS = schema.EEG_RATE_HZ
N_SCALP = len(schema.SCALP_CHANNELS)
_IDX = schema.CHANNEL_INDEX
_NEIGHBOURS = [(c[i], c[i + 1]) for c in schema.CHAINS.values() for i in range(len(c) - 1)]
_FAR = [("Fp1", "O2"), ("Fp2", "O1"), ("F7", "T6"), ("F8", "T5"), ("T3", "T4")]
_SOS = scipy.signal.butter(4, [0.5, 20.0], btype="band", fs=FS, output="sos")
LOG_FLOOR = -4.0  # natural-log floor of spectrogram cells (the kit clips there too)

# measure -> (real target as written in issue 10 / LABEL_STATS.md, low, high)
TARGETS: dict[str, tuple[str, float, float]] = {
    "neighbour_corr": ("0.45-0.8", 0.45, 0.8),
    "far_corr": ("0-0.5", 0.0, 0.5),
    "pc1_share": ("0.55-0.85", 0.55, 0.85),
    "ref_std_uv": ("11-17", 11.0, 17.0),
    "bipolar_std_uv": ("8-11", 8.0, 11.0),
    "dc_offset_uv": ("10-150", 10.0, 150.0),
    "on_grid": ("~1 (0.01 uV grid)", 0.99, 1.0),
    "beta_share": ("0.09-0.25", 0.09, 0.25),
    "alpha_peak_log10": ("<= 0.3", -1.0, 0.3),
    "alpha_files": ("some files", 0.05, 0.8),
    "line_files": ("some files", 0.05, 0.8),
    "line_db": ("10-40 dB", 10.0, 40.0),
    "ekg_bpm": ("80-130", 80.0, 130.0),
    "ekg_rr_cv": ("jitter > 0.01", 0.01, 0.2),
    "eeg_nan_files": ("0.01-0.05", 0.01, 0.05),
    "spec_lag1": ("0.6-0.9", 0.6, 0.9),
    "spec_dln": ("0.2-0.3", 0.2, 0.3),
    "spec_file_sd": ("~0.5 (real pairs 0.45)", 0.3, 1.2),
    "spec_region_sd": ("~0.4", 0.15, 0.6),
    "spec_calibration": ("0 (log ratio)", -0.3, 0.3),
    "spec_zero_share": ("> 0 in some files", 0.0, 0.3),
    "spec_subfloor_share": ("<= 0.28", 0.0, 0.28),
    "spec_burst_share": ("0.0001-0.002", 0.0001, 0.002),
    "spec_nan_files": ("some files", 0.01, 0.3),
}


def eeg_measures(x: np.ndarray) -> dict[str, float]:
    """Realism measures of one EEG ``(samples, 20)`` microvolts (NaN channels and rows
    skipped; an empty dict when less than 10 s or fewer than 10 electrodes are clean).

    neighbour_corr / far_corr: median correlation (0.5-20 Hz) of electrodes adjacent in a
    chain / far apart; pc1_share: first principal component's share of the scalp variance;
    ref_std_uv / bipolar_std_uv: median 0.5-20 Hz std, referential / bipolar; dc_offset_uv:
    median |channel median|; on_grid: share of values on the 0.01 grid; beta_share: 13-30 Hz
    share of 0.5-30 Hz power; alpha_peak_log10: the 7-14 Hz maximum above a 1/f line fitted
    outside it; line_db: 60 Hz above 50-70 Hz; ekg_bpm, ekg_rr_cv: heart rate and the RR
    intervals' coefficient of variation.
    """
    x = np.asarray(x, dtype=np.float64)
    good = ~np.isnan(x).all(axis=0)
    rows = ~np.isnan(x[:, good]).any(axis=1)
    if rows.sum() < 10 * FS or good[:N_SCALP].sum() < 10:
        return {}  # too little clean signal to measure (a long NaN run, many dead channels)
    x = np.where(good[None, :], x, 0.0)[rows]
    scalp = x[:, :N_SCALP]
    y = scipy.signal.sosfiltfilt(_SOS, scalp - scalp.mean(axis=0), axis=0)
    ok = good[:N_SCALP]
    c = np.corrcoef(y[:, ok].T)
    pos = {ch: i for i, ch in enumerate(np.asarray(schema.SCALP_CHANNELS)[ok])}

    def corr(pairs):
        return float(np.median([c[pos[a], pos[b]] for a, b in pairs if a in pos and b in pos]))

    ev = np.linalg.eigvalsh(np.cov(y[:, ok].T))
    bip = np.stack([y[:, _IDX[a]] - y[:, _IDX[b]] for a, b in _NEIGHBOURS], axis=1)
    f, p = scipy.signal.welch(scalp[:, ok] - scalp[:, ok].mean(axis=0), fs=FS, nperseg=1024, axis=0)
    pm = np.maximum(np.median(p, axis=1), 1e-12)  # a digital zero must not give log(0)
    band = (f >= 0.5) & (f <= 30)
    fit = (f >= 2) & (f <= 30) & ((f < 7) | (f > 14))
    coef = np.polyfit(np.log10(f[fit]), np.log10(pm[fit]), 1)
    al = (f >= 7) & (f <= 14)
    near = (f > 50) & (f < 70) & (np.abs(f - 60) > 2)
    i60 = int(np.argmin(np.abs(f - 60)))
    out = {
        "neighbour_corr": corr(_NEIGHBOURS),
        "far_corr": corr(_FAR),
        "pc1_share": float(ev[-1] / ev.sum()),
        "ref_std_uv": float(np.median(y[:, ok].std(axis=0))),
        "bipolar_std_uv": float(np.median(bip.std(axis=0))),
        "dc_offset_uv": float(np.median(np.abs(np.median(scalp[:, ok], axis=0)))),
        "on_grid": float(np.mean(np.abs(scalp * 100 - np.round(scalp * 100)) < 1e-3)),
        "beta_share": float(pm[(f >= 13) & (f <= 30)].sum() / pm[band].sum()),
        "alpha_peak_log10": float(np.max(np.log10(pm[al]) - np.polyval(coef, np.log10(f[al])))),
        "line_db": float(10 * np.log10(pm[i60] / np.median(pm[near]))),
    }
    out.update(_ekg_measures(x[:, _IDX["EKG"]]))
    return out


def _ekg_measures(ekg: np.ndarray) -> dict[str, float]:
    """Heart rate (bpm) and RR coefficient of variation from the EKG channel's R peaks."""
    e = ekg - np.median(ekg)
    if np.abs(e.min()) > np.abs(e.max()):  # R peaks may point down (electrode polarity)
        e = -e
    peaks, _ = scipy.signal.find_peaks(
        e, distance=int(0.35 * FS), height=0.5 * np.percentile(e, 99.5)
    )
    if len(peaks) < 3:
        return {"ekg_bpm": float("nan"), "ekg_rr_cv": float("nan")}
    rr = np.diff(peaks) / FS
    return {"ekg_bpm": float(60 / np.median(rr)), "ekg_rr_cv": float(np.std(rr) / np.mean(rr))}


def spectrogram_measures(values: np.ndarray) -> dict[str, float]:
    """Realism measures of one Kaggle spectrogram ``(rows, 400)``.

    spec_lag1: lag-1 autocorrelation of log row power; spec_dln: median |delta ln| of a cell
    between adjacent rows (cells floored at e^-4); spec_level: mean log row power;
    spec_region_sd: sd of the four regions' mean log power; spec_zero_share,
    spec_subfloor_share (< e^-4), spec_burst_share (> e^8): shares of cells; spec_has_nan.
    """
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v).all(axis=1) & (v.sum(axis=1) > 0)
    w = v[finite]
    row = np.log(w.mean(axis=1))
    logs = np.log(np.maximum(w, np.exp(LOG_FLOOR)))
    adjacent = finite[1:] & finite[:-1]
    d = np.abs(np.diff(np.log(np.maximum(v, np.exp(LOG_FLOOR))), axis=0))[adjacent]
    region = np.log(w.reshape(len(w), len(schema.REGIONS), -1).mean(axis=(0, 2)))
    cells = v[np.isfinite(v)]
    return {
        "spec_lag1": float(np.corrcoef(row[:-1], row[1:])[0, 1]) if len(row) > 2 else float("nan"),
        "spec_dln": float(np.median(d)) if d.size else float("nan"),
        "spec_level": float(np.mean(logs)),
        "spec_region_sd": float(np.std(region)),
        "spec_zero_share": float(np.mean(cells == 0)),
        "spec_subfloor_share": float(np.mean(cells < np.exp(LOG_FLOOR))),
        "spec_burst_share": float(np.mean(cells > np.exp(8))),
        "spec_has_nan": float(np.isnan(v).any()),
    }


def calibration_log_ratio(eeg: np.ndarray, spec: np.ndarray, eeg_start_s: int) -> float:
    """Median ln(file spectrogram / spectrogram recomputed from the EEG) over the rows whose
    frames lie inside the EEG: 0 when ``kaggle_spectrogram`` has the file's power scale.

    eeg: ``(samples, 20)``; spec: ``(rows, 400)`` of the same recording; eeg_start_s: the
    EEG's first sample in spectrogram time (odd seconds; 275 for a label at offset 0 in both).
    """
    ours = kaggle_spectrogram(np.nan_to_num(eeg[FS:]).astype(np.float32)).astype(np.float64)
    first = (eeg_start_s + 1) // schema.SPEC_ROW_S
    theirs = spec[first : first + len(ours)]
    inner = slice(4, min(len(ours), len(theirs)) - 4)
    a, b = theirs[inner], ours[inner]
    ok = (a > 0.05) & (b > 0.05) & np.isfinite(a)
    return float(np.median(np.log(a[ok] / b[ok])))


def label_measures(train: pd.DataFrame) -> dict[str, float]:
    """Label-table measures: class shares of expert_consensus per vote population (``share_
    <pop>_<class>``), EEGs in two populations, patient concordance, EEGs per patient, vote
    entropy and unanimity of high-vote rows."""
    votes = train[list(schema.VOTE_COLUMNS)].to_numpy()
    total = votes.sum(axis=1)
    pop = np.where(total <= 3, "low", np.where(total < schema.HIGH_VOTE_THRESHOLD, "mid", "high"))
    out: dict[str, float] = {}
    for name in ("low", "mid", "high"):
        shares = train.loc[pop == name, schema.CONSENSUS_COLUMN].value_counts(normalize=True)
        for cls in schema.CLASSES:
            out[f"share_{name}_{cls}"] = float(shares.get(cls, 0.0))
    out["two_population_eegs"] = float(
        pd.Series(pop).groupby(train["eeg_id"].to_numpy()).nunique().gt(1).mean()
    )
    per_eeg = train.drop_duplicates("eeg_id")
    same = pairs = multi = 0.0
    groups = per_eeg.groupby("patient_id")[schema.CONSENSUS_COLUMN]
    for _, c in groups:
        k = len(c)
        counts = c.value_counts().to_numpy()
        pairs += k * (k - 1) / 2
        same += float((counts * (counts - 1) / 2).sum())
        multi += len(counts) >= 2
    out["patient_concordance"] = same / pairs if pairs else float("nan")
    out["multi_class_patients"] = multi / groups.ngroups
    epp = per_eeg.groupby("patient_id").size()
    out["eegs_per_patient_mean"] = float(epp.mean())
    out["eegs_per_patient_p90"] = float(epp.quantile(0.9))
    high = total >= schema.HIGH_VOTE_THRESHOLD
    p = votes[high] / total[high, None]
    ent = -np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0).sum(axis=1)
    out["high_entropy"] = float(ent.mean()) if high.any() else float("nan")
    out["high_unanimous"] = float((p.max(axis=1) == 1).mean()) if high.any() else float("nan")
    return out


REAL_SHARES = {  # LABEL_STATS.md / issue 10: expert_consensus shares per vote population, %
    "low": (31.4, 8.6, 8.3, 16.5, 22.7, 12.5),
    "mid": (23.3, 28.3, 21.5, 9.3, 2.7, 15.0),
    "high": (1.5, 18.7, 25.3, 15.6, 13.5, 25.5),
}
LABEL_TARGETS: dict[str, tuple[str, float, float]] = {
    "two_population_eegs": ("0.086", 0.05, 0.12),
    "patient_concordance": ("~0.6", 0.5, 0.7),
    "multi_class_patients": ("~0.56", 0.45, 0.7),
    "eegs_per_patient_mean": ("~8.7", 6.0, 11.0),
    "eegs_per_patient_p90": ("~19", 14.0, 24.0),
    "high_entropy": ("~0.70 nats", 0.6, 0.8),
    "high_unanimous": ("~0.09", 0.05, 0.14),
}
for _pop, _shares in REAL_SHARES.items():
    for _cls, _s in zip(schema.CLASSES, _shares):
        LABEL_TARGETS[f"share_{_pop}_{_cls}"] = (
            f"{_s / 100:.3f}",
            _s / 100 - 0.03,
            _s / 100 + 0.03,
        )


REAL_PAIRS = (  # (split, eeg_id, spectrogram_id, EEG start in spectrogram time, s)
    ("train", 1628180742, 353733, 275),
    ("test", 3911565283, 853520, 275),
)


def _median(frame: pd.DataFrame, key: str) -> float:
    return float(frame[key].median()) if key in frame and frame[key].notna().any() else float("nan")


def signal_summary(comp: Competition, max_eegs: int = 40) -> dict[str, float]:
    """Medians of the EEG and spectrogram measures over the first ``max_eegs`` training EEGs
    (their first 50 s) and spectrograms of ``comp``, and file-level shares (NaN files,
    alpha files, line files, spread of spectrogram levels)."""
    train = comp.read_train()
    eeg_ids = train["eeg_id"].drop_duplicates().to_numpy()
    spec_ids = train["spectrogram_id"].drop_duplicates().to_numpy()
    eeg_rows, nan_files = [], 0
    for eeg_id in eeg_ids:
        x = comp.read_eeg(int(eeg_id))
        nan_files += bool(np.isnan(x).any())
        if len(eeg_rows) < max_eegs:
            m = eeg_measures(x[: schema.EEG_WINDOW_SAMPLES])
            if m:
                eeg_rows.append(m)
    spec_rows = [
        spectrogram_measures(comp.read_spectrogram(int(s)).values) for s in spec_ids[: max_eegs * 2]
    ]
    e, s = pd.DataFrame(eeg_rows), pd.DataFrame(spec_rows)
    out = {k: _median(e, k) for k in e.columns if k not in ("line_db", "alpha_peak_log10")}
    out["alpha_files"] = float((e["alpha_peak_log10"] > 0.1).mean())
    lined = e["line_db"] > 6
    out["line_files"] = float(lined.mean())
    out["line_db"] = _median(e[lined], "line_db")
    out["alpha_peak_log10"] = float(e["alpha_peak_log10"].quantile(0.9))
    out["eeg_nan_files"] = nan_files / len(eeg_ids)
    for k in ("spec_lag1", "spec_dln", "spec_region_sd"):
        out[k] = _median(s, k)
    out["spec_file_sd"] = float(s["spec_level"].std())
    out["spec_zero_share"] = float(s["spec_zero_share"].quantile(0.9))
    out["spec_subfloor_share"] = float(s["spec_subfloor_share"].quantile(0.9))
    out["spec_burst_share"] = float(s["spec_burst_share"].mean())
    out["spec_nan_files"] = float(s["spec_has_nan"].mean())
    return out


def real_summary(real_dir: str | Path) -> dict[str, float]:
    """The same measures on the real files of ``real_dir`` (a competition-shaped folder with
    the real pairs of ``REAL_PAIRS``), including the power calibration of
    ``kaggle_spectrogram`` against them (``spec_calibration``)."""
    comp = Competition(Path(real_dir))
    e, s, cal = [], [], []
    for split, eeg_id, spec_id, start in REAL_PAIRS:
        x = comp.read_eeg(eeg_id, split)
        v = comp.read_spectrogram(spec_id, split).values
        e.append(eeg_measures(x[: schema.EEG_WINDOW_SAMPLES]))
        s.append(spectrogram_measures(v))
        cal.append(calibration_log_ratio(x, v, start))
    ef, sf = pd.DataFrame(e), pd.DataFrame(s)
    out = {k: _median(ef, k) for k in ef.columns}
    out.update({k: _median(sf, k) for k in sf.columns if k != "spec_level"})
    out["spec_file_sd"] = float(sf["spec_level"].std())
    out["spec_calibration"] = float(np.median(cal))
    return out


def synthetic_calibration(comp: Competition, n: int = 5) -> float:
    """``calibration_log_ratio`` of ``comp``'s own first ``n`` NaN-free EEG/spectrogram pairs:
    ~0 when its spectrograms are computed from its EEGs at the calibrated scale."""
    train = comp.read_train().drop_duplicates("eeg_id")
    vals = []
    for r in train.itertuples(index=False):
        x = comp.read_eeg(r.eeg_id)
        if np.isnan(x).any():
            continue
        start = int(r.spectrogram_label_offset_seconds - r.eeg_label_offset_seconds) + 275
        vals.append(calibration_log_ratio(x, comp.read_spectrogram(r.spectrogram_id).values, start))
        if len(vals) >= n:
            break
    return float(np.median(vals)) if vals else float("nan")


def realism_table(
    comp: Competition, real_dir: str | Path | None = None, label_plan: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per measure: ``measure``, ``target`` (issue 10 / LABEL_STATS.md), ``real`` (the
    real files, when ``real_dir`` is given), ``synthetic`` and ``ok`` (inside the target).

    Label measures come from ``label_plan`` when given (e.g. the train.csv of a larger plan of
    the same generator and seed: class shares of 300 EEGs from ~40 patients swing by more
    than the 3 points asked), else from ``comp``'s train.csv.
    """
    synth = signal_summary(comp)
    synth["spec_calibration"] = synthetic_calibration(comp)
    real = real_summary(real_dir) if real_dir is not None else {}
    labels = label_measures(label_plan if label_plan is not None else comp.read_train())
    rows = []
    for key, (target, lo, hi) in {**TARGETS, **LABEL_TARGETS}.items():
        value = labels.get(key, synth.get(key, float("nan")))
        rows.append(
            {
                "measure": key,
                "target": target,
                "real": real.get(key, float("nan")),
                "synthetic": value,
                "ok": bool(lo <= value <= hi) if np.isfinite(value) else False,
            }
        )
    return pd.DataFrame(rows)


def realism_markdown(table: pd.DataFrame) -> str:
    """The realism table as Markdown, numbers to 3 decimals, and a count of targets met."""
    lines = ["| measure | target | real files | synthetic | met |", "|---|---|---|---|---|"]
    for r in table.itertuples(index=False):
        real = "" if not np.isfinite(r.real) else f"{r.real:.3f}"
        lines.append(
            f"| {r.measure} | {r.target} | {real} | {r.synthetic:.3f} | {'yes' if r.ok else 'NO'} |"
        )
    lines.append("")
    lines.append(f"{int(table['ok'].sum())} of {len(table)} targets met.")
    return "\n".join(lines) + "\n"


def realism_report(
    comp: Competition, seed: int, real_dir: str | Path | None, label_eegs: int = 20000
) -> tuple[Path, pd.DataFrame]:
    """Compute ``realism_table`` (label measures on a plan of ``label_eegs`` EEGs of ``seed``;
    0: the competition's own train.csv; the real side when ``real_dir`` holds real files) and
    write it to ``_synth/realism.md`` atomically. Returns (that path, the table)."""
    from hms_kit.data.synth.labels import plan_competition, train_table
    from hms_kit.data.synth.writer import ANSWERS_DIR
    from hms_kit.io import atomic_write_text

    plan = train_table(plan_competition(label_eegs, seed)[0], seed)[0] if label_eegs > 0 else None
    real = Path(real_dir) if real_dir is not None else None
    if real is not None and not (real / "train_eegs").is_dir():
        real = None
    table = realism_table(comp, real, plan)
    text = realism_markdown(table)
    if plan is not None:
        text += f"\nLabel measures on a plan of {label_eegs} EEGs (seed {seed}).\n"
    path = comp.root / ANSWERS_DIR / "realism.md"
    atomic_write_text(path, text)
    return path, table


def gap_closed(oof: pd.DataFrame, truth: pd.DataFrame, threshold: int = 10) -> dict[str, float]:
    """Prior, oracle and model KL on the OOF rows with >= ``threshold`` votes, and the share of
    the prior-to-oracle gap the model closes.

    oof: the kit's oof.csv (``pred_*``, ``target_*``, ``total_votes``, eeg_id, eeg_sub_id);
    truth: ``_synth/train_true_probs.csv``. The prior is the mean target of all OOF rows.
    """
    from hms_kit.scoring.metric import kl_score

    cols = list(schema.VOTE_COLUMNS)
    m = oof.merge(truth, on=["eeg_id", "eeg_sub_id"], how="left", validate="one_to_one")
    t = m[[f"target_{c}" for c in cols]].to_numpy()
    p = m[[f"pred_{c}" for c in cols]].to_numpy()
    o = m[cols].to_numpy()
    high = m["total_votes"].to_numpy() >= threshold
    if not high.any():
        raise ValueError(f"no OOF row has >= {threshold} votes")
    prior = np.tile(t.mean(axis=0), (int(high.sum()), 1))
    out = {
        "prior": kl_score(t[high], prior),
        "oracle": kl_score(t[high], o[high]),
        "model": kl_score(t[high], p[high]),
        "n": float(high.sum()),
    }
    out["closed"] = (out["prior"] - out["model"]) / (out["prior"] - out["oracle"])
    return out


def probe_difficulty(
    comp: Competition, run_dir: str | Path, overrides: list[str] | None = None
) -> dict[str, float]:
    """Train the kit's baseline (``--config baseline``, then ``overrides`` such as
    ``train.n_folds=2`` for a competition of few patients) on ``comp`` into ``run_dir`` and
    return ``gap_closed`` of its OOF predictions: issue 10 asks for at most 0.5."""
    from hms_kit.baseline import train_baseline
    from hms_kit.config import load_config
    from hms_kit.data.synth.writer import ANSWERS_DIR

    train_baseline(comp, load_config("baseline", overrides or []), run_dir)
    oof = pd.read_csv(Path(run_dir) / "oof.csv")
    truth = pd.read_csv(comp.root / ANSWERS_DIR / "train_true_probs.csv")
    return gap_closed(oof, truth)
