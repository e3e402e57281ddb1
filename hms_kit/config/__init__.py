"""One typed configuration: dataclasses with working defaults, YAML files, key=value overrides.

``sections`` holds the dataclasses, ``loading`` reads YAML and overrides into them, ``checks``
rejects values no stage could use; everything is imported from here.

A run writes its resolved config (``config.yaml``) beside its outputs, so a result can be
traced back to the settings that made it. Named configs ship inside the package
(``hms_kit/configs/<name>.yaml``): ``default`` is the fast CPU setting `make demo` uses,
``seed`` the design document's full setting, ``kaggle`` the one the kernels run,
``kaggle-eeg1d`` and ``kaggle-timm2d`` the 4th place's EfficientNet1d and 2D recipes for
Kaggle's GPUs, ``kaggle-spec2d`` the 3rd place's best 2D model.
"""

from __future__ import annotations

from hms_kit.config.checks import (
    validate,
)
from hms_kit.config.loading import (
    CONFIG_DIR,
    KAGGLE_CONFIGS,
    REMOVED_KEYS,
    config_from_dict,
    flat_keys,
    load_config,
    parse_overrides,
    resolve_config_path,
    save_config,
    to_dict,
)
from hms_kit.config.sections import (
    AVERAGES,
    CHAIN_POOLS,
    EEG1D_TOPOLOGIES,
    POOLS,
    SAMPLERS,
    SPEC2D_CHANNELS,
    SPEC2D_ZOOMS,
    SPEC_SCALES,
    TARGET_POPULATIONS,
    AugmentConfig,
    BaselineConfig,
    Config,
    ConfigError,
    DataConfig,
    Eeg1dChainConfig,
    Eeg1dConfig,
    EegSpecConfig,
    InputConfig,
    KaggleSpecConfig,
    ModelConfig,
    PredictConfig,
    RawEegConfig,
    Spec2dConfig,
    StageConfig,
    TargetConfig,
    TrainConfig,
    WaveAugmentConfig,
    WaveletConfig,
)

__all__ = [
    "AVERAGES",
    "CHAIN_POOLS",
    "AugmentConfig",
    "BaselineConfig",
    "CONFIG_DIR",
    "Config",
    "ConfigError",
    "DataConfig",
    "EEG1D_TOPOLOGIES",
    "Eeg1dChainConfig",
    "Eeg1dConfig",
    "EegSpecConfig",
    "InputConfig",
    "KAGGLE_CONFIGS",
    "KaggleSpecConfig",
    "ModelConfig",
    "POOLS",
    "PredictConfig",
    "REMOVED_KEYS",
    "RawEegConfig",
    "SAMPLERS",
    "SPEC2D_CHANNELS",
    "SPEC2D_ZOOMS",
    "SPEC_SCALES",
    "Spec2dConfig",
    "StageConfig",
    "TARGET_POPULATIONS",
    "TargetConfig",
    "TrainConfig",
    "WaveAugmentConfig",
    "WaveletConfig",
    "config_from_dict",
    "flat_keys",
    "load_config",
    "parse_overrides",
    "resolve_config_path",
    "save_config",
    "to_dict",
    "validate",
]
