"""Spill runs: full records parked on disk between the corpus-wide decisions.

The local runner keeps every PCollection that crosses a stage boundary in memory, so full texts
must not cross one. `SpillRecords` writes each bundle's records to Arrow IPC files (bounded
size) in the same fused stage that read them, and emits only small `DocMeta` per record for the
dedup shuffles plus a `SpillRun` per file. Stage 2 re-reads the runs and applies the decisions.
This is the temp-file + finalize pattern of Beam's own file sinks, so it holds on Dataflow too.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import NamedTuple

import apache_beam as beam
import pyarrow as pa

from transforms.infra import fs
from transforms.infra.accounting import TALLY, TallyingDoFn
from transforms.infra.hashing import content_key
from transforms.infra.progress import report as report_progress
from transforms.infra.record import Record, utf8_len
from transforms.infra.stage_output import StageOutput

SPILL_SCHEMA = pa.schema(
    [
        ("pos", pa.int64()),
        ("id", pa.string()),
        ("source", pa.string()),
        ("text", pa.large_string()),
        ("meta", pa.string()),  # JSON of the record's meta
        ("quality", pa.float64()),
        ("n_chars", pa.int64()),
        # content_key of the text, computed once here: stage 2 and the release filter read it.
        ("content_key", pa.binary(16)),
    ]
)


def spill_schema(feature_columns: list[tuple[str, pa.DataType]] = ()) -> pa.Schema:
    """`SPILL_SCHEMA` plus the dedup methods' feature columns (`DedupMethod.spill_columns`).

    Dedup features stay here, next to the text, instead of riding in `DocMeta` through the
    duplicate-id and exact shuffles (each method reads its columns back for the records that
    survive the methods before it): on the local runner every shuffle is held in memory, and the
    512-byte MinHash signature was most of each record's metadata.
    """
    schema = SPILL_SCHEMA
    for name, type_ in feature_columns:
        if schema.get_field_index(name) != -1:
            raise ValueError(f"spill column {name!r} is declared twice")
        schema = schema.append(pa.field(name, type_))
    return schema


class SpillRun(NamedTuple):
    path: str
    rows: int
    bytes: int
    key: int = 0  # `run_key` of the file: its records' decisions are routed to it by this key


def run_key(path: str) -> int:
    """A 63-bit key naming a spill run (its decisions are grouped under it)."""
    import xxhash

    return xxhash.xxh3_64_intdigest(path.encode()) >> 1


class DocMeta(NamedTuple):
    """What the dedup shuffles need of a record (never its text)."""

    pos: int
    id: str
    source: str
    key: bytes  # content_key of the normalized text
    n_chars: int
    quality: float
    run: int = 0  # `run_key` of the spill run holding the record (decisions go there by key)


def _meta_json(meta: dict) -> str:
    return json.dumps(meta, separators=(",", ":"), default=_jsonable)


def _jsonable(value):
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


class SpillRecords(TallyingDoFn):
    """Buffers records, writes them as IPC files of at most `max_bytes` text, emits DocMeta."""

    stage = "spill"
    META, RUNS = "meta", "runs"

    def __init__(self, spill_dir: str, featurizer=None, max_bytes: int = 64 << 20) -> None:
        self._dir = spill_dir
        # Anything with `columns` ((name, Arrow type) pairs) and `featurize_columns(texts)`
        # (name -> values): the dedup methods' features (transforms/dedup/features.py).
        self._featurizer = featurizer
        self._schema = spill_schema(featurizer.columns if featurizer is not None else [])
        self._max_bytes = max_bytes

    def start_bundle(self):
        super().start_bundle()
        self._buf: list[Record] = []
        self._bytes = 0

    def process(self, rec: Record):
        self._buf.append(rec)
        self._bytes += len(rec.text)
        if self._bytes >= self._max_bytes:
            yield from self._flush(window_values=False)

    def finish_bundle(self):
        yield from self._flush(window_values=True)
        yield from super().finish_bundle()

    def _flush(self, window_values: bool):
        if not self._buf:
            return
        from apache_beam.transforms.window import GlobalWindow
        from apache_beam.utils.timestamp import MIN_TIMESTAMP
        from apache_beam.utils.windowed_value import WindowedValue

        def out(tag, value):
            if window_values:
                value = WindowedValue(value, MIN_TIMESTAMP, [GlobalWindow()])
            return beam.pvalue.TaggedOutput(tag, value)

        recs, self._buf, self._bytes = self._buf, [], 0
        texts = [r.text for r in recs]
        feats = self._featurizer.featurize_columns(texts) if self._featurizer else {}
        qualities = [float(r.meta.get("quality", 0.0)) for r in recs]
        keys = [content_key(t) for t in texts]
        table = pa.table(
            [
                [r.meta["_pos"] for r in recs],
                [r.id for r in recs],
                [r.source for r in recs],
                texts,
                [_meta_json(r.meta) for r in recs],
                qualities,
                [len(t) for t in texts],
                keys,
                *(feats[name] for name in self._schema.names[len(SPILL_SCHEMA) :]),
            ],
            schema=self._schema,
        )
        path = fs.join(self._dir, f"spill-{uuid.uuid4().hex}.arrow")
        key = run_key(path)
        tmp = fs.temp_name(path)
        with fs.open_write(tmp) as fh, pa.ipc.new_file(fh, self._schema) as writer:
            writer.write_table(table, max_chunksize=4096)
        fs.rename(tmp, path)
        n_bytes = 0
        for rec, text, quality, ckey in zip(recs, texts, qualities, keys, strict=True):
            size = utf8_len(text)
            n_bytes += size
            self.count("spilled", "", rec.source, size)
            yield out(
                self.META,
                DocMeta(
                    rec.meta["_pos"],
                    rec.id,
                    rec.source,
                    ckey,
                    len(text),
                    quality,
                    key,
                ),
            )
        report_progress("spill", units=1, nbytes=n_bytes, docs=len(recs))
        yield out(self.RUNS, SpillRun(path, len(recs), n_bytes, key))


def read_run(path: str) -> pa.Table:
    """A run's table, memory-mapped when local (zero-copy)."""
    if fs.is_remote(path):
        with fs.open_read(path) as fh:
            return pa.ipc.open_file(pa.BufferReader(fh.read())).read_all()
    return pa.ipc.open_file(pa.memory_map(path)).read_all()


@dataclass
class SpillOutcome(StageOutput):
    runs: beam.PCollection | None = None  # SpillRun per file written


class Spill(beam.PTransform):
    """Stage: Records -> spill runs on disk + `DocMeta` per record (`SpillOutcome`).

    Args:
        spill_dir: where the runs go (the run's `_tmp/spill`).
        featurizer: the dedup methods' spill columns (`DedupFeaturizer`; None: no features).
    """

    def __init__(self, spill_dir: str, featurizer=None) -> None:
        super().__init__()
        self._fn = SpillRecords(spill_dir, featurizer)

    def expand(self, records):
        out = records | "Write" >> beam.ParDo(self._fn).with_outputs(
            SpillRecords.META, SpillRecords.RUNS, TALLY, main="unused"
        )
        return SpillOutcome(out.meta, tally=out[TALLY], runs=out.runs)
