"""The ``spec2d`` family: per-pair bipolar mel spectrograms made inside the model, one image.

After the 3rd- and 7th-place HMS recipes: every bipolar pair keeps its own spectrogram (not
averaged per chain), the centre of the window is drawn again at a finer time resolution, and
everything is tiled on one canvas for any timm backbone. The spectrograms are torch ops in
``forward`` (``torch.stft`` and a triangular mel filter bank,
``hms_kit.inputs.eeg_spec.frequency_matrix``), so they run on the GPU with the model and
the cache stores only the compact waveforms.

From ``batch["raw_eeg"]`` ``(B, P, stored samples)`` (microvolts at raw_eeg.rate_hz):

1. the centre ``window_s`` seconds (whole) and the centre ``zoom_s`` seconds (zoom);
2. power STFT of each pair (Hann window ``win_length`` / ``zoom_win``, hop ``hop`` /
   ``zoom_hop``, ``n_fft`` points, centred frames), ``n_mels`` mel bands fmin..fmax Hz;
3. log10(power + 1e-6), each part standardised per row (mean 0, std 1);
4. canvas ``(B, 1, P * n_mels, frames + zoom frames)``: pairs stacked top to bottom
   (schema order LL, RL, LP, RP, central), frequency rising within a pair's band of rows,
   the whole window left and the zoom right; resized by ``scale`` (bilinear).

Issue 20's switches (``Spec2dConfig``; each off by default), after the 3rd place's best 2D
model (darraghdog/kaggle-hms-3rd-place-solution, models/mdl_4.py):

- ``top_db`` > 0: step 3 becomes power in dB (10 log10, floor 1e-10), clipped at ``top_db``
  below the row's maximum (per row and part, so a prediction never depends on its batch),
  not standardised; ``scale_uv`` divides the waveforms first;
- ``zoom`` ``inside``: the zoom is drawn around a centre (the label's, moved in training by
  ``ZOOM_SHIFT``, see ``ZoomJitter``) and replaces the whole window's ``zoom_cut`` share of
  frames around that centre, so the image reads left part, zoom, right part;
- ``channels`` ``derived``: ``(B, 3, P * n_mels, W)``, per pair x, x minus the mean of the
  other pairs, x minus the mean of the pairs sharing an electrode with it
  (``pair_neighbours``);
- ``pool`` ``gem``: the backbone's global pooling is a learnt GeM; ``drop_path``: timm's
  stochastic depth;
- ``pair_drop_p``: training zeroes some pairs' channels on the finished canvas
  (``PAIR_DROP``, see ``Spec2dAugment``).

Output ``(B, 6)`` logits.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hms_kit.config import Config, RawEegConfig, Spec2dConfig
from hms_kit.inputs.eeg_spec import LOG_EPS, frequency_matrix, standardize
from hms_kit.inputs.raw_eeg import raw_pairs
from hms_kit.inputs.wave_augment import torch_stream
from hms_kit.models.eeg1d import GeM, centre_crop

TORCH = True
INPUT = "raw_eeg"
# a training batch's key: (B,) int, samples at raw_eeg.rate_hz the zoom's centre moves by
ZOOM_SHIFT = "spec2d_zoom_shift"
# a training batch's key: (B, P) bool, pairs whose channels the canvas zeroes
PAIR_DROP = "spec2d_pair_drop"
DB_FLOOR = 1e-10  # power floor of the dB scale (torchaudio's AmplitudeToDB amin)


def pair_neighbours(central: bool) -> np.ndarray:
    """``(P, P) float64``: row i averages the pairs sharing an electrode with pair i (of
    ``raw_pairs(central)``). In the double banana that is the pair before and after it in
    its chain, a chain's end pair taking the sister chain's pair at Fp1/Fp2 or O1/O2 (the
    left and right chains are rings of 8 pairs); a midline pair has one neighbour."""
    pairs = raw_pairs(central)
    w = np.zeros((len(pairs), len(pairs)))
    for i, (_, a, b) in enumerate(pairs):
        for j, (_, c, d) in enumerate(pairs):
            if i != j and {a, b} & {c, d}:
                w[i, j] = 1.0
    return w / w.sum(axis=1, keepdims=True)


def derived_channels(s: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
    """``(B, P, ...) -> (B, 3, P, ...)``: per pair x, x minus the mean of the other P - 1
    pairs, x minus its neighbours' mean (``neighbours``: ``(P, P)`` from ``pair_neighbours``)."""
    others = (s.sum(dim=1, keepdim=True) - s) / (s.shape[1] - 1)
    near = torch.einsum("ij,bj...->bi...", neighbours.to(s.dtype), s)
    return torch.stack([s, s - others, s - near], dim=1)


