"""Duplicate-id resolution and exact dedup, on small per-record metadata (never text).

Both group by key and keep one deterministic representative, so the result is the same whatever
the number of workers or the bundle split:

- `ResolveDuplicateIds`: records sharing an id keep the one first in input order (smallest
  position: sorted file list, then line); the others are dead-lettered as `duplicate_id`.
- `ExactDedup`: records sharing the 128-bit content key keep the best by `keep` (longest, or
  highest quality, ties by smallest id); the others are removed with the kept id. The same step
  groups any per-record key: a plugin's `key(text)` (transforms/dedup/key_method.py).

`ExactMethod` is exact dedup as a `DedupMethod` (transforms/dedup/method.py): it reads the
`DocMeta` content key, so it adds no spill column.
"""

from __future__ import annotations

import apache_beam as beam

from transforms.dedup.config import ExactDedupConfig
from transforms.dedup.keep import KEEP_RULES
from transforms.dedup.method import DedupMethod, MethodDecisions
from transforms.infra.disk_group import GroupByKeyOnDisk
from transforms.infra.record import Removal
from transforms.infra.spill import DocMeta


def exact_cluster_id(key: bytes, stage: str = "exact") -> str:
    return f"{stage}:" + key.hex()[:16]


def _position(m: DocMeta) -> int:
    return m.pos


class _PickFirstPosition(beam.DoFn):
    LOSERS = "losers"

    def process(self, kv):
        # Two passes over the group, never a list of it: a runner's grouped values are
        # re-iterable (paged from the shuffle on Dataflow), so a huge group costs O(1) memory.
        _, metas = kv
        first = min(metas, key=_position)
        yield first
        for m in metas:
            if m.pos != first.pos:
                yield beam.pvalue.TaggedOutput(
                    self.LOSERS, (m.pos, m.id, m.source, first.pos, m.run)
                )


class ResolveDuplicateIds(beam.PTransform):
    """DocMeta -> {"kept": DocMeta with unique ids, "losers": (pos, id, source, kept_pos, run)}."""

    def expand(self, metas):
        out = (
            metas
            | "ById" >> beam.Map(lambda m: (m.id, m))
            | "GroupById" >> GroupByKeyOnDisk()
            | "PickFirst"
            >> beam.ParDo(_PickFirstPosition()).with_outputs(_PickFirstPosition.LOSERS, main="kept")
        )
        return {"kept": out.kept, "losers": out.losers}


class _PickRepresentative(beam.DoFn):
    REMOVED, CLUSTERS, DROPPED = "removed", "clusters", "dropped"

    def __init__(self, keep: str, stage: str = "exact") -> None:
        self._rank = KEEP_RULES[keep]
        self._stage = stage

    def process(self, kv):
        # Two passes over the group, never a list of it (see _PickFirstPosition): a family of
        # millions of copies (an empty-ish boilerplate page) costs O(1) memory. Ranks are unique
        # (ids are, after duplicate-id resolution), so the minimum is the sort's first element.
        key, metas = kv
        kept = min(metas, key=self._rank)
        yield kept
        cluster, size = exact_cluster_id(key, self._stage), 1
        for m in metas:
            if m.id == kept.id:
                continue
            size += 1
            yield beam.pvalue.TaggedOutput(
                self.REMOVED, Removal(m.id, m.source, self._stage, cluster, kept.id, 1.0)
            )
            yield beam.pvalue.TaggedOutput(self.DROPPED, (m.run, m.pos))
        if size > 1:
            yield beam.pvalue.TaggedOutput(self.CLUSTERS, (kept.id, cluster, size))


class ExactDedup(beam.PTransform):
    """DocMeta -> {"kept": DocMeta, "removed": Removal, "clusters": (kept_id, cluster, size),
    "dropped": (run key, input position) of each removed record}.

    Args:
        keep: which copy survives (`KEEP_RULES`).
        stage: the removals' stage and cluster-id prefix (a key plugin's name).
    """

    def __init__(self, keep: str = "longest", stage: str = "exact") -> None:
        super().__init__()
        if keep not in KEEP_RULES:
            raise ValueError(f"keep must be one of {sorted(KEEP_RULES)}, got {keep!r}")
        self._keep, self._stage = keep, stage

    def expand(self, metas):
        out = (
            metas
            | "ByContent" >> beam.Map(lambda m: (m.key, m))
            | "GroupByContent" >> GroupByKeyOnDisk()
            | "PickRepresentative"
            >> beam.ParDo(_PickRepresentative(self._keep, self._stage)).with_outputs(
                _PickRepresentative.REMOVED,
                _PickRepresentative.CLUSTERS,
                _PickRepresentative.DROPPED,
                main="kept",
            )
        )
        return {
            "kept": out.kept,
            "removed": out.removed,
            "clusters": out.clusters,
            "dropped": out.dropped,
        }


class SizeHistogram(beam.CombineFn):
    """Cluster sizes -> {"size": number of clusters}; bounded by the number of distinct sizes."""

    def create_accumulator(self) -> dict:
        return {}

    def add_input(self, acc: dict, size: int) -> dict:
        acc[int(size)] = acc.get(int(size), 0) + 1
        return acc

    def merge_accumulators(self, accs) -> dict:
        out: dict = {}
        for acc in accs:
            for size, n in acc.items():
                out[size] = out.get(size, 0) + n
        return out

    def extract_output(self, acc: dict) -> dict[str, int]:
        return {str(size): acc[size] for size in sorted(acc)}


def _cluster_of(t):
    return t[0], t[1]


def _size_of(t):
    return t[2]


class KeyGroupDecisions(ExactDedup):
    """`ExactDedup` as a method's decide step: DocMeta -> `MethodDecisions`, with the
    `dedup.<stage>_cluster_sizes` histogram section."""

    def expand(self, metas):
        out = super().expand(metas)
        sizes = (
            out["clusters"]
            | "Sizes" >> beam.Map(_size_of)
            # bounded: one counter per distinct cluster size
            | "Histogram" >> beam.CombineGlobally(SizeHistogram())
        )
        return MethodDecisions(
            removed=out["removed"],
            dropped=out["dropped"],
            kept=out["kept"],
            clusters=out["clusters"] | "ClusterIds" >> beam.Map(_cluster_of),
            sections={f"dedup.{self._stage}_cluster_sizes": sizes},
        )


class ExactMethod(DedupMethod):
    """Exact dedup on the 128-bit content key of the normalized text (`dedup.exact`)."""

    name = "exact"
    reads = "metas"

    def __init__(self, cfg: ExactDedupConfig, seed: int = 0, keep: str = "longest") -> None:
        super().__init__(seed, keep)
        self.cfg = cfg

    def decide(self) -> beam.PTransform:
        return KeyGroupDecisions(self.keep)
