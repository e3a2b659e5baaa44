"""Stage 2: re-read spilled records, apply the corpus-wide decisions, tokenize, write sorted runs.

Per spill run (one element), joined with that run's own decisions by key (`DecisionsByRun`), so
no worker ever holds the decisions of the whole corpus:
- records that lost a duplicate-id contest -> dead_letter (duplicate_id), found by position;
- records removed by a dedup method -> removed/ (with text, the method's name as stage), found
  by id;
- survivors: rewritten by each dedup method that rewrites (`DedupMethod.rewrite`: boilerplate
  lines stripped), tokenized in batches, too-short ones rejected, and the rest written to a
  "tokenized run" sorted by the seeded shuffle key.
Only small `Candidate` tuples (id, source, n_tokens, scores) leave for sampling.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import apache_beam as beam
import numpy as np
import pyarrow as pa

from transforms.infra import fs
from transforms.infra.accounting import TALLY, TallyingDoFn
from transforms.infra.disk_group import CoGroupByKeyOnDisk
from transforms.infra.hashing import position_parts, shuffle_key
from transforms.infra.progress import report as report_progress
from transforms.infra.record import DeadLetter, Record, Rejection, Removal, utf8_len
from transforms.infra.spill import read_run
from transforms.infra.stage_output import StageOutput
from transforms.stages.corpus_stats import pool_accumulator, writer_accumulators

if TYPE_CHECKING:  # annotation only: the encoder is built by `ApplySettings.from_config`
    from transforms.stages.tokenize import BatchEncoder


# A tokenized run's text sizes (UTF-8 bytes), stored instead of the texts when neither the shards
# nor any accumulator fed their rows needs the texts (`ApplySettings.keep_text`).
TEXT_BYTES = "text_bytes"


# The tally's CPU seconds spent inside the tokenizer (stats.json `worker_seconds`).
TOKENIZER_CPU = "tokenizer_cpu"


class TokRun(NamedTuple):
    path: str
    rows: int
    tokens: int


class Decisions(NamedTuple):
    """One spill run's decisions: what happens to its non-surviving records, cluster ids of kept ones."""

    dup_losers: dict[int, int]  # position -> position of the kept record with the same id
    removed: dict[str, Removal]  # id -> why it was removed
    clusters: dict[str, str]  # kept id -> its dedup cluster id
    audit_ids: frozenset = frozenset()  # members of audited near-dup clusters (texts sent out)

    @classmethod
    def from_items(cls, items) -> Decisions:
        """From `decision_items` tuples: ("dup", pos, kept_pos), ("removed", id, Removal),
        ("cluster", id, cluster_id), ("audit", id, None). Order-independent."""
        dup, removed, clusters, audit = {}, {}, {}, set()
        for kind, key, value in items:
            if kind == "dup":
                dup[key] = value
            elif kind == "removed":
                # One removal per id: exact and near see disjoint ids; keep the first by stage.
                if key not in removed or value.stage < removed[key].stage:
                    removed[key] = value
            elif kind == "cluster":
                if key not in clusters or value < clusters[key]:
                    clusters[key] = value
            elif kind == "audit":
                audit.add(key)
            else:
                raise ValueError(f"unknown decision kind {kind!r}")
        return cls(dup, removed, clusters, frozenset(audit))


