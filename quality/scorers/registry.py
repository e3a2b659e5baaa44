"""Scorer registry: configs name scorers by versioned name, never by class.

A scorer whose behaviour changes is registered under a new name (`gopher_quality_v2`) next to
the old one, so a config written for an earlier corpus keeps producing the same scores.
"""

from __future__ import annotations

import inspect
from typing import Any

from quality.scorers.base import Scorer
from quality.scorers.c4 import C4
from quality.scorers.classifier import Classifier
from quality.scorers.fineweb import FineWeb
from quality.scorers.gopher_quality import GopherQuality
from quality.scorers.gopher_repetition import GopherRepetition
from quality.scorers.language import LanguageId

SCORERS: dict[str, type[Scorer]] = {
    cls.name: cls for cls in (GopherQuality, GopherRepetition, C4, FineWeb, LanguageId, Classifier)
}


def scorer_class(name: str) -> type[Scorer]:
    """The class registered as `name`; KeyError with the known names otherwise."""
    try:
        return SCORERS[name]
    except KeyError:
        raise KeyError(f"unknown scorer {name!r} (known: {', '.join(sorted(SCORERS))})") from None


def threshold_names(name: str) -> list[str]:
    """The keyword arguments (thresholds) that scorer `name` accepts."""
    params = inspect.signature(scorer_class(name).__init__).parameters
    return [p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY]


def build_scorer(name: str, thresholds: dict[str, Any] | None = None) -> Scorer:
    """Instantiates `name` with threshold overrides; ValueError on unknown or bad thresholds."""
    cls = scorer_class(name)
    thresholds = dict(thresholds or {})
    unknown = sorted(set(thresholds) - set(threshold_names(name)))
    if unknown:
        raise ValueError(f"{name}: unknown threshold(s) {unknown} (known: {threshold_names(name)})")
    return cls(**thresholds)
