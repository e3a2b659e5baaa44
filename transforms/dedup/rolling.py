"""Polynomial rolling hashes (Rabin–Karp) over byte spans and token windows, vectorised.

A span's hash is `sum_j (b_j + 1) * B^(j - start) mod 2^64` over its UTF-8 bytes, computed for
every span of a buffer at once from one prefix sum: `P[i] = sum_{j<i} (b_j + 1) B^j`, so
`hash(s, e) = (P[e] - P[s]) * B^-s` (B is odd, hence invertible mod 2^64). Token windows
(n-grams) combine token hashes the same way with Horner's rule, n vector passes, no Python loop
per window. Every output goes through the MurmurHash3 64-bit finalizer, so equal inputs give
equal hashes and unequal ones look independent. Arithmetic mod 2^64 is what numpy's uint64
wraparound gives; its known weakness (Thue–Morse strings of length >= ~2^11 collide for any odd
base) only matters for adversarial input and costs at most one wrongly merged line or shingle.

Uses in this package: word hashes for MinHash shingles (`transforms.dedup.shingles`), per-document
line hashes and boilerplate stripping (below), n-grams for decontamination and repetition
features.
"""

from __future__ import annotations

import itertools
import threading

import numpy as np

_M64 = (1 << 64) - 1
BASE = 0x9E3779B97F4A7C15  # odd 64-bit constant (2^64 / golden ratio)
BASE_INV = pow(BASE, -1, 1 << 64)
WINDOW_BASE = 0xC2B2AE3D27D4EB4F  # odd; a different base for token windows than for bytes
_LEN_SALT = 0x165667B19E3779F9

_U64 = np.uint64
# {"tables": (B^i, B^-i)}: grown only under the lock, replaced as one tuple, never shortened.
_pow_cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
_pow_lock = threading.Lock()


