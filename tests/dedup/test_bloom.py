"""Bloom filter: membership, FPR, union, persistence and its error messages."""

import numpy as np
import pytest

from transforms.dedup.bloom import BloomFilter, BloomFormatError, bloom_size


def _keys(start, n):
    return [i.to_bytes(16, "little") for i in range(start, start + n)]


def test_no_false_negatives_and_fpr_near_configured():
    bloom = BloomFilter.for_capacity(20_000, 0.01, seed=3)
    assert bloom.add_many(_keys(0, 20_000)) >= 19_700  # a few keys look present already
    assert bloom.contains_many(_keys(0, 20_000)).all()
    fpr = bloom.contains_many(_keys(10**9, 50_000)).mean()
    assert 0.0075 <= fpr <= 0.0125, fpr
    assert abs(bloom.expected_fpr() - 0.01) < 0.003


def test_uint64_keys_equal_their_little_endian_bytes():
    bloom = BloomFilter.for_capacity(1000, 0.01)
    arr = np.arange(500, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    bloom.add_many(arr)
    assert bloom.contains_many([int(x).to_bytes(8, "little") for x in arr]).all()
    assert bloom.contains_many(arr).all()
    with pytest.raises(TypeError):
        bloom.contains_many(np.zeros(3, dtype=np.float64))


def test_union_holds_both_and_refuses_other_shapes():
    a = BloomFilter.for_capacity(5000, 0.01)
    b = BloomFilter.for_capacity(5000, 0.01)
    a.add_many(_keys(0, 1000))
    b.add_many(_keys(5000, 1000))
    u = a.union(b)
    assert u.contains_many(_keys(0, 1000)).all() and u.contains_many(_keys(5000, 1000)).all()
    assert u.n == a.n + b.n
    with pytest.raises(ValueError, match="different shape"):
        a.union(BloomFilter.for_capacity(5000, 0.01, seed=1))


def test_save_load_round_trip(tmp_path):
    bloom = BloomFilter.for_capacity(3000, 0.001, seed=9)
    bloom.add_many(_keys(0, 3000))
    path = tmp_path / "sub" / "release.bloom"
    bloom.save(path)
    back = BloomFilter.load(path)
    assert (back.m, back.k, back.seed, back.n) == (bloom.m, bloom.k, bloom.seed, bloom.n)
    assert (back.bits == bloom.bits).all()
    assert back.contains_many(_keys(0, 3000)).all()
    assert [p.name for p in path.parent.iterdir()] == ["release.bloom"]  # no temp file left


def test_load_errors_say_what_is_wrong(tmp_path):
    data = BloomFilter.for_capacity(100, 0.01).to_bytes()
    cases = {
        "magic": b"NOTBLOOM" + data[8:],
        "version 2": data[:8] + (2).to_bytes(4, "little") + data[12:],
        "truncated": data[:-8],
        "checksum": data[:-1] + bytes([data[-1] ^ 1]),
        "shorter than a Bloom header": data[:20],
    }
    for message, blob in cases.items():
        path = tmp_path / "f.bloom"
        path.write_bytes(blob)
        with pytest.raises(BloomFormatError, match=message):
            BloomFilter.load(path)


def test_sizing_follows_the_textbook_formula():
    m, k = bloom_size(1_000_000, 0.01)
    assert 9_585_000 <= m <= 9_586_000 + 64 and k == 7
