"""Audit sample of near-dedup clusters: pairwise Jaccard of their members (estimated, and exact
for the pairs that `dedup.near.verify: exact` verified).

`NearDedup`'s resolve step, which holds a cluster's members and signatures anyway, emits one
(priority, cluster id, size, rows) tuple per cluster with removals: `audit_rows` of its first
`AUDIT_MEMBERS` members (the kept one first). Priority is a seeded hash of the cluster id, so
the sample (`ClusterAudit`: the `n_clusters` smallest priorities, a Top-N combiner) is
deterministic, spread over the corpus and bounded by n_clusters x AUDIT_MEMBERS^2 rows, with
no join back to the candidates. With `verify: minhash` exact similarities need the texts: see
`transforms.dedup.audit.audit_pairs` (stage 2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.transforms.combiners import TopCombineFn

from transforms.dedup.minhash import estimate_jaccard

AUDIT_MEMBERS = 6  # members per audited cluster (the kept one first; all pairs reported)


def audit_rows(
    cluster: str,
    size: int,
    ids: Sequence[str],
    sigs: Sequence[np.ndarray],
    similar: Sequence[Mapping[str, float] | None] | None = None,
) -> list[dict]:
    """One dict per member pair (ids[0] is the kept member): Jaccard of the pair.

    `similar[i]` is member i's verified neighbours {id: exact Jaccard} (`verify: exact`).
    Dict keys: cluster, cluster_size, a, b, a_kept, est_jaccard, and hash_jaccard for a pair
    that was verified (every removed member and the kept one it names, and any other pair at
    >= threshold that shared an LSH bucket): the exact Jaccard of the two sets of 32-bit
    shingle hashes, the value `verify: exact` decided on (stage 2 adds exact_jaccard for every
    pair, the same from the texts' word n-grams: it differs only where two distinct shingles
    share a hash).
    """
    rows = []
    for i in range(len(ids)):
        for j in range(i + 1, len(ids)):
            row = {
                "cluster": cluster,
                "cluster_size": size,
                "a": ids[i],
                "b": ids[j],
                "a_kept": i == 0,
                "est_jaccard": estimate_jaccard(sigs[i], sigs[j]),
            }
            if similar is not None:
                sim = _verified(similar[i], ids[j])
                sim = _verified(similar[j], ids[i]) if sim is None else sim
                if sim is not None:
                    row["hash_jaccard"] = sim
            rows.append(row)
    return rows


def _verified(similar: Mapping[str, float] | None, other: str) -> float | None:
    return None if similar is None else similar.get(other)


def _sample_key(sample: tuple) -> tuple:
    return sample[0], sample[1]  # priority, then cluster id (unique): never compares rows


class ClusterAudit(beam.PTransform):
    """(priority, cluster id, size, rows) per cluster -> the rows of the n_clusters sampled."""

    def __init__(self, n_clusters: int) -> None:
        super().__init__()
        self.n_clusters = n_clusters

    def expand(self, samples):
        if self.n_clusters == 0:
            return samples | "NoAudit" >> beam.Filter(lambda _: False)
        return (
            samples
            # bounded: a Top-N accumulator of n_clusters (config constant) samples of at most
            # AUDIT_MEMBERS * (AUDIT_MEMBERS - 1) / 2 rows each
            | "SampleClusters"
            >> beam.CombineGlobally(
                TopCombineFn(self.n_clusters, key=_sample_key, reverse=True)
            ).without_defaults()
            | "SampleRows" >> beam.FlatMap(lambda top: [row for s in top for row in s[3]])
        )
