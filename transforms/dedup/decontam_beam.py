"""Decontamination that ignores boilerplate, as Beam steps (the rule: `DecontaminationConfig`).

Stage 1 (`transforms/dedup/reference.py`) finds each document's n-grams in the eval sets and, for
action "drop" with a common-n-gram cap, keeps the record and emits two small things instead:
- `ngrams`: per document with any match, its distinct matched hashes (as int64);
- `candidates`: a `DecontamCandidate` per document that would be contaminated if none of its
  matches were common (removing evidence never makes a document more contaminated).

Then, without holding any per-document data in one place:
1. `CommonEvalNgrams`: the number of training documents each matched n-gram is found in, a
   `CombinePerKey` keyed by the hash; the hashes above the cap (`common_cap`) become one sorted
   array. Bounded: a subset of the eval sets' n-grams, which every worker already holds whole.
2. `DecideContamination`: each candidate judged again without the common n-grams (that array as
   a side input) -> (pos, `Removal`) and a summary event.
3. `DropContaminated` (in the dedup stage): the removals joined by input position with the kept
   records' `DocMeta` (one `CoGroupByKey`), so a contaminated document takes no part in exact or
   near dedup, and its removal is routed to its spill run like theirs (stage 2 writes it, with
   its text, to removed/). A removal naming a duplicate-id loser matches no kept record: that
   record is a dead letter already.

Every decision is a function of the document and corpus-wide counts: the same whatever the
bundling or the number of workers.

Cost: the `ngrams` stream is combined where it is produced (combiner lifting), so only partial
counts per distinct eval n-gram cross the shuffle. The candidates wait for the common-n-gram
array (a side input needs its whole input first): on the local runner they are held in memory,
about 300 bytes of text plus 20 bytes per shared n-gram each (its hash, and its position and
hash in document order, to find shared passages again without the common ones); only documents
that would be contaminated without the cap are candidates.
"""

from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam
import numpy as np

from transforms.dedup.config import DecontaminationConfig
from transforms.dedup.decontam import Decontaminator, Matches
from transforms.infra.record import Record, Removal

_NS = "dedup_decontamination"
SUMMARY_TEXT_CHARS = 300  # text kept per candidate for the report's examples


class DecontamCandidate(NamedTuple):
    """A document that shares enough n-grams with an eval set, before common ones are removed."""

    pos: int  # input position (the join key with `DocMeta.pos`)
    id: str
    source: str
    matches: Matches  # what it shares, for the eval sets it would be contaminated for
    text: str  # the first SUMMARY_TEXT_CHARS characters (report examples)


def worst_set(hits: dict[str, int]) -> str:
    """The eval set a removal names: most hits; ties go to the first name."""
    return max(sorted(hits), key=lambda k: hits[k])


def removal_for(rec_id: str, source: str, verdicts: dict) -> tuple[Removal, dict[str, int]]:
    """A decontamination `Removal` (cluster = eval set, similarity = overlap) and the hits."""
    hits = {k: v.hits for k, v in verdicts.items()}
    worst = worst_set(hits)
    overlap = round(float(verdicts[worst].overlap), 6)
    return Removal(rec_id, source, "decontamination", worst, "", overlap), hits


def _to_counts(hashes: np.ndarray):
    return ((int(h), 1) for h in hashes.view(np.int64))


class _SortedHashes(beam.CombineFn):
    """int64 hash keys -> one sorted uint64 array."""

    def create_accumulator(self) -> list:
        return []

    def add_input(self, acc: list, h: int) -> list:
        acc.append(h)
        return acc

    def merge_accumulators(self, accs) -> list:
        return [h for acc in accs for h in acc]

    def extract_output(self, acc: list) -> np.ndarray:
        return np.sort(np.array(acc, dtype=np.int64).view(np.uint64))


class CommonEvalNgrams(beam.PTransform):
    """{"ngrams": int64 hash arrays, "n_docs": singleton count} -> singleton sorted uint64 array
    of the eval n-grams found in more than `cfg.common_cap(n_docs)` training documents."""

    def __init__(self, cfg: DecontaminationConfig) -> None:
        super().__init__()
        self.cfg = cfg

    def expand(self, parts):
        cfg = self.cfg
        return (
            parts["ngrams"]
            | "PerNgram" >> beam.FlatMap(_to_counts)
            | "DocFrequency" >> beam.CombinePerKey(sum)
            | "OverCap"
            >> beam.Filter(
                lambda kv, n: kv[1] > cfg.common_cap(n),
                # bounded: one integer
                beam.pvalue.AsSingleton(parts["n_docs"]),
            )
            | "Hashes" >> beam.Keys()
            # bounded: eval n-grams common in the corpus, a subset of the eval sets' n-grams
            | "Sorted" >> beam.CombineGlobally(_SortedHashes())
        )


class _DecideFn(beam.DoFn):
    """DecontamCandidate -> (pos, Removal) (main) and ("removed", hits, Record) on "hits"."""

    def __init__(self, cfg: DecontaminationConfig) -> None:
        self.cfg = cfg
        self._dc: Decontaminator | None = None
        self.removed = beam.metrics.Metrics.counter(_NS, "removed")
        self.cleared = beam.metrics.Metrics.counter(_NS, "cleared_as_common")

    def setup(self) -> None:
        from transforms.infra import fs

        self._dc = Decontaminator.from_eval_sets(self.cfg, opener=fs.open_read, expand=fs.match)

    def process(self, cand: DecontamCandidate, common: np.ndarray):
        verdicts = self._dc.judge(cand.matches, common)
        if not verdicts:
            self.cleared.inc()
            return
        self.removed.inc()
        removal, hits = removal_for(cand.id, cand.source, verdicts)
        yield cand.pos, removal
        summary = Record(cand.id, cand.text, cand.source, {})
        yield beam.pvalue.TaggedOutput("hits", ("removed", hits, summary))


class DecideContamination(beam.PTransform):
    """Candidates -> `.removals` ((pos, Removal)) and `.hits` (summary events)."""

    def __init__(self, cfg: DecontaminationConfig, common: beam.PCollection) -> None:
        super().__init__()
        self.cfg, self.common = cfg, common

    def expand(self, candidates):
        return candidates | "Judge" >> beam.ParDo(
            _DecideFn(self.cfg),
            # bounded: eval n-grams common in the corpus, a subset of the eval sets' n-grams
            common=beam.pvalue.AsSingleton(self.common),
        ).with_outputs("hits", main="removals")


def _by_pos(m):
    return m.pos, m


def _split(keyed):
    _pos, grouped = keyed
    removals = sorted(grouped["removal"])
    for meta in grouped["meta"]:
        if removals:
            yield beam.pvalue.TaggedOutput("dropped", (meta.run, meta.pos))
            yield beam.pvalue.TaggedOutput("removed", removals[0])
        else:
            yield meta


class DropContaminated(beam.PTransform):
    """{"kept": DocMeta, "removals": (pos, Removal)} -> {"kept": DocMeta, "dropped": (run key,
    pos), "removed": Removal} (see the module docstring, step 3)."""

    def expand(self, parts):
        from transforms.infra.disk_group import CoGroupByKeyOnDisk

        out = (
            {
                "meta": parts["kept"] | "MetaByPos" >> beam.Map(_by_pos),
                "removal": parts["removals"],
            }
            | "JoinByPos" >> CoGroupByKeyOnDisk()
            | "Split" >> beam.FlatMap(_split).with_outputs("dropped", "removed", main="kept")
        )
        return {"kept": out.kept, "dropped": out.dropped, "removed": out.removed}
