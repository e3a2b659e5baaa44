"""Per-document dedup features computed once, in stage 1, from the normalized text.

`DedupFeaturizer(cfg, seed).featurize(texts)` returns, per text, the MinHash signature bytes
(for `NearDedup`) and the distinct line-hash array bytes (for `BoilerplateLines`). `SpillRecords`
writes both into the record's spill run, next to its text; near dedup and boilerplate counting
read them back for the exact-dedup survivors (transforms/dedup/run_features.py), so neither rides
through the metadata shuffles.
"""

from __future__ import annotations

from typing import NamedTuple

from transforms.dedup.config import DedupConfig
from transforms.dedup.minhash import MinHasher
from transforms.dedup.rolling import line_hashes
from transforms.dedup.shingles import Shingler

# Text per vectorised signature batch. Large enough that numpy's per-call overhead vanishes, small
# enough that the temporaries and the rolling-hash power table (8 bytes per byte of the batch,
# kept for the process) stay a few MB: one 64 MB spill batch at once took 10x longer and held
# ~1 GB of power tables.
_SIGNATURE_BATCH_CHARS = 1 << 20


class DocFeatures(NamedTuple):
    minhash: bytes | None  # uint32 little-endian signature; None when near dedup is disabled
    line_hashes: bytes | None  # sorted distinct uint64 line hashes; None when boilerplate is off


class DedupFeaturizer:
    """Batched MinHash signatures and line hashes (picklable; permutations built lazily).

    Args:
        cfg: the `dedup` config section.
        seed: run seed; it seeds the MinHash permutations, so signatures of one run compare
            only with signatures made with the same seed and config.
    """

    def __init__(self, cfg: DedupConfig, seed: int) -> None:
        self.near = cfg.near
        self.boilerplate = cfg.boilerplate
        self.seed = seed
        self._shingler: Shingler | None = None
        self._hasher: MinHasher | None = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_shingler"] = state["_hasher"] = None  # rebuilt on the worker
        return state

    def _build(self) -> None:
        near = self.near
        self._shingler = Shingler(near.ngram, near.lowercase, near.strip_punct, near.fold_digits)
        self._hasher = MinHasher(near.num_perm, self.seed, near.scheme)

    def featurize(self, texts: list[str]) -> list[DocFeatures]:
        """Features of each text, in order."""
        sigs: list[bytes | None] = [None] * len(texts)
        if self.near.enabled and texts:
            if self._hasher is None:
                self._build()
            sigs = []
            for lo, hi in _chunks(texts, _SIGNATURE_BATCH_CHARS):
                batch = self._shingler.hash_batch(texts[lo:hi])
                sigs += [row.astype("<u4").tobytes() for row in self._hasher.signatures(batch)]
        lines: list[bytes | None] = [None] * len(texts)
        if self.boilerplate.enabled:
            lines = [line_hashes(t, self.boilerplate.min_line_chars).tobytes() for t in texts]
        return [DocFeatures(m, h) for m, h in zip(sigs, lines, strict=True)]


def _chunks(texts: list[str], max_chars: int) -> list[tuple[int, int]]:
    """[lo, hi) index ranges of consecutive texts of about `max_chars` each (at least one)."""
    out, lo, size = [], 0, 0
    for i, t in enumerate(texts):
        if size and size + len(t) > max_chars:
            out.append((lo, i))
            lo, size = i, 0
        size += len(t)
    out.append((lo, len(texts)))
    return out
