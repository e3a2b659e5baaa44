"""The whole scoring stage on a batch of texts, without Beam: what `ScoreAndFilter` runs.

Per batch: the section scorers' text preparation (PII redaction), the listed scorers, the
composite quality score, then the other section scorers (toxicity: one classifier call for the
whole batch, and lexicon hits; identity groups), and the keep/reject decision. The stage names
no scorer: it runs what `quality.scorers.registry` builds from the config, through the `Scorer`
contract (`quality.scorers.base`). Results depend only on each document and the config, never on the batch it came in
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

from quality.config import QualityConfig
from quality.files import ReadBytes, read_local
from quality.scorers.base import Failure, Scorer
from quality.scorers.registry import SECTION_SCORERS, build_scorer
from quality.text import TextView

ERROR_REASON = "quality:error"


@dataclass
class DocResult:
    """One document's outcome: its (redacted) text, meta updates and the decision."""

    text: str
    meta: dict[str, Any]
    reason: str | None = None  # rejection reason code; None = kept
    detail: str = ""
    verdicts: dict[str, str] = field(default_factory=dict)  # scorer name -> "" or failed reason


def section_scorers(cfg: QualityConfig) -> list[Scorer]:
    """The enabled scorers configured by sections of their own (PII, toxicity, bias), in order."""
    if not cfg.enabled:
        return []
    sections = [(cls, getattr(cfg, cls.section)) for cls in SECTION_SCORERS]
    return [cls.from_section(section) for cls, section in sections if section.enabled]


def enabled_scorers(cfg: QualityConfig) -> list[Scorer]:
    """One instance of every enabled scorer (default policy), in the order of their columns:
    the listed scorers in config order, then the section scorers. Built, not loaded: cheap."""
    if not cfg.enabled:
        return []
    listed = [build_scorer(sc.name, sc.thresholds) for sc in cfg.active_scorers()]
    return listed + section_scorers(cfg)


def quality_columns(cfg: QualityConfig) -> list[str]:
    """Float meta keys present on every kept record for this config (shard score columns)."""
    if not cfg.enabled:
        return []
    cols = ["quality"]
    for scorer in enabled_scorers(cfg):
        cols += [c for c, kind in scorer.output_columns().items() if kind == "float32"]
    return cols


def label_columns(cfg: QualityConfig) -> list[str]:
    """String meta keys that become string shard columns (e.g. the identified language)."""
    cols: list[str] = []
    for scorer in enabled_scorers(cfg):
        cols += [c for c, kind in scorer.output_columns().items() if kind == "string"]
    return cols


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
        self.sections = section_scorers(cfg)

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

    def enabled(self) -> list[Scorer]:
        """The enabled scorers (default policy), as `enabled_scorers` lists them."""
        return [scorer for scorer, _, _ in self.scorers] + self.sections

    def report_facts(self) -> dict[str, Any]:
        """What the scorers add to the summary about themselves (e.g. their models' metrics),
        over every instance the run uses: each listed scorer per named source, the sections."""
        for source in [None, *sorted(self.cfg.named_sources())]:
            self.scorers_for(source)
        by_class: dict[type, list[Scorer]] = {}
        for scorer in [*self._instances.values(), *self.sections]:
            by_class.setdefault(type(scorer), []).append(scorer)
        out: dict[str, Any] = {}
        for cls, scorers in by_class.items():
            out.update(cls.report_facts(scorers, self._read_bytes))
        return out

    def load(self) -> QualityStage:
        """Loads the models and lexicons of every scorer (seconds); idempotent."""
        if self._loaded:
            return self
        for scorer in [*self._instances.values(), *self.sections]:
            scorer.load(self._read_bytes)
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
                for scorer in self.sections:
                    text, more = scorer.prepare(text)
                    meta.update(more)
                results.append(DocResult(text, meta))
                views.append(TextView(text))
            except Exception as exc:  # noqa: BLE001 - a bad record must not stop the batch
                results.append(_error(self._prepare_or_keep(text), exc))
                views.append(None)
        self._add_scores(results, views, sources)
        for scorer in self.sections:
            self._add_section(scorer, results, views)
        return results

    def score_text(self, text: str, source: str | None = None) -> DocResult:
        return self.score_batch([text], [source])[0]

    # Steps --------------------------------------------------------------------------------------
    def _prepare_or_keep(self, text: str) -> str:
        """The prepared (redacted) text if preparing works on it (rejected records are written)."""
        try:
            for scorer in self.sections:
                text = scorer.prepare(text)[0]
        except Exception:  # noqa: BLE001
            pass
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
                    if action == "filter":
                        _decide(result, failure)
                    if weight > 0 and i in totals:
                        totals[i] += weight * scorer.soft_pass(features)
            live = [i for i in live if i in totals]
        for i in live:
            results[i].meta["quality"] = totals[i] / weight_sum if weight_sum else 1.0

    def _add_section(
        self, scorer: Scorer, results: list[DocResult], views: list[TextView | None]
    ) -> None:
        """A section scorer over the live docs: its meta, and its decision (it has its own)."""
        live = [
            i for i, v in enumerate(views) if v is not None and results[i].reason != ERROR_REASON
        ]
        for i, features in self._compute(scorer, results, views, live):
            if features is not None:
                try:
                    results[i].meta.update(scorer.meta(features))
                    _decide(results[i], scorer.first_failure(features))
                except Exception as exc:  # noqa: BLE001
                    _fail(results[i], exc)
                    views[i] = None

    @staticmethod
    def _compute(scorer: Scorer, results, views, live):
        """(index, features | None) per live doc: batched, or one by one to isolate a failure."""
        try:
            metas = [results[i].meta for i in live]
            found = scorer.compute_with_meta([views[i] for i in live], metas)
            return list(zip(live, found, strict=True))
        except Exception:  # noqa: BLE001
            out = []
            for i in live:
                try:
                    out.append((i, scorer.compute_with_meta([views[i]], [results[i].meta])[0]))
                except Exception as exc:  # noqa: BLE001
                    _fail(results[i], exc)
                    views[i] = None
                    out.append((i, None))
            return out


def _decide(result: DocResult, failure: Failure | None) -> None:
    """The first failure of a deciding scorer names the document's rejection."""
    if failure is not None and result.reason is None:
        result.reason, result.detail = failure.reason, failure.detail


def _error(text: str, exc: BaseException) -> DocResult:
    return DocResult(text, {}, ERROR_REASON, f"{type(exc).__name__}: {exc}"[:500])


def _fail(result: DocResult, exc: BaseException) -> None:
    """Turns a result into a `quality:error` rejection (scores computed so far are dropped)."""
    result.meta, result.reason, result.detail = (
        {},
        ERROR_REASON,
        f"{type(exc).__name__}: {exc}"[:500],
    )
