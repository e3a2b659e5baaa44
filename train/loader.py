"""Which packed rows each rank trains on at each step, and where a resumed run picks up.

An optimizer step consumes one *global batch* of `micro_batch_size * grad_accum * world_size`
consecutive rows of the epoch's packing plan. Micro-batch m of rank r takes the block
`(m * world_size + r) * micro_batch_size` of it, so ranks read disjoint rows, and a single process
with `grad_accum * world_size` micro-batches sees exactly the union. The data cursor is
(epoch, step in epoch): plans are a pure function of (seed, epoch), so nothing else is needed to
resume mid-epoch. An incomplete global batch at an epoch's end is dropped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from train.batch import Batch, collate
from train.config import DataConfig
from train.packing import (
    PackedRows,
    epoch_order,
    one_document_per_row,
    pack_documents,
    shuffle_rows,
)
from train.shards import ShardDocuments


@dataclass(frozen=True)
class DataCursor:
    """The next step to train: the packing plan of `epoch`, global batch `step_in_epoch`."""

    epoch: int = 0
    step_in_epoch: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def make_plan(
    docs: ShardDocuments, doc_indices: np.ndarray, cfg: DataConfig, epoch: int, shuffle: bool = True
) -> PackedRows:
    """The packing plan of one epoch over `doc_indices`.

    Rows are shuffled after packing (`shuffle_rows`), so a batch is a sample of the epoch's rows
    rather than consecutive chunks of one long document. With `shuffle=False` (evaluation) the
    documents keep their order but the rows are still shuffled, with a fixed seed: the first
    `max_batches` eval batches are then a sample of the whole eval set, not its first documents.
    """
    order = epoch_order(doc_indices, cfg.seed, epoch, shuffle=shuffle)
    if cfg.packing:
        plan = pack_documents(order, docs.lengths, cfg.max_seq_len, cfg.pack_window)
    else:
        plan = one_document_per_row(order, docs.lengths, cfg.max_seq_len)
    return shuffle_rows(plan, cfg.seed if shuffle else 0, epoch)


class TrainLoader:
    """The micro-batches of every optimizer step for one rank.

    Args:
        docs: the training documents.
        doc_indices: which of them are for training (the rest may be held out).
        cfg: data settings (row length, micro-batch size, seed, packing).
        grad_accum: micro-batches per step per rank.
        world_size: number of data-parallel ranks.
        rank: this rank.
        pad_id: padding token.
    """

    def __init__(
        self,
        docs: ShardDocuments,
        doc_indices: np.ndarray,
        cfg: DataConfig,
        grad_accum: int,
        world_size: int,
        rank: int,
        pad_id: int,
    ) -> None:
        self.docs, self.doc_indices, self.cfg = docs, doc_indices, cfg
        self.grad_accum, self.world_size, self.rank, self.pad_id = (
            grad_accum,
            world_size,
            rank,
            pad_id,
        )
        self.rows_per_step = cfg.micro_batch_size * grad_accum * world_size
        self._cached: tuple[int, PackedRows] | None = None

    def plan(self, epoch: int) -> PackedRows:
        if self._cached is None or self._cached[0] != epoch:
            self._cached = (epoch, make_plan(self.docs, self.doc_indices, self.cfg, epoch))
        return self._cached[1]

    def steps_in_epoch(self, epoch: int) -> int:
        return len(self.plan(epoch)) // self.rows_per_step

    def step_rows(self, cursor: DataCursor) -> list[list[list[tuple[int, int, int]]]]:
        """For each micro-batch of this rank: its rows, each a list of (doc, start, length)."""
        plan, mb = self.plan(cursor.epoch), self.cfg.micro_batch_size
        base = cursor.step_in_epoch * self.rows_per_step
        starts = [base + (m * self.world_size + self.rank) * mb for m in range(self.grad_accum)]
        return [[plan.segments(row) for row in range(s, s + mb)] for s in starts]

    def batches(self, cursor: DataCursor) -> list[Batch]:
        """The micro-batches this rank trains on at `cursor`."""
        return [
            collate(rows, self.docs, self.cfg.max_seq_len, self.pad_id)
            for rows in self.step_rows(cursor)
        ]

    def advance(self, cursor: DataCursor) -> DataCursor:
        """The cursor after `cursor`'s step (rolling over to the next epoch's plan)."""
        if cursor.step_in_epoch + 1 < self.steps_in_epoch(cursor.epoch):
            return DataCursor(cursor.epoch, cursor.step_in_epoch + 1)
        return DataCursor(cursor.epoch + 1, 0)

    def default_total_steps(self, epochs: float) -> int:
        """Steps for `epochs` passes, measured on epoch 0's plan."""
        return max(1, int(epochs * self.steps_in_epoch(0)))


def eval_batches(
    docs: ShardDocuments,
    doc_indices: np.ndarray,
    cfg: DataConfig,
    world_size: int,
    rank: int,
    max_batches: int,
    pad_id: int,
) -> list[Batch]:
    """This rank's share of the first `max_batches` global eval batches (fixed, unshuffled order)."""
    plan = make_plan(docs, doc_indices, cfg, epoch=0, shuffle=False)
    mb = cfg.micro_batch_size
    out = []
    for k in range(max_batches):
        start = (k * world_size + rank) * mb
        if start >= len(plan):
            break
        rows = [plan.segments(r) for r in range(start, min(start + mb, len(plan)))]
        out.append(collate(rows, docs, cfg.max_seq_len, pad_id))
    return out


@dataclass
class Corpus:
    """Training and eval documents of a manifest, and where the eval split came from."""

    train_docs: ShardDocuments
    train_indices: np.ndarray
    eval_docs: ShardDocuments
    eval_indices: np.ndarray
    eval_source: str  # "eval_shards", "last_shard" or "holdout_fraction"


def open_corpus(
    shard_paths: list, eval_shard_paths: list, holdout_fraction: float, vocab_size: int
) -> Corpus:
    """Memory-maps the shards and picks the eval split.

    The manifest's eval shards are used when it lists any; otherwise the last training shard is held
    out, or, with a single shard, its last `holdout_fraction` of documents (rows are already
    globally shuffled, so a tail is a random sample).
    """
    if eval_shard_paths:
        train = ShardDocuments(shard_paths, vocab_size)
        evals = ShardDocuments(eval_shard_paths, vocab_size)
        return Corpus(train, np.arange(len(train)), evals, np.arange(len(evals)), "eval_shards")
    if len(shard_paths) > 1:
        train = ShardDocuments(shard_paths[:-1], vocab_size)
        evals = ShardDocuments(shard_paths[-1:], vocab_size)
        return Corpus(train, np.arange(len(train)), evals, np.arange(len(evals)), "last_shard")
    docs = ShardDocuments(shard_paths, vocab_size)
    n_eval = max(1, int(round(len(docs) * holdout_fraction))) if len(docs) > 1 else 0
    cut = len(docs) - n_eval
    return Corpus(docs, np.arange(cut), docs, np.arange(cut, len(docs)), "holdout_fraction")
