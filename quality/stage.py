"""The whole scoring stage on a batch of texts, without Beam: what `ScoreAndFilter` runs.

Per batch: PII redaction, heuristic scorers, the composite quality score, toxicity (one
classifier call for the whole batch), lexicon hits, identity groups, and the keep/reject
decision. Results depend only on each document and the config, never on the batch it came in
(tested), so any bundle split gives the same output.

Per-source policies: each document is judged by the scorer settings of its source (the
scorer's config, then the source's policy, then `by_source`; see `quality.config`), so one
batch may hold documents scored by differently configured instances of one scorer; each
instance computes its documents as one batch.

Decision order (the first failing check names the reason): scorers with `action: filter`, in
config order (`gopher_quality:word_count`, ...); toxicity with `action: filter`
(`toxicity:classifier`, then `toxicity:lexicon`); bias with `policy: drop`
(`bias:toxic_identity`). A document that raises anywhere is rejected as `quality:error`, with
the exception in the detail, and the batch goes on.

Composite quality, `meta["quality"]` in [0, 1]: the weighted mean over enabled scorers
(`quality_weight`, default 1, `score_only` scorers included) of each scorer's mean *soft pass*
over its active rules, where a rule's soft pass is 1 inside its bounds and falls linearly with
the relative violation (value/low below a lower bound, 1 - (value-high)/high above an upper
bound, floored at 0; see `quality.scorers.base.Rule.soft`). A document passing every rule
scores 1.0; dedup breaks ties by id. 1.0 when no scorer contributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from quality.automaton import PhraseAutomaton
from quality.bias import IdentityTagger
from quality.config import QualityConfig
from quality.files import ReadBytes, read_local
from quality.lexicon import load_lexicon
from quality.pii import PiiRedactor
from quality.scorers.base import Scorer
from quality.scorers.registry import build_scorer, scorer_class
from quality.text import TextView
from quality.toxicity import ToxicityClassifier

ERROR_REASON = "quality:error"


@dataclass
class DocResult:
    """One document's outcome: its (redacted) text, meta updates and the decision."""

    text: str
    meta: dict[str, Any]
    reason: str | None = None  # rejection reason code; None = kept
    detail: str = ""
    verdicts: dict[str, str] = field(default_factory=dict)  # scorer name -> "" or failed reason


def quality_columns(cfg: QualityConfig) -> list[str]:
    """Float meta keys present on every kept record for this config (shard score columns)."""
    if not cfg.enabled:
        return []
    cols = ["quality"]
    for sc in cfg.active_scorers():
        cols += scorer_class(sc.name).columns()
    if cfg.toxicity.enabled:
        cols += ["toxicity", "toxicity_mean"]
        if cfg.toxicity.lexicon:
            cols.append("toxicity_lexicon_hits")
    if cfg.bias.enabled:
        cols.append("bias_weight")
    return cols


LANGUAGE_COLUMN = "language"


def label_columns(score_columns: list[str]) -> list[str]:
    """String shard columns that come with the score columns: `language` with `language_score`."""
    return [LANGUAGE_COLUMN] if "language_score" in score_columns else []


