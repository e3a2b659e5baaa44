"""Corpus statistics computed where the texts already are, as mergeable accumulators.

Shard writers feed every written shard's rows (with texts) to the accumulators named by
`writer_accumulators`; stage 2 feeds every sampling candidate to `pool_accumulator` (the DSIR
diagnostic's random-selection baseline). Accumulators are merged per name by a combiner (each is
a fixed-size sketch or a hashed n-gram count vector: bounded), and `finish_stats` turns them into
`stats.json` sections in the Finalize step.
"""

from __future__ import annotations


class Factory:
    """A picklable zero-argument constructor (lambdas over config objects pickle poorly)."""

    def __init__(self, cls, *args) -> None:
        self.cls, self.args = cls, args

    def __call__(self):
        return self.cls(*self.args)


def writer_accumulators(cfg, vocab_size: int, dsir_scorer=None) -> dict:
    """Mergeable accumulators fed every written shard (with texts): name -> factory."""
    out: dict = {}
    if cfg.stats.enabled:
        from transforms.stats.shard_stats import ShardStats

        out["corpus"] = Factory(ShardStats, cfg.stats, vocab_size)
    drift = cfg.sampling.drift
    if drift.enabled:
        from transforms.sampling.ngrams import NgramHasher
        from transforms.stages.text_features import SourceFeatures

        hasher = NgramHasher(drift.buckets, drift.ngram_orders, drift.hash_seed)
        out["drift"] = Factory(SourceFeatures, hasher)
    if dsir_scorer is not None:
        from transforms.stages.text_features import SourceFeatures

        out["dsir_selected"] = Factory(SourceFeatures, dsir_scorer.hasher, False)
    return out


def pool_accumulator(dsir_scorer=None):
    """Features of every sampling candidate: the DSIR diagnostic's random-selection baseline."""
    if dsir_scorer is None:
        return None
    from transforms.stages.text_features import SourceFeatures

    return Factory(SourceFeatures, dsir_scorer.hasher, False)


def finish_stats(cfg, stats: dict, accs: dict, dsir_scorer=None) -> dict:
    """Turns the merged accumulators into stats.json sections (in the Finalize step)."""
    if "corpus" in accs:
        stats["corpus"] = accs["corpus"].to_json()
    drift = cfg.sampling.drift
    if "drift" in accs:
        from transforms.sampling.drift import distribution_entry, drift_report

        feats = accs["drift"]
        entry = distribution_entry(feats.overall(), feats.by_source)
        stats.setdefault("sampling", {})["ngram_distribution"] = entry
        stats["drift"] = drift_report(entry, drift.previous_stats, drift.top_moved)
    if "dsir_selected" in accs and "pool" in accs and dsir_scorer is not None:
        from transforms.sampling.dsir import kl_diagnostic

        kl = kl_diagnostic(dsir_scorer, accs["dsir_selected"].overall(), accs["pool"].overall())
        stats.setdefault("sampling", {})["dsir"] = {
            **dsir_scorer.describe(),
            "kl": kl,
            "baseline": "all sampling candidates (what a uniform random selection matches in expectation)",
        }
    return stats
