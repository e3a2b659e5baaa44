"""Typed configuration from plain dicts (YAML), with every problem reported at once.

The same idea as `pipelines/typed_config.py`, kept separate on purpose: `train` may not import the
curation packages (the manifest + shard schema is the whole contract), and a trainer installed on a
GPU box should not need Beam. Sections are dataclasses; `build(cls, data)` converts and type-checks
every field, rejects unknown keys, runs each section's optional `validate() -> list[str]`, and
raises one `ConfigError` listing every problem with its dotted path.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar, Union, get_args, get_origin

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """Raised with every problem found in a configuration."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"invalid training configuration ({len(self.problems)} problem(s)):\n{lines}"
        )


def build(cls: type[T], data: Any) -> T:
    """Builds dataclass `cls` from `data`, raising one ConfigError listing every problem."""
    problems: list[str] = []
    obj = _convert(cls, data, "", problems)
    _validate_tree(obj, "", problems)
    if problems:
        raise ConfigError(problems)
    return obj


def to_dict(obj: Any) -> Any:
    """The plain-dict form of a config (what reports store and hashes cover)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Applies `key.path=value` overrides (values parsed as YAML, so 3, true, [a, b] work)."""
    problems = []
    for text in overrides:
        if "=" not in text:
            problems.append(f"override {text!r}: expected KEY.PATH=VALUE")
            continue
        key, raw = text.split("=", 1)
        keys = key.strip().split(".")
        node = data
        for k in keys[:-1]:
            if not isinstance(node.get(k), dict):
                node[k] = {}
            node = node[k]
        node[keys[-1]] = yaml.safe_load(raw) if raw.strip() else ""
    if problems:
        raise ConfigError(problems)
    return data


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _validate_tree(obj: Any, path: str, problems: list[str]) -> None:
    if not dataclasses.is_dataclass(obj):
        return
    for f in dataclasses.fields(obj):
        _validate_tree(getattr(obj, f.name), _join(path, f.name), problems)
    validate = getattr(obj, "validate", None)
    # A section with a type problem of its own is not cross-checked: its values may be nonsense.
    if callable(validate) and getattr(obj, "_converted_cleanly", True):
        prefix = f"{path}: " if path else ""
        problems.extend(prefix + p for p in validate())


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(tp: Any, value: Any, path: str, problems: list[str]) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            trial: list[str] = []
            out = _convert(arg, value, path, trial)
            if not trial:
                return out
        problems.append(
            f"{path}: expected {' or '.join(_type_name(a) for a in args)}, got {value!r}"
        )
        return None
    if origin is typing.Literal:
        if value not in get_args(tp):
            choices = ", ".join(repr(a) for a in get_args(tp))
            problems.append(f"{path}: must be one of {choices}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            problems.append(f"{path}: expected a list, got {value!r}")
            return []
        (arg,) = get_args(tp) or (Any,)
        return [_convert(arg, v, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a mapping, got {value!r}")
            return {}
        _, vt = get_args(tp) or (Any, Any)
        return {k: _convert(vt, v, _join(path, str(k)), problems) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return _convert_dataclass(tp, {} if value is None else value, path, problems)
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string; accept it
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{path}: expected a number, got {value!r}")
            return 0.0
        return float(value)
    for scalar, word in ((bool, "true or false"), (int, "an integer"), (str, "a string")):
        if tp is scalar:
            ok = isinstance(value, scalar) and not (scalar is int and isinstance(value, bool))
            if not ok:
                problems.append(f"{path}: expected {word}, got {value!r}")
            return value
    return value


def _convert_dataclass(tp: type, value: Any, path: str, problems: list[str]) -> Any:
    if not isinstance(value, dict):
        problems.append(f"{path or tp.__name__}: expected a mapping, got {value!r}")
        return tp()
    before = len(problems)
    hints = typing.get_type_hints(tp)
    fields = {f.name: f for f in dataclasses.fields(tp) if f.init}
    for key in value:
        if key not in fields:
            problems.append(
                f"{_join(path, str(key))}: unknown key (known: {', '.join(sorted(fields))})"
            )
    kwargs = {
        name: _convert(hints[name], value[name], _join(path, name), problems)
        for name in fields
        if name in value
    }
    for name, f in fields.items():
        if (
            name not in value
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ):
            problems.append(f"{_join(path, name)}: required")
    try:
        obj = tp(**kwargs)
    except (TypeError, ValueError) as exc:
        problems.append(f"{path or tp.__name__}: {exc}")
        return None
    if len(problems) != before:
        object.__setattr__(obj, "_converted_cleanly", False)
    return obj
