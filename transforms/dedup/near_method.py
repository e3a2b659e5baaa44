"""`NearMethod`: MinHash-LSH near dedup (`dedup.near`) as a `DedupMethod`.

It wraps the algorithms of near.py and run_features.py without changing them: stage 1 writes
each record's MinHash signature to the `minhash` spill column (vectorised over a batch of texts),
and the decide step is `NearDedupOverRuns` over the records that survive the methods before it.
Its removals are known by id only (components decide them), so a method after it that needs the
survivors' rows gets them from the stage's id join (transforms/dedup/stage.py).
"""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa

from transforms.dedup.config import NearDedupConfig
from transforms.dedup.method import DedupMethod, MethodDecisions
from transforms.dedup.minhash import MinHasher
from transforms.dedup.run_features import NearDedupOverRuns
from transforms.dedup.shingles import BATCH_CHARS, Shingler, text_chunks


class NearDecisions(NearDedupOverRuns):
    """`NearDedupOverRuns` as a method's decide step: `RunWork` -> `MethodDecisions`."""

    def expand(self, work):
        near = super().expand(work)
        return MethodDecisions(
            removed=near["removed"],
            clusters=near["clusters"],
            sections={"dedup.near_cluster_sizes": near["cluster_sizes"]},
            audit=near["audit"],
        )


class NearMethod(DedupMethod):
    """Near dedup over word n-gram shingles (see near.py). Picklable; the shingler and the
    permutations are built lazily on the worker.

    Args:
        cfg: the `dedup.near` section.
        seed: run seed; it seeds the MinHash permutations, so signatures of one run compare
            only with signatures made with the same seed and config.
        keep: the `dedup.exact.keep` rule (near dedup ranks survivors by the same rule).
    """

    name = "near"

    def __init__(self, cfg: NearDedupConfig, seed: int = 0, keep: str = "longest") -> None:
        super().__init__(seed, keep)
        self.cfg = cfg
        self._shingler: Shingler | None = None
        self._hasher: MinHasher | None = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_shingler"] = state["_hasher"] = None  # rebuilt on the worker
        return state

    def spill_columns(self) -> list[tuple[str, pa.DataType]]:
        return [("minhash", pa.binary())]  # uint32 little-endian signature

    def featurize(self, texts: list[str]) -> dict[str, list]:
        if not texts:
            return {"minhash": []}
        if self._hasher is None:
            c = self.cfg
            self._shingler = Shingler(c.ngram, c.lowercase, c.strip_punct, c.fold_digits)
            self._hasher = MinHasher(c.num_perm, self.seed, c.scheme)
        sigs = []
        for lo, hi in text_chunks(texts, BATCH_CHARS):  # the signatures' temporaries stay small too
            batch = self._shingler.hash_batch(texts[lo:hi])
            sigs += [row.astype("<u4").tobytes() for row in self._hasher.signatures(batch)]
        return {"minhash": sigs}

    def decide(self) -> beam.PTransform:
        return NearDecisions(self.cfg, self.seed, self.keep)
