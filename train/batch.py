"""One micro-batch of packed rows, with everything attention and the loss need.

Every row is `max_seq_len` long (a fixed shape keeps compiled graphs and memory stable; packing
keeps the padding small). Within a row each segment is a document (or a chunk of a long one):
position ids restart at 0 per segment, `segment_ids` tell attention which tokens may see each
other, and labels are the next token *of the same segment*: the last token of a segment (its EOS,
or a chunk's end) predicts nothing, so no loss ever crosses a document boundary. Padding forms a
segment of its own (so every query attends to at least itself) and carries no labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from train.shards import ShardDocuments

IGNORE_INDEX = -100


@dataclass
class Batch:
    """A micro-batch; tensors are (rows, max_seq_len) unless noted."""

    input_ids: torch.Tensor
    labels: torch.Tensor  # IGNORE_INDEX where a token has no target
    position_ids: torch.Tensor  # restart at 0 for each segment
    segment_ids: torch.Tensor  # int32, unique per segment within a row; padding is its own segment
    attention_mask: torch.Tensor  # bool, True on real tokens (used when rows hold one document)
    cu_seqlens: torch.Tensor  # int32 (n_segments + 1,): segment boundaries over the flattened batch
    # An upper bound on segment length for flash varlen. The row length, not the batch's actual
    # longest segment: a constant keeps torch.compile from specialising (recompiling) per batch,
    # and flash's extra blocks for shorter segments exit at once.
    max_seqlen: int
    doc_ids: list[str] = field(default_factory=list)  # documents in the batch, for diagnostics
    segments: list[tuple[str, int, int]] = field(
        default_factory=list
    )  # (doc id, start, length): provenance
    n_tokens: int = 0  # real (non-padding) tokens
    n_label_tokens: int = 0  # tokens with a target: what the loss is averaged over
    attn_pairs: int = 0  # sum over segments of L*(L+1)/2: causal query-key pairs, for FLOPs
    # Flat positions that carry a target, and those targets: computed here on the CPU so selecting
    # them on a GPU needs no device-to-host sync (boolean-mask indexing would).
    target_index: torch.Tensor | None = None
    target_labels: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        """A copy with every tensor on `device` (non-blocking from pinned memory)."""
        moved = {
            k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
            for k, v in self.__dict__.items()
        }
        return Batch(**moved)


def collate(
    rows: list[list[tuple[int, int, int]]], docs: ShardDocuments, max_seq_len: int, pad_id: int
) -> Batch:
    """Builds a micro-batch from packed rows of (document, start, length) segments.

    Args:
        rows: segments of each row, from `PackedRows.segments`.
        docs: where the tokens come from.
        max_seq_len: row length; rows are right-padded to it.
        pad_id: token id used for padding (never a target).

    Returns:
        The batch, on CPU.
    """
    n_rows = len(rows)
    input_ids = np.full((n_rows, max_seq_len), pad_id, dtype=np.int64)
    labels = np.full((n_rows, max_seq_len), IGNORE_INDEX, dtype=np.int64)
    position_ids = np.zeros((n_rows, max_seq_len), dtype=np.int64)
    segment_ids = np.zeros((n_rows, max_seq_len), dtype=np.int32)
    attention_mask = np.zeros((n_rows, max_seq_len), dtype=bool)
    seq_lens: list[int] = []
    doc_ids: list[str] = []
    provenance: list[tuple[str, int, int]] = []
    attn_pairs = 0
    for r, segments in enumerate(rows):
        at = 0
        for s, (doc, start, length) in enumerate(segments):
            tokens = docs.tokens(doc)[start : start + length]
            end = at + length
            input_ids[r, at:end] = tokens
            labels[r, at : end - 1] = tokens[1:]
            position_ids[r, at:end] = np.arange(length)
            segment_ids[r, at:end] = s
            attention_mask[r, at:end] = True
            seq_lens.append(length)
            attn_pairs += length * (length + 1) // 2
            ident = docs.doc_id(doc)
            if not doc_ids or doc_ids[-1] != ident:  # chunks of one long document are named once
                doc_ids.append(ident)
            provenance.append((ident, start, length))
            at = end
        if at < max_seq_len:  # padding: its own segment, positions from 0, no labels
            position_ids[r, at:] = np.arange(max_seq_len - at)
            segment_ids[r, at:] = len(segments)
            seq_lens.append(max_seq_len - at)
    target_index = np.flatnonzero(labels.ravel() != IGNORE_INDEX)
    cu_seqlens = np.zeros(len(seq_lens) + 1, dtype=np.int32)
    cu_seqlens[1:] = np.cumsum(seq_lens)
    return Batch(
        input_ids=torch.from_numpy(input_ids),
        labels=torch.from_numpy(labels),
        position_ids=torch.from_numpy(position_ids),
        segment_ids=torch.from_numpy(segment_ids),
        attention_mask=torch.from_numpy(attention_mask),
        cu_seqlens=torch.from_numpy(cu_seqlens),
        max_seqlen=max_seq_len,
        doc_ids=doc_ids,
        segments=provenance,
        n_tokens=int(attention_mask.sum()),
        n_label_tokens=len(target_index),
        target_index=torch.from_numpy(target_index),
        target_labels=torch.from_numpy(labels.ravel()[target_index]),
        attn_pairs=attn_pairs,
    )
