"""Config section of quality scoring and filtering (`quality:` in the pipeline YAML).

```yaml
quality:
  scorers:                       # order = order of the filter checks
    - {name: gopher_quality_v1, action: score_only}
    - {name: gopher_repetition_v1, thresholds: {dup_line_frac: 0.5},
       by_source: {man: {action: score_only}}}          # one scorer, one source
    - {name: c4_v1, enabled: false}
    - {name: language_v1, thresholds: {allowed: [en, de], min_confidence: 0.65}}
    - {name: classifier_v1, thresholds: {model: models/docs.safetensors, keep_top_fraction: 0.3}}
  default_policy: web            # built-in policies: web, code, docs (quality/policies.py)
  source_policies: {code: code, man: docs}
  toxicity: {threshold: 0.8, action: score_only, lexicon: my_terms.txt}
  bias: {policy: report}
  pii: {mode: redact, types: [email, ip]}
```

Scorer thresholds default to their papers' values (cited in each scorer class, see
`quality.scorers`); the defaults here suit web text: every heuristic filters. Code, man pages
and other non-prose sources fail web-text rules by design: give them a policy (`code`, `docs`)
in `source_policies`. What applies to a document of source S, for each scorer: the scorer's
settings here, then those of S's policy, then the scorer's `by_source.S` (thresholds merge
key by key; the last `action` set wins).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

from quality.files import is_url
from quality.lexicon import BIAS_AXES, bias_lexicon_paths, load_lexicon
from quality.pii import PII_TYPES
from quality.policies import POLICIES, policy_settings
from quality.scorers.registry import SCORERS, build_scorer, scorer_class

DEFAULT_SCORERS = ("gopher_quality_v1", "gopher_repetition_v1", "c4_v1", "fineweb_v1")
ACTIONS = ("filter", "score_only")


@dataclass
class SourceOverride:
    """One scorer's settings for one source (applied after the source's policy)."""

    # filter | score_only | None (keep the policy's action); a str checked by QualityConfig, so
    # a typo here is reported together with every other problem of the section.
    action: str | None = None
    thresholds: dict[str, Any] = field(default_factory=dict)  # merged key by key


@dataclass
class ScorerConfig:
    """One scorer: registry name, whether it rejects, threshold overrides, per-source overrides."""

    name: str
    enabled: bool = True
    action: Literal["filter", "score_only"] = "filter"  # score_only: features kept, never rejects
    thresholds: dict[str, Any] = field(default_factory=dict)  # keyword overrides of the defaults
    quality_weight: float = 1.0  # weight in the composite meta["quality"]; 0 leaves it out
    by_source: dict[str, SourceOverride] = field(default_factory=dict)  # source -> override

    def settings(self, policy: str, source: str | None) -> tuple[str, dict[str, Any]]:
        """(action, thresholds) for documents of `source` under `policy`."""
        action, thresholds = self.action, dict(self.thresholds)
        p_action, p_thresholds = policy_settings(policy, self.name)
        action = p_action or action
        thresholds.update(p_thresholds)
        override = self.by_source.get(source) if source is not None else None
        if override is not None:
            action = override.action or action
            thresholds.update(override.thresholds)
        return action, thresholds

    def resolves(self) -> bool:
        """Whether `name` is a built-in scorer or a plugin that loads (see `validate`)."""
        try:
            scorer_class(self.name)
        except KeyError:
            return False
        return True

    def validate(self) -> list[str]:
        try:
            cls = scorer_class(self.name)
        except KeyError as exc:
            return [exc.args[0]]
        out = []
        if self.name not in SCORERS and cls.name in SCORERS:
            out.append(f"plugin {self.name!r} is named {cls.name!r}, a built-in scorer's name")
        if self.action not in ACTIONS:
            out.append(f"{self.name}: action must be one of {ACTIONS}, got {self.action!r}")
        if self.quality_weight < 0:
            out.append(f"{self.name}: quality_weight must be >= 0, got {self.quality_weight}")
        try:
            build_scorer(self.name, self.thresholds)
        except (ValueError, TypeError) as exc:
            out.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - a plugin's constructor is user code
            out.append(f"{self.name}: cannot be built: {type(exc).__name__}: {exc}")
        return out


@dataclass
class ToxicityConfig:
    """alt-profanity-check on token windows (see `quality.toxicity`), plus an optional lexicon."""

    enabled: bool = True
    window_tokens: int = (
        64  # the model was trained on short comments: score ~ a paragraph at a time
    )
    threshold: float = 0.8  # "toxic" for rates, and for rejection when action=filter
    action: Literal["filter", "score_only"] = (
        "score_only"  # profanity is not harm: report by default
    )
    backend: Literal["auto", "linear", "sklearn"] = "auto"  # same probabilities; linear is faster
    lexicon: str | None = None  # a lexicon file (quality/lexicon.py format) of terms to count
    lexicon_min_hits: int = 1  # with action=filter: reject at this many lexicon matches

    def validate(self) -> list[str]:
        out = []
        if self.window_tokens <= 0:
            out.append(f"window_tokens must be > 0, got {self.window_tokens}")
        if not 0.0 <= self.threshold <= 1.0:
            out.append(f"threshold must be in [0, 1], got {self.threshold}")
        if self.action not in ACTIONS:
            out.append(f"action must be one of {ACTIONS}, got {self.action!r}")
        if self.backend not in ("auto", "linear", "sklearn"):
            out.append(f"backend must be auto, linear or sklearn, got {self.backend!r}")
        if self.lexicon_min_hits < 1:
            out.append(f"lexicon_min_hits must be >= 1, got {self.lexicon_min_hits}")
        if self.lexicon is not None and not is_url(self.lexicon):  # URLs: see quality.files
            out.extend(_lexicon_problems(self.lexicon))
        return out


@dataclass
class BiasConfig:
    """Identity-term mentions, their toxicity rates, and what to do about them (`quality.bias`)."""

    enabled: bool = True
    lexicon_dir: str | None = None  # a folder of <axis>.txt files; None: quality/lexicons
    axes: list[str] = field(default_factory=lambda: list(BIAS_AXES))
    policy: Literal["report", "downweight", "drop"] = "report"
    toxicity_threshold: float = 0.8  # identity mention + toxicity >= this is "toxic identity"
    downweight: float = 0.5  # meta["bias_weight"] of such documents under policy=downweight

    def lexicon_paths(self) -> dict[str, str]:
        """{axis: lexicon file} of the configured axes."""
        found = bias_lexicon_paths(self.lexicon_dir)
        return {axis: found[axis] for axis in self.axes if axis in found}

    def validate(self) -> list[str]:
        out = []
        if self.policy not in ("report", "downweight", "drop"):
            out.append(f"policy must be report, downweight or drop, got {self.policy!r}")
        if not 0.0 <= self.toxicity_threshold <= 1.0:
            out.append(f"toxicity_threshold must be in [0, 1], got {self.toxicity_threshold}")
        if not 0.0 <= self.downweight < 1.0:
            out.append(f"downweight must be in [0, 1), got {self.downweight}")
        if not self.axes:
            out.append("axes must list at least one axis")
        if self.lexicon_dir is not None and is_url(self.lexicon_dir):
            return out  # its files are checked through Beam's filesystems (quality.files)
        if self.lexicon_dir is not None and not os.path.isdir(self.lexicon_dir):
            out.append(f"lexicon_dir {self.lexicon_dir!r} is not a directory")
            return out
        found = bias_lexicon_paths(self.lexicon_dir)
        for axis in self.axes:
            if axis not in found:
                where = self.lexicon_dir or "quality/lexicons"
                out.append(f"no lexicon file {axis}.txt in {where}")
            else:
                out.extend(_lexicon_problems(str(found[axis])))
        return out


@dataclass
class PiiConfig:
    """PII detection and redaction into typed placeholders (`quality.pii`)."""

    enabled: bool = True
    types: list[str] = field(default_factory=lambda: list(PII_TYPES))
    mode: Literal["redact", "detect"] = "redact"

    def validate(self) -> list[str]:
        out = []
        unknown = sorted(set(self.types) - set(PII_TYPES))
        if unknown:
            out.append(f"unknown PII type(s) {unknown} (known: {list(PII_TYPES)})")
        if self.mode not in ("redact", "detect"):
            out.append(f"mode must be redact or detect, got {self.mode!r}")
        return out


@dataclass
class QualityConfig:
    """Scorers and the filter decision, toxicity, identity-term bias report, PII redaction."""

    enabled: bool = True
    scorers: list[ScorerConfig] = field(
        default_factory=lambda: [ScorerConfig(n) for n in DEFAULT_SCORERS]
    )
    batch_size: int = 256  # documents per classifier batch
    default_policy: str = "web"  # policy of sources not in source_policies (quality/policies.py)
    source_policies: dict[str, str] = field(default_factory=dict)  # source name -> policy name
    toxicity: ToxicityConfig = field(default_factory=ToxicityConfig)
    bias: BiasConfig = field(default_factory=BiasConfig)
    pii: PiiConfig = field(default_factory=PiiConfig)

    def active_scorers(self) -> list[ScorerConfig]:
        return [s for s in self.scorers if s.enabled] if self.enabled else []

    def policy_of(self, source: str | None) -> str:
        return (
            self.source_policies.get(source, self.default_policy) if source else self.default_policy
        )

    def named_sources(self) -> set[str]:
        """Every source name the section refers to (checked against the inputs by the loader)."""
        names = set(self.source_policies)
        for scorer in self.scorers:
            names |= set(scorer.by_source)
        return names

    def files(self) -> list[tuple[str, str, str]]:
        """(config key, path, kind) of every file the enabled stage reads; kind: lexicon, model.

        What `pipelines.config` checks for URLs, which this module cannot read (quality.files).
        """
        if not self.enabled:
            return []
        out = []
        if self.toxicity.enabled and self.toxicity.lexicon:
            out.append(("toxicity.lexicon", self.toxicity.lexicon, "lexicon"))
        if self.bias.enabled:
            for axis, path in sorted(self.bias.lexicon_paths().items()):
                out.append((f"bias.lexicon_dir ({axis})", path, "lexicon"))
        for sc in self.active_scorers():
            if not sc.resolves():
                continue
            files = set()
            for source in [None, *sorted(self.named_sources())]:
                thresholds = sc.settings(self.policy_of(source), source)[1]
                files |= set(scorer_class(sc.name).config_files(thresholds))
            out += [(f"scorers.{sc.name}.{key}", path, kind) for key, path, kind in sorted(files)]
        return out

    def problems(self) -> list[str]:
        """Every problem of this section and its subsections (what `validate` leaves to the loader)."""
        out = self.validate()
        for scorer in self.scorers:
            out += scorer.validate()
        for section in (self.toxicity, self.bias, self.pii):
            out += section.validate()
        return out

    def validate(self) -> list[str]:
        out = []
        # by resolved name: `my_filters:NoShouting` and its entry point are one scorer
        names = [scorer_class(s.name).name if s.resolves() else s.name for s in self.scorers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            out.append(f"scorers listed more than once: {duplicates}")
        if self.batch_size <= 0:
            out.append(f"batch_size must be > 0, got {self.batch_size}")
        if self.bias.enabled and self.bias.policy != "report" and not self.toxicity.enabled:
            out.append(f"bias.policy={self.bias.policy} needs toxicity.enabled")
        out += self._policy_problems()
        return out

    def _policy_problems(self) -> list[str]:
        out = []
        policies = {"default_policy": self.default_policy}
        policies.update({f"source_policies.{s}": p for s, p in self.source_policies.items()})
        for where, name in policies.items():
            if name not in POLICIES:
                out.append(f"{where}: unknown policy {name!r} (known: {', '.join(POLICIES)})")
        # Every (scorer, source) combination that differs from the scorer's own settings must
        # build: a policy or override with a bad threshold is a config error, not a crash later.
        for scorer in self.scorers:
            for source, override in sorted(scorer.by_source.items()):
                if override.action not in (None, *ACTIONS):
                    out.append(
                        f"{scorer.name}: by_source.{source}.action must be one of {ACTIONS}, "
                        f"got {override.action!r}"
                    )
            if not scorer.resolves():
                continue
            sources = set(self.source_policies) | set(scorer.by_source) | {None}
            seen = set()
            for source in sorted(sources, key=str):
                policy = self.policy_of(source)
                policy = policy if policy in POLICIES else "web"  # reported above
                action, thresholds = scorer.settings(policy, source)
                if thresholds == dict(scorer.thresholds):
                    continue  # checked by the scorer's own validate()
                if (policy, action, repr(sorted(thresholds.items()))) in seen:
                    continue
                seen.add((policy, action, repr(sorted(thresholds.items()))))
                try:
                    build_scorer(scorer.name, thresholds)
                except (ValueError, TypeError) as exc:
                    out.append(f"{scorer.name} for source {source!r} (policy {policy}): {exc}")
        return out


def _lexicon_problems(path: str) -> list[str]:
    if not os.path.isfile(path):
        return [f"lexicon file {path!r} does not exist"]
    try:
        load_lexicon(path)
    except (ValueError, UnicodeDecodeError) as exc:
        return [f"lexicon {exc}"]
    return []
