"""Packing plans, batch layout (positions, segments, labels) and each rank's share of the rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from train.batch import IGNORE_INDEX, collate
from train.config import DataConfig
from train.loader import DataCursor, TrainLoader
from train.packing import epoch_order, pack_documents
from train.shards import ShardDocuments


def test_every_token_is_packed_exactly_once_and_only_long_docs_are_split():
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 300, size=500)
    plan = pack_documents(
        epoch_order(np.arange(500), seed=3, epoch=0), lengths, max_len=128, window=4
    )
    covered = {d: np.zeros(n, dtype=int) for d, n in enumerate(lengths)}
    for row in range(len(plan)):
        segments = plan.segments(row)
        assert sum(n for _, _, n in segments) <= 128
        for doc, start, n in segments:
            covered[doc][start : start + n] += 1
            if lengths[doc] <= 128:
                assert start == 0 and n == lengths[doc], "a document that fits must not be split"
    assert all((c == 1).all() for c in covered.values())
    fill = lengths.sum() / (128 * len(plan))
    assert fill > 0.9, f"rows only {fill:.0%} full"


def test_plans_are_deterministic_per_seed_and_epoch():
    lengths = np.arange(1, 200)
    order = lambda seed, epoch: epoch_order(np.arange(len(lengths)), seed, epoch)  # noqa: E731
    assert (
        pack_documents(order(1, 0), lengths, 256).fingerprint()
        == pack_documents(order(1, 0), lengths, 256).fingerprint()
    )
    assert (
        pack_documents(order(1, 0), lengths, 256).fingerprint()
        != pack_documents(order(1, 1), lengths, 256).fingerprint()
    )
    assert (
        pack_documents(order(1, 0), lengths, 256).fingerprint()
        != pack_documents(order(2, 0), lengths, 256).fingerprint()
    )


def _write_stream(path, docs):
    table = pa.table(
        {
            "id": [f"d{i}" for i in range(len(docs))],
            "input_ids": pa.array(docs, pa.list_(pa.int32())),
        }
    )
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=2)
    return path


def test_shard_tokens_are_zero_copy_views(tmp_path):
    docs = [[5, 6, 7, 0], [8, 0], [9, 10, 11, 12, 13, 0], [14, 0]]
    store = ShardDocuments([_write_stream(tmp_path / "s.arrow", docs)])
    assert [store.tokens(i).tolist() for i in range(4)] == docs
    assert not store.tokens(2).flags.owndata  # a view into the memory map, not a copy
    assert store.doc_id(3) == "d3" and store.lengths.tolist() == [4, 2, 6, 2]


def test_labels_never_cross_a_document_and_positions_restart(tmp_path):
    docs = [[5, 6, 7, 0], [8, 9, 0], [10, 11, 12, 13, 14, 15, 16, 0]]
    store = ShardDocuments([_write_stream(tmp_path / "s.arrow", docs)])
    # row 0: doc 0 + doc 1 + padding; row 1: doc 2 split at 5 -> chunk [10..14] then [15, 16, 0]
    batch = collate(
        [[(0, 0, 4), (1, 0, 3)], [(2, 0, 5), (2, 5, 3)]], store, max_seq_len=9, pad_id=1
    )
    assert batch.input_ids[0].tolist() == [5, 6, 7, 0, 8, 9, 0, 1, 1]
    assert batch.labels[0].tolist() == [
        6,
        7,
        0,
        IGNORE_INDEX,
        9,
        0,
        IGNORE_INDEX,
        IGNORE_INDEX,
        IGNORE_INDEX,
    ]
    assert batch.position_ids[0].tolist() == [0, 1, 2, 3, 0, 1, 2, 0, 1]
    assert batch.segment_ids[0].tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2]
    assert batch.labels[1].tolist() == [
        11,
        12,
        13,
        14,
        IGNORE_INDEX,
        16,
        0,
        IGNORE_INDEX,
        IGNORE_INDEX,
    ]
    assert batch.position_ids[1].tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 0]
    assert batch.n_tokens == 15 and batch.n_label_tokens == 3 + 2 + 4 + 2
    assert batch.cu_seqlens.tolist() == [0, 4, 7, 9, 14, 17, 18]
    assert batch.doc_ids == ["d0", "d1", "d2"]


def test_ranks_read_disjoint_rows_whose_union_is_the_single_process_batch(tmp_path):
    rng = np.random.default_rng(1)
    docs = [list(rng.integers(2, 50, size=rng.integers(3, 40))) + [0] for _ in range(200)]
    store = ShardDocuments([_write_stream(tmp_path / "s.arrow", docs)])
    cfg = DataConfig(max_seq_len=64, micro_batch_size=2)
    idx = np.arange(len(store))
    single = TrainLoader(store, idx, cfg, grad_accum=4, world_size=1, rank=0, pad_id=1)
    ranks = [
        TrainLoader(store, idx, cfg, grad_accum=2, world_size=2, rank=r, pad_id=1) for r in range(2)
    ]
    cursor = DataCursor()
    for _ in range(single.steps_in_epoch(0) + 2):  # across an epoch boundary too
        flat = lambda rows: [tuple(map(tuple, row)) for micro in rows for row in micro]  # noqa: E731
        mine = [set(flat(loader.step_rows(cursor))) for loader in ranks]
        assert not mine[0] & mine[1]
        assert mine[0] | mine[1] == set(flat(single.step_rows(cursor)))
        assert ranks[0].advance(cursor) == single.advance(cursor)
        cursor = single.advance(cursor)
    assert cursor.epoch == 1


def _hypergeom_tail(rows: int, chunks: int, batch: int, k: int) -> float:
    """P(X >= k) for X ~ Hypergeometric(rows, chunks, batch): chunks of one document in a batch."""
    from math import comb

    hits = sum(comb(chunks, j) * comb(rows - chunks, batch - j) for j in range(k, batch + 1))
    return hits / comb(rows, batch)


def test_a_long_documents_chunks_are_spread_over_the_epoch_not_packed_into_a_few_batches(tmp_path):
    """One document 100x longer than the others: no batch holds much more than its fair share.

    The bound, precisely: after the row shuffle the long document's chunks in a batch of B rows
    follow Hypergeometric(R rows, c chunks, B). We take k, the smallest count whose tail
    P(X >= k) is below 1e-9 / (number of batches checked), and require every batch of every
    (seed, epoch) checked to hold fewer than k chunks: a correct shuffle fails this with
    probability < 1e-9. The old packer put B of B rows of that document in ~c/B consecutive
    batches, which this bound rejects (checked below too).
    """
    n_short, short_len, max_len, mb = 300, 120, 128, 32
    docs = [[7] * (short_len - 1) + [0] for _ in range(n_short)]
    docs.append([9] * (100 * short_len - 1) + [0])  # document n_short: 100x longer
    store = ShardDocuments([_write_stream(tmp_path / "s.arrow", docs)])
    long_doc = n_short
    cfg = DataConfig(max_seq_len=max_len, micro_batch_size=mb, pack_window=8)
    seeds_epochs = [(s, e) for s in range(3) for e in range(2)]
    loaders = []
    for seed, epoch in seeds_epochs:
        loader = TrainLoader(
            store, np.arange(len(docs)), DataConfig(**{**cfg.__dict__, "seed": seed}), 1, 1, 0, 1
        )
        loaders.append((loader, epoch))
    plan = loaders[0][0].plan(0)
    rows, chunks = len(plan), -(-100 * short_len // max_len)
    n_batches = sum(loader.steps_in_epoch(e) for loader, e in loaders)
    k = next(k for k in range(mb + 1) if _hypergeom_tail(rows, chunks, mb, k) < 1e-9 / n_batches)
    fair = mb * chunks / rows
    assert k < mb, "the bound must be able to reject a batch made of one document"
    for loader, epoch in loaders:
        for step in range(loader.steps_in_epoch(epoch)):
            (rows_of_batch,) = loader.step_rows(DataCursor(epoch, step))
            held = sum(any(d == long_doc for d, _, _ in row) for row in rows_of_batch)
            assert held < k, (
                f"batch {step} holds {held} chunks of the long document (fair {fair:.1f})"
            )
    # The same check on the packer's unshuffled row order fails: the bound has teeth.
    unshuffled = pack_documents(epoch_order(np.arange(len(docs)), 0, 0), store.lengths, max_len)
    worst = max(
        sum(any(d == long_doc for d, _, _ in unshuffled.segments(r)) for r in range(s, s + mb))
        for s in range(0, len(unshuffled) - mb + 1, mb)
    )
    assert worst >= k


def test_row_order_is_a_function_of_seed_and_epoch_only(tmp_path):
    """Every rank (and a resumed run) rebuilds the same shuffled plan from (seed, epoch)."""
    lengths = np.random.default_rng(1).integers(1, 600, size=300)
    docs = [[3] * (int(n) - 1) + [0] for n in lengths]
    store = ShardDocuments([_write_stream(tmp_path / "s.arrow", docs)])
    cfg = DataConfig(max_seq_len=128, micro_batch_size=4)
    idx = np.arange(len(docs))
    a = [TrainLoader(store, idx, cfg, 1, 2, r, 1).plan(1).fingerprint() for r in range(2)]
    b = TrainLoader(store, idx, cfg, 1, 2, 0, 1).plan(1).fingerprint()
    assert a[0] == a[1] == b
    assert TrainLoader(store, idx, cfg, 1, 2, 0, 1).plan(2).fingerprint() != b
