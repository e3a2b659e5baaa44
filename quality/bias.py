"""Identity-group mentions and how toxicity distributes across them.

**What this can and cannot tell.** The tagger matches lexicons of neutral identity terms
(`quality/lexicons/*.txt`, six axes) as whole words. A tag means that a document *mentions* a
word of a group; it does not mean the document is about that group, written by its members, or
hostile to it. A lexicon misses paraphrase, slurs (deliberately not listed), other languages
and spelling variants, and it fires on false friends despite the exclusion lists ("Christian"
as a first name, "deaf" in "deaf to the request", "children" of a tree in code). Corpus counts
are therefore rough representation signals: compare groups within one corpus and one lexicon
version, not across lexicons. The toxicity rate of documents that mention a group, divided by
the corpus rate (the *disparity*), shows whether mentions of a group co-occur with profanity in
this corpus; with few documents per group the Wilson interval in the report is wide and the
ratio means little. Downweighting or dropping documents on this signal removes text that
mentions a group together with profanity, which can also remove a group's own voice (reclaimed
terms, quoted abuse in reporting): prefer `report` until the numbers have been read.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping

from quality.automaton import PhraseAutomaton
from quality.files import ReadBytes, read_local
from quality.lexicon import bias_lexicon_paths, load_lexicon
from quality.text import word_tokens

_EXCLUDE = "!"


class IdentityTagger:
    """Tags a document with the sorted "axis:group" names its tokens mention."""

    def __init__(
        self,
        lexicons: Mapping[str, str | os.PathLike] | None = None,
        read_bytes: ReadBytes = read_local,
    ) -> None:
        """Loads lexicon files and builds one automaton for all axes.

        Args:
            lexicons: {axis: path}; default: the six lexicons shipped in `quality/lexicons`.
            read_bytes: reads a lexicon file (default: local files; Beam steps read URLs).
        """
        paths = dict(lexicons) if lexicons is not None else bias_lexicon_paths()
        terms: list[tuple[str, str]] = []
        groups: set[str] = set()
        for axis, path in sorted(paths.items()):
            for entry in load_lexicon(path, default_group=axis, read_bytes=read_bytes):
                if entry.exclude:
                    terms.append((entry.term, _EXCLUDE))
                else:
                    name = f"{axis}:{entry.group}"
                    terms.append((entry.term, name))
                    groups.add(name)
        self.axes = sorted(paths)
        self.groups = sorted(groups)
        self._automaton = PhraseAutomaton(terms)

    def tag_tokens(self, tokens: list[str]) -> list[str]:
        """Sorted "axis:group" mentioned in a token list (`quality.text.word_tokens`)."""
        matches = self._automaton.find_tokens(tokens)
        if not matches:
            return []
        excluded = [(s, e) for s, e, values in matches if _EXCLUDE in values]
        found: set[str] = set()
        for start, end, values in matches:
            if excluded and any(s <= start and end <= e for s, e in excluded):
                continue
            found.update(v for v in values if v != _EXCLUDE)
        return sorted(found)

    def tag(self, text: str) -> list[str]:
        """Sorted "axis:group" mentioned in `text`."""
        return self.tag_tokens(word_tokens(text))


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion; (0, 1) when n == 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


class _Scope:
    """Counts for one scope (the corpus or one source): plain ints, so merging is exact."""

    def __init__(self) -> None:
        self.docs = 0
        self.scored = 0  # documents with a toxicity score
        self.toxic = 0
        self.with_identity = 0
        self.groups: dict[str, list[int]] = {}  # group -> [docs, scored, toxic]

    def add(self, groups: Iterable[str], scored: bool, toxic: bool) -> None:
        self.docs += 1
        self.scored += scored
        self.toxic += toxic
        groups = set(groups)
        self.with_identity += bool(groups)
        for g in groups:
            row = self.groups.setdefault(g, [0, 0, 0])
            row[0] += 1
            row[1] += scored
            row[2] += toxic

    def merge(self, other: _Scope) -> None:
        self.docs += other.docs
        self.scored += other.scored
        self.toxic += other.toxic
        self.with_identity += other.with_identity
        for g, row in other.groups.items():
            mine = self.groups.setdefault(g, [0, 0, 0])
            for i in range(3):
                mine[i] += row[i]

    def to_state(self) -> list:
        return [
            self.docs,
            self.scored,
            self.toxic,
            self.with_identity,
            {g: list(r) for g, r in self.groups.items()},
        ]

    @classmethod
    def from_state(cls, state: list) -> _Scope:
        scope = cls()
        scope.docs, scope.scored, scope.toxic, scope.with_identity, groups = state
        scope.groups = {g: list(r) for g, r in groups.items()}
        return scope

    def to_json(self) -> dict:
        rate = self.toxic / self.scored if self.scored else None
        axis_totals: dict[str, int] = {}
        for g, (docs, _, _) in self.groups.items():
            axis = g.split(":", 1)[0]
            axis_totals[axis] = axis_totals.get(axis, 0) + docs
        groups = {}
        for g in sorted(self.groups):
            docs, scored, toxic = self.groups[g]
            lo, hi = wilson_interval(toxic, scored)
            g_rate = toxic / scored if scored else None
            disparity = (g_rate / rate) if (g_rate is not None and rate) else None
            groups[g] = {
                "docs": docs,
                "share_of_docs": _r(docs / self.docs) if self.docs else 0.0,
                "share_of_axis_mentions": _r(docs / axis_totals[g.split(":", 1)[0]]),
                "scored_docs": scored,
                "toxic_docs": toxic,
                "toxic_rate": _r(g_rate),
                "toxic_rate_ci95": [_r(lo), _r(hi)] if scored else None,
                "disparity": _r(disparity),
                "disparity_ci95": [_r(lo / rate), _r(hi / rate)] if (scored and rate) else None,
            }
        return {
            "docs": self.docs,
            "docs_with_identity": self.with_identity,
            "scored_docs": self.scored,
            "toxic_docs": self.toxic,
            "toxic_rate": _r(rate),
            "groups": groups,
        }


class BiasAccumulator:
    """Mergeable corpus and per-source counts of identity mentions and toxicity.

    `add` one document at a time, `merge` partial accumulators in any grouping and order, and
    `to_json` gives the same result for the same documents: all state is integer counts.
    """

    def __init__(self, toxicity_threshold: float = 0.5) -> None:
        self.toxicity_threshold = toxicity_threshold
        self.corpus = _Scope()
        self.sources: dict[str, _Scope] = {}

    def add(self, groups: Iterable[str], toxicity: float | None, source: str) -> None:
        """Counts one document: its identity groups, its toxicity (None: not scored), its source."""
        groups = list(groups)
        scored = toxicity is not None
        toxic = scored and toxicity >= self.toxicity_threshold
        self.corpus.add(groups, scored, toxic)
        self.sources.setdefault(source, _Scope()).add(groups, scored, toxic)

    def merge(self, other: BiasAccumulator) -> BiasAccumulator:
        """Adds `other`'s counts into this accumulator (returns self)."""
        if other.toxicity_threshold != self.toxicity_threshold:
            raise ValueError("cannot merge accumulators with different toxicity thresholds")
        self.corpus.merge(other.corpus)
        for source, scope in other.sources.items():
            self.sources.setdefault(source, _Scope()).merge(scope)
        return self

    def to_state(self) -> dict:
        """Plain-data form (for Beam coders and JSON); `from_state` inverts it."""
        return {
            "threshold": self.toxicity_threshold,
            "corpus": self.corpus.to_state(),
            "sources": {s: scope.to_state() for s, scope in self.sources.items()},
        }

    @classmethod
    def from_state(cls, state: dict) -> BiasAccumulator:
        acc = cls(state["threshold"])
        acc.corpus = _Scope.from_state(state["corpus"])
        acc.sources = {s: _Scope.from_state(v) for s, v in state["sources"].items()}
        return acc

    def to_json(self) -> dict:
        """Counts, representation shares, toxicity rates with Wilson 95% intervals, disparities."""
        return {
            "toxicity_threshold": self.toxicity_threshold,
            "corpus": self.corpus.to_json(),
            "by_source": {s: self.sources[s].to_json() for s in sorted(self.sources)},
        }
