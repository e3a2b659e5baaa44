"""Reference filters: cross-release Bloom filter and eval-set decontamination, as Beam steps.

- `content_key(text)`: the 16-byte key exact dedup and the cross-release filter share.
- `CrossReleaseFilter`: a previous release's Bloom filter of content keys; `seen(texts)`.
- `BloomUnion(cfg)`: CombineFn building this release's filter from the surviving documents'
  content keys (plus the previous filter's keys when `cumulative`), to be written next to the
  manifest with `BloomFilter.to_bytes()` / `save()`.
- `ApplyReferenceFilters(cfg)`: PCollection[Record] -> outputs `main` (Records, with
  `meta["decontam"]` = {eval set: n-gram hits} when flagged), `removed` ((`Removal`, text) with
  stage "cross_release" or "decontamination"; for the latter `cluster` is the eval set name and
  `similarity` the overlap, see `Decontaminator.verdict`) and `hits` (one small event per
  flagged or dropped document). With action "drop" and a common-n-gram count
  (`DecontaminationConfig.counts_common`), contaminated records are not removed here: the
  outputs `ngrams` and `candidates` feed `transforms/dedup/decontam_beam.py`. Heavy state
  (filters, eval n-grams) is built in setup().
- `ReferenceFilters(cfg)`: the stage: the above plus the `dedup.decontamination` stats section
  (counts per eval set and a few examples) and, for a drop decided over the corpus, the
  removals by input position (`ReferenceOutcome.decontam`, applied by the dedup stage).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import apache_beam as beam
import numpy as np

from transforms.dedup.bloom import BloomFilter
from transforms.dedup.config import CrossReleaseConfig, DedupConfig
from transforms.dedup.decontam import Decontaminator
from transforms.dedup.decontam_beam import (
    SUMMARY_TEXT_CHARS,
    CommonEvalNgrams,
    DecideContamination,
    DecontamCandidate,
    removal_for,
)
from transforms.infra import fs
from transforms.infra.hashing import content_key
from transforms.infra.record import Record, Removal
from transforms.infra.stage_output import StageOutput

__all__ = ["ApplyReferenceFilters", "BloomUnion", "CrossReleaseFilter", "content_key"]

_NS = "dedup_reference"
_KEY_BYTES = 16
_FLUSH_KEYS = 1 << 16  # pending keys per accumulator before they go into its bit array


def read_filter(path: str) -> BloomFilter:
    """Loads a Bloom filter from a local path or any Beam filesystem URL."""
    return BloomFilter.from_bytes(fs.read_bytes(path), where=path)


class CrossReleaseFilter:
    """Membership of content keys in a previous release's filter."""

    def __init__(self, bloom: BloomFilter) -> None:
        self.bloom = bloom

    @classmethod
    def from_path(cls, path: str) -> CrossReleaseFilter:
        return cls(read_filter(path))

    def seen(self, texts: Sequence[str]) -> np.ndarray:
        """Bool per text: its content key is (probably) in the previous release."""
        return self.bloom.contains_many([content_key(t) for t in texts])


class BloomUnion(beam.CombineFn):
    """Content keys (16-byte `content_key`s) -> one `BloomFilter` of this release.

    Accumulators keep keys as a byte string until 65,536 of them are pending, so small bundles
    never allocate (or shuffle) a full bit array. With `cumulative` and a previous filter, the
    new filter takes the previous one's shape (m, k, seed) and bits, so releases chain.
    """

    def __init__(self, cfg: CrossReleaseConfig) -> None:
        self.cfg = cfg
        self._previous: BloomFilter | None = None

    def setup(self) -> None:
        if self.cfg.previous_filter and self.cfg.cumulative and self._previous is None:
            self._previous = read_filter(self.cfg.previous_filter)

    def _empty(self) -> BloomFilter:
        self.setup()  # accumulators may be created where setup() has not run yet
        if self._previous is not None:
            prev = self._previous
            return BloomFilter(prev.m, prev.k, prev.seed)
        return BloomFilter.for_capacity(self.cfg.expected_items, self.cfg.fpr, self.cfg.seed)

    def create_accumulator(self) -> tuple[BloomFilter | None, bytearray]:
        return None, bytearray()

    def _flush(self, acc) -> tuple[BloomFilter | None, bytearray]:
        bloom, pending = acc
        if pending:
            bloom = bloom or self._empty()
            raw = bytes(pending)
            bloom.add_many([raw[i : i + _KEY_BYTES] for i in range(0, len(raw), _KEY_BYTES)])
        return bloom, bytearray()

    def add_input(self, acc, key: bytes):
        if len(key) != _KEY_BYTES:
            raise ValueError(f"BloomUnion takes {_KEY_BYTES}-byte content keys, got {len(key)}")
        acc[1].extend(key)
        return self._flush(acc) if len(acc[1]) >= _FLUSH_KEYS * _KEY_BYTES else acc

    def merge_accumulators(self, accs):
        bloom, pending = None, bytearray()
        for other_bloom, other_pending in accs:
            pending.extend(other_pending)
            if other_bloom is not None:
                bloom = other_bloom if bloom is None else bloom.union(other_bloom)
        return bloom, pending

    def extract_output(self, acc) -> BloomFilter:
        self.setup()
        bloom, _ = self._flush(acc)
        bloom = bloom or self._empty()
        if self._previous is not None:
            bloom = bloom.union(self._previous)
        return bloom