def to_db(power: torch.Tensor, top_db: float) -> torch.Tensor:
    """``(B, ...)`` power -> dB (10 log10, floored at ``DB_FLOOR``), clipped at ``top_db``
    below each row's maximum over all its other axes."""
    db = 10.0 * torch.log10(power.clamp(min=DB_FLOOR))
    top = db.flatten(1).amax(dim=1).reshape(-1, *[1] * (db.dim() - 1))
    return torch.maximum(db, top - top_db)


def place_inside(
    whole: torch.Tensor, zoom: torch.Tensor, col: torch.Tensor, cut: float
) -> torch.Tensor:
    """The zoom inside the whole window's frames: ``whole (B, P, M, F)``, ``zoom (B, P, M,
    Z)``, ``col (B,)`` the centre's frame -> ``(B, P, M, F - 2 c + Z)``, where the ``2 c``
    frames around ``col`` (``c = int(F * cut // 2)``, kept inside the image) are replaced by
    the zoom."""
    f, z = whole.shape[-1], zoom.shape[-1]
    c = int(f * cut // 2)
    if 2 * c + 1 > f:
        raise ValueError(f"model.spec2d.zoom_cut {cut} leaves no frame of the {f}")
    start = (col - c).clamp(0, f - 2 * c - 1)[:, None]  # (B, 1)
    j = torch.arange(f - 2 * c + z, device=whole.device)[None]  # (1, W)
    in_zoom = (j >= start) & (j < start + z)
    w_idx = torch.where(j < start, j, j - z + 2 * c).clamp(0, f - 1)
    z_idx = (j - start).clamp(0, z - 1)
    b, p, m, _ = whole.shape
    shape = (b, p, m, j.shape[-1])
    picked_w = whole.gather(3, w_idx[:, None, None].expand(shape))
    picked_z = zoom.gather(3, z_idx[:, None, None].expand(shape))
    return torch.where(in_zoom[:, None, None], picked_z, picked_w)


class GemPool2d(nn.Module):
    """Learnt generalised-mean pooling over both image axes, in a timm backbone's
    ``global_pool`` slot: ``(B, C, H, W) -> (B, C)`` (float32: p = 3 would overflow fp16)."""

    def __init__(self) -> None:
        super().__init__()
        self.gem = GeM()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gem(x.flatten(2).float())


class PairSpectrogram(nn.Module):
    """Log-mel power spectrogram of each pair: ``(B, P, T) -> (B, P, n_mels, frames)``."""

    def __init__(
        self, n_fft: int, win_length: int, hop: int, n_mels: int, fmin: float, fmax: float,
        rate_hz: float,
    ) -> None:  # fmt: skip
        super().__init__()
        if win_length > n_fft:
            raise ValueError(f"model.spec2d: window {win_length} longer than n_fft {n_fft}")
        self.n_fft, self.win_length, self.hop = n_fft, win_length, hop
        fb = frequency_matrix("mel", n_fft, n_mels, fmin, fmax, rate_hz)
        # buffers, not parameters: they follow .to(device) and are rebuilt, not learnt
        self.register_buffer("mel", torch.as_tensor(fb, dtype=torch.float32), persistent=False)
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log10(self.power(x) + LOG_EPS)

    def power(self, x: torch.Tensor) -> torch.Tensor:
        """Mel power ``(B, P, n_mels, frames)`` of ``(B, P, T)``."""
        b, p, t = x.shape
        spec = torch.stft(
            x.reshape(b * p, t).float(),
            n_fft=self.n_fft,
            hop_length=self.hop,
            win_length=self.win_length,
            window=self.window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        power = spec.real.square() + spec.imag.square()  # (B*P, bins, frames)
        return torch.matmul(self.mel, power).reshape(b, p, self.mel.shape[0], -1)


class Spec2dNet(nn.Module):
    """See the module docstring."""

    def __init__(
        self, raw: RawEegConfig, spec: Spec2dConfig, name: str, pretrained: bool = False,
        weights: str = "", drop_rate: float = 0.0,
    ) -> None:  # fmt: skip
        super().__init__()
        from hms_kit.models.timm2d import CustomModel

        if spec.zoom_s > raw.window_s:
            raise ValueError(
                f"model.spec2d.zoom_s {spec.zoom_s} exceeds inputs.raw_eeg.window_s {raw.window_s}"
            )
        self.raw, self.spec = raw, spec
        rate = float(raw.rate_hz)
        self.whole = PairSpectrogram(
            spec.n_fft, spec.win_length, spec.hop, spec.n_mels, spec.fmin, spec.fmax, rate
        )
        self.zoom = (
            PairSpectrogram(
                spec.zoom_n_fft or spec.n_fft,
                spec.zoom_win,
                spec.zoom_hop,
                spec.n_mels,
                spec.fmin,
                spec.fmax,
                rate,
            )
            if spec.zoom_s > 0
            else None
        )
        near = torch.as_tensor(pair_neighbours(raw.central), dtype=torch.float32)
        self.register_buffer("neighbours", near, persistent=False)
        # the backbone with its zero head and weight lookup: the timm2d model over a
        # one- or three-channel "stack" (it only scales and forwards the canvas)
        self.net = CustomModel(
            name, in_chans=3 if spec.channels == "derived" else 1, pretrained=pretrained,
            weights=weights, drop_rate=drop_rate, input_scale=spec.scale, layout="stack",
            n_modalities=1, drop_path_rate=spec.drop_path,
        )  # fmt: skip
        if spec.pool == "gem":
            if not isinstance(getattr(self.net.backbone, "global_pool", None), nn.Module):
                raise ValueError(f"model.spec2d.pool=gem: {name} has no global_pool to replace")
            self.net.backbone.global_pool = GemPool2d()

    def _level(self, op: PairSpectrogram, x: torch.Tensor) -> torch.Tensor:
        if self.spec.top_db > 0:
            return to_db(op.power(x), self.spec.top_db)
        return standardize(op(x))

    def canvas(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The image the backbone sees: ``(B, 1 or 3, P * n_mels, W)`` float32 (before
        ``scale``)."""
        x = batch[INPUT].float()
        sp = self.spec
        # fp16 would overflow: a 100-uV wave's STFT power is ~1e6
        with torch.autocast(x.device.type, enabled=False):
            if sp.scale_uv != 1.0:
                x = x / sp.scale_uv
            if self.zoom is None or (sp.zoom == "append" and ZOOM_SHIFT not in batch):
                parts = [self._level(self.whole, centre_crop(x, self.raw))]
                if self.zoom is not None:
                    keep = int(round(sp.zoom_s * self.raw.rate_hz))
                    start = (x.shape[-1] - keep) // 2
                    parts.append(self._level(self.zoom, x[..., start : start + keep]))
                s = torch.cat(parts, dim=-1)  # (B, P, n_mels, frames)
            else:
                s = self._zoomed(centre_crop(x, self.raw), batch.get(ZOOM_SHIFT))
        # (B, C, P, n_mels, W): pair-major rows, frequency rising downwards within a pair
        c = derived_channels(s, self.neighbours) if sp.channels == "derived" else s[:, None]
        if PAIR_DROP in batch:  # after the derivation: the other pairs' channels keep theirs
            c = c.masked_fill(batch[PAIR_DROP].to(c.device)[:, None, :, None, None], 0.0)
        return c.flatten(2, 3)

    def _zoomed(self, w: torch.Tensor, shift: torch.Tensor | None) -> torch.Tensor:
        """Whole window and zoom ``(B, P, n_mels, W)`` of the window ``w (B, P, L)``, the zoom
        centred on the window's centre moved by ``shift`` samples (``(B,)``; None: 0)."""
        b, _, n = w.shape
        keep = int(round(self.spec.zoom_s * self.raw.rate_hz))
        centre = torch.full((b,), n // 2, dtype=torch.long, device=w.device)
        if shift is not None:
            centre = centre + shift.to(w.device).long()
        start = (centre - keep // 2).clamp(0, n - keep)
        idx = start[:, None] + torch.arange(keep, device=w.device)[None]
        seg = w.gather(2, idx[:, None].expand(b, w.shape[1], keep))
        whole, zoom = self._level(self.whole, w), self._level(self.zoom, seg)
        if self.spec.zoom == "append":
            return torch.cat([whole, zoom], dim=-1)
        col = torch.div(whole.shape[-1] * centre.clamp(0, n - 1), n, rounding_mode="floor")
        return place_inside(whole, zoom, col, self.spec.zoom_cut)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.net(self.canvas(batch))


class Spec2dAugment:
    """Training only: the waveform transforms (``wave``, may be None), then, drawn from the
    caller's generator (a run is reproducible on any device): each row's zoom centre moved
    by a whole number of samples uniform in +-``zoom_jitter_s`` seconds in a
    ``zoom_p_jitter`` share of rows (``ZOOM_SHIFT``); 1..``pair_drop_max`` distinct pairs
    of a ``pair_drop_p`` share of rows zeroed on the canvas (``PAIR_DROP``). One seed a batch
    is drawn from the generator; the waveform transforms, the zoom and the pair drop each
    draw from a stream of their own named by it, so none moves another's draws."""

    def __init__(self, wave, spec: Spec2dConfig, raw: RawEegConfig) -> None:
        self.wave, self.spec = wave, spec
        self.max_shift = int(round(spec.zoom_jitter_s * raw.rate_hz)) if spec.zoom_s > 0 else 0

    def __call__(
        self, batch: dict[str, torch.Tensor], y: torch.Tensor, gen: torch.Generator
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        base = int(torch.randint(2**62, (1,), generator=gen))
        if self.wave is not None:
            batch, y = self.wave(batch, y, torch_stream(base, 1))
        sp, x = self.spec, batch[INPUT]
        b, p = x.shape[:2]
        out = dict(batch)
        if self.max_shift > 0 and sp.zoom_p_jitter > 0:
            g = torch_stream(base, 2)
            shift = torch.randint(-self.max_shift, self.max_shift + 1, (b,), generator=g)
            out[ZOOM_SHIFT] = (shift * (torch.rand(b, generator=g) < sp.zoom_p_jitter)).to(x.device)
        if sp.pair_drop_p > 0 and sp.pair_drop_max > 0:
            g = torch_stream(base, 3)
            n_drop = torch.randint(1, sp.pair_drop_max + 1, (b, 1), generator=g)
            rank = torch.rand(b, p, generator=g).argsort(dim=1).argsort(dim=1)
            drop = (rank < n_drop) & (torch.rand(b, 1, generator=g) < sp.pair_drop_p)
            out[PAIR_DROP] = drop.to(x.device)
        return out, y


def inputs(cfg: Config) -> list[str]:
    """The raw bipolar waveforms."""
    return [INPUT]


def batch_augment(cfg: Config):
    """The waveform transforms of ``augment.wave`` (hms_kit.inputs.wave_augment), and with
    ``model.spec2d.zoom_jitter_s`` or ``pair_drop_p`` the canvas's own (``Spec2dAugment``)."""
    from hms_kit.inputs.wave_augment import build_wave_augment

    wave = build_wave_augment(cfg.augment.wave, cfg.inputs.raw_eeg)
    sp = cfg.model.spec2d
    if (sp.zoom_jitter_s > 0 and sp.zoom_s > 0 and sp.zoom_p_jitter > 0) or (
        sp.pair_drop_p > 0 and sp.pair_drop_max > 0
    ):
        return Spec2dAugment(wave, sp, cfg.inputs.raw_eeg)
    return wave


def build(cfg: Config, pretrained: bool) -> Spec2dNet:
    """The configured spectrogram model over a timm backbone ``model.name``."""
    m = cfg.model
    return Spec2dNet(
        cfg.inputs.raw_eeg,
        m.spec2d,
        m.name,
        pretrained=pretrained,
        weights=m.weights if pretrained else "",
        drop_rate=m.drop_rate,
    )
