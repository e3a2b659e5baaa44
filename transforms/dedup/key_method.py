"""`KeyDedupMethod`: a user's `key(text)` plugin as a `DedupMethod`.

The least a user writes for a dedup method is a class with `key(self, text) -> str | None`:
documents with the same key are duplicates, and one of each group survives by the
`dedup.exact.keep` rule (`None`: the document is nobody's duplicate). The adapter stores a
128-bit hash of each key in the spill column `<name>.key`, reads it back per spill run for the
records that survived the methods before it, and groups the keys as exact dedup groups content
keys (`ExactDedup` with the plugin's name as the removal stage and cluster-id prefix).
"""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa

from transforms.dedup.exact import KeyGroupDecisions
from transforms.dedup.method import DedupMethod
from transforms.infra.hashing import content_key
from transforms.infra.spill import DocMeta


class _RunKeysFn(beam.DoFn):
    """`RunWork` -> `DocMeta` (key = the plugin's key hash) of each surviving keyed record."""

    def __init__(self, column: str) -> None:
        self.column = column

    def process(self, work):
        from transforms.dedup.run_features import surviving_rows

        cols = ["id", "source", "quality", "n_chars", self.column]
        table = surviving_rows(work, cols)
        rows = zip(*(table.column(c).to_pylist() for c in ["pos", *cols]), strict=True)
        for pos, doc_id, source, quality, n_chars, key in rows:
            if key is not None:
                yield DocMeta(pos, doc_id, source, key, n_chars, quality, work.key)


class KeyDecisions(beam.PTransform):
    """`RunWork` -> `MethodDecisions` of the keys in `column`, grouped like content keys."""

    def __init__(self, column: str, keep: str, stage: str) -> None:
        super().__init__()
        self.column, self.keep, self.stage = column, keep, stage

    def expand(self, work):
        return (
            work
            | "ReadKeys" >> beam.ParDo(_RunKeysFn(self.column))
            | "Group" >> KeyGroupDecisions(self.keep, self.stage)
        )


class KeyDedupMethod(DedupMethod):
    """Adapts `plugin` (an object with `key(text) -> str | None`) to the method contract.

    Args:
        plugin: the user's object.
        name: its name (removal stage `name`, cluster ids `name:<hash>`, column `name.key`).
    """

    def __init__(self, plugin, name: str, seed: int = 0, keep: str = "longest") -> None:
        super().__init__(seed, keep)
        self.plugin, self.name = plugin, name

    @property
    def column(self) -> str:
        return f"{self.name}.key"

    def spill_columns(self) -> list[tuple[str, pa.DataType]]:
        return [(self.column, pa.binary())]

    def featurize(self, texts: list[str]) -> dict[str, list]:
        return {self.column: [self._key_hash(t) for t in texts]}

    def _key_hash(self, text: str) -> bytes | None:
        try:
            key = self.plugin.key(text)
        except Exception:  # noqa: BLE001 - user code: the record stays, nobody's duplicate
            beam.metrics.Metrics.counter("dedup_plugin", f"{self.name}.key_errors").inc()
            return None
        return None if key is None else content_key(str(key))

    def decide(self) -> beam.PTransform:
        return KeyDecisions(self.column, self.keep, self.name)
