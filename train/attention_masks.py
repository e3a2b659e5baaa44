"""The document masks of packed rows: causal attention that never crosses a segment boundary.

Shared by the attention backends (`train.attention`) and by the trials that check them against
masked SDPA (`train.attention_probe`); kept apart from both so neither imports the other back.
"""

from __future__ import annotations

from typing import Any

import torch


def document_causal_mask(segment_ids: torch.Tensor) -> torch.Tensor:
    """(B, 1, S, S) bool: query i may attend key j iff j <= i and both lie in the same segment."""
    same = segment_ids[:, :, None] == segment_ids[:, None, :]
    n = segment_ids.shape[1]
    causal = torch.ones(n, n, dtype=torch.bool, device=segment_ids.device).tril_()
    return (same & causal).unsqueeze(1)


def flex_block_mask(segment_ids: torch.Tensor) -> Any:
    """A flex `BlockMask`: causal within each segment of each row; blocks across segments skipped."""
    from torch.nn.attention.flex_attention import create_block_mask

    def mask_mod(b, h, q, k):
        return (segment_ids[b, q] == segment_ids[b, k]) & (k <= q)

    batch, n = segment_ids.shape
    return create_block_mask(mask_mod, batch, None, n, n, device=segment_ids.device)
