"""Figures: the examples as the seed shows them (a Kaggle spectrogram, an EEG, the model
inputs) and a run's learning-rate schedule (lr.png)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hms_kit import schema
from hms_kit.config import InputConfig
from hms_kit.data.competition import Competition
from hms_kit.data.readers import eeg_window, spec_window
from hms_kit.io import atomic_write


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    atomic_write(path, lambda p: fig.savefig(p, dpi=100, format="png"))
    _plt().close(fig)
    return path


def plot_kaggle_spectrogram(window: np.ndarray, path: Path, title: str = "") -> Path:
    """The four regions of a ``(300, 400)`` spectrogram window: log power, time (s) x frequency (Hz)."""
    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=(12, 6), sharex=True, sharey=True)
    t = np.arange(window.shape[0]) * schema.SPEC_ROW_S
    f = np.asarray(schema.SPEC_FREQS_HZ)
    for i, (ax, region) in enumerate(zip(axes.flat, schema.REGIONS)):
        panel = np.log(np.clip(window[:, i * 100 : (i + 1) * 100], np.exp(-4), np.exp(8))).T
        im = ax.pcolormesh(t, f, panel, shading="auto", cmap="viridis")
        ax.set_title(region)
        fig.colorbar(im, ax=ax, label="log power")
    for ax in axes[1]:
        ax.set_xlabel("time in window (s)")
    for ax in axes[:, 0]:
        ax.set_ylabel("frequency (Hz)")
    fig.suptitle(title or "Kaggle spectrogram (600-s window)")
    fig.tight_layout()
    return _save(fig, path)


def plot_eeg(window: np.ndarray, path: Path, title: str = "") -> Path:
    """A ``(10000, 20)`` EEG window: the 19 scalp channels and the 16 bipolar pairs, 50 s."""
    plt = _plt()
    t = np.arange(window.shape[0]) / schema.EEG_RATE_HZ
    fig, (a, b) = plt.subplots(1, 2, figsize=(16, 9), sharex=True)
    x = np.nan_to_num(window)
    step = max(float(np.nanpercentile(np.abs(x[:, :19]), 99)) * 2, 1.0)
    for i in range(len(schema.SCALP_CHANNELS)):
        a.plot(t, x[:, i] - i * step, lw=0.4, color="k")
    a.set_yticks([-i * step for i in range(19)], schema.SCALP_CHANNELS)
    a.set_title("scalp channels")
    pairs = [(r, c[j], c[j + 1]) for r, c in schema.CHAINS.items() for j in range(len(c) - 1)]
    for k, (region, e1, e2) in enumerate(pairs):
        sig = x[:, schema.CHANNEL_INDEX[e1]] - x[:, schema.CHANNEL_INDEX[e2]]
        b.plot(t, sig - k * step, lw=0.4, color=f"C{schema.REGIONS.index(region)}")
    b.set_yticks([-k * step for k in range(len(pairs))], [f"{r} {e1}-{e2}" for r, e1, e2 in pairs])
    b.set_title("bipolar chains (double banana)")
    for ax in (a, b):
        ax.set_xlabel("time (s)")
    fig.suptitle(title or "EEG (50-s window)")
    fig.tight_layout()
    return _save(fig, path)


def plot_inputs(panels_by_class: dict[str, dict[str, np.ndarray]], path: Path) -> Path:
    """For a row of each class, one image per modality: its four ``(128, 256)`` panels stacked."""
    plt = _plt()
    classes = list(panels_by_class)
    mods = list(next(iter(panels_by_class.values())))
    fig, axes = plt.subplots(
        len(classes), len(mods), figsize=(3.2 * len(mods), 3.0 * len(classes)), squeeze=False
    )
    for i, cls in enumerate(classes):
        for j, m in enumerate(mods):
            # row 0 of a panel is its lowest frequency: flip so low sits at the bottom
            img = np.concatenate([p[::-1] for p in panels_by_class[cls][m]], axis=0)
            axes[i, j].imshow(img, aspect="auto", cmap="magma", origin="upper")
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([64 + 128 * k for k in range(4)], schema.REGIONS)
            if i == 0:
                axes[i, j].set_title(m)
            if j == 0:
                axes[i, j].set_ylabel(cls, fontsize=12)
    fig.suptitle("model input panels per modality (128 x 256 each; time to the right)")
    fig.tight_layout()
    return _save(fig, path)


def example_rows(train: pd.DataFrame) -> pd.DataFrame:
    """One row per class: the one with the most votes for its consensus (first if tied)."""
    votes = train[list(schema.VOTE_COLUMNS)].to_numpy()
    share = votes.max(axis=1) * votes.sum(axis=1)
    order = train.assign(_s=share).sort_values("_s", ascending=False, kind="stable")
    return order.drop_duplicates(schema.CONSENSUS_COLUMN).set_index(schema.CONSENSUS_COLUMN)


def write_figures(comp: Competition, out: Path, cfg: InputConfig | None = None) -> list[Path]:
    """spectrogram.png, eeg.png and inputs.png (every modality, a row of each class) in ``out``."""
    from hms_kit.inputs import row_panels

    cfg = cfg or InputConfig()
    out.mkdir(parents=True, exist_ok=True)
    train = comp.read_train()
    rows = example_rows(train)
    first = rows.iloc[0]
    spec = comp.read_spectrogram(first.spectrogram_id)
    eeg = comp.read_eeg(first.eeg_id)
    written = [
        plot_kaggle_spectrogram(
            spec_window(spec, first.spectrogram_label_offset_seconds),
            out / "spectrogram.png",
            f"Kaggle spectrogram {int(first.spectrogram_id)} ({rows.index[0]})",
        ),
        plot_eeg(
            eeg_window(eeg, first.eeg_label_offset_seconds),
            out / "eeg.png",
            f"EEG {int(first.eeg_id)} ({rows.index[0]})",
        ),
    ]
    panels: dict[str, dict[str, np.ndarray]] = {}
    for cls in [c for c in schema.CLASSES if c in rows.index]:
        r = rows.loc[cls]
        sw = spec_window(
            comp.read_spectrogram(r.spectrogram_id), r.spectrogram_label_offset_seconds
        )
        ew = eeg_window(comp.read_eeg(r.eeg_id), r.eeg_label_offset_seconds)
        panels[cls] = {
            m: row_panels(m, eeg_window=ew, spec_window=sw, cfg=cfg) for m in schema.MODALITIES
        }
    written.append(plot_inputs(panels, out / "inputs.png"))
    return written


def plot_lr(run_dir: Path) -> Path | None:
    """lr.png: the learning rate per step of both stages of the first fold trained."""
    finals = sorted((run_dir / "checkpoints").glob("fold*_best.pt"))
    if not finals:
        return None
    from hms_kit.checkpoint import CheckpointError, load_checkpoint  # here: it brings torch
    from hms_kit.runlog import logger

    try:
        lrs = load_checkpoint(finals[0], check_finite=False).get("lrs_by_stage", {})
    except CheckpointError as exc:
        logger().warning("lr.png not drawn: %s", exc)
        return None
    if not lrs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    offset = 0
    for stage in sorted(lrs):
        y = lrs[stage]
        ax.plot(range(offset, offset + len(y)), y, label=f"stage {stage}")
        offset += len(y)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.set_title(f"OneCycleLR schedule ({finals[0].stem})")
    ax.legend()
    fig.tight_layout()
    path = run_dir / "lr.png"
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)
    return path
