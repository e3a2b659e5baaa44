"""A user's filter or scorer class (`quality.plugins`) as a `Scorer` of the registry.

The adapter fills in what a built-in scorer declares: `name` and `prefix` (the plugin's name,
so reason codes are `<name>:<reason>`), the features, the shard column `<name>.score` (float32,
like the built-ins' columns) for a class with `score`, and the rules:

- `filter(text)` returning False (or `(False, reason)`) fails the rule `<name>:<reason>`
  (`reason` defaults to the class's `reason` attribute, else `rejected`);
- `score(text)` is checked against the thresholds `min_score`/`max_score` when set
  (`<name>:min_score`, `<name>:max_score`).

Every other threshold of the config is a keyword argument of the user's class.

A plugin class that derives `quality.scorers.base.Scorer` needs no adapter: it is the scorer,
and declares its columns, summary, report section and sampling weights itself, like a built-in.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any, ClassVar

from quality.plugins import implements, load_plugin, plugin_name
from quality.scorers.base import Failure, Rule, Scorer, raise_if
from quality.text import TextView

SCORE_BOUNDS = ("min_score", "max_score")


class PluginScorer(Scorer):
    """Base of the adapter classes `plugin_scorer_class` makes, one per plugin class."""

    plugin: ClassVar[type]
    has_filter: ClassVar[bool]
    has_score: ClassVar[bool]

    def __init__(
        self, *, min_score: float | None = None, max_score: float | None = None, **options: Any
    ) -> None:
        problems = []
        if not self.has_score and (min_score is not None or max_score is not None):
            problems.append("min_score/max_score need a `score` method")
        raise_if(problems, self.name)
        try:
            self.impl = self.plugin(**options)
        except TypeError as exc:
            raise ValueError(f"{self.name}: {exc}") from None
        rules = [
            Rule("min_score", "score", min_score, None),
            Rule("max_score", "score", None, max_score),
        ]
        self.rules = [r for r in rules if r.low is not None or r.high is not None]
        self.default_reason = getattr(self.plugin, "reason", None) or "rejected"

    @classmethod
    def threshold_names(cls) -> list[str] | None:
        """The thresholds the config may set; None when the class takes any keyword."""
        params = list(inspect.signature(cls.plugin).parameters.values())
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None
        own = [
            p.name
            for p in params
            if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        ]
        return own + list(SCORE_BOUNDS if cls.has_score else ())

    def compute(self, view: TextView) -> dict[str, Any]:
        features: dict[str, Any] = {}
        if self.has_score:
            features["score"] = float(self.impl.score(view.text))
        if self.has_filter:
            verdict = self.impl.filter(view.text)
            keep, reason = verdict if isinstance(verdict, tuple) else (verdict, "")
            features["keep"] = 1.0 if keep else 0.0
            features["reason"] = str(reason or self.default_reason)
        return features

    def first_failure(self, features: dict[str, Any]) -> Failure | None:
        if features.get("keep", 1.0) == 0.0:
            return Failure(f"{self.prefix}:{features['reason']}", f"{self.plugin.__name__}.filter")
        return super().first_failure(features)

    def soft_pass(self, features: dict[str, Any]) -> float:
        passes = [r.soft(features[r.feature]) for r in self.rules]
        if "keep" in features:
            passes.append(features["keep"])
        return sum(passes) / len(passes) if passes else 1.0

    def meta(self, features: dict[str, Any]) -> dict[str, Any]:
        """Only the score reaches the record (the filter's verdict is the rejection itself)."""
        return {self.column("score"): features["score"]} if "score" in features else {}


_lock = threading.Lock()
_classes: dict[type, type[PluginScorer]] = {}


def plugin_scorer_class(name: str) -> type[Scorer]:
    """The adapter of the plugin `name` names (the class itself when it is a `Scorer`).

    Raises PluginError when the name does not resolve.
    """
    plugin = load_plugin(name, "filter")
    if issubclass(plugin, Scorer):
        return plugin
    with _lock:
        found = _classes.get(plugin)
        if found is None:
            has_filter, has_score = implements(plugin, "filter"), implements(plugin, "score")
            features = ("score",) * has_score + ("keep",) * has_filter
            found = _classes[plugin] = type(
                f"Plugin_{plugin.__name__}",
                (PluginScorer,),
                {
                    "name": plugin_name(plugin),
                    "prefix": plugin_name(plugin),
                    "features": features,
                    "main_features": ("score",) * has_score,
                    "plugin": plugin,
                    "has_filter": has_filter,
                    "has_score": has_score,
                    "__module__": __name__,
                },
            )
        return found
