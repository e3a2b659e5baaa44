"""Routes the corpus-wide dedup decisions to the spill run that holds each record.

Stage 2 processes one spill run at a time and needs only that run's decisions. Every decision is
keyed by the run key of its record (`DocMeta.run`): duplicate-id losers carry it already; removals,
cluster memberships and audit picks are keyed by document id, so they are joined with the kept
records' (id, run) pairs in one `CoGroupByKey`. The result is a PCollection of
`(run key, (kind, key, value))` items that `ApplyAndTokenize` groups with the run itself: no
worker, element or side input ever holds more than one run's decisions (a run is bounded by the
spill size), whatever the size of the corpus.
"""

from __future__ import annotations

import apache_beam as beam

from transforms.infra.disk_group import CoGroupByKeyOnDisk
from transforms.infra.record import Removal
from transforms.infra.spill import DocMeta


def _loser_item(loser):
    pos, _id, _source, kept_pos, run = loser
    return run, ("dup", pos, kept_pos)


def _route_by_id(keyed):
    doc_id, grouped = keyed
    runs = list(grouped["run"])
    if not runs:
        if grouped["removed"] or grouped["cluster"]:
            raise RuntimeError(f"a dedup decision names id {doc_id!r}, which no kept record has")
        return
    run = runs[0]
    removals: list[Removal] = sorted(grouped["removed"], key=lambda r: r.stage)
    if removals:
        yield run, ("removed", doc_id, removals[0])
    else:
        for cluster in sorted(grouped["cluster"])[:1]:
            yield run, ("cluster", doc_id, cluster)
    if grouped["audit"]:
        yield run, ("audit", doc_id, None)


class RouteDecisions(beam.PTransform):
    """Decisions -> (run key, decision item) for `ApplyAndTokenize`.

    To `expand`, a dict of PCollections:
        kept: `DocMeta` of every record that won its duplicate-id contest.
        losers: (pos, id, source, kept_pos, run) of duplicate-id losers.
        removed: `Removal`s by exact and near dedup.
        clusters: (kept id, cluster id) of kept members of dedup clusters.
        audit: dicts with "a" and "b" member ids of audited near-dup pairs (a bounded sample).
    """

    def expand(self, parts):
        by_id = (
            {
                "run": parts["kept"] | "IdRun" >> beam.Map(_id_run),
                "removed": parts["removed"] | "RemovalById" >> beam.Map(_removal_by_id),
                "cluster": parts["clusters"],
                "audit": parts["audit"] | "AuditIds" >> beam.FlatMap(_audit_ids),
            }
            | "JoinDecisionsById" >> CoGroupByKeyOnDisk()
            | "RouteById" >> beam.FlatMap(_route_by_id)
        )
        losers = parts["losers"] | "LoserByRun" >> beam.Map(_loser_item)
        return (by_id, losers) | "AllDecisions" >> beam.Flatten()


def _id_run(m: DocMeta):
    return m.id, m.run


def _removal_by_id(r: Removal):
    return r.id, r


def _audit_ids(a: dict):
    return [(a["a"], True), (a["b"], True)]


def flatten_or_empty(parts: list, p, label: str) -> beam.PCollection:
    """One PCollection of the given ones (an empty one when there are none)."""
    parts = [x for x in parts if x is not None]
    if not parts:
        return p | f"No{label}" >> beam.Create([])
    if len(parts) == 1:
        return parts[0]
    return parts | f"All{label}" >> beam.Flatten()
