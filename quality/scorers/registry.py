"""Scorer registry: configs name scorers by versioned name, never by class.

A scorer whose behaviour changes is registered under a new name (`gopher_quality_v2`) next to
the old one, so a config written for an earlier corpus keeps producing the same scores.

A name that is not built in names a user plugin: `module:Class`, or a `curate.plugins` entry
point (see `quality.plugins`); it resolves to an adapter class (`quality.scorers.plugin`).
"""

from __future__ import annotations

import inspect
from typing import Any

from quality.plugins import ENTRY_POINT_GROUP, PluginError, entry_point_names, is_plugin_name
from quality.scorers.base import Scorer
from quality.scorers.c4 import C4
from quality.scorers.classifier import Classifier
from quality.scorers.fineweb import FineWeb
from quality.scorers.gopher_quality import GopherQuality
from quality.scorers.gopher_repetition import GopherRepetition
from quality.scorers.language import LanguageId
from quality.scorers.plugin import PluginScorer, plugin_scorer_class

SCORERS: dict[str, type[Scorer]] = {
    cls.name: cls for cls in (GopherQuality, GopherRepetition, C4, FineWeb, LanguageId, Classifier)
}


def scorer_class(name: str) -> type[Scorer]:
    """The class registered as `name`, or a plugin's adapter; KeyError saying why otherwise."""
    found = SCORERS.get(name)
    if found is not None:
        return found
    try:
        return plugin_scorer_class(name)
    except PluginError as exc:
        if is_plugin_name(name) or name in entry_point_names():
            raise KeyError(str(exc)) from None
    raise KeyError(
        f"unknown scorer {name!r} (known: {', '.join(sorted(SCORERS))}; or a plugin: "
        f"`module:Class`, or an entry point of {ENTRY_POINT_GROUP!r}: "
        f"{', '.join(entry_point_names()) or 'none installed'})"
    )


def threshold_names(name: str) -> list[str] | None:
    """The keyword arguments (thresholds) that scorer `name` accepts; None: any keyword."""
    cls = scorer_class(name)
    if issubclass(cls, PluginScorer):
        return cls.threshold_names()
    params = inspect.signature(cls.__init__).parameters
    return [p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY]


def build_scorer(name: str, thresholds: dict[str, Any] | None = None) -> Scorer:
    """Instantiates `name` with threshold overrides; ValueError on unknown or bad thresholds."""
    cls = scorer_class(name)
    thresholds = dict(thresholds or {})
    known = threshold_names(name)
    unknown = sorted(set(thresholds) - set(known)) if known is not None else []
    if unknown:
        raise ValueError(f"{name}: unknown threshold(s) {unknown} (known: {threshold_names(name)})")
    return cls(**thresholds)
