"""Sequence packing: documents (split into chunks when too long) placed into fixed-length rows.

A packing plan is pure index arithmetic over document lengths, computed the same way on every rank
from (seed, epoch), so ranks agree on it without communication and a resumed run rebuilds exactly
the rows it was consuming. Rows hold *segments*: (document, start, length). Documents longer than
the row are split into `max_seq_len` chunks, each its own segment; shorter documents are never
split. Placement is first-fit over a small window of open rows, which keeps rows ~full (a full
first-fit-decreasing sort would cluster lengths).

First-fit keeps a long document's chunks in consecutive rows, so the rows are then shuffled
(`shuffle_rows`, seeded by (seed, epoch), the same on every rank): without it a 100k-token document
fills ~50 consecutive steps and the loss curve follows that one document instead of the corpus.
After the row shuffle, the chunks of a document holding `c` of the epoch's `R` rows that land in a
batch of `B` rows follow the hypergeometric law (R, c, B): mean `B * c / R`, the batch's fair share.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PackedRows:
    """A packing plan: row i holds segments `row_ptr[i]:row_ptr[i+1]` of the segment arrays."""

    seg_doc: np.ndarray  # document index of each segment
    seg_start: np.ndarray  # first token of the segment within its document
    seg_len: np.ndarray  # tokens in the segment
    row_ptr: np.ndarray

    def __len__(self) -> int:
        return len(self.row_ptr) - 1

    def segments(self, row: int) -> list[tuple[int, int, int]]:
        """(document, start, length) of every segment of `row`, in row order."""
        lo, hi = self.row_ptr[row], self.row_ptr[row + 1]
        return list(
            zip(
                self.seg_doc[lo:hi].tolist(),
                self.seg_start[lo:hi].tolist(),
                self.seg_len[lo:hi].tolist(),
                strict=True,
            )
        )

    def fingerprint(self) -> str:
        """sha256 of the plan, stored in checkpoints so a resume detects a changed corpus or plan."""
        digest = hashlib.sha256()
        for array in (self.seg_doc, self.seg_start, self.seg_len, self.row_ptr):
            digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
        return digest.hexdigest()


def epoch_order(doc_indices: np.ndarray, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The documents of `epoch` in their seeded order (a fresh permutation per epoch)."""
    if not shuffle:
        return np.asarray(doc_indices, dtype=np.int64)
    return np.random.default_rng([seed, epoch]).permutation(np.asarray(doc_indices, dtype=np.int64))


def shuffle_rows(plan: PackedRows, seed: int, epoch: int) -> PackedRows:
    """`plan` with its rows in a seeded random order (a fresh permutation per (seed, epoch)).

    The stream [seed, epoch, 1] is distinct from `epoch_order`'s [seed, epoch], so the row order
    is not a function of the document order.
    """
    perm = np.random.default_rng([seed, epoch, 1]).permutation(len(plan))
    counts = np.diff(plan.row_ptr)[perm]
    starts = plan.row_ptr[:-1][perm]
    # Segment indices of the permuted rows, kept in row order within each row.
    flat = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
    row_ptr = np.zeros(len(plan) + 1, dtype=np.int64)
    row_ptr[1:] = np.cumsum(counts)
    return PackedRows(plan.seg_doc[flat], plan.seg_start[flat], plan.seg_len[flat], row_ptr)


def document_segments(
    order: np.ndarray, lengths: np.ndarray, max_len: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Splits documents (in `order`) into chunks of at most `max_len` tokens; empty docs vanish."""
    doc_len = lengths[order]
    chunks = -(-doc_len // max_len)  # ceil; 0 for empty documents
    seg_doc = np.repeat(order, chunks)
    first = np.repeat(np.cumsum(chunks) - chunks, chunks)
    seg_start = (np.arange(len(seg_doc)) - first) * max_len
    seg_len = np.minimum(max_len, np.repeat(doc_len, chunks) - seg_start)
    return seg_doc.astype(np.int64), seg_start.astype(np.int64), seg_len.astype(np.int64)


def pack_documents(
    order: np.ndarray, lengths: np.ndarray, max_len: int, window: int = 8
) -> PackedRows:
    """Packs documents into rows of at most `max_len` tokens, first-fit over `window` open rows.

    Args:
        order: document indices in the order to pack them.
        lengths: token count of every document (indexed by document).
        max_len: row length.
        window: how many not-yet-full rows a segment may be placed into; the oldest is closed
            when a new one must open.

    Returns:
        The plan; rows are emitted in the order they are closed.
    """
    seg_doc, seg_start, seg_len = document_segments(order, lengths, max_len)
    open_rows: list[list] = []  # [remaining capacity, [segment indices]]
    rows: list[list[int]] = []
    for i, n in enumerate(seg_len.tolist()):
        target = next((row for row in open_rows if row[0] >= n), None)
        if target is None:
            if len(open_rows) == window:
                rows.append(open_rows.pop(0)[1])
            target = [max_len, []]
            open_rows.append(target)
        target[0] -= n
        target[1].append(i)
        if target[0] == 0:  # a full row can take nothing more: close it now
            open_rows.remove(target)
            rows.append(target[1])
    rows.extend(members for _, members in open_rows)
    return _plan(seg_doc, seg_start, seg_len, rows)


def one_document_per_row(order: np.ndarray, lengths: np.ndarray, max_len: int) -> PackedRows:
    """Each segment alone in its row (for prompt/prefix tuning, whose virtual tokens are per row)."""
    seg_doc, seg_start, seg_len = document_segments(order, lengths, max_len)
    return _plan(seg_doc, seg_start, seg_len, [[i] for i in range(len(seg_doc))])


def _plan(
    seg_doc: np.ndarray, seg_start: np.ndarray, seg_len: np.ndarray, rows: list[list[int]]
) -> PackedRows:
    flat = np.fromiter((i for row in rows for i in row), dtype=np.int64, count=sum(map(len, rows)))
    row_ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    row_ptr[1:] = np.cumsum([len(r) for r in rows])
    return PackedRows(seg_doc[flat], seg_start[flat], seg_len[flat], row_ptr)
