"""The optional stages of the graph, each enabled by its config section.

`build_graph` calls these hooks in a fixed order; each returns its input unchanged when its
stage is disabled, so the graph reads as one straight line and each package keeps its own
transforms (quality scoring, reference filters, near dedup, boilerplate, sampling, statistics).
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam


class Plugins:
    def __init__(self, cfg, plan) -> None:
        self.cfg, self.plan = cfg, plan
        self._dsir = None
        self.audit = None  # near dedup's sampled cluster pairs, once near dedup is in the graph

    @classmethod
    def from_config(cls, cfg, plan) -> Plugins:
        return cls(cfg, plan)

    def score_columns(self) -> list[str]:
        """Float32 score columns of the shards (fixed for a config)."""
        cols: list[str] = []
        if self.cfg.quality.enabled:
            from transforms.score import score_columns

            cols += score_columns(self.cfg.quality)
        if self.cfg.sampling.dsir.enabled and "dsir" not in cols:
            cols.append("dsir")
        return cols

    # Stage 1 -----------------------------------------------------------------------------------
    def score(self, records, rejected: list, summaries: dict):
        if self.cfg.quality.enabled:
            from transforms.score import ScoreAndFilter

            scored = records | "Score" >> ScoreAndFilter(self.cfg.quality)
            rejected.append(scored["rejected"])
            summaries["quality_summary"] = scored["summary"]
            records = scored["records"]
        if self.cfg.sampling.dsir.enabled:
            from transforms.sampling.text_transforms import ScoreDsir

            records = records | "ScoreDsir" >> ScoreDsir(self.dsir_scorer())
        return records

    def dsir_scorer(self):
        """DSIR models fitted in the driver: target sample from config, raw sample from the input."""
        if self._dsir is None:
            from pipelines.run import sample_texts
            from transforms.normalize import Normalizer
            from transforms.sampling.targets import fit_dsir_scorer

            dcfg = self.cfg.sampling.dsir
            raw = sample_texts(
                self.plan.tasks,
                Normalizer.from_config(self.cfg.normalize),
                dcfg.raw_sample_docs,
                256 << 20,
            )
            self._dsir, _ = fit_dsir_scorer(dcfg, raw)
        return self._dsir

    def reference_filters(self, records, removed_with_text: list, summaries: dict):
        dcfg = self.cfg.dedup
        if not (dcfg.cross_release.previous_filter or dcfg.decontamination.eval_sets):
            return records
        from transforms.dedup.reference import ApplyReferenceFilters

        out = records | "ReferenceFilters" >> ApplyReferenceFilters(dcfg)
        removed_with_text.append(out.removed | "RefRemovedText" >> beam.Map(lambda r: (r, "")))
        return out.main

    def featurizer(self) -> Any:
        d = self.cfg.dedup
        if not (d.near.enabled or d.boilerplate.enabled):
            return None
        from transforms.dedup.features import DedupFeaturizer

        return DedupFeaturizer(d, self.cfg.run.seed)

    def release_filter(self, kept, summaries: dict) -> None:
        """This release's Bloom filter of content keys (exact-dedup survivors), for the next run."""
        ccfg = self.cfg.dedup.cross_release
        if not ccfg.write_filter:
            return
        from transforms.dedup.reference import BloomUnion

        summaries["_release_filter"] = (
            kept
            | "ReleaseKeys" >> beam.Map(lambda m: m.key)
            | "ReleaseFilter" >> beam.CombineGlobally(BloomUnion(ccfg))
        )

    # Decisions ---------------------------------------------------------------------------------
    def near_dedup(self, kept, summaries: dict):
        ncfg = self.cfg.dedup.near
        if not ncfg.enabled:
            return kept, [], []
        from transforms.dedup.near import NearCandidate, NearDedup

        keep = self.cfg.dedup.exact.keep
        rank = (lambda m: (m.quality, m.n_chars)) if keep == "quality" else (lambda m: (m.n_chars,))
        cands = kept | "NearCandidates" >> beam.Map(
            lambda m: NearCandidate(m.id, m.source, m.minhash, rank(m))
        )
        out = cands | "NearDedup" >> NearDedup(ncfg, self.cfg.run.seed)
        summaries["dedup_near_cluster_sizes"] = out["cluster_sizes"]
        self.audit = out["audit"]
        return kept, [out["removed"]], [out["clusters"]]

    def boilerplate(self, kept, summaries: dict):
        """Sorted hashes of lines found in more than min_docs of the given DocMeta's documents."""
        bcfg = self.cfg.dedup.boilerplate
        if not bcfg.enabled:
            return None
        from transforms.dedup.boilerplate import BoilerplateLines

        lines = kept | "LineHashes" >> beam.FlatMap(
            lambda m: [m.line_hashes] if m.line_hashes else []
        )
        hashes = lines | "BoilerplateLines" >> BoilerplateLines(bcfg)
        summaries["dedup_boilerplate_lines"] = hashes | "CountBoilerplate" >> beam.Map(len)
        return hashes

    def strip_boilerplate(self):
        if not self.cfg.dedup.boilerplate.enabled:
            return None
        from transforms.dedup.rolling import strip_boilerplate

        return strip_boilerplate

    # Sampling and statistics -------------------------------------------------------------------
    def select(self, candidates, summaries: dict):
        """(id, split) for every selected candidate."""
        from transforms.sampling.candidate import Candidate
        from transforms.sampling.select import SelectDocuments

        cands = candidates | "ToCandidate" >> beam.MapTuple(
            lambda i, s, n, sc: Candidate(i, s, n, sc)
        )
        out = cands | "Select" >> SelectDocuments(self.cfg.sampling, self.cfg.run.seed)
        summaries["sampling"] = out["report"]
        return out["selected"]

    def writer_accumulators(self) -> dict:
        """Mergeable accumulators fed every written shard (with texts): name -> factory."""
        out: dict = {}
        if self.cfg.stats.enabled:
            from transforms.stats.shard_stats import ShardStats

            out["corpus"] = _Factory(ShardStats, self.cfg.stats, self.plan.tokenizer.vocab_size)
        drift = self.cfg.sampling.drift
        if drift.enabled:
            from transforms.sampling.ngrams import NgramHasher
            from transforms.text_features import SourceFeatures

            hasher = NgramHasher(drift.buckets, drift.ngram_orders, drift.hash_seed)
            out["drift"] = _Factory(SourceFeatures, hasher)
        if self.cfg.sampling.dsir.enabled:
            from transforms.text_features import SourceFeatures

            out["dsir_selected"] = _Factory(SourceFeatures, self.dsir_scorer().hasher, False)
        return out

    def pool_accumulator(self):
        """Features of every sampling candidate: the DSIR diagnostic's random-selection baseline."""
        if not self.cfg.sampling.dsir.enabled:
            return None
        from transforms.text_features import SourceFeatures

        return _Factory(SourceFeatures, self.dsir_scorer().hasher, False)

    def finish_stats(self, stats: dict, accs: dict) -> dict:
        """Turns the merged accumulators into stats.json sections (in the Finalize step)."""
        if "corpus" in accs:
            stats["corpus"] = accs["corpus"].to_json()
        drift = self.cfg.sampling.drift
        if "drift" in accs:
            from transforms.sampling.drift import distribution_entry, drift_report

            feats = accs["drift"]
            entry = distribution_entry(feats.overall(), feats.by_source)
            stats.setdefault("sampling", {})["ngram_distribution"] = entry
            stats["drift"] = drift_report(entry, drift.previous_stats, drift.top_moved)
        if "dsir_selected" in accs and "pool" in accs:
            from transforms.sampling.dsir import kl_diagnostic

            scorer = self.dsir_scorer()
            kl = kl_diagnostic(scorer, accs["dsir_selected"].overall(), accs["pool"].overall())
            stats.setdefault("sampling", {})["dsir"] = {
                **scorer.describe(),
                "kl": kl,
                "baseline": "all sampling candidates (what a uniform random selection matches in expectation)",
            }
        return stats

    # Finalize ------------------------------------------------------------------------------------
    def validate_and_report(self, manifest: dict, stats: dict) -> dict:
        """Runs the Great Expectations gate and builds the HTML report (in the Finalize step)."""
        from pipelines.gate import validate_and_report

        return validate_and_report(self.cfg, self.plan.output, manifest, stats)

    # Training ------------------------------------------------------------------------------------
    def train_trigger(self, manifest):
        if not self.cfg.train.enabled:
            return manifest
        from pipelines.trigger import TrainAfterShards

        return manifest | "Train" >> TrainAfterShards(self.cfg.train)


class _Factory:
    """A picklable zero-argument constructor (lambdas over config objects pickle poorly)."""

    def __init__(self, cls, *args) -> None:
        self.cls, self.args = cls, args

    def __call__(self):
        return self.cls(*self.args)


class _Factory:
    """A picklable zero-argument constructor."""

    def __init__(self, cls, *args) -> None:
        self.cls, self.args = cls, args

    def __call__(self):
        return self.cls(*self.args)


def fs_rel(path: str, root: str) -> str:
    import os

    return os.path.relpath(path, root) if path.startswith(root) else path
