"""Audit sample of near-dedup clusters: pairwise estimated Jaccard of their members.

`NearDedup`'s resolve step emits one (priority, cluster id, size, member ids) tuple per cluster
with removals; priority is a seeded hash of the cluster id, so the sample (the
`n_clusters` smallest priorities) is deterministic and spread over the corpus. The members'
signatures are joined back and every pair gets its estimated Jaccard. Exact similarities need
the texts: see `transforms.dedup.audit.audit_pairs` (stage 2).
"""

from __future__ import annotations

import apache_beam as beam
import numpy as np

from transforms.dedup.minhash import estimate_jaccard

AUDIT_MEMBERS = 6  # members per audited cluster (the kept one first; all pairs reported)


class _AuditPairsFn(beam.DoFn):
    """Sampled cluster -> one dict per member pair with the estimated Jaccard."""

    def process(self, keyed):
        cid, group = keyed
        samples = list(group["sample"])
        if not samples:
            return
        size, ids = samples[0]
        sigs = {c.id: np.frombuffer(c.minhash, "<u4") for c in group["cand"]}
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                if a in sigs and b in sigs:
                    yield {
                        "cluster": cid,
                        "cluster_size": size,
                        "a": a,
                        "b": b,
                        "a_kept": i == 0,
                        "est_jaccard": estimate_jaccard(sigs[a], sigs[b]),
                    }


def _members_wanted(kv):
    cid, (_, ids) = kv
    return [(i, cid) for i in ids]


def _by_cluster(kv):
    _, group = kv
    return [(cid, c) for cid in group["want"] for c in group["cand"]]


class ClusterAudit(beam.PTransform):
    """(cluster samples, (id, candidate) pairs) -> one dict per member pair of sampled clusters.

    Dict keys: cluster, cluster_size, a, b, a_kept, est_jaccard.
    """

    def __init__(self, n_clusters: int) -> None:
        super().__init__()
        self.n_clusters = n_clusters

    def expand(self, pcolls):
        samples, keyed = pcolls
        if self.n_clusters == 0:
            return samples | "NoAudit" >> beam.Filter(lambda _: False)
        sample = (
            samples
            # bounded: a Top-N accumulator of n_clusters (config constant) small tuples, each
            # with at most AUDIT_MEMBERS ids
            | "SampleClusters" >> beam.combiners.Top.Smallest(self.n_clusters)
            | "SampleRows"
            >> beam.FlatMap(lambda rows: [(cid, (s, ids)) for _, cid, s, ids in rows])
        )
        wanted = sample | "AuditMembers" >> beam.FlatMap(_members_wanted)
        member_sigs = (
            {"cand": keyed, "want": wanted}
            | "JoinAuditMembers" >> beam.CoGroupByKey()
            | "ByAuditCluster" >> beam.FlatMap(_by_cluster)
        )
        return (
            {"sample": sample, "cand": member_sigs}
            | "JoinAudit" >> beam.CoGroupByKey()
            | "AuditPairs" >> beam.ParDo(_AuditPairsFn())
        )
