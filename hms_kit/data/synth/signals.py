"""Synthetic EEG signals: a clinician-recognisable background plus the six classes' patterns.

Every array here is ``(samples, 20) float32``, microvolts at ``schema.EEG_RATE_HZ`` (200 Hz),
columns in ``schema.EEG_CHANNELS`` order (19 scalp electrodes + EKG).

Patterns are written as a waveform times a spatial field over the scalp (electrode positions
on a flat 10-20 map). The field matters: Kaggle's spectrograms use bipolar derivations
(differences of neighbouring electrodes, ``schema.CHAINS``), in which a waveform of equal
amplitude on every electrode cancels. A field with a focus (lateralised patterns) or a
front-to-back gradient (generalised ones) keeps the pattern visible in the bipolar montage,
as it is in real recordings.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from hms_kit import schema

FS = schema.EEG_RATE_HZ
CH = schema.CHANNEL_INDEX
N_SCALP = len(schema.SCALP_CHANNELS)
EKG = CH["EKG"]

# Flat 10-20 map: x from left (-1) to right (+1), y from back (-1) to front (+1).
POSITIONS: dict[str, tuple[float, float]] = {
    "Fp1": (-0.3, 0.95), "Fp2": (0.3, 0.95),
    "F7": (-0.8, 0.6), "F3": (-0.4, 0.5), "Fz": (0.0, 0.5), "F4": (0.4, 0.5), "F8": (0.8, 0.6),
    "T3": (-1.0, 0.0), "C3": (-0.5, 0.0), "Cz": (0.0, 0.0), "C4": (0.5, 0.0), "T4": (1.0, 0.0),
    "T5": (-0.8, -0.6), "P3": (-0.4, -0.5), "Pz": (0.0, -0.5), "P4": (0.4, -0.5), "T6": (0.8, -0.6),
    "O1": (-0.3, -0.95), "O2": (0.3, -0.95),
}  # fmt: skip
XY = np.array([POSITIONS[c] for c in schema.SCALP_CHANNELS])  # (19, 2)
# Foci of lateralised patterns, left side; the right side is their mirror image.
LEFT_FOCI = ("F7", "T3", "C3", "F3", "T5", "P3")

# Peak amplitude (microvolts, at the field's maximum) of each class pattern at full strength:
# several times the background so a small model trained from scratch picks them up.
PATTERN_UV: dict[str, float] = {
    "Seizure": 140.0,
    "LPD": 200.0,
    "GPD": 200.0,
    "LRDA": 130.0,
    "GRDA": 130.0,
}
BACKGROUND_UV = 20.0  # per-channel standard deviation of the 1/f background
# Background power falls as 1/f^PINK_EXPONENT: a little steeper than pink, as real EEG does.
PINK_EXPONENT = 1.3
PINK_MAX_HZ = 45.0  # the background spectrum ends here, as after an amplifier's low-pass


def _field(focus_xy: np.ndarray, width: float) -> np.ndarray:
    """``(19,)`` Gaussian field around ``focus_xy``, 1 at the focus."""
    d2 = ((XY - focus_xy) ** 2).sum(axis=1)
    return np.exp(-d2 / (2 * width**2))


def lateral_field(rng: np.random.Generator, left: bool, width: float = 0.45) -> np.ndarray:
    """``(20,) float64`` weights of a focal field on one hemisphere (EKG weight 0)."""
    focus = np.array(POSITIONS[LEFT_FOCI[rng.integers(len(LEFT_FOCI))]])
    if not left:
        focus = focus * np.array([-1.0, 1.0])
    w = np.zeros(len(schema.EEG_CHANNELS))
    w[:N_SCALP] = _field(focus, width) * rng.uniform(0.85, 1.15, size=N_SCALP)
    return w


def generalized_field(rng: np.random.Generator, frontal: float) -> np.ndarray:
    """``(20,) float64`` weights on every scalp electrode, larger towards the front.

    ``frontal`` in [0, 1]: 0 flat (apart from a per-electrode jitter), 1 a strong frontal
    emphasis (frontal poles ~4x the occipital electrodes).
    """
    front = (XY[:, 1] + 1) / 2  # 0 at the back, 1 at the front
    w = np.zeros(len(schema.EEG_CHANNELS))
    w[:N_SCALP] = (1 - frontal * 0.75 * (1 - front)) * rng.uniform(0.7, 1.3, size=N_SCALP)
    return w


def pink_noise(rng: np.random.Generator, n: int, channels: int) -> np.ndarray:
    """``(n, channels) float32`` independent 1/f noise, unit standard deviation per channel.

    Synthesised in the frequency domain (random complex amplitudes ~ f^(-PINK_EXPONENT/2),
    one inverse FFT); nothing above ``PINK_MAX_HZ``, which also halves the random numbers
    drawn.
    """
    m = scipy.fft.next_fast_len(n, real=True)  # drawn a little longer, then cut: FFT speed
    freqs = np.fft.rfftfreq(m, 1 / FS)
    k = int(np.searchsorted(freqs, PINK_MAX_HZ))
    z = rng.standard_normal((k, 2 * channels), dtype=np.float32)
    amp = (np.maximum(freqs[:k], 0.3) ** (-PINK_EXPONENT / 2)).astype(np.float32)
    amp[0] = 0  # no DC offset
    spec = np.zeros((m // 2 + 1, channels), dtype=np.complex64)
    spec[:k].real = z[:, :channels] * amp[:, None]
    spec[:k].imag = z[:, channels:] * amp[:, None]
    # Parseval: the expected variance of each sample is 4 * sum(amp^2) / m^2 (bins counted
    # twice by the real inverse transform, E|z|^2 = 2); dividing by it spares a pass over x
    x = scipy.fft.irfft(spec, n=m, axis=0)[:n]
    x *= np.float32(m / np.sqrt(4 * np.sum(amp.astype(np.float64) ** 2)))
    return x


def _ekg(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """``(n,)`` QRS-like spike train (60-90 beats per minute), R peak 0.5-1 mV."""
    rate = rng.uniform(1.0, 1.5)
    phase = (t * rate + rng.uniform()) % 1.0
    r = np.exp(-((phase - 0.3) ** 2) / (2 * 0.012**2))
    s = np.exp(-((phase - 0.335) ** 2) / (2 * 0.015**2))
    tw = np.exp(-((phase - 0.6) ** 2) / (2 * 0.05**2))
    return rng.uniform(500, 1000) * (r - 0.3 * s + 0.2 * tw)


def background(rng: np.random.Generator, n: int) -> np.ndarray:
    """Background EEG of ``n`` samples: ``(n, 20) float32`` microvolts.

    1/f noise per electrode, waxing and waning posterior alpha (8-12 Hz, strongest at
    O1/O2/P3/P4), an EKG channel with a little leakage into the scalp, eye blinks (large slow
    deflections at Fp1/Fp2) and muscle bursts (high-frequency noise on temporal electrodes).
    """
    x = np.empty((n, len(schema.EEG_CHANNELS)), dtype=np.float32)
    x[:, :N_SCALP] = BACKGROUND_UV * pink_noise(rng, n, N_SCALP)
    t = np.arange(n, dtype=np.float32) / FS
    # posterior alpha: waxing and waning, as in a relaxed patient with eyes closed
    alpha_env = rng.uniform(8, 20) * (
        0.6 + 0.4 * np.sin(2 * np.pi * t / rng.uniform(4, 12) + rng.uniform(0, 6))
    )
    alpha = alpha_env * np.sin(2 * np.pi * rng.uniform(8.5, 11.5) * t)
    x[:, :N_SCALP] += np.outer(alpha, _field(np.array([0.0, -0.85]), 0.45)).astype(np.float32)
    ekg = _ekg(rng, t).astype(np.float32)
    x[:, EKG] = ekg + 15 * rng.standard_normal(n, dtype=np.float32)
    # EKG leaks into the scalp unevenly (it depends on the electrode's distance to the heart)
    x[:, :N_SCALP] += np.outer(ekg, rng.uniform(0.005, 0.03, size=N_SCALP)).astype(np.float32)
    _add_blinks(rng, x)
    _add_muscle(rng, x)
    return x


def _add_blinks(rng: np.random.Generator, x: np.ndarray) -> None:
    n = x.shape[0]
    rate = rng.choice([0.0, 0.05, 0.15])  # some patients do not blink (eyes closed, sedated)
    tt = np.arange(-FS // 2, FS // 2) / FS
    chans = [CH[c] for c in ("Fp1", "Fp2", "F3", "F4", "F7", "F8")]
    weights = np.array([1.0, 1.0, 0.3, 0.3, 0.3, 0.3], dtype=np.float32)
    for start in rng.uniform(0, n, size=rng.poisson(rate * n / FS)).astype(int):
        bump = rng.uniform(80, 200) * np.exp(-(tt**2) / (2 * 0.12**2))
        seg = slice(max(0, start - FS // 2), min(n, start + FS // 2))
        lo = seg.start - (start - FS // 2)
        x[seg, chans] += np.outer(bump[lo : lo + seg.stop - seg.start], weights)


def _add_muscle(rng: np.random.Generator, x: np.ndarray) -> None:
    n = x.shape[0]
    temporal = [CH[c] for c in ("F7", "T3", "T5", "F8", "T4", "T6")]
    for start in rng.uniform(0, n, size=rng.poisson(n / FS / 40)).astype(int):
        stop = min(n, start + int(rng.uniform(0.5, 3.0) * FS))
        side = temporal[:3] if rng.random() < 0.5 else temporal[3:]
        # a first difference of white noise: muscle power sits mostly above 20 Hz
        noise = np.diff(rng.standard_normal((stop - start + 1, 3), dtype=np.float32), axis=0)
        x[start:stop, side] += rng.uniform(10, 30) * noise


def _discharge_train(
    rng: np.random.Generator, n: int, rate_hz: float, triphasic: bool = False
) -> np.ndarray:
    """``(n,) float32`` periodic sharp discharges at ``rate_hz`` with jitter, peak ~1."""
    tt = np.arange(-FS // 2, FS // 2) / FS
    # a sharp spike (sigma 20-40 ms) followed by a slow wave of opposite sign (~150 ms)
    sharp = rng.uniform(0.02, 0.04)
    wave = np.exp(-(tt**2) / (2 * sharp**2)) - 0.5 * np.exp(
        -((tt - 0.12) ** 2) / (2 * rng.uniform(0.06, 0.09) ** 2)
    )
    if triphasic:  # a small negative wave before the main one
        wave -= 0.3 * np.exp(-((tt + 1.5 * sharp) ** 2) / (2 * sharp**2))
    out = np.zeros(n + FS, dtype=np.float32)  # half a second of slack each side
    period = FS / rate_hz
    starts = np.arange(rng.uniform(0, period), n, period)
    starts = (starts + rng.normal(0, 0.04 * FS, size=len(starts))).astype(int)
    for s in np.clip(starts, 0, n - 1):
        out[s : s + FS] += wave
    return out[FS // 2 : FS // 2 + n]


def class_pattern(cls: str, rng: np.random.Generator, n: int, strength: float) -> np.ndarray:
    """One class's pattern as an additive ``(n, 20) float32`` signal, microvolts.

    strength in (0, 1] scales ``PATTERN_UV[cls]``. Seizure: repeated evolving discharges, a
    chirp from ~3 to ~8 Hz with growing amplitude over 10-30 s, focal or spreading from a
    focus to both hemispheres; LPD: sharp discharges every ~1 s over one hemisphere; GPD:
    discharges on every electrode, bilaterally synchronous; LRDA: 1-3 Hz rhythmic delta over
    one hemisphere; GRDA: 1-3 Hz rhythmic delta everywhere, frontal emphasis. ``Other``
    has no pattern (zeros).
    """
    if cls not in schema.CLASSES:
        raise ValueError(f"unknown class {cls!r}; expected one of {schema.CLASSES}")
    out = np.zeros((n, len(schema.EEG_CHANNELS)), dtype=np.float32)
    if cls == "Other":
        return out
    amp = PATTERN_UV[cls] * strength
    t = np.arange(n) / FS
    left = bool(rng.random() < 0.5)
    if cls == "Seizure":
        # events of 10-30 s back to back: frequency rises 3 -> 8 Hz, amplitude grows
        u = np.empty(n)
        pos = 0
        while pos < n:
            length = int(rng.uniform(10, 30) * FS)
            u[pos : pos + length] = np.linspace(0, 1, length, endpoint=False)[: n - pos]
            pos += length
        f = rng.uniform(2.5, 3.5) + rng.uniform(4, 5.5) * u
        phase = 2 * np.pi * np.cumsum(f) / FS
        wave = ((0.35 + 0.65 * u) * (np.sin(phase) + 0.35 * np.sin(2 * phase))).astype(np.float32)
        focal = lateral_field(rng, left, width=0.55)
        if rng.random() < 0.5:  # spreading: the field widens to both hemispheres as u grows
            spread = generalized_field(rng, frontal=0.3)
            out += np.outer(wave * amp * (1 - u), focal).astype(np.float32)
            out += np.outer(wave * amp * u, np.maximum(focal, spread)).astype(np.float32)
        else:
            out += np.outer(wave * amp, focal).astype(np.float32)
    elif cls == "LPD":
        wave = _discharge_train(rng, n, rng.uniform(0.7, 1.5))
        out += np.outer(wave * amp, lateral_field(rng, left)).astype(np.float32)
    elif cls == "GPD":
        wave = _discharge_train(rng, n, rng.uniform(1.0, 2.0), triphasic=rng.random() < 0.5)
        out += np.outer(wave * amp, generalized_field(rng, frontal=1.0)).astype(np.float32)
    else:  # LRDA, GRDA: rhythmic delta with a slow amplitude modulation
        f = rng.uniform(1.2, 2.8)
        env = 0.8 + 0.2 * np.sin(2 * np.pi * t / rng.uniform(5, 15))
        wave = (env * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))).astype(np.float32)
        field = lateral_field(rng, left) if cls == "LRDA" else generalized_field(rng, 1.0)
        out += np.outer(wave * amp, field).astype(np.float32)
    return out


def pattern_strengths(probs: np.ndarray, min_prob: float = 0.15) -> dict[str, float]:
    """How strongly each class shows in an EEG whose true class probabilities are ``probs``.

    probs: ``(6,)`` in ``schema.CLASSES`` order. The most likely class shows at 0.6-1.0
    (stronger the surer the experts would be); any other class with probability >=
    ``min_prob`` shows in proportion to its probability relative to the top one, so a
    60/40 LPD/GPD EEG carries both patterns. ``Other`` contributes nothing.
    """
    top = float(probs.max())
    out = {}
    for k, cls in enumerate(schema.CLASSES):
        if cls == "Other" or probs[k] < min_prob:
            continue
        out[cls] = float((0.6 + 0.4 * top) * probs[k] / top)
    return out


def add_patterns(
    rng: np.random.Generator, x: np.ndarray, start: int, stop: int, probs: np.ndarray
) -> None:
    """Add the patterns of ``probs`` (see ``pattern_strengths``) to ``x[start:stop]`` in place."""
    for cls, strength in pattern_strengths(probs).items():
        x[start:stop] += class_pattern(cls, rng, stop - start, strength)


def add_nan_run(rng: np.random.Generator, x: np.ndarray, start: int, stop: int) -> None:
    """NaN every channel over a 1-20 s run inside ``x[start:stop]`` (a recording gap)."""
    length = int(rng.uniform(1, 20) * FS)
    a = int(rng.integers(start, max(start + 1, stop - length)))
    x[a : min(stop, a + length)] = np.nan