@dataclass(frozen=True)
class ApplySettings:
    """Everything stage 2 needs, one object (`from_config` builds it for a run).

    Attributes:
        run_dir: where the tokenized runs go (the run's `_tmp/tokenized`).
        encoder: encodes a batch of texts (`transforms.stages.tokenize.BatchEncoder`).
        seed: the run seed (the shuffle key each tokenized run is sorted by).
        score_columns, label_columns: float and string columns taken from a record's meta.
        min_tokens: shorter documents are rejected (too_short).
        batch_size: documents per encode call.
        rewriters: the dedup methods with a `rewrite(text, state)` (`DedupOutcome.rewriters`).
        pool_factory: accumulator over every candidate's text (diagnostics), or None.
        files: file index -> path, to name the kept record of a duplicate id.
        keep_text: the tokenized runs hold the texts (the shards store them, or an accumulator
            fed the shards' rows reads them); otherwise only their UTF-8 sizes (`TEXT_BYTES`),
            and no copy of the corpus text is written a second time.
    """

    run_dir: str
    encoder: BatchEncoder
    seed: int = 0
    score_columns: tuple[str, ...] = ()
    label_columns: tuple[str, ...] = ()
    min_tokens: int = 1
    batch_size: int = 512
    rewriters: tuple = ()
    pool_factory: Callable | None = None
    files: Mapping[int, str] | None = None
    keep_text: bool = True

    @classmethod
    def from_config(cls, cfg, plan, rewriters=()) -> ApplySettings:
        """From the run's `CurateConfig`, its prepared `RunPlan` (pipelines/graph.py) and the
        dedup methods that rewrite texts (`DedupOutcome.rewriters`)."""
        from transforms.stages.tokenize import BatchEncoder

        eos = plan.tokenizer.eos_id if cfg.tokenizer.add_eos else None
        return cls(
            run_dir=fs.join(plan.tmp, "tokenized"),
            # by path: the DoFn pickles small (see BatchEncoder)
            encoder=BatchEncoder(
                path=fs.join(plan.output, "tokenizer", "tokenizer.json"),
                eos_id=eos,
                sha256=plan.tokenizer.sha256,
            ),
            seed=cfg.run.seed,
            score_columns=tuple(plan.score_columns),
            label_columns=tuple(plan.label_columns),
            min_tokens=cfg.shards.min_tokens,
            batch_size=cfg.tokenizer.batch_size,
            rewriters=tuple(rewriters),
            pool_factory=pool_accumulator(plan.dsir),
            # an HF dataset's file index holds many files: no one path to name
            files={t.file_index: t.path for t in plan.tasks if t.format != "hf_arrow"},
            keep_text=cfg.shards.include_text
            or bool(writer_accumulators(cfg, plan.tokenizer.vocab_size, plan.dsir)),
        )


def tokrun_schema(
    score_columns: list[str], label_columns: list[str] = (), keep_text: bool = True
) -> pa.Schema:
    """A tokenized run's columns; without `keep_text`, the texts' sizes (`TEXT_BYTES`) instead."""
    text = ("text", pa.large_string()) if keep_text else (TEXT_BYTES, pa.int64())
    return pa.schema(
        [
            ("key", pa.int64()),
            ("id", pa.string()),
            ("source", pa.string()),
            ("input_ids", pa.list_(pa.int32())),
            ("n_tokens", pa.int32()),
        ]
        + [(c, pa.float32()) for c in score_columns]
        + [(c, pa.string()) for c in label_columns]
        + [
            ("dedup_cluster", pa.string()),
            text,
            # The content key of the spilled text: the published documents' keys feed this
            # release's Bloom filter (the shards never store it).
            ("content_key", pa.binary(16)),
        ]
    )


def label_value(meta: dict, name: str) -> str:
    """A string label column's value from a record's meta ("" when absent).

    A dict (e.g. decontam_hits: {eval set: n-gram hits}) becomes its sorted keys joined by ",".
    """
    value = meta.get(name)
    if value is None:
        return ""
    if isinstance(value, dict):
        return ",".join(sorted(value))
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _score(meta: dict, name: str) -> float:
    value = meta.get(name)
    return (
        float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool)
        else math.nan
    )


