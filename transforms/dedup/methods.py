"""The enabled dedup methods of a config, in the order they decide.

Built-ins first, in `BUILTIN_METHODS` order: exact dedup (on metadata) before everything that
reads the spill runs, so the others see one copy of each text; boilerplate counting before near
dedup, so both count over the same exact-dedup survivors (boilerplate removes no record). Then
the `dedup.plugins`, in the config's order. Each method sees the records that survived the
methods before it, so a later one never removes a copy that an earlier one kept as the
survivor of a group it removed the others of.
"""

from __future__ import annotations

from transforms.dedup.boilerplate import BoilerplateMethod
from transforms.dedup.config import DedupConfig
from transforms.dedup.exact import ExactMethod
from transforms.dedup.key_method import KeyDedupMethod
from transforms.dedup.method import DedupMethod
from transforms.dedup.near_method import NearMethod
from transforms.dedup.plugin import build_plugin_object, dedup_plugin_class, dedup_plugin_name

# config section name -> method class, in decision order
BUILTIN_METHODS: dict[str, type[DedupMethod]] = {
    "exact": ExactMethod,
    "boilerplate": BoilerplateMethod,
    "near": NearMethod,
}


def dedup_methods(cfg: DedupConfig, seed: int) -> list[DedupMethod]:
    """The methods `cfg` enables, built, in decision order."""
    keep = cfg.exact.keep
    out: list[DedupMethod] = []
    for section, cls in BUILTIN_METHODS.items():
        settings = getattr(cfg, section)
        if settings.enabled:
            out.append(cls(settings, seed, keep))
    for entry in cfg.plugins:
        if entry.enabled:
            out.append(plugin_method(entry.name, entry.options, seed, keep))
    return out


def plugin_method(name: str, options: dict, seed: int, keep: str) -> DedupMethod:
    """The `DedupMethod` of a `dedup.plugins` entry."""
    cls = dedup_plugin_class(name)
    obj = build_plugin_object(cls, options, seed, keep)
    if isinstance(obj, DedupMethod):
        return obj
    return KeyDedupMethod(obj, dedup_plugin_name(cls), seed, keep)