class _ReferenceFilterFn(beam.DoFn):
    """Batches of Records -> kept Records (main) and Removals (tagged "removed")."""

    def __init__(self, cfg: DedupConfig) -> None:
        self.cfg = cfg
        self._cross: CrossReleaseFilter | None = None
        self._decontam: Decontaminator | None = None
        self.cross_removed = beam.metrics.Metrics.counter(_NS, "cross_release_removed")
        self.decontam_removed = beam.metrics.Metrics.counter(_NS, "decontamination_removed")
        self.decontam_flagged = beam.metrics.Metrics.counter(_NS, "decontamination_flagged")

    def setup(self) -> None:
        if self.cfg.cross_release.previous_filter:
            self._cross = CrossReleaseFilter.from_path(self.cfg.cross_release.previous_filter)
        if self.cfg.decontamination.eval_sets:
            self._decontam = Decontaminator.from_eval_sets(
                self.cfg.decontamination,
                opener=fs.open_read,
                expand=fs.match,
            )

    def process(self, batch: list[Record]):
        seen = self._cross.seen([r.text for r in batch]) if self._cross else None
        dc = self.cfg.decontamination
        # With a corpus-wide count of common n-grams, a drop waits for it (decontam_beam.py).
        later = dc.action == "drop" and dc.counts_common
        for i, rec in enumerate(batch):
            if seen is not None and seen[i]:
                self.cross_removed.inc()
                yield beam.pvalue.TaggedOutput(
                    "removed",
                    (Removal(rec.id, rec.source, "cross_release", "", "", 1.0), rec.text),
                )
                continue
            if self._decontam is not None:
                m = self._decontam.matches(rec.text)
                verdicts = self._decontam.judge(m)
                if later:
                    matched = [h for h in m.found.values() if len(h)]
                    if matched:
                        yield beam.pvalue.TaggedOutput("ngrams", np.unique(np.concatenate(matched)))
                    if verdicts:
                        yield beam.pvalue.TaggedOutput(
                            "candidates",
                            DecontamCandidate(
                                rec.meta["_pos"], rec.id, rec.source, m.only(verdicts),
                                rec.text[:SUMMARY_TEXT_CHARS],
                            ),
                        )  # fmt: skip
                elif verdicts and dc.action == "drop":
                    removal, hit = removal_for(rec.id, rec.source, verdicts)
                    self.decontam_removed.inc()
                    yield beam.pvalue.TaggedOutput("removed", (removal, rec.text))
                    yield beam.pvalue.TaggedOutput("hits", ("removed", hit, rec))
                    continue
                elif verdicts:
                    hit = {k: v.hits for k, v in verdicts.items()}
                    self.decontam_flagged.inc()
                    rec = rec.with_meta(decontam=hit)
                    yield beam.pvalue.TaggedOutput("hits", ("flagged", hit, rec))
            yield rec