class ApplyDecisionsAndTokenize(TallyingDoFn):
    """(run key, {"run": [SpillRun], "decisions": [item...]}) -> TokRun (main) + tagged outputs.

    Tagged outputs: candidates (id, source, n_tokens, scores, tokrun path), dead, removed
    (Removal, text), rejected, pool (diagnostic accumulator), audit (id, text).
    """

    stage = "tokenize"
    timed = True
    CANDIDATES, DEAD, REMOVED, REJECTED, POOL, AUDIT = (
        "candidates",
        "dead",
        "removed",
        "rejected",
        "pool",
        "audit",
    )

    def __init__(self, settings: ApplySettings) -> None:
        self._dir = settings.run_dir
        # file index -> path: duplicate_id names the kept record
        self._files = dict(settings.files or {})
        self._encoder = settings.encoder
        self._seed = settings.seed
        self._scores = list(settings.score_columns)
        self._labels = list(settings.label_columns)
        self._min_tokens = settings.min_tokens
        self._batch = settings.batch_size
        # Dedup methods with a `rewrite(text, state)` (their states come as a side input).
        self._rewriters = list(settings.rewriters)
        self._pool_factory = settings.pool_factory  # accumulator over every candidate's text
        self._keep_text = settings.keep_text

    def process(self, keyed, states=None):
        _, grouped = keyed
        runs = list(grouped["run"])
        if not runs:  # decisions about a run that does not exist: a bug upstream
            raise RuntimeError(f"decisions for an unknown spill run {keyed[0]!r}")
        decisions = Decisions.from_items(grouped["decisions"])
        for run in runs:
            yield from self._process_run(run, decisions, states or {})

    def _where(self, pos: int) -> str:
        """`file:line` of a record's position (`input file #N` for an HF dataset's records)."""
        index, line = position_parts(pos)
        if index not in self._files:
            return f"input file #{index} (position {pos})"
        return f"{self._files[index]}:{line}"

    def _process_run(self, run, decisions: Decisions, states: dict):
        encode_cpu = self._encoder.cpu_seconds
        table = read_run(run.path)
        pos_col = table.column("pos").to_numpy()
        ids = table.column("id").to_pylist()
        sources = table.column("source").to_pylist()
        metas = table.column("meta").to_pylist()
        texts_col = table.column("text")
        content_keys = table.column("content_key").to_pylist()  # of the spilled (original) text
        out_path = fs.join(self._dir, f"tokrun-{uuid.uuid4().hex}.arrow")
        keep_rows: list[int] = []
        for i, (pos, doc_id, source) in enumerate(zip(pos_col.tolist(), ids, sources, strict=True)):
            if doc_id in decisions.audit_ids and pos not in decisions.dup_losers:
                yield beam.pvalue.TaggedOutput(self.AUDIT, (doc_id, texts_col[i].as_py()))
            if pos in decisions.dup_losers:
                meta = json.loads(metas[i])
                text = texts_col[i].as_py()
                yield beam.pvalue.TaggedOutput(
                    self.DEAD,
                    DeadLetter(
                        "duplicate_id",
                        source,
                        meta.get("_file", ""),
                        meta.get("_line", 0),
                        text.encode()[:4096],
                        f"id {doc_id!r} already used by the record at {self._where(decisions.dup_losers[pos])}",
                    ),
                )
                continue
            removal = decisions.removed.get(doc_id)
            if removal is not None:
                yield beam.pvalue.TaggedOutput(self.REMOVED, (removal, texts_col[i].as_py()))
                continue
            keep_rows.append(i)
        # Survivors: the dedup methods' rewrites, then tokenize in batches.
        out_cols: dict[str, list] = {
            k: []
            for k in (
                "key",
                "id",
                "source",
                "input_ids",
                "n_tokens",
                "dedup_cluster",
                "text",
                TEXT_BYTES,
                "content_key",
            )
        }
        for c in self._scores + self._labels:
            out_cols[c] = []
        spill_rows: list[int] = []  # the spill-run row of each output row
        texts_changed = False  # a method rewrote a text: the text column is rebuilt
        for start in range(0, len(keep_rows), self._batch):
            rows = keep_rows[start : start + self._batch]
            batch_texts, batch_rows, batch_keys = [], [], []
            originals = [texts_col[i].as_py() for i in rows]
            rewritten = self._rewrite([sources[i] for i in rows], originals, states)
            for i, original, (text, emptied_by) in zip(rows, originals, rewritten, strict=True):
                if emptied_by:
                    meta = json.loads(metas[i])
                    yield beam.pvalue.TaggedOutput(
                        self.REJECTED,
                        Rejection(
                            Record(ids[i], original, sources[i], meta),
                            f"empty_after_{emptied_by}",
                            "",
                        ),
                    )
                    continue
                texts_changed = texts_changed or text != original
                batch_texts.append(text)
                batch_rows.append(i)
                batch_keys.append(content_keys[i])
            for i, text, ckey, tokens in zip(
                batch_rows,
                batch_texts,
                batch_keys,
                self._encoder.encode(batch_texts),
                strict=True,
            ):
                meta = json.loads(metas[i])
                if len(tokens) < self._min_tokens:
                    yield beam.pvalue.TaggedOutput(
                        self.REJECTED,
                        Rejection(
                            Record(ids[i], text, sources[i], meta),
                            "too_short",
                            f"{len(tokens)} tokens < {self._min_tokens}",
                        ),
                    )
                    continue
                scores = {c: _score(meta, c) for c in self._scores}
                if "dsir" in meta and "dsir" not in scores:  # scorers' terms are score columns
                    scores["dsir"] = _score(meta, "dsir")
                out_cols["key"].append(shuffle_key(ids[i], self._seed))
                out_cols["id"].append(ids[i])
                out_cols["source"].append(sources[i])
                out_cols["input_ids"].append(tokens)
                out_cols["n_tokens"].append(len(tokens))
                out_cols["dedup_cluster"].append(decisions.clusters.get(ids[i], ""))
                out_cols["text"].append(text)
                nbytes = utf8_len(text)
                out_cols[TEXT_BYTES].append(nbytes)
                spill_rows.append(i)
                out_cols["content_key"].append(ckey)
                for c in self._scores:
                    out_cols[c].append(scores[c])
                for c in self._labels:
                    out_cols[c].append(label_value(meta, c))
                self.count("tokenized", "", sources[i], nbytes)
                self.count("tokens", "", sources[i], n=len(tokens))
                yield beam.pvalue.TaggedOutput(
                    self.CANDIDATES, (ids[i], sources[i], len(tokens), scores, out_path)
                )
        report_progress("tokenize", units=1, nbytes=run.bytes, docs=run.rows)
        # The tokenizer's own share of the stage (CPU of every thread of the process): what a
        # bare `encode_batch_fast` over these texts costs, measured in the same moments.
        self._tally.seconds[TOKENIZER_CPU] += self._encoder.cpu_seconds - encode_cpu
        if out_cols["id"]:
            if self._pool_factory is not None:
                pool = self._pool_factory()
                pool.add_table(pa.table({"source": out_cols["source"], "text": out_cols["text"]}))
                yield beam.pvalue.TaggedOutput(self.POOL, pool)
            # Unchanged texts are taken from the spill run in Arrow, not rebuilt from Python strings.
            text_rows = None if texts_changed else (texts_col, spill_rows)
            yield self._write(out_cols, out_path, text_rows)

    def _rewrite(self, sources: list[str], texts: list[str], states: dict) -> list[tuple[str, str]]:
        """Per text: (it after every method's rewrite, "" or the name of the method that emptied
        it). Each method rewrites the whole batch in one call (`DedupMethod.rewrite_batch`); a
        text one method empties goes to no later method."""
        out = [(text, "") for text in texts]
        for method in self._rewriters:
            live = [k for k, (_, emptied_by) in enumerate(out) if not emptied_by]
            done = method.rewrite_batch([out[k][0] for k in live], states.get(method.name))
            for k, result in zip(live, done, strict=True):
                if result is None:
                    continue
                text, source = out[k][0], sources[k]
                new, n_units = result
                if n_units:
                    self.count(method.rewrite_unit, "", source, n=n_units)
                if not new or new.isspace():  # `not new.strip()`, without copying the text
                    out[k] = (new, method.name)
                    continue
                if len(new) != len(text):
                    trimmed = utf8_len(text) - utf8_len(new)
                    self.count("trimmed", method.rewrite_unit, source, trimmed, n=0)
                out[k] = (new, "")
        return out

    def _write(self, cols: dict[str, list], path: str, text_rows=None) -> TokRun:
        """Writes the run sorted by (key, id); `text_rows`: (the spill run's text column, the row of
        each output row) when the texts are the spilled ones, else `cols["text"]` is written."""
        schema = tokrun_schema(self._scores, self._labels, self._keep_text)
        order = np.lexsort(
            (np.array(cols["id"], dtype=object), np.array(cols["key"], dtype=np.int64))
        )
        offsets = np.zeros(len(order) + 1, dtype=np.int32)
        lengths = np.array([len(cols["input_ids"][i]) for i in order], dtype=np.int64)
        if lengths.sum() >= 2**31:
            raise ValueError("tokenized run too large for int32 list offsets; lower the spill size")
        np.cumsum(lengths, out=offsets[1:])
        flat = (
            np.concatenate([cols["input_ids"][i] for i in order])
            if len(order)
            else np.zeros(0, np.int32)
        )
        arrays = []
        for field in schema:
            if field.name == "input_ids":
                arrays.append(
                    pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, pa.int32()))
                )
            elif field.name == "text" and text_rows is not None:
                column, rows = text_rows
                taken = column.take(pa.array(np.asarray(rows, dtype=np.int64)[order]))
                arrays.append(taken.combine_chunks().cast(field.type))
            else:
                col = cols[field.name]
                arrays.append(pa.array([col[i] for i in order], field.type))
        table = pa.Table.from_arrays(arrays, schema=schema)
        tmp = fs.temp_name(path)
        with fs.open_write(tmp) as fh, pa.ipc.new_file(fh, schema) as writer:
            writer.write_table(table, max_chunksize=8192)
        fs.rename(tmp, path)
        return TokRun(path, table.num_rows, int(lengths.sum()))