def fmix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer (a bijection with full avalanche), element-wise."""
    x = np.asarray(x, dtype=np.uint64)
    x = x ^ (x >> _U64(33))
    x = x * _U64(0xFF51AFD7ED558CCD)
    x = x ^ (x >> _U64(33))
    x = x * _U64(0xC4CEB9FE1A85EC53)
    return x ^ (x >> _U64(33))


def fmix64_int(x: int) -> int:
    """Scalar `fmix64` on a Python int (reference implementation for tests and small inputs)."""
    x &= _M64
    x ^= x >> 33
    x = (x * 0xFF51AFD7ED558CCD) & _M64
    x ^= x >> 33
    x = (x * 0xC4CEB9FE1A85EC53) & _M64
    return x ^ (x >> 33)


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """B^0..B^(n-1) and B^-0..B^-(n-1) mod 2^64, from a cache grown by doubling.

    Thread-safe: Beam runs bundles on threads, so the tables are read once into a local, grown
    under a lock, and a caller always slices the tables it read or built itself (a second read of
    the cache could see another thread's different tables).
    """
    tables = _pow_cache.get("tables")
    if tables is None or len(tables[0]) < n:
        with _pow_lock:
            tables = _pow_cache.get("tables")
            if tables is None or len(tables[0]) < n:
                size = max(n, 2 * (0 if tables is None else len(tables[0])), 1 << 16)
                fwd = np.full(size, BASE, dtype=np.uint64)
                fwd[0] = 1
                inv = np.full(size, BASE_INV, dtype=np.uint64)
                inv[0] = 1
                # cumprod on uint64 wraps modulo 2^64, which is exactly the ring we hash in.
                tables = (np.cumprod(fwd, dtype=np.uint64), np.cumprod(inv, dtype=np.uint64))
                _pow_cache["tables"] = tables
    fwd, inv = tables
    return fwd[:n], inv[:n]


def span_hashes(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Hashes of the byte spans `buf[starts[i]:ends[i]]`, all at once.

    Args:
        buf: uint8 array (e.g. `np.frombuffer(text.encode(), np.uint8)`).
        starts: span starts (int64), any order; spans may overlap.
        ends: span ends (exclusive), `ends >= starts`.

    Returns:
        uint64 array, one hash per span; equal byte strings always give equal hashes.
    """
    n = len(buf)
    fwd, inv = _powers(n + 1)
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum((buf.astype(np.uint64) + _U64(1)) * fwd[:n], out=prefix[1:])
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    raw = (prefix[ends] - prefix[starts]) * inv[starts]
    return fmix64(raw + (ends - starts).astype(np.uint64) * _U64(_LEN_SALT))


def span_hash_int(data: bytes) -> int:
    """Scalar reference of `span_hashes` for one byte string."""
    h, p = 0, 1
    for byte in data:
        h = (h + (byte + 1) * p) & _M64
        p = (p * BASE) & _M64
    return fmix64_int(h + len(data) * _LEN_SALT)


def window_hashes(values: np.ndarray, n: int) -> np.ndarray:
    """Hashes of every window of `n` consecutive values (len(values) - n + 1 of them).

    `W_i = sum_{k<n} values[i+k] * C^(n-1-k) mod 2^64`, finalized with the window length, so a
    window of n tokens never equals a window of another length by construction.
    """
    values = np.asarray(values, dtype=np.uint64)
    count = len(values) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    acc = np.zeros(count, dtype=np.uint64)
    mult = _U64(WINDOW_BASE)
    for k in range(n):  # Horner's rule: n vector passes, not a loop over windows
        acc *= mult
        acc += values[k : k + count]
    return fmix64(acc + _U64((n * _LEN_SALT) & _M64))


def window_hash_int(values: list[int]) -> int:
    """Scalar reference of `window_hashes` for one window."""
    acc = 0
    for v in values:
        acc = (acc * WINDOW_BASE + v) & _M64
    return fmix64_int(acc + len(values) * _LEN_SALT)


# Bytes of texts hashed in one vector pass by `strip_boilerplate_batch`: large enough that numpy's
# per-call cost vanishes, small enough that the B^i tables (16 B per byte) stay a few MB.
_CHUNK_BYTES = 1 << 18


def _line_bounds(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per "\\n"-separated line: its stripped start and end (equal when the line is blank).

    Works on the runs of non-blank bytes (about one per word), not on every byte: a run never
    crosses a line break, so a line's stripped start is the start of the first run ending after
    the line's start, and its stripped end the end of the last run starting before its end.
    """
    n = len(buf)
    newlines = np.flatnonzero(buf == 10)
    starts = np.empty(len(newlines) + 1, dtype=np.int64)
    starts[0] = 0
    starts[1:] = newlines + 1
    ends = np.empty(len(newlines) + 1, dtype=np.int64)
    ends[:-1] = newlines
    ends[-1] = n
    # Blank: the bytes str.strip() removes in ASCII (9, 11, 12, 13, 32; lines are stripped
    # before hashing) and the line break (10). Compared, not looked up: 3x cheaper per byte.
    solid = (buf != 32) & ((buf - np.uint8(9)) > 4)
    edges = np.flatnonzero(np.diff(solid.view(np.int8), prepend=np.int8(0), append=np.int8(0)) != 0)
    if len(edges) == 0:  # no line holds a non-blank byte
        return starts, starts.copy()
    run_starts, run_ends = edges[0::2], edges[1::2]  # runs alternate: start, end, start, ...
    first = np.searchsorted(run_ends, starts, side="right")
    last = np.searchsorted(run_starts, ends) - 1
    empty = first > last
    s = np.where(empty, starts, run_starts[np.minimum(first, len(run_starts) - 1)])
    e = np.where(empty, starts, run_ends[np.maximum(last, 0)])
    return s, e


def _stripped_lines(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per "\\n"-separated line: stripped start, stripped end, and its length in characters."""
    s, e = _line_bounds(buf)
    # Characters = bytes that do not continue a UTF-8 sequence (0b10xxxxxx); their positions,
    # not a per-byte running count (few in most texts).
    cont = np.flatnonzero((buf & 0xC0) == 0x80)
    chars = (e - s) - (np.searchsorted(cont, e) - np.searchsorted(cont, s))
    return s, e, chars


def line_hashes(text: str, min_line_chars: int = 40) -> np.ndarray:
    """Distinct hashes of the document's non-trivial lines, sorted.

    A line is the text between two "\\n"; it is stripped of ASCII blanks at both ends and kept
    when at least `min_line_chars` characters remain. Equal stripped lines hash equally in every
    document, which is what corpus-wide line counting (`BoilerplateLines`) needs.
    """
    buf = np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    if len(buf) == 0:
        return np.zeros(0, dtype=np.uint64)
    s, e, chars = _stripped_lines(buf)
    keep = chars >= min_line_chars
    return np.unique(span_hashes(buf, s[keep], e[keep]))


def strip_boilerplate(text: str, sorted_hashes: np.ndarray) -> tuple[str, int]:
    """Removes every line whose stripped-line hash is in `sorted_hashes`.

    Args:
        text: a document.
        sorted_hashes: sorted uint64 array of boilerplate line hashes (`BoilerplateLines`).

    Returns:
        (text without those lines, number of lines removed). Other lines keep their exact bytes
        and order (C4 / RefinedWeb style line removal).
    """
    return strip_boilerplate_batch([text], sorted_hashes)[0]


def strip_boilerplate_batch(
    texts: list[str], sorted_hashes: np.ndarray, chunk_bytes: int = _CHUNK_BYTES
) -> list[tuple[str, int]]:
    """`strip_boilerplate` of each text, hashing the lines of many texts in one vector pass.

    Texts are joined by "\\n" (the lines of the join are the texts' lines, in order) in chunks
    of about `chunk_bytes`, so numpy's per-call cost is paid per chunk, not per document (most
    documents lose no line; stage 2 strips every surviving one). A text that loses no line is
    returned as the same object.
    """
    if len(sorted_hashes) == 0:
        return [(text, 0) for text in texts]
    out: list[tuple[str, int]] = []
    i = 0
    while i < len(texts):
        chunk, size = [], 0
        while i < len(texts) and (not chunk or size < chunk_bytes):
            data = texts[i].encode("utf-8", "surrogatepass")
            chunk.append(data)
            size += len(data) + 1
            i += 1
        out.extend(_strip_chunk(texts[i - len(chunk) : i], chunk, sorted_hashes))
    return out


def _strip_chunk(texts: list[str], encoded: list[bytes], sorted_hashes: np.ndarray):
    buf = np.frombuffer(b"\n".join(encoded), dtype=np.uint8)
    s, e = _line_bounds(buf)
    hashes = span_hashes(buf, s, e)
    pos = np.minimum(np.searchsorted(sorted_hashes, hashes), len(sorted_hashes) - 1)
    drop = (sorted_hashes[pos] == hashes) & (e > s)
    n_lines = np.fromiter((d.count(b"\n") + 1 for d in encoded), np.int64, len(encoded))
    first = np.zeros(len(encoded), dtype=np.int64)
    np.cumsum(n_lines[:-1], out=first[1:])
    n_drops = np.add.reduceat(drop, first, dtype=np.int64).tolist()
    for text, n_drop, a, n in zip(texts, n_drops, first.tolist(), n_lines.tolist(), strict=True):
        if n_drop == 0:
            yield text, 0
            continue
        # same line boundaries as the byte scan: "\n" is one UTF-8 byte
        kept = itertools.compress(text.split("\n"), (~drop[a : a + n]).tolist())
        yield "\n".join(kept), n_drop