class ApplyReferenceFilters(beam.PTransform):
    """Cross-release and decontamination filters over Records (see the module docstring).

    Returns the ParDo's outputs: `.main` (Records), `.removed` ((Removal, text)) and `.hits`.
    """

    def __init__(self, cfg: DedupConfig, max_batch: int = 256) -> None:
        super().__init__()
        problems = cfg.cross_release.validate() + cfg.decontamination.validate()
        problems += [p for e in cfg.decontamination.eval_sets for p in e.validate()]
        if problems:
            raise ValueError("invalid dedup reference-filter config: " + "; ".join(problems))
        self.cfg, self.max_batch = cfg, max_batch

    def expand(self, records):
        return (
            records
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self.max_batch)
            | "Filter"
            >> beam.ParDo(_ReferenceFilterFn(self.cfg)).with_outputs(
                "removed", "hits", "ngrams", "candidates", main="main"
            )
        )


DECONTAM_EXAMPLES = 5  # examples kept per eval set and action in stats.json and the report


class DecontamSummary(beam.CombineFn):
    """("flagged" | "removed", {eval set: hits}, Record) events -> counts and a few examples.

    Bounded: one counter per (action, eval set) and at most `DECONTAM_EXAMPLES` examples each,
    chosen by the smallest seeded hash of the id (deterministic whatever the bundling).
    """

    def create_accumulator(self) -> dict:
        return {}

    def add_input(self, acc: dict, event) -> dict:
        import xxhash

        action, hits, rec = event
        for name, n_hits in hits.items():
            cell = acc.setdefault((action, name), [0, []])
            cell[0] += 1
            priority = xxhash.xxh64_intdigest(rec.id.encode("utf-8", "surrogatepass"))
            cell[1].append((priority, rec.id, rec.source, int(n_hits), rec.text[:300]))
            cell[1] = sorted(cell[1])[:DECONTAM_EXAMPLES]
        return acc

    def merge_accumulators(self, accs) -> dict:
        out: dict = {}
        for acc in accs:
            for key, (n, examples) in acc.items():
                cell = out.setdefault(key, [0, []])
                cell[0] += n
                cell[1] = sorted(cell[1] + examples)[:DECONTAM_EXAMPLES]
        return out

    def extract_output(self, acc: dict) -> dict:
        report: dict = {"flagged": {}, "removed": {}, "examples": {}}
        for (action, name), (n, examples) in sorted(acc.items()):
            report[action][name] = n
            report["examples"].setdefault(name, []).extend(
                {"action": action, "id": i, "source": s, "ngram_hits": h, "text": t}
                for _, i, s, h, t in examples
            )
        return report


@dataclass
class ReferenceOutcome(StageOutput):
    # (input position, Removal) of contaminated documents, decided after the corpus-wide count
    # of common n-grams; None when decided in stage 1 (they are then in `removed`).
    decontam: beam.PCollection | None = None


class ReferenceFilters(beam.PTransform):
    """Stage: cross-release and decontamination filters -> `ReferenceOutcome`.

    Main: kept Records (flagged ones carry `meta["decontam"]`, which the shards store in a
    `decontam` column); removed: (Removal, text); section `dedup.decontamination`. With action
    "drop" and a common-n-gram cap, contaminated records stay in main and `decontam` holds their
    removals, for the dedup stage (`transforms/dedup/decontam_beam.py`).
    """

    def __init__(self, cfg: DedupConfig) -> None:
        super().__init__()
        self.cfg = cfg

    def expand(self, records):
        dc = self.cfg.decontamination
        out = records | "Apply" >> ApplyReferenceFilters(self.cfg)
        sections, decontam, hits = {}, None, [out.hits]
        if dc.eval_sets and dc.action == "drop" and dc.counts_common:
            n_docs = out.main | "CountDocs" >> beam.combiners.Count.Globally()
            common = {"ngrams": out.ngrams, "n_docs": n_docs} | "Common" >> CommonEvalNgrams(dc)
            decided = out.candidates | "Decide" >> DecideContamination(dc, common)
            decontam = decided.removals
            hits.append(decided.hits)
        if dc.eval_sets:
            sections["dedup.decontamination"] = (
                hits
                | "AllHits" >> beam.Flatten()
                # bounded: counters per eval set and DECONTAM_EXAMPLES examples each
                | "DecontamSummary" >> beam.CombineGlobally(DecontamSummary())
            )
        return ReferenceOutcome(out.main, removed=out.removed, sections=sections, decontam=decontam)
