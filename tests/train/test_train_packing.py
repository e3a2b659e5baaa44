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
