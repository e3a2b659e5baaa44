"""quality: heuristic scorers, toxicity, identity-term bias report, PII redaction, config.

Public names are imported lazily (PEP 562), so `import quality` stays fast and loads neither
numpy nor scikit-learn; nothing in this package imports apache_beam, torch or the other
curate packages.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BiasAccumulator": "quality.bias",
    "IdentityTagger": "quality.bias",
    "wilson_interval": "quality.bias",
    "PhraseAutomaton": "quality.automaton",
    "PiiRedactor": "quality.pii",
    "ToxicityClassifier": "quality.toxicity",
    "QualityStage": "quality.stage",
    "DocResult": "quality.stage",
    "quality_columns": "quality.stage",
    "ScoringSummary": "quality.summary",
    "SCORERS": "quality.scorers.registry",
    "build_scorer": "quality.scorers.registry",
    "Scorer": "quality.scorers.base",
    "GopherQuality": "quality.scorers.gopher_quality",
    "GopherRepetition": "quality.scorers.gopher_repetition",
    "C4": "quality.scorers.c4",
    "FineWeb": "quality.scorers.fineweb",
    "QualityConfig": "quality.config",
    "ScorerConfig": "quality.config",
    "ToxicityConfig": "quality.config",
    "BiasConfig": "quality.config",
    "PiiConfig": "quality.config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'quality' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