@dataclass
class TokenizeOutcome(StageOutput):
    """Main: the tokenized runs (`TokRun`); `accumulators`: ("pool", diagnostic accumulator)."""

    candidates: beam.PCollection | None = None  # (id, source, n_tokens, scores, tokrun path)
    audit: beam.PCollection | None = None  # (id, text) of audited near-dup members


def _run_by_key(run):
    return run.key, run


def _pool_entry(acc):
    return "pool", acc


def _named(name: str):
    return lambda state: (name, state)


class ApplyAndTokenize(beam.PTransform):
    """Stage 2: spill runs + their routed decisions -> tokenized runs (`TokenizeOutcome`).

    To `expand`: a dict with "runs" (SpillRun), "decisions" (keyed by run) and "states".
    Each spill run is grouped with its own decisions (`CoGroupByKey` on the run key), so a
    worker holds one run's decisions at a time. The dedup methods' apply-time states
    (`parts["states"]`: method name -> singleton, e.g. the boilerplate line hashes) are the only
    side input, one dict (bounded: each state is bounded by its method's contract).
    """

    def __init__(self, settings: ApplySettings) -> None:
        super().__init__()
        self._fn = ApplyDecisionsAndTokenize(settings)

    def expand(self, parts):
        side = {}
        states = parts.get("states") or {}
        if states:
            tagged = [
                pc | f"State_{name}" >> beam.Map(_named(name)) for name, pc in states.items()
            ] | "AllStates" >> beam.Flatten()
            # bounded: one state per method, each bounded by its contract (boilerplate: the
            # hashes of lines found in more than dedup.boilerplate.min_docs documents)
            side["states"] = beam.pvalue.AsDict(tagged)
        fn = ApplyDecisionsAndTokenize
        out = (
            {
                "run": parts["runs"] | "KeyRuns" >> beam.Map(_run_by_key),
                "decisions": parts["decisions"],
            }
            | "JoinRunDecisions" >> CoGroupByKeyOnDisk()
            # bounded: the dedup states side input only (see above)
            | "Apply"
            >> beam.ParDo(self._fn, **side).with_outputs(
                fn.CANDIDATES,
                fn.DEAD,
                fn.REMOVED,
                fn.REJECTED,
                fn.POOL,
                fn.AUDIT,
                TALLY,
                main="runs",
            )
        )
        return TokenizeOutcome(
            out.runs,
            rejected=out[fn.REJECTED],
            removed=out[fn.REMOVED],
            dead=out[fn.DEAD],
            tally=out[TALLY],
            candidates=out[fn.CANDIDATES],
            accumulators=out[fn.POOL] | "PoolKey" >> beam.Map(_pool_entry),
            audit=out[fn.AUDIT],
        )
