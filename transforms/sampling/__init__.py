"""Sampling: which documents go to the shards (weighted, under a token budget, mixed by source),
DSIR importance weights, the held-out eval split, and n-gram drift between runs.

Pure algorithms (no Beam): keys, weights, budget, mixture, split, ngrams, feature_counts, dsir,
drift, selection, threshold. Beam transforms: select (`SelectDocuments`) and text_transforms
(`ScoreDsir`, `DsirFeatureKL`, `NgramDrift`, `HashedFeatureCounts`).
"""

from transforms.sampling.budget import BudgetSelector, Entry, take_within_budget, window_tokens
from transforms.sampling.candidate import Candidate
from transforms.sampling.config import DriftConfig, DsirConfig, SamplingConfig
from transforms.sampling.drift import (
    STATS_KEY,
    compare_runs,
    compare_sources,
    distribution_entry,
    drift_report,
    jensen_shannon,
)
from transforms.sampling.dsir import SCORER_NAME, DsirScorer, feature_kl, kl_diagnostic
from transforms.sampling.feature_counts import FeatureCounts
from transforms.sampling.keep_all import KeepAll
from transforms.sampling.keys import (
    log_priority_key,
    log_priority_keys,
    priority_key,
    priority_keys,
    uniform_from_id,
)
from transforms.sampling.mixture import allocate_budget, split_by_shares
from transforms.sampling.ngrams import FEATURES_VERSION, NgramHasher
from transforms.sampling.select import SelectDocuments, WeighCandidates
from transforms.sampling.selection import SelectionPlan, finalize
from transforms.sampling.split import EvalSplitter, assign_split
from transforms.sampling.targets import TargetSample, fit_dsir_scorer, load_target_texts
from transforms.sampling.text_transforms import (
    DsirFeatureKL,
    HashedFeatureCounts,
    NgramDrift,
    ScoreDsir,
)
from transforms.sampling.weights import WeightExpression, WeightExpressionError

__all__ = [
    "FEATURES_VERSION",
    "SCORER_NAME",
    "STATS_KEY",
    "BudgetSelector",
    "Candidate",
    "DriftConfig",
    "DsirConfig",
    "DsirFeatureKL",
    "DsirScorer",
    "Entry",
    "EvalSplitter",
    "FeatureCounts",
    "HashedFeatureCounts",
    "KeepAll",
    "NgramDrift",
    "NgramHasher",
    "SamplingConfig",
    "ScoreDsir",
    "SelectDocuments",
    "SelectionPlan",
    "TargetSample",
    "WeighCandidates",
    "WeightExpression",
    "WeightExpressionError",
    "allocate_budget",
    "assign_split",
    "compare_runs",
    "compare_sources",
    "distribution_entry",
    "drift_report",
    "feature_kl",
    "finalize",
    "fit_dsir_scorer",
    "jensen_shannon",
    "kl_diagnostic",
    "load_target_texts",
    "log_priority_key",
    "log_priority_keys",
    "priority_key",
    "priority_keys",
    "split_by_shares",
    "take_within_budget",
    "uniform_from_id",
    "window_tokens",
]
