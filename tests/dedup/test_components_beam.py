"""ConnectedComponents (large-star/small-star rounds) against the union-find reference."""

import pickle
import random

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline

from transforms.dedup.components import (
    HOT_MIN,
    connected_components,
    hot_min_to_subkeys,
    hot_salts,
    large_star,
    large_star_keys,
    node_degrees,
    star_rounds,
)
from transforms.dedup.components_beam import Components, ConnectedComponents


def _ids(rng, n):
    return [f"doc{i:07d}" for i in rng.sample(range(10**7), n)]


def _path(rng, n, ordered=False):
    nodes = _ids(rng, n)
    if ordered:
        nodes.sort()  # the slowest case: every large-star moves a label one hop
    return [(nodes[i], nodes[i + 1]) for i in range(n - 1)]


def _dump(value, path):
    with open(path, "wb") as fh:
        pickle.dump(value, fh)


def _run(edges, tmp_path, **kwargs):
    """(labels dict, rounds) from ConnectedComponents on the in-process FnApiRunner."""
    with TestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(edges) | ConnectedComponents(**kwargs)
        _ = (
            out["labels"]
            | beam.combiners.ToList()
            | "DumpLabels" >> beam.Map(_dump, str(tmp_path / "labels.pkl"))
        )
        _ = out["rounds"] | "DumpRounds" >> beam.Map(_dump, str(tmp_path / "rounds.pkl"))
    with open(tmp_path / "labels.pkl", "rb") as fh:
        pairs = pickle.load(fh)
    with open(tmp_path / "rounds.pkl", "rb") as fh:
        rounds = pickle.load(fh)
    labels = dict(pairs)
    assert len(labels) == len(pairs)  # exactly one label per node
    return labels, rounds


def _mixed_graph(rng, path_nodes):
    edges = _path(rng, path_nodes) if path_nodes else []  # a long chain
    hub, *leaves = _ids(rng, 300)
    edges += [(hub, v) for v in leaves]  # a star whose hub is not its smallest id
    nodes = _ids(rng, 600)
    edges += [(rng.choice(nodes), rng.choice(nodes)) for _ in range(500)]  # small components
    edges += [(e[1], e[0]) for e in edges[:50]] + edges[:50]  # duplicates, both orientations
    rng.shuffle(edges)
    return edges


def test_chain_star_and_small_components_match_union_find(tmp_path):
    edges = _mixed_graph(random.Random(0), 2000)
    labels, rounds = _run(edges, tmp_path, max_rounds=12)
    assert labels == connected_components(edges)
    assert 3 <= rounds <= 11


def test_salted_hot_nodes_give_the_same_labels(tmp_path):
    edges = _mixed_graph(random.Random(5), 0)
    labels, rounds = _run(edges, tmp_path, max_rounds=8, degree_cap=8)  # many split nodes
    assert labels == connected_components(edges) and rounds >= 2


def test_component_of_100k_nodes_is_one_label_and_its_hub_is_split(tmp_path):
    """A 100k-member template family (one hub: its smallest id) in one round."""
    rng = random.Random(1)
    nodes = sorted(_ids(rng, 100_000))
    edges = [(v, nodes[0]) for v in nodes[1:]]
    labels, rounds = _run(edges, tmp_path, max_rounds=1, degree_cap=5_000)  # hub: 20 sub-keys
    assert rounds == 0 and labels == dict.fromkeys(nodes, nodes[0])


def test_hot_hub_in_the_middle_of_its_family_converges_to_the_smallest_id(tmp_path):
    rng = random.Random(4)
    nodes = _ids(rng, 20_000)
    hub = nodes[0]  # random: about half of the family is smaller than the hub
    edges = [(hub, v) for v in nodes[1:]] + [(nodes[i], nodes[i + 1]) for i in range(1, 400, 2)]
    labels, rounds = _run(edges, tmp_path, max_rounds=5, degree_cap=1_000)
    assert labels == dict.fromkeys(nodes, min(nodes))
    assert 1 <= rounds <= 4


def test_salted_large_star_gives_every_sub_key_the_exact_min():
    edges = [("m", f"z{i:03d}") for i in range(40)] + [("b", "m"), ("a", "m")]
    salts = hot_salts(node_degrees(edges).items(), cap=10, table_size=8)
    assert salts == {"m": 5}
    groups, smaller = {}, []
    for e in edges:
        for k, v in large_star_keys(e, salts):
            if k[1] == HOT_MIN:
                smaller.append(v)  # to the hot node's min combiner, not copied per sub-key
            else:
                groups.setdefault(k, []).append(v)
    assert sorted(smaller) == ["a", "b"]
    for k, v in hot_min_to_subkeys(("m", min(smaller)), salts):
        groups.setdefault(k, []).append(v)
    subkeys = [k for k in groups if k[0] == "m"]
    assert len(subkeys) == 5 and max(len(groups[k]) for k in subkeys) < 40  # children spread
    out = [e for k in subkeys for e in large_star(k, groups[k])[0]]
    assert {p for c, p in out if c.startswith("z")} == {"a"}  # the exact min, in every sub-key
    assert out.count(("m", "a")) == 1  # the node's own link is emitted once


def test_rounds_grow_like_log_of_the_diameter():
    rng = random.Random(2)
    rounds = {}
    for n in (10, 100, 1_000, 10_000):
        edges = _path(rng, n, ordered=True)
        labels, rounds[n] = star_rounds(edges, max_rounds=40)
        assert labels == connected_components(edges)
    # each 10x longer path costs a few more rounds, never 10x more
    assert rounds[10] < rounds[100] < rounds[1_000] < rounds[10_000] <= rounds[10] + 12


def test_no_convergence_within_max_rounds_fails_with_a_clear_error(tmp_path):
    edges = _path(random.Random(3), 500, ordered=True)
    with pytest.raises(RuntimeError, match="did not converge in 2 rounds"):
        star_rounds(edges, max_rounds=2)
    with pytest.raises(Exception, match="did not converge in 2 rounds; raise dedup.near"):
        _run(edges, tmp_path, max_rounds=2)


def test_invalid_arguments_fail_at_construction():
    with pytest.raises(ValueError):
        ConnectedComponents(max_rounds=0)


class FakeRemoteRunner(beam.runners.runner.PipelineRunner):
    """Stands for Dataflow/Flink/Spark: only its name matters (the graph is built, not run)."""


def _labels_in_graph(runner):
    p = beam.Pipeline(runner=runner)
    _ = p | beam.Create([("a", "b")]) | "CC" >> Components("auto", max_rounds=3)
    seen = []

    class Visitor(beam.pipeline.PipelineVisitor):
        def enter_composite_transform(self, node):
            seen.append(node.full_label)

        def visit_transform(self, node):
            seen.append(node.full_label)

    p.visit(Visitor())
    return seen


def test_auto_components_are_rounds_off_this_machine_and_union_find_on_it():
    remote = _labels_in_graph(FakeRemoteRunner())
    assert "CC/Rounds" in remote and not any("UnionFind" in label for label in remote)
    local = _labels_in_graph(FnApiRunner())
    assert "CC/UnionFind" in local and "CC/Rounds" not in local
