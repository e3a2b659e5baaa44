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


# Bytes str.strip() removes in ASCII (line edges are stripped before hashing a line).
_LINE_WS = np.zeros(256, dtype=bool)
_LINE_WS[[9, 11, 12, 13, 32]] = True


def _stripped_lines(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per "\\n"-separated line: stripped start, stripped end, and its length in characters."""
    n = len(buf)
    newlines = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], newlines + 1)).astype(np.int64)
    ends = np.concatenate((newlines, [n])).astype(np.int64)
    solid = np.flatnonzero(~_LINE_WS[buf] & (buf != 10))
    if len(solid) == 0:
        return starts, starts.copy(), np.zeros(len(starts), dtype=np.int64)
    first = np.searchsorted(solid, starts)  # first non-blank byte at or after the line start
    last = np.searchsorted(solid, ends) - 1  # last non-blank byte before the line end
    s = solid[np.minimum(first, len(solid) - 1)]
    e = solid[np.clip(last, 0, len(solid) - 1)] + 1
    empty = (first > last) | (s >= ends)
    s = np.where(empty, starts, s)
    e = np.where(empty, starts, e)
    # Characters = bytes that do not continue a UTF-8 sequence (0b10xxxxxx).
    cont = np.zeros(n + 1, dtype=np.int64)
    np.cumsum((buf & 0xC0) == 0x80, out=cont[1:])
    chars = (e - s) - (cont[e] - cont[s])
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
    if len(sorted_hashes) == 0 or not text:
        return text, 0
    buf = np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    s, e, _ = _stripped_lines(buf)
    hashes = span_hashes(buf, s, e)
    pos = np.searchsorted(sorted_hashes, hashes)
    pos = np.minimum(pos, len(sorted_hashes) - 1)
    drop = (sorted_hashes[pos] == hashes) & (e > s)
    n_drop = int(drop.sum())
    if n_drop == 0:
        return text, 0
    lines = text.split("\n")  # same line boundaries as the byte scan: "\n" is one UTF-8 byte
    kept = [line for line, d in zip(lines, drop.tolist(), strict=True) if not d]
    return "\n".join(kept), n_drop
