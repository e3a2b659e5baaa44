"""Scorer registry: configs name scorers by versioned name, never by class.

A scorer whose behaviour changes is registered under a new name (`gopher_quality_v2`) next to
the old one, so a config written for an earlier corpus keeps producing the same scores.

A name that is not built in names a user plugin: `module:Class`, or a `curate.plugins` entry
point (see `quality.plugins`); it resolves to an adapter class (`quality.scorers.plugin`), or to
the class itself when it derives `Scorer`.

Adding a scorer is its own module plus one line here (in `SCORERS`, or `SECTION_SCORERS` for
one configured by its own `quality.<section>`); nothing else names it: the stage, the shard
schema, the summary, the report and the sampling weights read what the class declares.
"""

from __future__ import annotations

import inspect
from typing import Any

from quality.plugins import ENTRY_POINT_GROUP, PluginError, entry_point_names, is_plugin_name
from quality.scorers.base import ReportSection, Scorer
from quality.scorers.bias import Bias
from quality.scorers.c4 import C4
from quality.scorers.classifier import Classifier
from quality.scorers.fineweb import FineWeb
from quality.scorers.gopher_quality import GopherQuality
from quality.scorers.gopher_repetition import GopherRepetition
from quality.scorers.language import LanguageId
from quality.scorers.pii import Pii
from quality.scorers.plugin import PluginScorer, plugin_scorer_class
from quality.scorers.toxicity import Toxicity

SCORERS: dict[str, type[Scorer]] = {
    cls.name: cls for cls in (GopherQuality, GopherRepetition, C4, FineWeb, LanguageId, Classifier)
}
# Scorers configured by a section of their own (`quality.<section>`), in the order they run:
# PII first (it rewrites the text every other scorer reads), then after the listed scorers
# toxicity, then bias (it reads toxicity).
SECTION_SCORERS: tuple[type[Scorer], ...] = (Pii, Toxicity, Bias)


def register(cls: type[Scorer]) -> type[Scorer]:
    """Registers `cls` under `cls.name` (usable as a class decorator); ValueError on a clash."""
    if SCORERS.get(cls.name, cls) is not cls:
        raise ValueError(f"scorer name {cls.name!r} is already registered")
    SCORERS[cls.name] = cls
    return cls


def known_classes() -> list[type[Scorer]]:
    """Every registered scorer class, listed ones first, then the section scorers."""
    return [*SCORERS.values(), *SECTION_SCORERS]


def weight_defaults() -> dict[str, float]:
    """{name: neutral value} of every score a registered scorer offers to `sampling.weight`."""
    out: dict[str, float] = {}
    for cls in known_classes():
        out.update(cls.weight_defaults())
    return out


def unit_score_columns() -> list[str]:
    """The composite `quality` and every registered scorer's unit-score columns."""
    out = ["quality"]
    for cls in (*SECTION_SCORERS, *SCORERS.values()):
        out += [c for c in cls.unit_columns() if c not in out]
    return out


def report_sections(summary: dict[str, Any], names: list[str] = ()) -> list[ReportSection]:
    """The report sections of the registered scorers and of the scorers `names` names (a run's
    config: plugins among them), each that has one for this summary."""
    classes = known_classes()
    for name in names:
        try:
            cls = scorer_class(name)
        except KeyError:
            continue  # a plugin not importable where the report is built: no section
        classes += [cls] * (cls not in classes)
    found = (cls.report_section(summary) for cls in classes)
    return [s for s in found if s is not None]


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
