"""Shard boundaries from bounded aggregates: exact-size, globally shuffled shards at any scale.

Every selected document has a seeded 63-bit shuffle key; a shard is a run of `rows_per_shard`
consecutive documents in (key, id) order. The rank of a document in that order is found without
gathering every key anywhere:

1. the key space is cut into `2**BUCKET_BITS` buckets by the key's top bits, and documents are
   counted per (split, bucket) (a combiner);
2. the counts become prefix offsets in one bounded dict (at most 2 x 2**BUCKET_BITS entries);
3. each bucket is grouped on its own and sorted: rank = offset + position in the bucket.

A bucket holds about N / 2**BUCKET_BITS documents (61k at a billion documents, a few MB of
(key, id) pairs), so no worker holds more than a bucket, and the result is a pure function of the
selected set and the seed: identical with 1 or N workers, exact `rows_per_shard` except the last
shard of each split.
"""

from __future__ import annotations

import apache_beam as beam

from transforms.infra.accounting import TALLY, TallyingDoFn
from transforms.infra.disk_group import GroupByKeyOnDisk
from transforms.infra.hashing import shuffle_key
from transforms.infra.stage_output import StageOutput

BUCKET_BITS = 14
_SHIFT = 63 - BUCKET_BITS


class _Fate(TallyingDoFn):
    """(id, source, split | None, run) -> ((split, bucket), (key, id, run)); unselected: tally."""

    stage = "plan"

    def __init__(self, seed: int) -> None:
        self._seed = seed

    def process(self, fate):
        doc_id, source, split, run = fate
        if split is None:
            self.count("sampled_out", "", source)
            return
        key = shuffle_key(doc_id, self._seed)
        yield (split, key >> _SHIFT), (key, doc_id, run)


class _Offsets(beam.CombineFn):
    """((split, bucket), count) pairs -> {(split, bucket): documents before the bucket}."""

    def create_accumulator(self) -> dict:
        return {}

    def add_input(self, acc: dict, item) -> dict:
        bucket, n = item
        acc[bucket] = acc.get(bucket, 0) + n
        return acc

    def merge_accumulators(self, accs) -> dict:
        out: dict = {}
        for acc in accs:
            for bucket, n in acc.items():
                out[bucket] = out.get(bucket, 0) + n
        return out

    def extract_output(self, acc: dict) -> dict:
        offsets, running = {}, {}
        for split, bucket in sorted(acc):
            offsets[(split, bucket)] = running.get(split, 0)
            running[split] = running.get(split, 0) + acc[(split, bucket)]
        return offsets


class _RankBucket(beam.DoFn):
    """((split, bucket), members) -> ((split, shard index), (key, id, run)) per member."""

    def __init__(self, rows_per_shard: int) -> None:
        self._rows = rows_per_shard

    def process(self, keyed, offsets):
        (split, bucket), members = keyed
        start = offsets[(split, bucket)]
        for i, (key, doc_id, run) in enumerate(sorted(members)):
            yield (split, (start + i) // self._rows), (key, doc_id, run)


class PlanShards(beam.PTransform):
    """Fates (id, source, split | None, run path) -> `StageOutput`.

    Main: the assignments, ((split, shard index), (key, id, run path)) for every selected
    document; `tally`: the sampled-out counts (accounting states).
    """

    def __init__(self, seed: int, rows_per_shard: int) -> None:
        super().__init__()
        if rows_per_shard < 1:
            raise ValueError(f"rows_per_shard must be >= 1, got {rows_per_shard}")
        self._seed, self._rows = seed, rows_per_shard

    def expand(self, fates):
        keyed = fates | "KeyBySlot" >> beam.ParDo(_Fate(self._seed)).with_outputs(
            TALLY, main="keyed"
        )
        offsets = (
            keyed.keyed
            | "BucketCounts" >> beam.combiners.Count.PerKey()
            # bounded: one count per (split, key bucket): at most 2 x 2**BUCKET_BITS entries
            | "BucketOffsets" >> beam.CombineGlobally(_Offsets())
        )
        assignments = (
            keyed.keyed
            | "GroupBuckets" >> GroupByKeyOnDisk()
            | "RankBuckets"
            # bounded: the offsets dict above (2 x 2**BUCKET_BITS entries)
            >> beam.ParDo(_RankBucket(self._rows), offsets=beam.pvalue.AsSingleton(offsets))
        )
        return StageOutput(assignments, tally=keyed[TALLY])
