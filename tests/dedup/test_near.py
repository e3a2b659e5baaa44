"""NearDedup on the FnApiRunner: removals, no transitive loss, determinism, bad input."""

import pickle
import random

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from transforms.dedup.audit import exact_jaccard
from transforms.dedup.clusters import Member, resolve_component, shingle_set
from transforms.dedup.config import DedupConfig, NearDedupConfig
from transforms.dedup.features import DedupFeaturizer
from transforms.dedup.near import NearCandidate, NearDedup
from transforms.dedup.shingles import Shingler


def _words(rng, n):
    return [f"w{rng.randrange(10**6)}" for _ in range(n)]


def _corpus(seed=0):
    """Families of near-copies, a chain A~B~C with A !~ C, and singletons."""
    rng = random.Random(seed)
    texts = {}
    for f in range(6):
        base = _words(rng, 400)
        texts[f"fam{f}-0"] = " ".join(base)
        for k in range(1, 4):
            w = list(base)
            w[rng.randrange(400)] = "edited"
            texts[f"fam{f}-{k}"] = " ".join(w)
    # A -> B rewrites the first 26 of 400 words, B -> C the last 26: J(A,B) = J(B,C) = 0.86,
    # J(A,C) = 0.74 (exact 5-gram Jaccard), so A and C are not duplicates at 0.8.
    a = _words(rng, 400)
    b = [f"bee{i}" for i in range(26)] + a[26:]
    c = b[:-26] + [f"cee{i}" for i in range(26)]
    texts.update({"chain-a": " ".join(a), "chain-b": " ".join(b), "chain-c": " ".join(c)})
    for s in range(10):
        texts[f"single{s}"] = " ".join(_words(rng, 100))
    return texts


def _candidates(texts, rank=None, num_perm=128, sets=True):
    """Candidates as `NearDedupOverRuns` makes them: with shingle sets for verify: exact."""
    cfg = DedupConfig(near=NearDedupConfig(num_perm=num_perm))
    ids = sorted(texts)
    feats = DedupFeaturizer(cfg, seed=0).featurize([texts[i] for i in ids])
    rank = rank or {}
    shingler = Shingler()  # NearDedupConfig's shingling (word 5-grams, lowercase, no punct.)
    return [
        NearCandidate(
            i,
            "src",
            f.minhash,
            (rank.get(i, 0), len(texts[i])),
            shingle_set(shingler.hash_one(texts[i])).tobytes() if sets else None,
        )
        for i, f in zip(ids, feats, strict=True)
    ]


def _dump(items, path):
    with open(path, "wb") as fh:
        pickle.dump(items, fh)


def _run(cands, cfg, tmp_path, options=None):
    """Runs NearDedup; returns {output name: list of elements} (written to files: outputs
    cross process boundaries, so they cannot be collected in a test-module global)."""
    with TestPipeline(runner="FnApiRunner", options=options) as p:
        out = p | beam.Create(cands) | NearDedup(cfg, seed=0)
        for name in ("removed", "clusters", "cluster_sizes", "audit"):
            _ = (
                out[name]
                | f"List{name}" >> beam.combiners.ToList()
                | f"Dump{name}" >> beam.Map(_dump, str(tmp_path / f"{name}.pkl"))
            )
    result = {}
    for name in ("removed", "clusters", "cluster_sizes", "audit"):
        with open(tmp_path / f"{name}.pkl", "rb") as fh:
            result[name] = pickle.load(fh)
    return result


