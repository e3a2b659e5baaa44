"""Corpus statistics with mergeable sketches (Beam-free; Beam wrappers live in `stats.beam_combiners`)."""

from transforms.stats.distinct import DistinctCounter
from transforms.stats.heavy_hitters import CountMinSketch, HeavyHitters, MisraGries
from transforms.stats.ngrams import batch_ngrams, split_words, text_ngrams
from transforms.stats.quantiles import LinearBinQuantiles, LogBinQuantiles
from transforms.stats.shard_stats import ShardStats
from transforms.stats.token_counts import TokenFrequencies

__all__ = [
    "CountMinSketch",
    "DistinctCounter",
    "HeavyHitters",
    "LinearBinQuantiles",
    "LogBinQuantiles",
    "MisraGries",
    "ShardStats",
    "TokenFrequencies",
    "batch_ngrams",
    "split_words",
    "text_ngrams",
]
