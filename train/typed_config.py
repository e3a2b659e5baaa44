"""Typed configuration from plain dicts (YAML), with every problem reported at once.

The one config engine of curate: `curate run`, `curate ablate` and `curate train` / `python -m
train` all build their configs here. It lives in `train` because train may import none of the
curation packages, while they may import this one module of train at module level: it imports
nothing of the project, nor Beam or torch; only the standard library, and PyYAML inside
`parse_override` (tests/test_import_boundaries.py). `import train` is lazy, so importing it loads
nothing else of train.

Config sections are dataclasses. `build(cls, data)` walks the dataclass fields, converts and
type-checks each value, rejects unknown keys, then calls each section's optional
`validate() -> list[str]` for value and cross-field checks. Errors are collected with their dotted
path and raised together as one `ConfigError`, so a user fixes a config in one pass. A float field
also takes a string spelling a decimal number: YAML 1.1 (PyYAML) reads `1e-4` and `1e5`, which
have no dot, as strings.

A section whose fields did not all convert is still validated, so its value problems are listed
with its type problems (not in a second round): `validate()` runs on a copy in which each field
that failed holds its default, and the problems it returns that name a failed field are dropped
(that field's own problem is already listed). So each message of a `validate()` names the fields
it checks, as they all do. An unknown key fails no field. A class that sets
`validate_despite_problems = True` is validated as converted, half-built fields included.

`--set KEY.PATH=VALUE` overrides (`apply_overrides`) are read the same way for every command: the
value as YAML, every malformed override listed in one `ConfigError`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import types
import typing
from typing import Any, TypeVar, Union, get_args, get_origin

T = TypeVar("T")

# A decimal number as a string: what YAML 1.1 leaves unparsed ("1e-4", "1E5") or a user quoted.
# Words float() would also take ("nan", "inf", "1_0") are not numbers a config means.
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


class _UnknownKey(str):
    """A problem that fails no field (an unknown key): the section's checks still all run."""


