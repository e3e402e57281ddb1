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

Output ``(B, 6)`` logits.
"""

from __future__ import annotations

import torch
from torch import nn

from hms_kit.config import Config, RawEegConfig, Spec2dConfig
from hms_kit.inputs.eeg_spec import LOG_EPS, frequency_matrix, standardize
from hms_kit.models.eeg1d import centre_crop

TORCH = True
INPUT = "raw_eeg"


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
        mel = torch.matmul(self.mel, power)
        return torch.log10(mel + LOG_EPS).reshape(b, p, self.mel.shape[0], -1)


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
                spec.n_fft, spec.zoom_win, spec.zoom_hop, spec.n_mels, spec.fmin, spec.fmax, rate
            )
            if spec.zoom_s > 0
            else None
        )
        # the backbone with its zero head and weight lookup: the timm2d model over a
        # one-channel "stack" (it only scales and forwards the canvas)
        self.net = CustomModel(
            name, in_chans=1, pretrained=pretrained, weights=weights, drop_rate=drop_rate,
            input_scale=spec.scale, layout="stack", n_modalities=1,
        )  # fmt: skip

    def canvas(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The image the backbone sees: ``(B, 1, P * n_mels, W)`` float32 (before ``scale``)."""
        x = batch[INPUT].float()
        parts = [standardize(self.whole(centre_crop(x, self.raw)))]
        if self.zoom is not None:
            keep = int(round(self.spec.zoom_s * self.raw.rate_hz))
            start = (x.shape[-1] - keep) // 2
            parts.append(standardize(self.zoom(x[..., start : start + keep])))
        # (B, P, n_mels, frames): pair-major rows, frequency rising downwards within a pair
        rows = [p.flatten(1, 2) for p in parts]
        return torch.cat(rows, dim=-1)[:, None]

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.net(self.canvas(batch))


def inputs(cfg: Config) -> list[str]:
    """The raw bipolar waveforms."""
    return [INPUT]


def batch_augment(cfg: Config):
    """The waveform transforms of ``augment.wave`` (hms_kit.inputs.wave_augment)."""
    from hms_kit.inputs.wave_augment import build_wave_augment

    return build_wave_augment(cfg.augment.wave, cfg.inputs.raw_eeg)


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
