"""GroupByKeyOnDisk: the same groups as GroupByKey, through files on the local runner."""

import os
import random

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.disk_group import GroupByKeyOnDisk


def _normalized(groups):
    return sorted(((k, sorted(vs, key=repr)) for k, vs in groups), key=repr)


def _data():
    rng = random.Random(7)
    keys = [rng.randrange(2**63) for _ in range(300)] + ["text-key", b"bytes-key", (1, "t")]
    return [
        (rng.choice(keys), (f"id{i}", "src", rng.randbytes(rng.randrange(0, 600)), (0.5, i)))
        for i in range(5000)
    ]


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
    written = [f for _, _, files in os.walk(tmp_path) for f in files]
    assert written and all(f.startswith("part-") for f in written)  # it really went to disk


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
