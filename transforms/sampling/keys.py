"""Efraimidis–Spirakis priority keys for weighted sampling without replacement.

Efraimidis & Spirakis (2006), "Weighted random sampling with a reservoir": give item i the key
u_i ** (1 / w_i) with u_i uniform on (0, 1) and keep the items with the largest keys; the kept set
is a weighted sample without replacement. We use the logarithm, `log(u) / w`, which orders the same
and does not underflow.

Two properties matter for a distributed pipeline:

- u comes from a seeded 64-bit hash of the document id, not from a random generator, so a key
  depends only on (id, weight, seed): the same on every worker, in any bundle, on every rerun.
- The selection needs only the order of the keys. `log_priority_key` gives the same order in
  log-weight space: `log(w) - log(-log(u))` (the Gumbel-max form that DSIR uses for its
  importance resampling), which stays finite for weights such as exp(5000) that overflow a float.

Weight <= 0, NaN, or log-weight -inf/NaN gives the key -inf: such a document is never selected
(the selector does not even keep it as a candidate).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import xxhash

_MASK64 = (1 << 64) - 1
_SCALE = 2.0**-52  # u = (top 52 bits + 0.5) * 2**-52 lies in [2**-53, 1 - 2**-53]


def derive_seed(seed: int, purpose: str) -> int:
    """A 64-bit hash seed for one purpose ("select", "split", ...) so their draws are independent."""
    return xxhash.xxh3_64_intdigest(f"{int(seed)}:{purpose}".encode())


def uniform_from_id(doc_id: str, seed: int) -> float:
    """Maps (id, seed) to a float strictly inside (0, 1), the same on every machine.

    The top 52 bits of xxh3-64 plus one half, scaled by 2**-52: every value is exactly
    representable, the smallest is 2**-53 and the largest 1 - 2**-53, so log(u) is finite and < 0.
    """
    h = xxhash.xxh3_64_intdigest(doc_id.encode("utf-8", "surrogatepass"), seed=seed & _MASK64)
    return ((h >> 12) + 0.5) * _SCALE


def uniforms_from_ids(doc_ids: Iterable[str], seed: int) -> np.ndarray:
    """Vectorised `uniform_from_id` (the hashing itself is one C call per id)."""
    s = seed & _MASK64
    hashes = np.fromiter(
        (xxhash.xxh3_64_intdigest(i.encode("utf-8", "surrogatepass"), seed=s) for i in doc_ids),
        dtype=np.uint64,
    )
    return ((hashes >> np.uint64(12)).astype(np.float64) + 0.5) * _SCALE


def priority_key(doc_id: str, weight: float, seed: int) -> float:
    """The Efraimidis–Spirakis key log(u) / w; larger keys are selected first.

    Args:
        doc_id: document id (the only source of randomness).
        weight: sampling weight; <= 0 or NaN means never selected (returns -inf).
        seed: sampling seed.
    """
    if not weight > 0:  # also catches NaN
        return -math.inf
    return math.log(uniform_from_id(doc_id, seed)) / weight


def priority_keys(doc_ids: Iterable[str], weights: np.ndarray, seed: int) -> np.ndarray:
    """Vectorised `priority_key` over an array of weights (same order as `doc_ids`)."""
    w = np.asarray(weights, dtype=np.float64)
    logu = np.log(uniforms_from_ids(doc_ids, seed))
    with np.errstate(divide="ignore", invalid="ignore"):
        keys = logu / w
    keys[~(w > 0)] = -np.inf
    return keys


def log_priority_key(doc_id: str, log_weight: float, seed: int) -> float:
    """The same order as `priority_key(doc_id, exp(log_weight), seed)`, computed in log space.

    -log(-x) is increasing on x < 0, and -log(-log(u) / w) = log(w) - log(-log(u)).
    """
    if math.isnan(log_weight) or log_weight == -math.inf:
        return -math.inf
    return log_weight - math.log(-math.log(uniform_from_id(doc_id, seed)))


def log_priority_keys(doc_ids: Iterable[str], log_weights: np.ndarray, seed: int) -> np.ndarray:
    """Vectorised `log_priority_key`."""
    lw = np.asarray(log_weights, dtype=np.float64)
    gumbel = -np.log(-np.log(uniforms_from_ids(doc_ids, seed)))
    keys = lw + gumbel
    keys[np.isnan(lw) | (lw == -np.inf)] = -np.inf
    return keys
