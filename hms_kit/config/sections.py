"""The config's sections: one dataclass per stage of the pipeline, each with working defaults.

``Config`` holds them all; ``hms_kit.config`` loads it from YAML and overrides and checks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hms_kit import schema


@dataclass
class DataConfig:
    """Which label rows train the model.

    row_mode: ``all`` (every train.csv row), ``per_eeg`` (one row per EEG, votes summed over
    its windows) or ``dedup`` (one row per distinct (eeg_id, vote vector), the window of
    largest overlap kept).
    train_csv: a CSV of some of train.csv's rows (``balanced_train.csv`` from ``sample``),
    matched on eeg_id and eeg_sub_id, to train on those rows only; empty: every row.
    """

    row_mode: str = "dedup"
    high_vote_threshold: int = schema.HIGH_VOTE_THRESHOLD
    train_csv: str = ""


@dataclass
class KaggleSpecConfig:
    """Kaggle spectrogram transform (hms_kit.inputs.kaggle_spec).

    ``scale``: ``standardize`` (clip to [exp(clip_low), exp(clip_high)], log, standardise over
    the window) or ``db_max`` (dB relative to the window's maximum, floored ``top_db`` below
    it, mapped to [-1, 1]). ``crop_s``: the central crop_s seconds of the 600-s window,
    stretched over the panel's 256 columns (0: the central 256 rows, 512 s, no stretch).
    """

    clip_low: float = -4.0
    clip_high: float = 8.0
    eps: float = 1e-6
    scale: str = "standardize"
    top_db: float = 80.0
    crop_s: float = 0.0


@dataclass
class EegSpecConfig:
    """EEG spectrogram of each bipolar pair (see inputs.eeg_spec).

    kind: ``mel`` (log-power mel) or ``stft`` (log-power STFT bins between fmin and fmax).
    Frequencies in Hz; n_fft, win_length and hop in samples at 200 Hz (hop 0 = fit 256 frames;
    else >= 39: the panel keeps the central 256 frames, hop * 256 samples, which at a shorter
    hop is less than the 50-s window).
    per_pair: False averages the 4 pairs of a chain into its panel; True keeps every pair,
    the chain's panel a 2 x 2 grid of its pairs (64 rows x 128 columns each).
    scale: ``standardize`` (log10, standardised over the window) or ``db_max`` (dB relative
    to the window's maximum over all pairs, floored ``top_db`` below it, mapped to [-1, 1]).
    """

    kind: str = "mel"
    n_fft: int = 1024
    win_length: int = 128
    hop: int = 0
    n_mels: int = schema.PANEL_H
    fmin: float = 0.0
    fmax: float = 20.0
    bandpass: bool = True
    band_low: float = 0.5
    band_high: float = 20.0
    band_order: int = 4
    clip_uv: float = 1024.0
    per_pair: bool = False
    scale: str = "standardize"
    top_db: float = 80.0


@dataclass
class WaveletConfig:
    """Wavelet image: ``dwt_stats`` (seed: db1 level-5 statistics) or ``cwt`` (Morlet scalogram)."""

    variant: str = "cwt"
    wavelet: str = "db1"
    level: int = 5
    dwt_segment_s: float = 1.0
    cwt_wavelet: str = "morl"
    cwt_fmin: float = 0.5
    cwt_fmax: float = 20.0


@dataclass
class RawEegConfig:
    """The ``raw_eeg`` input (hms_kit.inputs.raw_eeg): bipolar waveforms of the EEG window.

    The 16 double-banana pairs (``central``: also Fz-Cz, Cz-Pz), zero-phase Butterworth
    band-passed (``band_low``..``band_high`` Hz, ``band_order``), resampled to ``rate_hz``,
    clipped to +-``clip_uv`` microvolts. What is stored is the centre ``window_s`` seconds the
    model sees plus ``margin_s`` seconds each side (window-shift augmentation for free);
    ``window_s + 2 * margin_s`` must fit in the 50-s EEG window and ``context_s`` seconds of
    the recording read on each side of it (``data.readers.eeg_window_context``: the recording
    mirrored where it ends). ``context_s`` > 0 lets long shifts (the 3rd place's +-16.7 s)
    see more of the recording; 0 reads the 50-s window alone.
    """

    rate_hz: int = 40
    window_s: float = 40.0
    margin_s: float = 5.0
    context_s: float = 0.0
    central: bool = False
    band_low: float = 0.5
    band_high: float = 20.0
    band_order: int = 4
    clip_uv: float = 1024.0


@dataclass
class InputConfig:
    """Which modalities make the model input and how they are laid out.

    layout ``tile``: (3, 512, 256 * n_modalities) image for ImageNet backbones;
    layout ``stack``: (4 * n_modalities, 128, 256) panels as channels.
    """

    modalities: list[str] = field(default_factory=lambda: ["kaggle", "eeg"])
    layout: str = "stack"
    scale: float = 1.0  # the model shrinks its input by this factor (0.5: a quarter of the pixels)
    kaggle: KaggleSpecConfig = field(default_factory=KaggleSpecConfig)
    eeg: EegSpecConfig = field(default_factory=EegSpecConfig)
    wavelet: WaveletConfig = field(default_factory=WaveletConfig)
    raw_eeg: RawEegConfig = field(default_factory=RawEegConfig)


@dataclass
class WaveAugmentConfig:
    """Batch-level augmentation of waveform inputs (``raw_eeg``), on the training device
    (hms_kit.inputs.wave_augment). Probabilities are per row; 0 switches one off.

    shift_s: the window moves by up to +-shift_s seconds (at most raw_eeg.margin_s);
    channel dropout zeroes up to ``max_drop_channels`` pairs; mixup mixes two rows (and their
    vote distributions) with a Beta(mixup_alpha, mixup_alpha) weight.

    Off by default (issue 20): ``p_chain_perm`` puts the 4 chains (LL, RL, LP, RP; 4 pairs
    each) in a random order (the 4th place's chain permutation); ``p_bandpass`` band-passes
    1..``bandpass_max_pairs`` random pairs again with a narrower band, its low edge uniform in
    (0, ``bandpass_low_max``] Hz and its high edge in [``bandpass_high_min``,
    ``bandpass_high_max``] Hz (the 3rd place's, darraghdog configs/cfg_2a.py: p 0.2, 8
    pairs); ``p_cutmix`` (per batch) replaces a random time span of each row's view with the
    same span of another row, of a share ~ Beta(cutmix_alpha, cutmix_alpha) of the view, and
    mixes their vote distributions by that share.
    """

    p_reverse: float = 0.5
    p_swap: float = 0.5
    shift_s: float = 5.0
    p_channel_drop: float = 0.2
    max_drop_channels: int = 2
    p_mixup: float = 0.0
    mixup_alpha: float = 0.4
    p_chain_perm: float = 0.0
    p_bandpass: float = 0.0
    bandpass_max_pairs: int = 8
    bandpass_low_max: float = 2.0
    bandpass_high_min: float = 10.0
    bandpass_high_max: float = 20.0
    bandpass_order: int = 2
    p_cutmix: float = 0.0
    cutmix_alpha: float = 1.0


@dataclass
class AugmentConfig:
    """Training-only augmentation probabilities (0 switches one off): the panel ones
    (albumentations, per row in the data loader) and ``wave`` for waveform inputs."""

    p_time_flip: float = 0.0
    p_time_mask: float = 0.3
    p_freq_mask: float = 0.3
    p_hemisphere_swap: float = 0.5
    max_time_mask: int = 32
    max_freq_mask: int = 16
    wave: WaveAugmentConfig = field(default_factory=WaveAugmentConfig)


@dataclass
class Eeg1dChainConfig:
    """The ``chain`` topology of eeg1d (hms_kit.models.eeg1d.ChainNet), after the 4th place's
    EfficientNet1d (yu4u/kaggle-hms-4th, src/model.py and src/efficientnet1d.py).

    A stem of ``stem_width`` channels, then one stage per ``widths`` entry (with its
    ``kernels`` entry, samples): ``depth`` inverted-residual blocks (depthwise expansion
    x``expand``, squeeze-excitation), a block mixing the 4 chains (kernel 3 across chains),
    time halved. Every width is multiplied by ``width_mult`` (0.25: a CPU-sized network).
    ``stem_stride``: the stem's step along time (1, the 4th place's; 2 starts the stages at
    half the samples, about half the CPU minutes).
    ``pool``: how the last stage's ``(C, 4 chains, T)`` map becomes the head's features.
    ``all`` (the 4th place's): GeM over chains and time, ``C`` features. ``sides``: GeM over
    time per chain, then the chains' mean and the absolute difference of the left chains'
    mean and the right's, ``2 C`` features: which side a pattern sits on is kept as a
    feature of its own (lateralised against generalised discharges), and the features stay
    the same under the left/right mirror. Measured a tie with ``all`` (stop 51, BENCHMARKS
    section 7), so ``all`` stays the default.
    """

    stem_width: int = 64
    widths: list[int] = field(default_factory=lambda: [96, 128, 192, 256, 384])
    kernels: list[int] = field(default_factory=lambda: [3, 3, 5, 5, 3])
    depth: int = 3
    expand: int = 4
    width_mult: float = 1.0
    stem_stride: int = 1
    pool: str = "all"


@dataclass
class Eeg1dConfig:
    """The ``eeg1d`` family's 1D CNN over ``raw_eeg`` (hms_kit.models.eeg1d).

    A stem convolution to ``widths[0]`` channels, then one stage per width: a stride-2
    depthwise-separable block with squeeze-excitation and ``depth - 1`` more at that
    resolution; GeM pooling over time; a linear head. ``kernel``: depthwise kernel (samples);
    ``scale_uv``: inputs are divided by it (microvolts to ~unit scale).
    """

    widths: list[int] = field(default_factory=lambda: [32, 48, 64, 96, 128])
    depth: int = 2
    kernel: int = 7
    se_ratio: float = 0.25
    scale_uv: float = 32.0
    # ``mixed``: the network above (every pair mixed in the stem); ``chain``: the 4th place's
    # EfficientNet1d layout (``chain`` settings): each double-banana chain encoded with the
    # same weights, the chains mixed at every stage
    topology: str = "mixed"
    chain: Eeg1dChainConfig = field(default_factory=Eeg1dChainConfig)


@dataclass
class Spec2dConfig:
    """The ``spec2d`` family: per-pair log-mel spectrograms of ``raw_eeg`` computed inside the
    model (hms_kit.models.spec2d), tiled on one image for a timm backbone (``model.name``).

    The whole window: ``n_fft``/``win_length``/``hop`` samples at raw_eeg.rate_hz, ``n_mels``
    bands from fmin to fmax Hz; the centre ``zoom_s`` seconds again at ``zoom_hop`` /
    ``zoom_win`` (finer time). Canvas: pairs stacked vertically, whole window left, zoom right,
    ``(1, n_pairs * n_mels, frames + zoom_frames)``, resized by ``scale``.

    Issue 20's switches (after the 3rd place's mdl_4; the defaults are today's model):
    ``scale_uv`` divides the waveforms first; ``top_db`` > 0: power in dB, clipped at
    ``top_db`` below each row's maximum, not standardised (0: log10, standardised);
    ``channels`` ``derived``: 3 per pair (x, x - the other pairs' mean, x - the mean of the
    pairs sharing an electrode with it); ``zoom`` ``inside``: the zoom (its own
    ``zoom_n_fft``, 0 = n_fft) replaces the ``zoom_cut`` share of the window's columns
    around its centre; training moves that centre up to +-``zoom_jitter_s`` s in a
    ``zoom_p_jitter`` share of rows; ``pool`` ``gem``: learnt generalised-mean pooling;
    ``drop_path``: timm's drop_path_rate; training zeroes 1..``pair_drop_max`` pairs' channels
    on the canvas in a ``pair_drop_p`` share of rows.
    """

    n_fft: int = 128
    win_length: int = 64
    hop: int = 16
    n_mels: int = 16
    fmin: float = 0.5
    fmax: float = 20.0
    zoom_s: float = 10.0
    zoom_win: int = 32
    zoom_hop: int = 4
    scale: float = 1.0
    scale_uv: float = 1.0
    top_db: float = 0.0
    channels: str = "single"  # single | derived
    zoom: str = "append"  # append | inside
    zoom_n_fft: int = 0
    zoom_cut: float = 0.2
    zoom_jitter_s: float = 0.0
    zoom_p_jitter: float = 1.0
    pool: str = "avg"  # avg | gem
    drop_path: float = 0.0
    pair_drop_p: float = 0.0
    pair_drop_max: int = 8


@dataclass
class BaselineConfig:
    """The ``baseline`` family's features (``hms_kit.baseline``). ``morphology``: add the
    waveform-shape features of each chain (sharpness, peakedness, periodic discharges,
    rhythmic delta, evolution over the window, left/right asymmetry) to the band powers."""

    morphology: bool = False


@dataclass
class ModelConfig:
    """The model. ``family`` names one of hms_kit.models' families:

    - ``timm2d``: a timm backbone named ``name`` over the panel inputs (``weights``: a local
      file or folder of pretrained weights, '' = timm's hub);
    - ``eeg1d``: a 1D CNN over the raw bipolar waveforms (``eeg1d`` settings);
    - ``spec2d``: spectrograms of the raw waveforms made inside the model, a timm backbone
      ``name`` over them (``spec2d`` settings);
    - ``baseline``: band-power features (and with ``baseline.morphology`` the waveforms'
      shapes) and a scikit-learn model named ``name`` (``logreg`` or ``hgb``;
      hms_kit.baseline), trained without torch.
    """

    family: str = "timm2d"
    name: str = "tf_efficientnet_b0"
    pretrained: bool = False
    weights: str = ""
    drop_rate: float = 0.1
    eeg1d: Eeg1dConfig = field(default_factory=Eeg1dConfig)
    spec2d: Spec2dConfig = field(default_factory=Spec2dConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)


@dataclass
class StageConfig:
    """One training stage: epochs, optimiser and OneCycleLR settings; min_votes filters rows.

    The learning rate starts at ``max_lr / div_factor``, peaks at ``max_lr`` after
    ``pct_start`` of the steps and ends at that start divided by ``final_div_factor``
    (torch's OneCycleLR).
    """

    epochs: int = 4
    max_lr: float = 3e-3
    weight_decay: float = 1e-2
    pct_start: float = 0.1
    div_factor: float = 25.0
    final_div_factor: float = 100.0
    anneal_strategy: str = "cos"
    min_votes: int = 0


@dataclass
class TrainConfig:
    """k-fold training with an optional second stage on high-vote rows."""

    n_folds: int = 3
    folds: list[int] = field(default_factory=list)  # empty: all folds
    seed: int = 42
    batch_size: int = 32
    num_workers: int = -1  # -1: none when training on a CPU, else one per core but one (max 8)
    grad_clip: float = 1.0
    grad_accum: int = 1  # micro-batches of batch_size per optimiser step
    amp: str = "auto"  # auto (fp16 on CUDA, fp32 on CPU) | fp16 | bf16 | off
    vote_weighting: bool = False
    log_every: int = 20
    stage1: StageConfig = field(default_factory=StageConfig)
    stage2: StageConfig = field(
        default_factory=lambda: StageConfig(epochs=2, max_lr=1e-3, min_votes=10)
    )
    two_stage: bool = True
    # one OneCycleLR over both stages' steps (stage 1's max_lr, pct_start, div_factor,
    # final_div_factor and anneal_strategy; each stage keeps its epochs, weight_decay and
    # min_votes), so stage 2 goes on from stage 1's rate: the 4th place's one cosine over
    # 32 + 32 epochs. False: each stage has its own schedule
    joint_schedule: bool = False
    time_limit_hours: float = 0.0  # 0: no limit; kernels set Kaggle's session limit
    channels_last: bool = False
    # folds trained side by side, one process each (hms_kit.fold_scheduler): 0 = one per GPU
    # when there are two or more (Kaggle's T4 x2), else one after another
    fold_workers: int = 0
    # a patient_id,fold file (`python -m hms_kit folds`) shared by runs whose OOF are blended;
    # empty: folds made from the rows and train.seed
    folds_file: str = ""
    # repeats (hms_kit.repeats): a list of seeds, or a count K (train.seed and the K - 1
    # after it), each trained on the same folds and averaged in OOF and prediction; empty or
    # 1: one run
    seeds: list[int] | int = field(default_factory=list)
    # issue 21, remedies for a recipe whose chosen epoch is noisy at a small size:
    # checkpoint "best" (the epoch of lowest validation loss) or "last" (each stage's last
    # epoch, as most top solutions kept); ema_decay > 0 evaluates, checkpoints and predicts
    # with an exponential moving average of the weights (per step; 0: off)
    checkpoint: str = "best"
    ema_decay: float = 0.0
    # which rows an epoch trains on: ``rows`` (every training row, shuffled) or ``per_eeg``
    # (one random row of each eeg_id, drawn again every epoch: the 4th place's sampler, so
    # an EEG with many windows does not outweigh one with few); not data.row_mode=per_eeg,
    # which sums an EEG's votes into one row once
    sampler: str = "rows"


@dataclass
class PredictConfig:
    """Inference: test-time augmentation (time flip, left/right mirror), batch size, and the inference kernel's time
    budget for an ensemble (members that would not finish in it are dropped, lowest weight
    first)."""

    tta_flip: bool = False
    # left/right mirror TTA (hms_kit.inputs.tta), alone or with tta_flip (then 4 passes)
    tta_mirror: bool = False
    # the OOF predictions of training with the same views as the test set's, so that a blend
    # fitted on OOF weighs the model it is given at test time (one more pass over each fold's
    # validation rows per view; the validation loss that chooses the epoch stays plain).
    # False: plain OOF beside viewed test predictions (every run before issue 21's stop 40)
    tta_oof: bool = True
    batch_size: int = 64
    time_limit_hours: float = 0.0  # 0: no limit; Kaggle stops an inference kernel at 9 hours
    # the inference kernel's commit run fails while an ensemble member's training is
    # unfinished (a fold missing or stopped at train.time_limit_hours): its blend would fall
    # back to one member unnoticed. True submits such members as they are
    allow_incomplete: bool = False
    # MLE-bench's layout (test files longer than one window, see hms_kit.scoring.windows): each EEG
    # is predicted from windows every stride_s seconds, at most max_windows of them spread
    # over the recording (0: one window at offset 0, as on Kaggle's layout), averaged in
    # ``prob`` (mean probability) or ``logit`` (mean log-probability, renormalised) space.
    # prob measured better for the CNN on two synthetic MLE-bench splits (issue 13 note).
    # Cost: ~30 windows/s end to end with 3 checkpoints on one CPU thread (inputs dominate),
    # so 1,700 test EEGs x 32 windows (every EEG long, the worst case) is ~30 min on a CPU
    # and less on a GPU machine.
    stride_s: float = 10.0
    max_windows: int = 32
    average: str = "prob"

    def oof_views(self) -> tuple[bool, bool]:
        """``(flip, mirror)``: the test-time views a run predicts its OOF with (``tta_oof``
        on: the views it predicts the test set with; off: none)."""
        return (bool(self.tta_oof and self.tta_flip), bool(self.tta_oof and self.tta_mirror))


TARGET_POPULATIONS = ("kaggle_hq", "all_rows")
SAMPLERS = ("rows", "per_eeg")
SPEC_SCALES = ("standardize", "db_max")
EEG1D_TOPOLOGIES = ("mixed", "chain")
CHAIN_POOLS = ("all", "sides")
AVERAGES = ("logit", "prob")
SPEC2D_CHANNELS, SPEC2D_ZOOMS, POOLS = ("single", "derived"), ("append", "inside"), ("avg", "gem")


@dataclass
class TargetConfig:
    """Which scored population the run optimises (``hms_kit.scoring.populations``).

    ``kaggle_hq``: Kaggle's hidden test set (high-vote rows, one window each): stage 2
    fine-tunes on rows with >= ``train.stage2.min_votes`` votes and chooses its checkpoint on
    them. ``all_rows``: MLE-bench's test set (every row and vote count of 10 % of the train
    spectrograms): no high-vote fine-tuning, checkpoints chosen on all rows, OOF also scored
    one prediction per eeg_id as its grader sees it. Every run reports both populations.
    """

    population: str = "kaggle_hq"


@dataclass
class Config:
    """The whole run's settings."""

    target: TargetConfig = field(default_factory=TargetConfig)
    data: DataConfig = field(default_factory=DataConfig)
    inputs: InputConfig = field(default_factory=InputConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    predict: PredictConfig = field(default_factory=PredictConfig)


class ConfigError(ValueError):
    """A config file or override that does not fit the schema (names the key)."""
