"""Loading a config: packaged names or YAML paths, ``key=value`` overrides, type coercion,
and the resolved YAML a run writes beside its outputs."""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from hms_kit.config.checks import validate
from hms_kit.config.sections import Config, ConfigError

CONFIG_DIR = Path(__file__).parent.parent / "configs"
# The packaged recipes for Kaggle's T4s (issue 20), one ensemble member each: what
# `make push-kernel` trains and blends without CONFIGS, what `make gpu-check` measures.
KAGGLE_CONFIGS: tuple[str, ...] = ("kaggle-eeg1d", "kaggle-spec2d", "kaggle-timm2d")
# keys an older hms_kit wrote that no longer mean anything: a checkpoint's stored config
# drops them; a config file that sets one is told what replaced it
REMOVED_KEYS = {
    ("train", "stage1", "lr"): "OneCycleLR starts at max_lr / div_factor: set div_factor",
    ("train", "stage2", "lr"): "OneCycleLR starts at max_lr / div_factor: set div_factor",
}


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain nested dicts and lists (YAML-ready)."""
    return dataclasses.asdict(cfg)


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' must be a mapping, got {value!r}")
        return _build(tp, value, key)
    if origin in (list, tuple):
        (item_tp, *_) = typing.get_args(tp) or (Any,)
        if isinstance(value, str):
            value = [v for v in (s.strip() for s in value.split(",")) if v]
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]  # --set train.folds=0: YAML reads a lone number, meant as [0]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}' must be a list, got {value!r}")
        return [_coerce(v, item_tp, key) for v in value]
    if origin in (typing.Union, types.UnionType):
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
            return False
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"config key '{key}' must be true or false, got {value!r}")
    if tp in (int, float, str):
        try:
            if tp is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return tp(value)
        except (TypeError, ValueError):
            raise ConfigError(f"config key '{key}' must be {tp.__name__}, got {value!r}") from None
    return value


def _build(cls: type, values: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(
            f"unknown config key '{where}{unknown[0]}' (known: {', '.join(sorted(names))})"
        )
    base = cls()
    kwargs = {}
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        if f.name in values:
            cur = getattr(base, f.name)
            val = values[f.name]
            if dataclasses.is_dataclass(cur) and isinstance(val, dict):
                merged = {**dataclasses.asdict(cur), **val}
                kwargs[f.name] = _build(type(cur), merged, key)
            else:
                kwargs[f.name] = _coerce(val, hints[f.name], key)
    return dataclasses.replace(base, **kwargs)


def _deep_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = (
            _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        )
    return out


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A config argument as a file: an existing path, or a packaged config name (``seed``)."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    packaged = CONFIG_DIR / f"{name_or_path}.yaml"
    if packaged.is_file():
        return packaged
    known = ", ".join(sorted(q.stem for q in CONFIG_DIR.glob("*.yaml")))
    raise ConfigError(f"config file not found: {name_or_path} (packaged configs: {known})")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping at the top level")
    parent = data.pop("base", None)  # a config may name another it extends
    if parent:
        data = _deep_merge(_read_yaml(resolve_config_path(parent)), data)
    return data


def flat_keys(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``: a config dict by dotted key (a list or an empty
    section is one value)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(flat_keys(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """``["train.epochs=3", "inputs.modalities=kaggle,eeg"]`` -> nested dict of YAML values."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ConfigError(f"override '{pair}' is not key=value")
        key, raw = pair.split("=", 1)
        value = yaml.safe_load(raw) if raw != "" else ""
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults, then the YAML file (a path or packaged name), then ``key=value`` overrides."""
    values: dict[str, Any] = {}
    if path:
        values = _read_yaml(resolve_config_path(path))
    values = _deep_merge(values, parse_overrides(overrides))
    for keys, why in REMOVED_KEYS.items():
        if _pop_path(values, keys):
            raise ConfigError(f"config key '{'.'.join(keys)}' was removed ({why})")
    cfg = _build(Config, values)
    validate(cfg)
    return cfg


def save_config(cfg: Config, path: str | Path) -> Path:
    """Write the resolved config as YAML (atomically) and return its path."""
    from hms_kit.io import atomic_write_text

    return atomic_write_text(Path(path), yaml.safe_dump(to_dict(cfg), sort_keys=False))


def _pop_path(values: dict[str, Any], keys: tuple[str, ...]) -> bool:
    """Remove ``values[k0][k1]...`` if present; whether it was."""
    node = values
    for k in keys[:-1]:
        node = node.get(k)
        if not isinstance(node, dict):
            return False
    if keys[-1] not in node:
        return False
    del node[keys[-1]]
    return True


def config_from_dict(values: dict[str, Any]) -> Config:
    """A Config from nested dicts (a resolved config stored in a checkpoint); keys an older
    hms_kit wrote that no longer exist (``REMOVED_KEYS``) are dropped."""
    values = copy.deepcopy(values)
    for keys in REMOVED_KEYS:
        _pop_path(values, keys)
    return _build(Config, values)
