"""Quality scorers (Gopher quality and repetition, C4, FineWeb, language ID, the trained
classifier) and their registry."""

from quality.scorers.base import Failure, Rule, Scorer
from quality.scorers.c4 import C4
from quality.scorers.classifier import Classifier
from quality.scorers.fineweb import FineWeb
from quality.scorers.gopher_quality import GopherQuality
from quality.scorers.gopher_repetition import GopherRepetition
from quality.scorers.language import LanguageId
from quality.scorers.registry import SCORERS, build_scorer, scorer_class, threshold_names

__all__ = [
    "C4",
    "Classifier",
    "SCORERS",
    "Failure",
    "FineWeb",
    "GopherQuality",
    "GopherRepetition",
    "LanguageId",
    "Rule",
    "Scorer",
    "build_scorer",
    "scorer_class",
    "threshold_names",
]