class QualityStage:
    """Scores and decides batches of texts; build cheaply, `load()` once per worker.

    `read_bytes` reads the model and lexicon files (default: local files; Beam steps pass
    `transforms.infra.fs.read_bytes`, which reads URLs; see `quality.files`).
    """

    def __init__(self, cfg: QualityConfig, read_bytes: ReadBytes = read_local) -> None:
        self.cfg = cfg
        self._read_bytes = read_bytes
        self._loaded = False
        self._instances: dict[tuple[str, str], Scorer] = {}  # (name, thresholds) -> scorer
        self._by_source: dict[str | None, list[tuple[Scorer, str, float]]] = {}
        self.scorers = self.scorers_for(None)
        self.classifier: ToxicityClassifier | None = None
        self.lexicon: PhraseAutomaton | None = None
        self.tagger: IdentityTagger | None = None
        self.redactor: PiiRedactor | None = None

    def scorers_for(self, source: str | None) -> list[tuple[Scorer, str, float]]:
        """(scorer, action, quality weight) per active scorer, as they apply to `source`."""
        found = self._by_source.get(source)
        if found is None:
            policy = self.cfg.policy_of(source)
            found = []
            for sc in self.cfg.active_scorers():
                action, thresholds = sc.settings(policy, source)
                key = (sc.name, repr(sorted(thresholds.items())))
                scorer = self._instances.get(key)
                if scorer is None:
                    scorer = self._instances[key] = build_scorer(sc.name, thresholds)
                    if self._loaded:
                        scorer.load(self._read_bytes)
                found.append((scorer, action, sc.quality_weight))
            self._by_source[source] = found
        return found

    def load(self) -> QualityStage:
        """Loads the classifier and lexicons (seconds); idempotent."""
        if self._loaded:
            return self
        cfg, read_bytes = self.cfg, self._read_bytes
        for scorer in self._instances.values():
            scorer.load(read_bytes)
        if cfg.toxicity.enabled:
            self.classifier = ToxicityClassifier(
                cfg.toxicity.window_tokens, cfg.toxicity.backend
            ).load()
            if cfg.toxicity.lexicon:
                entries = load_lexicon(cfg.toxicity.lexicon, read_bytes=read_bytes)
                self.lexicon = PhraseAutomaton((e.term, e.group) for e in entries if not e.exclude)
        if cfg.bias.enabled:
            self.tagger = IdentityTagger(cfg.bias.lexicon_paths(), read_bytes)
        if cfg.pii.enabled:
            self.redactor = PiiRedactor(cfg.pii.types, cfg.pii.mode)
        self._loaded = True
        return self

    def score_batch(self, texts: list[str], sources: list[str] | None = None) -> list[DocResult]:
        """One result per text, in order; never raises for a bad document.

        `sources` (one per text) selects each document's policy; None: the default policy.
        """
        self.load()
        sources = list(sources) if sources is not None else [None] * len(texts)
        results: list[DocResult] = []
        views: list[TextView | None] = []
        for text in texts:
            try:
                meta: dict[str, Any] = {}
                if self.redactor is not None:
                    text, meta["pii"] = self.redactor(text)
                results.append(DocResult(text, meta))
                views.append(TextView(text))
            except Exception as exc:  # noqa: BLE001 - a bad record must not stop the batch
                results.append(_error(self._redact_or_keep(text), exc))
                views.append(None)
        self._add_scores(results, views, sources)
        if self.classifier is not None:
            self._add_toxicity(results, views)
        for result, view in zip(results, views, strict=True):
            if view is not None and result.reason != ERROR_REASON:
                try:
                    self._finish(result, view)
                except Exception as exc:  # noqa: BLE001
                    _fail(result, exc)
        return results

    def score_text(self, text: str, source: str | None = None) -> DocResult:
        return self.score_batch([text], [source])[0]

    # Steps --------------------------------------------------------------------------------------
    def _redact_or_keep(self, text: str) -> str:
        """The redacted text if redaction works on it (rejected records are written out too)."""
        if self.redactor is None:
            return text
        try:
            return self.redactor(text)[0]
        except Exception:  # noqa: BLE001
            return text

    def _add_scores(
        self, results: list[DocResult], views: list[TextView | None], sources: list[str | None]
    ) -> None:
        """Features, verdicts, the first filter failure and the composite quality of each doc."""
        live = [i for i, v in enumerate(views) if v is not None]
        totals = dict.fromkeys(live, 0.0)
        per_doc = {src: self.scorers_for(src) for src in {sources[i] for i in live}}
        weight_sum = sum(w for _, _, w in self.scorers if w > 0)
        for j in range(len(self.scorers)):
            groups: dict[int, list[int]] = {}  # one batch per scorer instance
            for i in live:
                groups.setdefault(id(per_doc[sources[i]][j][0]), []).append(i)
            for members in groups.values():
                scorer = per_doc[sources[members[0]]][j][0]
                for i, features in self._compute(scorer, results, views, members):
                    result = results[i]
                    if features is None:
                        totals.pop(i, None)
                        continue
                    _, action, weight = per_doc[sources[i]][j]
                    result.meta.update(scorer.meta(features))
                    failure = scorer.first_failure(features)
                    result.verdicts[scorer.name] = failure.reason if failure else ""
                    if failure and action == "filter" and result.reason is None:
                        result.reason, result.detail = failure.reason, failure.detail
                    if weight > 0 and i in totals:
                        totals[i] += weight * scorer.soft_pass(features)
            live = [i for i in live if i in totals]
        for i in live:
            results[i].meta["quality"] = totals[i] / weight_sum if weight_sum else 1.0

    @staticmethod
    def _compute(scorer: Scorer, results, views, live):
        """(index, features | None) per live doc: batched, or one by one to isolate a failure."""
        try:
            return list(zip(live, scorer.compute_batch([views[i] for i in live]), strict=True))
        except Exception:  # noqa: BLE001
            out = []
            for i in live:
                try:
                    out.append((i, scorer.compute(views[i])))
                except Exception as exc:  # noqa: BLE001
                    _fail(results[i], exc)
                    views[i] = None
                    out.append((i, None))
            return out

    def _add_toxicity(self, results: list[DocResult], views: list[TextView | None]) -> None:
        live = [i for i, v in enumerate(views) if v is not None]
        try:
            scores = self.classifier.score_tokens([views[i].tokens for i in live])
        except Exception:  # noqa: BLE001 - retry one by one to isolate the bad document
            scores = []
            for i in live:
                try:
                    scores.append(self.classifier.score_tokens([views[i].tokens])[0])
                except Exception as exc:  # noqa: BLE001
                    scores.append(None)
                    _fail(results[i], exc)
                    views[i] = None
        for i, score in zip(live, scores, strict=True):
            if score is not None:
                results[i].meta["toxicity"], results[i].meta["toxicity_mean"] = score

    def _finish(self, result: DocResult, view: TextView) -> None:
        cfg, meta = self.cfg, result.meta
        toxicity = meta.get("toxicity")
        if cfg.toxicity.enabled:
            hits = self.lexicon.count(view.tokens) if self.lexicon is not None else 0
            if self.lexicon is not None:
                meta["toxicity_lexicon_hits"] = float(hits)
            if cfg.toxicity.action == "filter" and result.reason is None:
                if toxicity >= cfg.toxicity.threshold:
                    result.reason = "toxicity:classifier"
                    result.detail = (
                        f"toxicity={toxicity:.6g} >= threshold {cfg.toxicity.threshold:.6g}"
                    )
                elif self.lexicon is not None and hits >= cfg.toxicity.lexicon_min_hits:
                    result.reason = "toxicity:lexicon"
                    result.detail = f"lexicon_hits={hits} >= min {cfg.toxicity.lexicon_min_hits}"
        if self.tagger is not None:
            groups = self.tagger.tag_tokens(view.tokens)
            meta["identity_groups"] = groups
            flagged = (
                bool(groups) and toxicity is not None and toxicity >= cfg.bias.toxicity_threshold
            )
            meta["bias_weight"] = (
                cfg.bias.downweight if flagged and cfg.bias.policy == "downweight" else 1.0
            )
            if flagged and cfg.bias.policy == "drop" and result.reason is None:
                result.reason = "bias:toxic_identity"
                limit = cfg.bias.toxicity_threshold
                result.detail = f"toxicity={toxicity:.6g} >= {limit:.6g} with {','.join(groups)}"


def _error(text: str, exc: BaseException) -> DocResult:
    return DocResult(text, {}, ERROR_REASON, f"{type(exc).__name__}: {exc}"[:500])


def _fail(result: DocResult, exc: BaseException) -> None:
    """Turns a result into a `quality:error` rejection (scores computed so far are dropped)."""
    result.meta, result.reason, result.detail = (
        {},
        ERROR_REASON,
        f"{type(exc).__name__}: {exc}"[:500],
    )
