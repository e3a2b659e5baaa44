"""A user's dedup method named in the config (`dedup.plugins`): resolved and checked here.

A plugin is `module:Class` or a `curate.plugins` entry point (loaded by `quality.plugins`, as
filters are), of one of two shapes:

- a class with `key(self, text) -> str | None`: documents with equal keys are duplicates
  (adapted by `KeyDedupMethod`, transforms/dedup/key_method.py);
- a `DedupMethod` subclass (transforms/dedup/method.py): the whole contract, built as
  `cls(seed=..., keep=..., **options)`.

The entry's `options` are the class's keyword arguments; an optional `validate() -> list[str]`
on the built object adds problems. Everything is checked when the config is loaded (one
`ConfigError` with the rest), and the class is imported again on every worker.
"""

from __future__ import annotations

from typing import Any

from quality.plugins import PluginError, load_plugin, plugin_name
from transforms.dedup.method import DedupMethod

# Names a plugin may not take: they are removal stages and reasons of curate's own.
RESERVED_NAMES = (
    "exact",
    "near",
    "boilerplate",
    "cross_release",
    "decontamination",
    "duplicate_id",
)


def dedup_plugin_class(name: str) -> type:
    """The class `name` names; PluginError saying why it is not a dedup method."""
    cls = load_plugin(name, "dedup")
    if issubclass(cls, DedupMethod) and cls.decide is DedupMethod.decide:
        raise PluginError(f"plugin {name!r}: DedupMethod subclass {cls.__name__} has no `decide`")
    return cls


def dedup_plugin_name(cls: type) -> str:
    """Its removal stage and column prefix: `cls.name`, else the class name in snake_case."""
    return plugin_name(cls)


def build_plugin_object(cls: type, options: dict[str, Any], seed: int, keep: str):
    """The plugin object: a `DedupMethod`, or the user's `key` object."""
    if issubclass(cls, DedupMethod):
        method = cls(seed=seed, keep=keep, **options)
        if not method.name:
            method.name = dedup_plugin_name(cls)
        return method
    return cls(**options)


def plugin_problems(name: str, options: dict[str, Any]) -> list[str]:
    """What is wrong with the `dedup.plugins` entry (empty: nothing)."""
    try:
        cls = dedup_plugin_class(name)
    except PluginError as exc:
        return [str(exc)]
    problems = []
    if dedup_plugin_name(cls) in RESERVED_NAMES:
        problems.append(
            f"plugin {name!r} is named {dedup_plugin_name(cls)!r}, a name of curate's own"
        )
    try:
        obj = build_plugin_object(cls, options, 0, "longest")
    except Exception as exc:  # noqa: BLE001 - the plugin's constructor is user code
        return [*problems, f"plugin {name!r} cannot be built: {type(exc).__name__}: {exc}"]
    validate = getattr(obj, "validate", None)
    if callable(validate):
        problems += [f"plugin {name!r}: {p}" for p in validate() or []]
    return problems
