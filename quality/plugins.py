"""User plugins: a filter, scorer or text transform of your own, named in the config.

The least a user writes is a class with one method:

- a filter: `filter(self, text) -> bool | tuple[bool, str]` (keep, or keep and a reason),
- a scorer: `score(self, text) -> float` (a shard column; `min_score`/`max_score` thresholds
  make it reject),
- a transform: `transform(self, text) -> str` (run after curate's own normalization),
- a dedup method: `key(self, text) -> str | None` (documents with equal keys are duplicates), or
  a `transforms.dedup.method.DedupMethod` subclass; loaded here, adapted in `transforms/dedup/`.

Subclassing `Filter`, `Scorer` or `Transform` is optional; they document the contract and let a
class set its `name` (reason codes `<name>:<reason>`, score column `<name>.score`; default: the
class name in snake_case, `NoShouting` -> `no_shouting`) and the `reason` of a bare `False`.

A config names a plugin as `module:Class` (imported from the Python path) or by the name of an
entry point in the `curate.plugins` group of an installed package
(`no_shouting = "my_filters:NoShouting"`). Names are resolved when the config is loaded (a bad
one is a config error) and again on every worker: the module must be importable there too
(Dataflow: ship it with `--setup_file`, `--extra_package` or `--requirements_file`).
"""

from __future__ import annotations

import importlib
import re
import threading
from importlib.metadata import entry_points
from typing import ClassVar

ENTRY_POINT_GROUP = "curate.plugins"
METHODS = {"filter": ("filter", "score"), "transform": ("transform",), "dedup": ("key", "decide")}


class Filter:
    """Optional base of a user filter: write `filter(self, text) -> bool | (bool, reason)`."""

    name: ClassVar[str | None] = None  # versioned name; None: the class name in snake_case
    reason: ClassVar[str] = "rejected"  # the reason code suffix of a bare `False`

    def filter(self, text: str) -> bool | tuple[bool, str]:
        raise NotImplementedError


class Scorer:
    """Optional base of a user scorer: write `score(self, text) -> float`."""

    name: ClassVar[str | None] = None

    def score(self, text: str) -> float:
        raise NotImplementedError


class Transform:
    """Optional base of a user text transform: write `transform(self, text) -> str`."""

    def transform(self, text: str) -> str:
        raise NotImplementedError


class PluginError(ValueError):
    """A plugin name that does not resolve to a usable class; the message says why."""


def is_plugin_name(name: str) -> bool:
    """True for `module:Class`; entry point names are told apart by the registry (not built-in)."""
    return ":" in name


def plugin_name(cls: type) -> str:
    """The name in reason codes and columns: `cls.name`, else the class name in snake_case."""
    name = getattr(cls, "name", None)
    if isinstance(name, str) and name:
        return name
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", cls.__name__).lower()


_lock = threading.RLock()  # re-entrant: a plugin module may load another plugin on import
_cache: dict[tuple[str, str], type] = {}


def load_plugin(name: str, kind: str) -> type:
    """The class that `name` names (`module:Class` or a `curate.plugins` entry point).

    `kind` is `filter` (needs `filter` or `score`), `transform` (needs `transform`) or `dedup`
    (needs `key` or `decide`).
    Raises PluginError naming what is wrong. Cached: workers resolve each name once.
    """
    with _lock:
        found = _cache.get((name, kind))
        if found is None:
            found = _cache[(name, kind)] = _resolve(name, kind)
        return found


def entry_point_names() -> list[str]:
    """Names of the installed `curate.plugins` entry points."""
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def _resolve(name: str, kind: str) -> type:
    if is_plugin_name(name):
        module_name, _, attr = name.partition(":")
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - any import failure is the user's to read
            raise PluginError(
                f"plugin {name!r}: module {module_name!r} cannot be imported "
                f"({type(exc).__name__}: {exc}); is it on the Python path?"
            ) from None
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part, None)
        if obj is None:
            raise PluginError(f"plugin {name!r}: module {module_name!r} has no {attr!r}")
    else:
        matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        if not matches:
            raise PluginError(
                f"unknown plugin {name!r}: not `module:Class` and no {ENTRY_POINT_GROUP!r} "
                f"entry point of that name (installed: {entry_point_names() or 'none'})"
            )
        try:
            obj = matches[0].load()
        except Exception as exc:  # noqa: BLE001
            raise PluginError(
                f"plugin {name!r}: entry point {matches[0].value!r} cannot be loaded "
                f"({type(exc).__name__}: {exc})"
            ) from None
    if not isinstance(obj, type):
        raise PluginError(f"plugin {name!r} is not a class (got {type(obj).__name__})")
    methods = METHODS[kind]
    if not any(implements(obj, m) for m in methods):
        wanted = " or ".join(_SIGNATURES.get(m, f"`{m}(self, text)`") for m in methods)
        raise PluginError(f"plugin {name!r}: class {obj.__name__} has no {wanted} method")
    return obj


_SIGNATURES = {"decide": "`decide(self)` (a transforms.dedup.method.DedupMethod)"}


def implements(cls: type, method: str) -> bool:
    """Whether `cls` has `method` of its own (not only the stub of this module's bases)."""
    found = getattr(cls, method, None)
    stubs = {getattr(base, method, None) for base in (Filter, Scorer, Transform)}
    return callable(found) and found not in stubs
