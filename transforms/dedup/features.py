"""Per-document dedup features computed once, in stage 1, from the normalized text.

`DedupFeaturizer(cfg, seed)` gathers the spill columns of every enabled dedup method
(`DedupMethod.spill_columns`, transforms/dedup/method.py: the MinHash signature for near dedup,
the distinct line hashes for boilerplate counting, a key hash per `key` plugin) and fills them
for a batch of texts. `SpillRecords` writes them into the record's spill run, next to its text;
the methods read them back for the records that survive the methods before them
(transforms/dedup/run_features.py), so none rides through the metadata shuffles.
"""

from __future__ import annotations

from typing import NamedTuple

import pyarrow as pa

from transforms.dedup.config import DedupConfig
from transforms.dedup.method import DedupMethod


class DocFeatures(NamedTuple):
    """The built-in methods' features of one text (tests and benchmarks read them this way)."""

    minhash: bytes | None  # uint32 little-endian signature; None when near dedup is disabled
    line_hashes: bytes | None  # sorted distinct uint64 line hashes; None when boilerplate is off


class DedupFeaturizer:
    """The spill columns of the enabled dedup methods, and their values (picklable).

    Args:
        cfg: the `dedup` config section.
        seed: run seed (MinHash permutations: signatures of one run compare only with
            signatures made with the same seed and config).
        methods: the methods, when already built (default: those `cfg` enables).
    """

    def __init__(
        self, cfg: DedupConfig, seed: int, methods: list[DedupMethod] | None = None
    ) -> None:
        if methods is None:
            from transforms.dedup.methods import dedup_methods

            methods = dedup_methods(cfg, seed)
        self.methods = [m for m in methods if m.spill_columns()]

    @property
    def columns(self) -> list[tuple[str, pa.DataType]]:
        """(name, Arrow type) of every column, in method order."""
        return [col for m in self.methods for col in m.spill_columns()]

    def featurize_columns(self, texts: list[str]) -> dict[str, list]:
        """Column name -> one value per text, in order."""
        out: dict[str, list] = {}
        for m in self.methods:
            out.update(m.featurize(texts))
        return out

    def featurize(self, texts: list[str]) -> list[DocFeatures]:
        """The built-in features of each text, in order (None for a disabled method)."""
        cols = self.featurize_columns(texts)
        none = [None] * len(texts)
        sigs, lines = cols.get("minhash", none), cols.get("line_hashes", none)
        return [DocFeatures(m, h) for m, h in zip(sigs, lines, strict=True)]