@pytest.mark.parametrize("verify", ["exact", "minhash"])
def test_families_collapse_chain_keeps_its_end_and_singletons_survive(tmp_path, verify):
    texts = _corpus()
    cfg = NearDedupConfig(verify=verify)
    # chain-b ranks highest: it absorbs both ends (each similar to it)
    sets = verify == "exact"
    out = _run(_candidates(texts, {"chain-b": 9}, sets=sets), cfg, tmp_path)
    removed = {r.id: r for r in out["removed"]}
    assert {"chain-a", "chain-c"} <= set(removed) and "chain-b" not in removed
    # chain-a ranks highest: B goes (similar to A), C is only similar to the removed B: kept
    out = _run(_candidates(texts, {"chain-a": 9, "chain-b": 5}, sets=sets), cfg, tmp_path)
    removed = {r.id: r for r in out["removed"]}
    assert removed["chain-b"].kept_id == "chain-a" and "chain-c" not in removed
    for f in range(6):
        family = {f"fam{f}-{k}" for k in range(4)}
        assert len(family - set(removed)) == 1  # one survivor per family
    assert not any(k.startswith("single") for k in removed)
    for r in removed.values():
        assert r.stage == "near" and r.cluster == "near:" + r.kept_id and r.similarity >= 0.8
        assert r.kept_id not in removed
    kept_in_clusters = dict(out["clusters"])
    assert all(kept_in_clusters[r.kept_id] == r.cluster for r in removed.values())
    (sizes,) = out["cluster_sizes"]
    assert sum(s * c for s, c in sizes.items()) == len(texts)
    assert sizes[4] == 6
    assert out["audit"] and all(0.0 <= a["est_jaccard"] <= 1.0 for a in out["audit"])
    if verify == "exact":  # the similarity reported is the exact one (the texts' 5-gram sets)
        expected = exact_jaccard(texts["chain-a"], texts["chain-b"])
        assert removed["chain-b"].similarity == pytest.approx(expected)
        assert all(0.0 <= a["hash_jaccard"] <= 1.0 for a in out["audit"])
        kept_pairs = [a for a in out["audit"] if a["a_kept"] and a["b"] in removed]
        assert kept_pairs and all(a["hash_jaccard"] >= 0.8 for a in kept_pairs)
    else:
        assert all("hash_jaccard" not in a for a in out["audit"])


def _member(doc_id, rank, sig, shingles=None):
    sets = None if shingles is None else np.asarray(shingles, dtype="<u4")
    return Member(doc_id, rank, np.asarray(sig, dtype=np.uint32), sets)


def test_exact_verification_decides_where_the_estimate_errs():
    """Signatures agreeing at 0.75 but sets at 0.9: a duplicate only on exact Jaccard; identical
    signatures but sets at 0.5: a duplicate only on the estimate."""
    sig = np.arange(128)
    close = np.where(np.arange(128) < 96, sig, sig + 1000)  # estimate 0.75
    near = [_member("a", 2, sig, range(100)), _member("b", 1, close, range(10, 100))]
    (_, b) = resolve_component(near, 0.8)
    assert b.kept_id == "a" and b.similarity == pytest.approx(0.9)
    assert all(d.kept for d in resolve_component([m._replace(shingles=None) for m in near], 0.8))
    far = [_member("a", 2, sig, range(100)), _member("b", 1, sig, range(50, 150))]
    assert all(d.kept for d in resolve_component(far, 0.8))  # exact J = 50/150
    (_, b) = resolve_component([m._replace(shingles=None) for m in far], 0.8)
    assert b.kept_id == "a" and b.similarity == 1.0


def test_exact_verification_refuses_candidates_without_shingle_sets(tmp_path):
    cands = [c._replace(shingles=None) for c in _candidates({"a": "x " * 50, "b": "x " * 50})]
    with pytest.raises(Exception, match="shingle sets"):
        _run(cands, NearDedupConfig(verify="exact"), tmp_path)
    out = _run(cands, NearDedupConfig(verify="minhash"), tmp_path)
    assert [r.id for r in out["removed"]] == ["b"]


