"""Rolling hashes from many threads at once: the shared table of powers must never be too short.

Beam runs bundles on threads (Dataflow: many per process). The table of powers is a module-level
cache grown on demand; a thread that grew it must hash with what it built, even while another
thread hashes a shorter buffer.
"""

import threading

import numpy as np

from transforms.dedup import rolling

SIZES = [70_000, 300_000, 1_100_000, 90_000, 650_000, 2_000_000, 80_000, 1_500_000]
ROUNDS = 12


def _hash_all(buf: np.ndarray) -> np.ndarray:
    n = len(buf)
    starts = np.array([0, n // 3, n - 17, n - 1], dtype=np.int64)
    ends = np.array([n, n - 5, n, n], dtype=np.int64)
    return rolling.span_hashes(buf, starts, ends)


def test_span_hashes_from_many_threads_match_one_thread():
    rng = np.random.default_rng(0)
    bufs = [rng.integers(0, 256, size=n, dtype=np.uint8) for n in SIZES]
    expected = [_hash_all(b) for b in bufs]  # one thread: the reference
    errors: list[str] = []

    def worker(i: int, barrier: threading.Barrier) -> None:
        barrier.wait()
        try:
            got = _hash_all(bufs[i])
            if not np.array_equal(got, expected[i]):
                errors.append(f"thread {i}: wrong hashes")
        except Exception as exc:  # a short table shows up as a broadcast ValueError
            errors.append(f"thread {i}: {type(exc).__name__}: {exc}")

    for _ in range(ROUNDS):
        rolling._pow_cache.clear()  # every round grows the table from nothing, concurrently
        barrier = threading.Barrier(len(bufs))
        threads = [threading.Thread(target=worker, args=(i, barrier)) for i in range(len(bufs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
