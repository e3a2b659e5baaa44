"""GroupByKeyOnDisk: the same groups as GroupByKey, through files on the local runner."""

import os
import random

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.infra.disk_group import GroupByKeyOnDisk


def _normalized(groups):
    return sorted(((k, sorted(vs, key=repr)) for k, vs in groups), key=repr)


def _data():
    rng = random.Random(7)
    keys = [rng.randrange(2**63) for _ in range(300)] + ["text-key", b"bytes-key", (1, "t")]
    return [
        (rng.choice(keys), (f"id{i}", "src", rng.randbytes(rng.randrange(0, 600)), (0.5, i)))
        for i in range(5000)
    ]


@pytest.mark.slow
def test_groups_through_files_equal_group_by_key(tmp_path):
    data = _data()
    want = {}
    for k, v in data:
        want.setdefault(k, []).append(v)
    with TestPipeline(runner="FnApiRunner") as p:
        grouped = (
            p
            | beam.Create(data, reshuffle=False)
            | GroupByKeyOnDisk(str(tmp_path), partitions=8)
            | beam.MapTuple(lambda k, vs: (k, list(vs)))
        )
        assert_that(
            grouped | beam.combiners.ToList() | beam.Map(_normalized),
            equal_to([_normalized(want.items())]),
        )
    # it really went to disk (a group folder was made), and each file was deleted once read
    assert [d.name for d in tmp_path.iterdir() if d.name.startswith("group-")]
    assert not [f for _, _, files in os.walk(tmp_path) for f in files]


def test_no_tmp_dir_is_a_plain_group_by_key(tmp_path):
    with TestPipeline(runner="FnApiRunner") as p:
        grouped = (
            p
            | beam.Create([("a", 1), ("b", 2), ("a", 3)])
            | GroupByKeyOnDisk(None)
            | beam.MapTuple(lambda k, vs: (k, sorted(vs)))
        )
        assert_that(grouped, equal_to([("a", [1, 3]), ("b", [2])]))
    assert not list(tmp_path.iterdir())


def test_pipeline_group_dir_drives_cogroup_distinct_and_combine(tmp_path):
    from transforms.infra.disk_group import (
        CoGroupByKeyOnDisk,
        CombinePerKeyOnDisk,
        DistinctOnDisk,
        set_group_dir,
    )

    left = [(i % 7, f"l{i}") for i in range(50)]
    right = [(i % 5, f"r{i}") for i in range(20)] + [(99, "only-right")]
    with TestPipeline(runner="FnApiRunner") as p:
        set_group_dir(p, str(tmp_path))
        a = p | "L" >> beam.Create(left)
        b = p | "R" >> beam.Create(right)
        joined = (
            {"l": a, "r": b}
            | CoGroupByKeyOnDisk()
            | beam.MapTuple(lambda k, g: (k, sorted(g["l"]), sorted(g["r"])))
        )
        want = {}
        for k, v in left:
            want.setdefault(k, ([], []))[0].append(v)
        for k, v in right:
            want.setdefault(k, ([], []))[1].append(v)
        assert_that(
            joined, equal_to([(k, sorted(l_), sorted(r)) for k, (l_, r) in want.items()]), "join"
        )
        dups = p | "D" >> beam.Create([("a", 1), ("a", 1), ("b", 2), ("a", 1)])
        assert_that(dups | DistinctOnDisk(), equal_to([("a", 1), ("b", 2)]), label="distinct")
        sums = a | beam.MapTuple(lambda k, v: (k, 1)) | CombinePerKeyOnDisk(sum)
        assert_that(sums, equal_to([(k, len(v[0])) for k, v in want.items() if v[0]]), "sum")
    assert any(tmp_path.glob("group-*")) and not any(tmp_path.rglob("part-*"))  # read, deleted


def test_local_shuffle_setting_is_validated():
    from pipelines.config import RunConfig

    assert RunConfig(local_shuffle="disk").validate() == []
    assert any("local_shuffle" in p for p in RunConfig(local_shuffle="ram").validate())