def test_result_is_the_same_whatever_the_input_order_and_runner_mode(tmp_path):
    cands = _candidates(_corpus(1))
    cfg = NearDedupConfig(max_bucket=3)  # forces star edges from oversized buckets too
    first = _run(cands, cfg, tmp_path)
    shuffled = list(cands)
    random.Random(5).shuffle(shuffled)
    opts = PipelineOptions(direct_num_workers=2, direct_running_mode="multi_threading")
    second = _run(shuffled, cfg, tmp_path, options=opts)
    for key in ("removed", "clusters", "cluster_sizes"):
        assert sorted(map(repr, first[key])) == sorted(map(repr, second[key])), key
    assert first["removed"]


def test_distributed_components_give_the_local_result(tmp_path):
    """components: rounds (what distributed runners get) == the local union-find."""
    cands = _candidates(_corpus(2), {"chain-a": 9, "chain-b": 5})
    local = _run(cands, NearDedupConfig(components="local", max_bucket=3), tmp_path)
    rounds = _run(cands, NearDedupConfig(components="rounds", max_bucket=3), tmp_path)
    for key in ("removed", "clusters", "cluster_sizes", "audit"):
        assert sorted(map(repr, local[key])) == sorted(map(repr, rounds[key])), key
    assert len(local["removed"]) >= 18


def test_malformed_signatures_are_kept_not_crashed(tmp_path):
    cands = _candidates({"a": "x " * 50, "b": "x " * 50})
    cands.append(NearCandidate("bad", "src", b"\x00\x01", (0,)))
    out = _run(cands, NearDedupConfig(), tmp_path)
    assert [r.id for r in out["removed"]] == ["b"]
    assert out["cluster_sizes"] == [{1: 1, 2: 1}]


def test_invalid_config_fails_at_construction():
    with pytest.raises(ValueError, match="threshold"):
        NearDedup(NearDedupConfig(threshold=1.5))
    assert NearDedupConfig(bands=4).validate()
    assert any("verify" in p for p in NearDedupConfig(verify=True).validate())
    problems = NearDedupConfig(components="spark", max_component_rounds=0).validate()
    assert len(problems) == 2 and "components" in problems[0]
    assert np.isclose(NearDedupConfig().effective_lsh_threshold(), 0.7)


def test_audit_rows_pair_every_member_with_the_kept_one_first():
    from transforms.dedup.near_audit import audit_rows

    a = np.arange(10, dtype=np.uint32)
    b, c = a.copy(), a.copy()
    b[:2] += 100
    c[:5] += 100
    rows = audit_rows("near:x", 7, ["x", "y", "z"], [a, b, c])
    assert [(r["a"], r["b"], r["a_kept"]) for r in rows] == [
        ("x", "y", True),
        ("x", "z", True),
        ("y", "z", False),
    ]
    assert [r["est_jaccard"] for r in rows] == [0.8, 0.5, 0.7]
    assert all(r["cluster"] == "near:x" and r["cluster_size"] == 7 for r in rows)


@pytest.mark.parametrize("recent_max", [1, 2, 1 << 16])
def test_a_pair_in_several_buckets_of_a_bundle_is_sent_once_unless_forgotten(
    monkeypatch, recent_max
):
    import transforms.dedup.near as near

    monkeypatch.setattr(near, "_RECENT_MAX", recent_max)
    sig = np.arange(128, dtype="<u4").tobytes()
    cands = [tuple(NearCandidate(i, "s", sig, (1,), ref=(0, k))) for k, i in enumerate("abc")]
    fn = near._BucketEdgesFn(max_bucket=64, threshold=0.8, verify="exact")
    fn.start_bundle()
    out = []
    for key in range(3):  # the same three documents share three bands
        out += list(fn.process((key, cands)))
    pairs = [o.value[:2] for o in out if o.tag == fn.UNVERIFIED]
    members = [o.value[0] for o in out if o.tag == fn.MEMBERS]
    assert set(pairs) == {("a", "b"), ("a", "c"), ("b", "c")}
    assert set(members) == {"a", "b", "c"}
    if recent_max > 6:  # remembers everything sent: one copy each
        assert len(pairs) == 3 and len(members) == 3
    else:  # forgets: copies again, never fewer than one
        assert len(pairs) + len(members) > 6
