"""The optional stages of the graph, each enabled by its config section.

`build_graph` calls these hooks in a fixed order; each returns its inputs unchanged when its
stage is disabled, so the graph reads as one straight line.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam


class Plugins:
    def __init__(self, cfg, plan) -> None:
        self.cfg, self.plan = cfg, plan

    @classmethod
    def from_config(cls, cfg, plan) -> Plugins:
        return cls(cfg, plan)

    def score_columns(self) -> list[str]:
        """Float32 score columns of the shards (fixed for a config)."""
        return []

    # Stage 1 -----------------------------------------------------------------------------------
    def score(self, records, rejected: list, summaries: dict):
        return records

    def reference_filters(self, records, removed_with_text: list, summaries: dict):
        return records

    def featurizer(self) -> Any:
        return None

    # Decisions ---------------------------------------------------------------------------------
    def near_dedup(self, kept, summaries: dict):
        return kept, [], []

    def boilerplate(self, lines, summaries: dict):
        return None

    def strip_boilerplate(self):
        return None

    # Sampling and statistics -------------------------------------------------------------------
    def select(self, candidates, summaries: dict):
        """(id, split) for every selected candidate: everything, all in the train split."""
        return candidates | "SelectAll" >> beam.Map(lambda c: (c[0], "train"))

    def stats_factory(self):
        return None

    def merge_stats(self, stats):
        return None

    # Training ------------------------------------------------------------------------------------
    def train_trigger(self, manifest):
        if not self.cfg.train.enabled:
            return manifest
        from pipelines.trigger import TrainAfterShards

        return manifest | "Train" >> TrainAfterShards(self.cfg.train)
