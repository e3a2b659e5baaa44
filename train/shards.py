"""Memory-mapped documents from the curation pipeline's Arrow shards.

Shards are Arrow IPC stream files (file format is accepted too, detected by its magic bytes). We
memory-map each shard and keep only the per-batch offset arrays in Python: a document's tokens are
a zero-copy numpy view into the mapped `input_ids` values, so memory stays bounded by the index
(a few bytes per document), not by the corpus. A shard must not be rewritten in place while a run
maps it (the pipeline writes shards to a temporary name and renames them, which is safe).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

_ARROW_FILE_MAGIC = b"ARROW1"


class ShardSchemaError(ValueError):
    """A shard does not follow the shard contract."""


def _open_batches(path: Path) -> list[pa.RecordBatch]:
    source = pa.memory_map(str(path), "r")
    is_file_format = source.read(6) == _ARROW_FILE_MAGIC
    source.seek(0)
    if is_file_format:
        reader = pa.ipc.open_file(source)
        return [reader.get_batch(i) for i in range(reader.num_record_batches)]
    return list(pa.ipc.open_stream(source))


def _check_schema(path: Path, schema: pa.Schema) -> None:
    problems = []
    id_type = schema.field("id").type if "id" in schema.names else None
    if id_type is None or not (pa.types.is_string(id_type) or pa.types.is_large_string(id_type)):
        problems.append(f"column 'id' must be a string column, got {id_type}")
    if "input_ids" not in schema.names:
        problems.append("column 'input_ids' is missing")
    else:
        tp = schema.field("input_ids").type
        if not (pa.types.is_list(tp) or pa.types.is_large_list(tp)) or not pa.types.is_integer(
            tp.value_type
        ):
            problems.append(f"column 'input_ids' must be list<int32>, got {tp}")
    if problems:
        raise ShardSchemaError(f"shard {path}: " + "; ".join(problems))


class ShardDocuments:
    """Every document of a list of shards, indexed 0..n-1 in shard order.

    Args:
        paths: shard files.
        vocab_size: if given, every token id is checked to be below it (a model-size mismatch would
            otherwise surface as an opaque embedding index error mid-run).
    """

    def __init__(self, paths: Sequence[str | Path], vocab_size: int | None = None) -> None:
        self.paths = [Path(p) for p in paths]
        self._ids: list[pa.Array] = []
        self._offsets: list[np.ndarray] = []
        self._values: list[np.ndarray] = []
        batch_of_doc, row_of_doc, lengths = [], [], []
        for path in self.paths:
            for batch in _open_batches(path):
                _check_schema(path, batch.schema)
                column = batch.column("input_ids")
                offsets = np.asarray(column.offsets)  # already accounts for a sliced array's offset
                values = column.values.to_numpy(zero_copy_only=column.values.null_count == 0)
                if vocab_size is not None and len(values) and int(values.max()) >= vocab_size:
                    raise ShardSchemaError(
                        f"shard {path}: token id {int(values.max())} >= vocab size {vocab_size}"
                    )
                b = len(self._offsets)
                self._ids.append(batch.column("id"))
                self._offsets.append(offsets)
                self._values.append(values)
                batch_of_doc.append(np.full(batch.num_rows, b, dtype=np.int32))
                row_of_doc.append(np.arange(batch.num_rows, dtype=np.int32))
                lengths.append(np.diff(offsets).astype(np.int64))
        concat = lambda parts, dt: np.concatenate(parts) if parts else np.zeros(0, dt)  # noqa: E731
        self._batch = concat(batch_of_doc, np.int32)
        self._row = concat(row_of_doc, np.int32)
        self.lengths: np.ndarray = concat(lengths, np.int64)

    def __len__(self) -> int:
        return len(self.lengths)

    def tokens(self, doc: int) -> np.ndarray:
        """The token ids of document `doc` (a read-only view into the mapped shard)."""
        b, r = self._batch[doc], self._row[doc]
        offsets = self._offsets[b]
        return self._values[b][offsets[r] : offsets[r + 1]]

    def doc_id(self, doc: int) -> str:
        """The `id` column of document `doc`."""
        return self._ids[self._batch[doc]][int(self._row[doc])].as_py()

    @property
    def total_tokens(self) -> int:
        return int(self.lengths.sum())