class ConfigError(ValueError):
    """Raised with every problem found in a configuration."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = [str(p) for p in problems]
        if len(self.problems) == 1:  # one line for one problem (a bad file, a bad --set)
            super().__init__(f"invalid configuration: {self.problems[0]}")
            return
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid configuration ({len(self.problems)} problem(s)):\n{lines}")


def build(cls: type[T], data: Any, path: str = "") -> T:
    """Builds dataclass `cls` from `data`, raising one ConfigError listing every problem."""
    problems: list[str] = []
    obj = _convert(cls, data, path, problems)
    _validate_tree(obj, path, problems)
    if problems:
        raise ConfigError(problems)
    return obj


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _validate_tree(obj: Any, path: str, problems: list[str]) -> None:
    """Runs validate() on every section (see the module docstring for half-converted ones)."""
    if not dataclasses.is_dataclass(obj):
        return
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        sub = _join(path, f.name)
        if dataclasses.is_dataclass(value):
            _validate_tree(value, sub, problems)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                _validate_tree(item, f"{sub}[{i}]", problems)
    if not callable(getattr(obj, "validate", None)):
        return
    prefix = f"{path}: " if path else ""
    failed = getattr(obj, "_failed_fields", frozenset())
    if not failed or getattr(obj, "validate_despite_problems", False):
        problems.extend(prefix + p for p in obj.validate())
        return
    try:
        found = _with_defaults(obj, failed).validate()
    except Exception:  # noqa: BLE001 - a check that cannot run on defaults: its inputs failed
        return
    problems.extend(prefix + p for p in found if not _names_any(p, failed))


def _with_defaults(obj: Any, failed: frozenset[str]) -> Any:
    """A shallow copy of `obj` whose failed fields hold their defaults (when they have one)."""
    out = copy.copy(obj)
    for f in dataclasses.fields(obj):
        if f.name not in failed:
            continue
        if f.default is not dataclasses.MISSING:
            object.__setattr__(out, f.name, f.default)
        elif f.default_factory is not dataclasses.MISSING:
            object.__setattr__(out, f.name, f.default_factory())
    return out


def _names_any(problem: str, names: frozenset[str]) -> bool:
    """Whether a validate() message names one of `names` as a word (`dsir.enabled` names dsir)."""
    return any(re.search(rf"(?<!\w){re.escape(n)}(?!\w)", problem) for n in names)


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
        non_none = [a for a in args if a is not type(None)]
        tried = []
        for arg in non_none:  # first alternative that converts cleanly wins
            trial: list[str] = []
            out = _convert(arg, value, path, trial)
            if not trial:
                return out
            tried.append((arg, out, trial))
        shaped = [(out, trial) for arg, out, trial in tried if _has_shape_of(arg, value)]
        if len(shaped) == 1:  # e.g. a section given as a mapping: its own problems, at their paths
            out, trial = shaped[0]
            problems.extend(trial)
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
        kt, vt = get_args(tp) or (Any, Any)
        return {
            _convert(kt, k, f"{path}.<key>", problems): _convert(vt, v, f"{path}.{k}", problems)
            for k, v in value.items()
        }
    if dataclasses.is_dataclass(tp):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            problems.append(f"{path or tp.__name__}: expected a mapping, got {value!r}")
            return None
        hints = typing.get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp) if f.init}
        for key in value:
            if key not in fields:
                known = ", ".join(sorted(fields))
                problems.append(
                    _UnknownKey(f"{_join(path, str(key))}: unknown key (known: {known})")
                )
        kwargs = {}
        failed, missing = set(), False
        for name, f in fields.items():
            if name in value:
                start = len(problems)
                kwargs[name] = _convert(hints[name], value[name], _join(path, name), problems)
                if any(not isinstance(p, _UnknownKey) for p in problems[start:]):
                    failed.add(name)  # its value (or a part of it) did not convert
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                problems.append(f"{_join(path, name)}: required")
                missing = True
        try:
            obj = tp(**kwargs)
        except (TypeError, ValueError) as exc:
            if not missing:  # a missing required field is already listed
                problems.append(f"{path or tp.__name__}: {exc}")
            return None
        if failed:
            object.__setattr__(obj, "_failed_fields", frozenset(failed))
        return obj
    if tp is float:
        if isinstance(value, str) and _NUMBER.fullmatch(value):
            number = float(value)
            if math.isinf(number):  # "1e999": like an integer beyond the float range below
                problems.append(f"{path}: the number {_short(value)} is too large for a float")
                return 0.0
            return number
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{path}: expected a number, got {value!r}")
            return 0.0
        try:
            return float(value)
        except OverflowError:  # an integer literal beyond the float range
            problems.append(f"{path}: the number {_short(value)} is too large for a float")
            return 0.0
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{path}: expected an integer, got {value!r}")
            return 0
        return value
    if tp is bool:
        if not isinstance(value, bool):
            problems.append(f"{path}: expected true or false, got {value!r}")
            return False
        return value
    if tp is str:
        if not isinstance(value, str):
            problems.append(f"{path}: expected a string, got {value!r}")
            return ""
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        problems.append(f"{path}: expected {_type_name(tp)}, got {value!r}")
    return value


def _has_shape_of(tp: Any, value: Any) -> bool:
    """Whether `tp` is a section, mapping or list type and `value` is a mapping or list to match."""
    if isinstance(value, dict):
        return dataclasses.is_dataclass(tp) or get_origin(tp) is dict
    if isinstance(value, (list, tuple)):
        return get_origin(tp) is list
    return False


def _short(value: Any, keep: int = 24) -> str:
    text = str(value) if not isinstance(value, int) or value.bit_length() < 4000 else "a huge int"
    return text if len(text) <= 2 * keep else f"{text[:keep]}...{text[-keep:]}"


def to_dict(obj: Any) -> Any:
    """The plain-dict form of a config (what the manifest stores and hashes)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parses a `--set a.b.c=value` override; the value is read as YAML (so 3, true, [1,2] work)."""
    import yaml

    if "=" not in text:
        raise ConfigError([f"override {text!r}: expected KEY.PATH=VALUE"])
    key, raw = text.split("=", 1)
    keys = key.strip().split(".")
    if not all(keys):
        raise ConfigError([f"override {text!r}: the key {key.strip()!r} has an empty part"])
    try:
        return keys, yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        where = str(exc).splitlines()[0]
        raise ConfigError(
            [f"override {text!r}: the value is not valid YAML ({where}); quote it to pass a string"]
        ) from None


def apply_override(data: dict, keys: list[str], value: Any) -> None:
    """Sets data[k1][k2]... = value, creating intermediate mappings."""
    node = data
    for k in keys[:-1]:
        if not isinstance(node.get(k), dict):
            node[k] = {}
        node = node[k]
    node[keys[-1]] = value


def apply_overrides(data: dict, overrides) -> dict:
    """Applies `--set KEY.PATH=VALUE` overrides to `data` in place and returns it; raises one
    `ConfigError` naming every malformed override."""
    problems: list[str] = []
    for text in overrides or []:
        try:
            keys, value = parse_override(text)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        apply_override(data, keys, value)
    if problems:
        raise ConfigError(problems)
    return data
