"""The content key shared by exact dedup and the cross-release filter."""

from __future__ import annotations

import xxhash


def content_key(text: str) -> bytes:
    """16-byte XXH3-128 digest of the UTF-8 text (the normalized text, in the pipeline).

    Exact dedup groups on this key and the cross-release Bloom filter stores it, so a document
    removed as "already published" is exactly one exact dedup would call equal. 128 bits make
    an accidental collision negligible (~n^2 / 2^129) at any corpus size.
    """
    return xxhash.xxh3_128_digest(text.encode("utf-8", "surrogatepass"))
