"""Stage: every dedup decision, made on small per-record metadata and routed to its spill run.

`DedupDecisions` takes the `DocMeta` of every spilled record and returns a `DedupOutcome`:
its main output is the decisions keyed by spill run (`transforms.decisions.RouteDecisions`),
plus the boilerplate line hashes (stage 2 strips them), the near-dup audit sample, and the
`stats.json` sections (cluster-size histograms, boilerplate line count). In order:

1. duplicate ids: the first record in input order keeps the id;
2. exact dedup on the 128-bit content key (`dedup.exact.keep`);
3. boilerplate lines, counted over exact-dedup survivors (copies would inflate the counts);
4. MinHash-LSH near dedup over exact-dedup survivors, ranked by the same `keep` rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import apache_beam as beam

from transforms.decisions import RouteDecisions, flatten_or_empty
from transforms.exact_dedup import (
    ExactDedup,
    ResolveDuplicateIds,
    SizeHistogram,
    near_rank,
)
from transforms.stage_output import StageOutput


@dataclass
class DedupOutcome(StageOutput):
    boilerplate: beam.PCollection | None = None  # singleton: sorted uint64 line hashes
    audit: beam.PCollection | None = None  # audited near-dup pairs (a bounded sample)


class _NearCandidates(beam.DoFn):
    def __init__(self, keep: str) -> None:
        self._keep = keep

    def setup(self) -> None:
        self._rank = near_rank(self._keep)

    def process(self, m):
        from transforms.dedup.near import NearCandidate

        if m.minhash is not None:
            yield NearCandidate(m.id, m.source, m.minhash, self._rank(m))


def _line_hashes(m):
    return [m.line_hashes] if m.line_hashes else []


def _cluster_of(t):
    return t[0], t[1]


def _size_of(t):
    return t[2]


class DedupDecisions(beam.PTransform):
    """DocMeta -> `DedupOutcome` (see the module docstring).

    Args:
        cfg: the `dedup` config section.
        seed: the run seed (audit sample).
    """

    def __init__(self, cfg, seed: int) -> None:
        super().__init__()
        self.cfg, self.seed = cfg, seed

    def expand(self, metas):
        cfg = self.cfg
        ids = metas | "DuplicateIds" >> ResolveDuplicateIds()
        kept, removed, clusters, sections = ids["kept"], [], [], {}
        if cfg.exact.enabled:
            exact = kept | "Exact" >> ExactDedup(cfg.exact.keep)
            kept = exact["kept"]
            removed.append(exact["removed"])
            clusters.append(exact["clusters"] | "ExactClusterIds" >> beam.Map(_cluster_of))
            sections["dedup.exact_cluster_sizes"] = (
                exact["clusters"]
                | "ExactSizes" >> beam.Map(_size_of)
                # bounded: one counter per distinct cluster size
                | "ExactHistogram" >> beam.CombineGlobally(SizeHistogram())
            )
        boilerplate = None
        if cfg.boilerplate.enabled:
            from transforms.dedup.boilerplate import BoilerplateLines

            boilerplate = (
                kept
                | "LineHashes" >> beam.FlatMap(_line_hashes)
                | "Boilerplate" >> BoilerplateLines(cfg.boilerplate)
            )
            sections["dedup.boilerplate_lines"] = boilerplate | "CountBoilerplate" >> beam.Map(len)
        audit = None
        if cfg.near.enabled:
            from transforms.dedup.near import NearDedup

            near = (
                kept
                | "NearCandidates" >> beam.ParDo(_NearCandidates(cfg.exact.keep))
                | "Near" >> NearDedup(cfg.near, self.seed)
            )
            removed.append(near["removed"])
            clusters.append(near["clusters"])
            sections["dedup.near_cluster_sizes"] = near["cluster_sizes"]
            audit = near["audit"]
        p = metas.pipeline
        decisions = {
            "kept": ids["kept"],
            "losers": ids["losers"],
            "removed": flatten_or_empty(removed, p, "Removals"),
            "clusters": flatten_or_empty(clusters, p, "Clusters"),
            "audit": flatten_or_empty([audit], p, "Audit"),
        } | "Route" >> RouteDecisions()
        return DedupOutcome(decisions, sections=sections, boilerplate=boilerplate, audit=audit)
