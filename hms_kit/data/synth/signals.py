"""Synthetic EEG signals (generator 4): a spatially correlated ICU background and the six
classes' patterns, told apart the way the ACNS critical-care terminology tells them apart.

Every array here is ``(samples, 20) float32``, microvolts at ``schema.EEG_RATE_HZ`` (200 Hz),
columns in ``schema.EEG_CHANNELS`` order (19 scalp electrodes + EKG).

What makes the data as hard as the real data, in the same ways:

- The background is common-mode and spatially smooth in every class (a referential
  recording shares its reference; cortex is smooth at the scale of electrode spacing), so
  correlation between electrodes does not give a class away.
- Band powers are ambiguous: every recording has its own gain, per-electrode gains, 1/f
  slope, polymorphic delta slowing (focal or diffuse, in any class) and artefacts that
  mimic patterns (rhythmic frontal eye movements, electrode pops, chewing); "Other" often
  carries sporadic discharges. What separates the classes is what band powers are blind
  to: morphology (sharp or triphasic discharges against rounded delta), periodicity and its
  rate (discharges at 0.5-2.5 Hz; periodic versus rhythmic), a seizure's evolution in
  frequency, amplitude and field, and lateralisation against the correlated background.
- Patterns are intermittent and of random strength: how strongly a pattern shows is drawn
  per recording, not read from the experts' probabilities.

Patterns are a waveform times a spatial field over the scalp (electrode positions on a flat
10-20 map). Kaggle's spectrograms use bipolar derivations (``schema.CHAINS``), in which an
equal waveform on every electrode cancels; a field with a focus (lateralised patterns) or a
front-to-back gradient (generalised ones) keeps the pattern visible there, as in real EEG.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.signal

from hms_kit import schema

FS = schema.EEG_RATE_HZ
CH = schema.CHANNEL_INDEX
N_SCALP = len(schema.SCALP_CHANNELS)
N_CH = len(schema.EEG_CHANNELS)
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

# Peak amplitude (microvolts at the field's maximum) of each pattern at strength 1. A
# recording's strength is drawn from PATTERN_STRENGTH, so patterns range from barely above
# the background to clear.
PATTERN_UV: dict[str, float] = {
    "Seizure": 75.0,
    "LPD": 80.0,
    "GPD": 80.0,
    "LRDA": 60.0,
    "GRDA": 60.0,
}
PATTERN_STRENGTH = (0.35, 1.1)  # uniform range of a recording's pattern strength
# Referential 0.5-20 Hz standard deviation of the background before the recording's gain
# (real files: 11-17 microvolts referential, 8-11 bipolar).
BACKGROUND_UV = 8.5
RECORDING_GAIN_SD = 0.22  # log-sd of a recording's amplitude: ~0.45 in log power
ELECTRODE_GAIN_SD = 0.12  # log-sd of one electrode's gain (impedance, placement)
PINK_EXPONENT = (1.0, 1.4)  # range of the background's 1/f^a slope, one per recording
# Shares of background variance: common mode (the shared reference), a few smooth sources
# over the scalp, and electrode noise. Tuned so neighbouring electrodes correlate at
# 0.45-0.8, far ones at 0-0.5 and the first principal component holds 55-85 %.
COMMON_SHARE = (0.1, 0.3)
LOCAL_SHARE = 0.15
N_SOURCES = 10
SOURCE_WIDTH = 0.42


@dataclass
class RecordingStyle:
    """What one recording (one patient on one day, one amplifier) looks like, whatever its
    class: drawn once per recording by ``draw_style``.

    gain: amplitude factor of the whole recording; electrode_gain: ``(20,)``; dc: ``(20,)``
    microvolts; exponent: 1/f slope; common: common-mode share; alpha_uv: posterior alpha
    amplitude (0: none); line_db: 60 Hz line above the local background in dB (0: none);
    ekg_bpm; slowing_uv: polymorphic delta amplitude; slowing_focal: its field is focal
    (else diffuse); discharges_per_min: sporadic discharges (any class, mostly Other);
    mimic_rate: artefacts that mimic patterns per minute.
    """

    gain: float
    electrode_gain: np.ndarray
    dc: np.ndarray
    exponent: float
    common: float
    alpha_uv: float
    line_db: float
    ekg_bpm: float
    slowing_uv: float
    slowing_focal: bool
    discharges_per_min: float
    mimic_rate: float


def draw_style(rng: np.random.Generator, cls: str) -> RecordingStyle:
    """A recording's style; ``cls`` (the class its first EEG shows) only changes how likely
    "Other"-type content is (its own slowing and sporadic discharges)."""
    other = cls == "Other"
    electrode_gain = np.exp(rng.normal(0, ELECTRODE_GAIN_SD, N_CH))
    electrode_gain[EKG] = 1.0
    dc = rng.choice([-1.0, 1.0]) * rng.uniform(10, 130) + rng.normal(0, 12, N_CH)
    dc[EKG] = rng.normal(0, 30)
    slowing = rng.random() < (0.75 if other else 0.45)
    return RecordingStyle(
        gain=float(np.exp(rng.normal(0, RECORDING_GAIN_SD))),
        electrode_gain=electrode_gain,
        dc=dc,
        exponent=float(rng.uniform(*PINK_EXPONENT)),
        common=float(rng.uniform(*COMMON_SHARE)),
        alpha_uv=float(rng.uniform(2, 5)) if rng.random() < 0.35 else 0.0,
        line_db=float(rng.uniform(10, 40)) if rng.random() < 0.3 else 0.0,
        ekg_bpm=float(rng.uniform(80, 130)),
        slowing_uv=float(rng.uniform(8, 35)) if slowing else 0.0,
        slowing_focal=bool(rng.random() < 0.5),
        discharges_per_min=float(rng.uniform(2, 12))
        if rng.random() < (0.5 if other else 0.15)
        else 0.0,
        mimic_rate=float(rng.uniform(0.2, 2.0)) if rng.random() < 0.5 else 0.0,
    )


def _field(focus_xy: np.ndarray, width: float) -> np.ndarray:
    """``(19,)`` Gaussian field around ``focus_xy``, 1 at the focus."""
    d2 = ((XY - focus_xy) ** 2).sum(axis=1)
    return np.exp(-d2 / (2 * width**2))


def lateral_field(rng: np.random.Generator, left: bool, width: float = 0.5) -> np.ndarray:
    """``(20,) float64`` weights of a focal field on one hemisphere (EKG weight 0)."""
    focus = np.array(POSITIONS[LEFT_FOCI[rng.integers(len(LEFT_FOCI))]])
    if not left:
        focus = focus * np.array([-1.0, 1.0])
    w = np.zeros(N_CH)
    w[:N_SCALP] = _field(focus, width) * rng.uniform(0.85, 1.15, size=N_SCALP)
    return w


def generalized_field(rng: np.random.Generator, frontal: float) -> np.ndarray:
    """``(20,) float64`` weights on every scalp electrode, larger towards the front.

    ``frontal`` in [0, 1]: 0 flat (apart from a per-electrode jitter), 1 a strong frontal
    emphasis (frontal poles ~4x the occipital electrodes).
    """
    front = (XY[:, 1] + 1) / 2  # 0 at the back, 1 at the front
    w = np.zeros(N_CH)
    w[:N_SCALP] = (1 - frontal * 0.75 * (1 - front)) * rng.uniform(0.8, 1.2, size=N_SCALP)
    return w


def pink_noise(
    rng: np.random.Generator, n: int, channels: int, exponent: float = 1.3, max_hz: float = 45.0
) -> np.ndarray:
    """``(n, channels) float32`` independent 1/f^exponent noise, unit std per channel.

    Synthesised in the frequency domain (random complex amplitudes ~ f^(-exponent/2), one
    inverse FFT); nothing above ``max_hz`` (an amplifier's low-pass), which also saves the
    random numbers there.
    """
    m = scipy.fft.next_fast_len(n, real=True)  # drawn a little longer, then cut: FFT speed
    freqs = np.fft.rfftfreq(m, 1 / FS)
    k = int(np.searchsorted(freqs, max_hz))
    z = rng.standard_normal((k, 2 * channels), dtype=np.float32)
    amp = (np.maximum(freqs[:k], 0.3) ** (-exponent / 2)).astype(np.float32)
    amp[0] = 0  # the DC offset is added on its own
    spec = np.zeros((m // 2 + 1, channels), dtype=np.complex64)
    spec[:k].real = z[:, :channels] * amp[:, None]
    spec[:k].imag = z[:, channels:] * amp[:, None]
    # Parseval: the expected variance of each sample is 4 * sum(amp^2) / m^2 (bins counted
    # twice by the real inverse transform, E|z|^2 = 2)
    x = scipy.fft.irfft(spec, n=m, axis=0)[:n]
    x *= np.float32(m / np.sqrt(4 * np.sum(amp.astype(np.float64) ** 2)))
    return x


def band_noise(rng: np.random.Generator, n: int, channels: int, lo: float, hi: float) -> np.ndarray:
    """``(n, channels) float32`` noise band-limited to ``lo``-``hi`` Hz, unit std."""
    m = scipy.fft.next_fast_len(n, real=True)
    freqs = np.fft.rfftfreq(m, 1 / FS)
    a, b = int(np.searchsorted(freqs, lo)), int(np.searchsorted(freqs, hi))
    spec = np.zeros((m // 2 + 1, channels), dtype=np.complex64)
    z = rng.standard_normal((b - a, 2 * channels), dtype=np.float32)
    spec[a:b].real, spec[a:b].imag = z[:, :channels], z[:, channels:]
    x = scipy.fft.irfft(spec, n=m, axis=0)[:n]
    x *= np.float32(m / np.sqrt(4 * max(b - a, 1)))
    return x


def _slow_envelope(rng: np.random.Generator, n: int, period_s: float, depth: float) -> np.ndarray:
    """``(n,) float32`` positive envelope exp(depth * smooth noise), knots every period_s:
    state changes over minutes (sleep, sedation, arousal)."""
    knots = rng.normal(0, depth, int(n / (period_s * FS)) + 2)
    env = np.interp(np.arange(n) / (period_s * FS), np.arange(len(knots)), knots)
    return np.exp(env).astype(np.float32)


def _mixing(rng: np.random.Generator, common: float) -> np.ndarray:
    """``(2 + N_SOURCES, 19)`` weights of common mode, a front-back gradient and smooth
    sources on the electrodes; every electrode's variance sums to about 1 with the local
    noise added apart."""
    centres = rng.uniform(-1, 1, size=(N_SOURCES, 2))
    fields = np.stack([_field(c, SOURCE_WIDTH * rng.uniform(0.8, 1.3)) for c in centres])
    fields /= np.sqrt((fields**2).sum(axis=0, keepdims=True))  # each electrode: unit sum
    gradient = XY[:, 1] * rng.uniform(0.2, 0.4)
    smooth = 1 - common - LOCAL_SHARE - float(np.mean(gradient**2))
    return np.vstack(
        [
            np.full((1, N_SCALP), np.sqrt(common)) * rng.uniform(0.85, 1.15, N_SCALP),
            gradient[None, :],
            fields * np.sqrt(max(smooth, 0.05)),
        ]
    )


def background(rng: np.random.Generator, n: int, style: RecordingStyle | None = None) -> np.ndarray:
    """Background EEG of ``n`` samples: ``(n, 20) float32`` microvolts, no DC offset.

    Common-mode plus smooth sources (1/f noise) over the scalp with a little electrode
    noise; beta from the recording's 1/f slope; in some recordings a waxing and waning
    posterior alpha (narrow-band noise, not a sine) and a 60 Hz line; polymorphic delta
    slowing (focal or diffuse) in some; slow state changes over minutes; an EKG channel
    (80-130 bpm, beat-to-beat jitter) leaking into the scalp; eye blinks and muscle. The
    recording's gain, electrode gains and DC offsets come last, in ``finish``.
    """
    style = style or draw_style(rng, "Other")
    mix = _mixing(rng, style.common)
    sources = pink_noise(rng, n, mix.shape[0], style.exponent)
    x = np.zeros((n, N_CH), dtype=np.float32)
    scalp = x[:, :N_SCALP]
    scalp += sources @ mix.astype(np.float32)
    scalp += np.sqrt(LOCAL_SHARE) * pink_noise(rng, n, N_SCALP, 0.8, max_hz=95.0)
    # the 0.5-20 Hz part of unit 1/f^a noise is most of it; this keeps the band std on target
    scalp *= np.float32(BACKGROUND_UV / _band_fraction(style.exponent))
    # beta (13-28 Hz), electrode by electrode: drugs and arousal give ICU EEG more of it
    # than a 1/f line does
    scalp += rng.uniform(2.5, 6.0) * band_noise(rng, n, N_SCALP, 13.0, 28.0)
    scalp *= _slow_envelope(rng, n, rng.uniform(60, 240), 0.2)[:, None]
    t = np.arange(n, dtype=np.float32) / FS
    if style.alpha_uv > 0:
        env = 0.6 + 0.4 * np.sin(2 * np.pi * t / rng.uniform(4, 12) + rng.uniform(0, 6))
        f0 = rng.uniform(8.0, 11.0)
        alpha = band_noise(rng, n, 1, f0 - 0.8, f0 + 0.8)[:, 0] * env * style.alpha_uv
        scalp += np.outer(alpha, _field(np.array([0.0, -0.85]), 0.5)).astype(np.float32)
    if style.slowing_uv > 0:
        _add_slowing(rng, x, style)
    if style.line_db > 0:
        _add_line(rng, x, style.line_db)
    ekg = _ekg(rng, n, style.ekg_bpm)
    x[:, EKG] = ekg + 10 * rng.standard_normal(n, dtype=np.float32)
    # EKG leaks into the scalp unevenly (it depends on the electrode's distance to the heart)
    scalp += np.outer(ekg, rng.uniform(0.003, 0.02, size=N_SCALP)).astype(np.float32)
    _add_blinks(rng, x)
    _add_muscle(rng, x)
    return x


def _band_fraction(exponent: float) -> float:
    """Std of the 0.5-20 Hz part of unit-variance 1/f^exponent noise (0.3-45 Hz)."""
    f = np.linspace(0.3, 45, 2000)
    p = f**-exponent
    return float(np.sqrt(p[(f >= 0.5) & (f <= 20)].sum() / p.sum()))


def _add_slowing(rng: np.random.Generator, x: np.ndarray, style: RecordingStyle) -> None:
    """Polymorphic (irregular, non-rhythmic) delta, 0.5-3.5 Hz, smooth over the scalp."""
    n = x.shape[0]
    if style.slowing_focal:
        field = lateral_field(rng, bool(rng.random() < 0.5), width=0.6)[:N_SCALP]
    else:
        field = generalized_field(rng, rng.uniform(0, 1))[:N_SCALP]
    delta = band_noise(rng, n, 2, 0.5, 3.5)
    env = _slow_envelope(rng, n, rng.uniform(5, 20), 0.5)
    wave = (delta[:, 0] * env * style.slowing_uv).astype(np.float32)
    x[:, :N_SCALP] += np.outer(wave, field).astype(np.float32)
    # a second, less smooth component keeps neighbouring bipolar pairs from cancelling it
    x[:, :N_SCALP] += np.outer(delta[:, 1] * 0.3 * style.slowing_uv, rng.uniform(0.3, 1, N_SCALP))


def _add_line(rng: np.random.Generator, x: np.ndarray, db: float) -> None:
    """A 60 Hz mains line ``db`` above the background around 60 Hz on the scalp channels."""
    n = x.shape[0]
    seg = x[: min(n, 10 * FS), 0].astype(np.float64)
    f, p = scipy.signal.welch(seg, fs=FS, nperseg=min(len(seg), 1024))
    floor = float(np.median(p[(f > 50) & (f < 70)])) + 1e-6
    # a sine of amplitude A peaks at A^2/2 / (1.5 fs / 1024) in a Hann-window Welch estimate
    amp = np.sqrt(floor * 10 ** (db / 10) * 2 * 1.5 * FS / 1024)
    t = np.arange(n) / FS
    line = (amp * np.sin(2 * np.pi * 60 * t + rng.uniform(0, 6))).astype(np.float32)
    x[:, :N_SCALP] += np.outer(line, rng.uniform(0.6, 1.4, N_SCALP)).astype(np.float32)


def _ekg(rng: np.random.Generator, n: int, bpm: float) -> np.ndarray:
    """``(n,) float32`` QRS-like beats at ``bpm`` with 2-5 % beat-to-beat jitter."""
    rr = 60.0 / bpm
    beats = np.cumsum(
        rr * (1 + rng.uniform(0.02, 0.05) * rng.standard_normal(int(n / FS / rr) + 3))
    )
    beats = (beats - rng.uniform(0, rr)) * FS
    tt = np.arange(-FS // 4, FS // 2) / FS
    beat = (
        np.exp(-(tt**2) / (2 * 0.012**2))
        - 0.3 * np.exp(-((tt - 0.035) ** 2) / (2 * 0.015**2))
        + 0.2 * np.exp(-((tt - 0.3 * rr) ** 2) / (2 * 0.05**2))
    ) * rng.uniform(150, 800)
    out = np.zeros(n + FS, dtype=np.float32)
    for b in beats.astype(int):
        a = b - FS // 4 + FS // 2  # slack of half a second before sample 0
        if 0 <= a and a + len(beat) <= len(out):
            out[a : a + len(beat)] += beat
    return out[FS // 2 : FS // 2 + n]


def _add_blinks(rng: np.random.Generator, x: np.ndarray) -> None:
    n = x.shape[0]
    rate = rng.choice([0.0, 0.05, 0.15])  # some patients do not blink (eyes closed, sedated)
    tt = np.arange(-FS // 2, FS // 2) / FS
    chans = [CH[c] for c in ("Fp1", "Fp2", "F3", "F4", "F7", "F8")]
    weights = np.array([1.0, 1.0, 0.3, 0.3, 0.3, 0.3], dtype=np.float32)
    for start in rng.uniform(0, n, size=rng.poisson(rate * n / FS)).astype(int):
        bump = rng.uniform(60, 150) * np.exp(-(tt**2) / (2 * 0.12**2))
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


def add_mimics(rng: np.random.Generator, x: np.ndarray, per_minute: float) -> None:
    """Artefacts that look like patterns in band powers, in place: runs of rhythmic frontal
    eye movement (1-2.5 Hz, like frontal GRDA), trains of electrode pops on one electrode
    (like focal periodic discharges), chewing (rhythmic temporal muscle) and rare large
    movement bursts (the spectrogram's cells above e^8)."""
    n = x.shape[0]
    for start in rng.uniform(0, n, size=rng.poisson(per_minute * n / FS / 60)).astype(int):
        length = int(rng.uniform(3, 15) * FS)
        stop = min(n, start + length)
        t = np.arange(stop - start) / FS
        kind = rng.random()
        if kind < 0.35:  # rhythmic eye movements: Fp1/Fp2 most, F3/F4/F7/F8 less
            wave = rng.uniform(20, 70) * np.sin(2 * np.pi * rng.uniform(1, 2.5) * t)
            for c, w in (
                ("Fp1", 1.0),
                ("Fp2", 1.0),
                ("F7", 0.4),
                ("F8", 0.4),
                ("F3", 0.3),
                ("F4", 0.3),
            ):
                x[start:stop, CH[c]] += (w * wave).astype(np.float32)
        elif kind < 0.65:  # pops: sharp steps with exponential decay on one electrode
            c = int(rng.integers(N_SCALP))
            period = rng.uniform(0.6, 2.0)
            decay = np.exp(-np.arange(FS // 2) / (0.08 * FS)).astype(np.float32)
            for s in np.arange(0, stop - start - FS // 2, period * FS * rng.uniform(0.7, 1.3)):
                a = start + int(s + rng.normal(0, 0.1 * FS))
                if 0 <= a and a + FS // 2 <= n:
                    x[a : a + FS // 2, c] += rng.uniform(40, 120) * decay
        elif kind < 0.95:  # chewing: bursts of muscle at 1-2 Hz on both temporal chains
            chans = [CH[c] for c in ("F7", "T3", "T5", "F8", "T4", "T6")]
            gate = (np.sin(2 * np.pi * rng.uniform(1, 2) * t) > 0.3).astype(np.float32)
            noise = np.diff(rng.standard_normal((len(t) + 1, len(chans)), dtype=np.float32), axis=0)
            x[start:stop, chans] += rng.uniform(20, 60) * noise * gate[:, None]
        else:  # a movement burst: large slow swings on many electrodes
            wave = rng.uniform(200, 600) * band_noise(rng, len(t), 1, 0.3, 3)[:, 0]
            x[start:stop, :N_SCALP] += np.outer(wave, rng.uniform(0.3, 1, N_SCALP)).astype(
                np.float32
            )


def _discharge(rng: np.random.Generator, kind: str) -> np.ndarray:
    """``(FS,) float64`` one discharge, peak ~1, centred in a 1-s frame. kind: ``sharp``
    (spike or sharp wave then an aftergoing slow wave), ``triphasic`` (small negative,
    large positive, slower negative phase) or ``blunt`` (a broad, rounded transient)."""
    tt = np.arange(-FS // 2, FS // 2) / FS
    if kind == "blunt":
        w = rng.uniform(0.06, 0.1)
        return np.exp(-(tt**2) / (2 * w**2)) - 0.3 * np.exp(-((tt - 2.5 * w) ** 2) / (2 * w**2))
    sharp = rng.uniform(0.015, 0.035)
    wave = np.exp(-(tt**2) / (2 * sharp**2)) - 0.5 * np.exp(
        -((tt - 0.12) ** 2) / (2 * rng.uniform(0.05, 0.09) ** 2)
    )
    if kind == "triphasic":
        wave -= 0.35 * np.exp(-((tt + 2 * sharp) ** 2) / (2 * sharp**2))
    return wave


def discharge_train(
    rng: np.random.Generator, n: int, rate_hz: float, kind: str = "sharp", jitter: float = 0.04
) -> np.ndarray:
    """``(n,) float32`` discharges at ``rate_hz`` (periodic: a jitter of ``jitter`` of the
    period; sporadic when ``rate_hz`` is a Poisson rate and ``jitter`` is None)."""
    out = np.zeros(n + FS, dtype=np.float32)  # half a second of slack each side
    wave = _discharge(rng, kind).astype(np.float32)
    if jitter is None:
        starts = rng.uniform(0, n, size=rng.poisson(rate_hz * n / FS))
    else:
        period = FS / rate_hz
        starts = np.arange(rng.uniform(0, period), n, period)
        starts = starts + rng.normal(0, jitter * period, size=len(starts))
    for s in np.clip(starts.astype(int), 0, n - 1):
        out[s : s + FS] += wave * rng.uniform(0.7, 1.3)
    return out[FS // 2 : FS // 2 + n]


def _intermittent(rng: np.random.Generator, n: int, duty: float) -> np.ndarray:
    """``(n,) float32`` gate of runs (4-30 s) on and off, on for about ``duty`` of the time,
    with half-second ramps."""
    gate = np.zeros(n, dtype=np.float32)
    pos = int(rng.uniform(-10, 0) * FS)
    on = rng.random() < duty
    while pos < n:
        length = int(rng.uniform(4, 30) * FS * (duty if on else 1 - duty) * 2)
        if on:
            gate[max(0, pos) : max(0, pos + max(length, FS))] = 1
        pos += max(length, FS)
        on = not on
    ramp = np.hanning(FS).astype(np.float32)
    return np.minimum(np.convolve(gate, ramp / ramp.sum(), mode="same"), 1).astype(np.float32)


def class_pattern(cls: str, rng: np.random.Generator, n: int, strength: float) -> np.ndarray:
    """One class's pattern as an additive ``(n, 20) float32`` signal, microvolts.

    strength (> 0) scales ``PATTERN_UV[cls]``. Seizure: evolving rhythmic discharges, a chirp
    from ~2-3 to ~6-9 Hz with growing amplitude and sharper waves over 10-40 s, focal or
    spreading to both hemispheres; LPD: periodic sharp discharges at 0.5-2 Hz over one
    hemisphere; GPD: periodic sharp or triphasic discharges at 0.7-2.5 Hz on every electrode,
    bilaterally synchronous; LRDA: rhythmic rounded delta (1-2.5 Hz) over one hemisphere;
    GRDA: rhythmic delta everywhere with frontal emphasis. Periodic and rhythmic patterns come
    and go in runs. ``Other`` has no pattern (zeros).
    """
    if cls not in schema.CLASSES:
        raise ValueError(f"unknown class {cls!r}; expected one of {schema.CLASSES}")
    if not strength > 0:
        raise ValueError(f"strength must be > 0, got {strength}")
    out = np.zeros((n, N_CH), dtype=np.float32)
    if cls == "Other":
        return out
    amp = PATTERN_UV[cls] * strength
    t = np.arange(n) / FS
    left = bool(rng.random() < 0.5)
    if cls == "Seizure":
        # events of 10-40 s back to back: frequency rises, amplitude grows, waves sharpen
        u = np.empty(n)
        pos = 0
        while pos < n:
            length = int(rng.uniform(10, 40) * FS)
            u[pos : pos + length] = np.linspace(0, 1, length, endpoint=False)[: n - pos]
            pos += length
        f = rng.uniform(2, 3) + rng.uniform(3.5, 6) * u
        phase = 2 * np.pi * np.cumsum(f) / FS
        wave = (0.3 + 0.7 * u) * (np.sin(phase) + 0.45 * u * np.sin(2 * phase + 0.5))
        wave = wave.astype(np.float32)
        focal = lateral_field(rng, left, width=0.55)
        if rng.random() < 0.5:  # spreading: the field widens to both hemispheres as u grows
            spread = generalized_field(rng, frontal=0.3)
            out += np.outer(wave * amp * (1 - u), focal).astype(np.float32)
            out += np.outer(wave * amp * u, np.maximum(focal, spread)).astype(np.float32)
        else:
            out += np.outer(wave * amp, focal).astype(np.float32)
        return out
    gate = _intermittent(rng, n, rng.uniform(0.5, 0.95))
    if cls == "LPD":
        wave = discharge_train(rng, n, rng.uniform(0.5, 2.0), kind="sharp")
        field = lateral_field(rng, left)
    elif cls == "GPD":
        kind = "triphasic" if rng.random() < 0.5 else "sharp"
        wave = discharge_train(rng, n, rng.uniform(0.7, 2.5), kind=kind)
        field = generalized_field(rng, frontal=rng.uniform(0.6, 1.0))
    else:  # LRDA, GRDA: rounded rhythmic delta, slightly drifting in frequency
        f = rng.uniform(1.0, 2.5) * (1 + 0.05 * np.sin(2 * np.pi * t / rng.uniform(8, 20)))
        phase = 2 * np.pi * np.cumsum(f) / FS + rng.uniform(0, 2 * np.pi)
        wave = (np.sin(phase) + 0.15 * np.sin(2 * phase)).astype(np.float32)
        field = (
            lateral_field(rng, left)
            if cls == "LRDA"
            else generalized_field(rng, rng.uniform(0.6, 1.0))
        )
    out += np.outer(wave * gate * amp, field).astype(np.float32)
    return out


def shown_patterns(rng: np.random.Generator, probs: np.ndarray) -> dict[str, float]:
    """The patterns an EEG with true class probabilities ``probs`` ``(6,)`` shows, with their
    strengths.

    The most probable class shows at a strength drawn from ``PATTERN_STRENGTH``, independent
    of how sure the experts are: experts split on the same visible pattern. A second class
    with probability >= 0.25 shows too, half the time, at a weaker strength. ``Other``
    contributes no pattern (its own content comes from the recording's style).
    """
    order = np.argsort(probs)[::-1]
    out: dict[str, float] = {}
    main, second = schema.CLASSES[order[0]], schema.CLASSES[order[1]]
    if main != "Other":
        out[main] = float(rng.uniform(*PATTERN_STRENGTH))
    if second != "Other" and probs[order[1]] >= 0.25 and rng.random() < 0.5:
        out[second] = float(rng.uniform(0.3, 0.7) * rng.uniform(*PATTERN_STRENGTH))
    return out


def add_patterns(
    rng: np.random.Generator, x: np.ndarray, start: int, stop: int, probs: np.ndarray
) -> None:
    """Add the patterns of ``probs`` (see ``shown_patterns``) to ``x[start:stop]`` in place."""
    for cls, strength in shown_patterns(rng, probs).items():
        x[start:stop] += class_pattern(cls, rng, stop - start, strength)


def add_sporadic(rng: np.random.Generator, x: np.ndarray, per_minute: float) -> None:
    """Sporadic (non-periodic) discharges at ``per_minute`` over a random field, in place: the
    interictal discharges an "Other" EEG may carry, with the power of a periodic pattern's
    but none of its regularity."""
    if per_minute <= 0:
        return
    n = x.shape[0]
    kind = "sharp" if rng.random() < 0.7 else "blunt"
    wave = discharge_train(rng, n, per_minute / 60, kind=kind, jitter=None)
    field = (
        lateral_field(rng, bool(rng.random() < 0.5))
        if rng.random() < 0.6
        else generalized_field(rng, 0.8)
    )
    x += np.outer(wave * rng.uniform(40, 90), field).astype(np.float32)


def finish(x: np.ndarray, style: RecordingStyle) -> np.ndarray:
    """Apply the recording's gain (scalp) and electrode gains, add its DC offsets and round
    to the 0.01 uV grid of real files, in place (returns ``x``)."""
    x[:, :N_SCALP] *= np.float32(style.gain)
    x *= style.electrode_gain.astype(np.float32)
    x += style.dc.astype(np.float32)
    np.round(x, 2, out=x)
    return x


def add_nan_run(rng: np.random.Generator, x: np.ndarray, start: int, stop: int) -> None:
    """NaN every channel over a 1-20 s run inside ``x[start:stop]`` (a recording gap)."""
    length = int(rng.uniform(1, 20) * FS)
    a = int(rng.integers(start, max(start + 1, stop - length)))
    x[a : min(stop, a + length)] = np.nan
