"""The Beam wrappers give what the Beam-free sketches give, on the FnApiRunner."""

from __future__ import annotations

from collections import Counter

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from quality.report_config import StatsConfig
from tests.stats.test_shard_stats import CFG, VOCAB, make_table
from transforms.stats import DistinctCounter, ShardStats, text_ngrams
from transforms.stats.beam_combiners import DistinctCountFn, ExactTopNGrams, MergeShardStats


def test_combiners_in_a_pipeline():
    table = make_table(90, seed=5)
    parts = []
    for start in range(0, 90, 20):
        s = ShardStats(CFG, VOCAB)
        s.add_table(table.slice(start, 20))
        parts.append(s)
    expected_stats = ShardStats.merge_all(CFG, VOCAB, parts).to_json()
    texts = ["b a b a", "a b c", "c c c", "a b"]
    grams = Counter(g for t in texts for g in text_ngrams(t, 2))
    expected_top = sorted(grams.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    words = [f"w{i % 250}" for i in range(1000)]
    counter = DistinctCounter(12)
    for w in words:
        counter.add(w)
    assert abs(counter.count() - 250) <= 5

    with TestPipeline(runner="FnApiRunner") as p:
        stats = (
            p
            | "Shards" >> beam.Create(parts)
            | "Merge" >> beam.CombineGlobally(MergeShardStats(CFG, VOCAB))
        )
        assert_that(stats, equal_to([expected_stats]), label="Stats")
        top = p | "Texts" >> beam.Create(texts) | ExactTopNGrams(n=2, k=3)
        assert_that(top, equal_to([expected_top]), label="Top")
        distinct = p | "Words" >> beam.Create(words) | beam.CombineGlobally(DistinctCountFn(12))
        assert_that(distinct, equal_to([counter.count()]), label="Distinct")


def test_exact_top_ngrams_validates_arguments():
    try:
        ExactTopNGrams(n=0)
    except ValueError as exc:
        assert "n and k" in str(exc)
    else:
        raise AssertionError("n=0 accepted")
    assert StatsConfig(ngram_n=0).validate()
