"""Deduplication: near (MinHash-LSH), boilerplate lines, cross-release Bloom, decontamination.

The methods follow one contract, `method.DedupMethod` (spill columns, featurize, decide step,
apply-time rewrite): exact.ExactMethod, boilerplate.BoilerplateMethod, near_method.NearMethod,
and user plugins (plugin.py, key_method.KeyDedupMethod); methods.dedup_methods lists the enabled
ones, features.DedupFeaturizer fills their spill columns.

Pure algorithms (no Beam import): shingles, minhash, lsh, components, clusters, rolling,
repetition, bloom, decontam, keep, audit. Beam steps: near.NearDedup,
components_beam.ConnectedComponents (large-star/small-star rounds),
resolve.ResolveComponents (survivors per component; giant ones in sub-groups and levels),
boilerplate.BoilerplateLines, reference.ApplyReferenceFilters / BloomUnion.
"""

from transforms.dedup.audit import audit_pairs, exact_jaccard
from transforms.dedup.bloom import BloomFilter, BloomFormatError, bloom_size
from transforms.dedup.clusters import Decision, Member, resolve_component
from transforms.dedup.components import UnionFind, bucket_edges, connected_components
from transforms.dedup.config import (
    BoilerplateConfig,
    CrossReleaseConfig,
    DecontaminationConfig,
    DedupConfig,
    DedupPluginConfig,
    EvalSetConfig,
    ExactDedupConfig,
    NearDedupConfig,
)
from transforms.dedup.decontam import Decontaminator
from transforms.dedup.features import DedupFeaturizer, DocFeatures
from transforms.dedup.lsh import band_hashes, optimal_bands
from transforms.dedup.method import DedupMethod, MethodDecisions
from transforms.dedup.minhash import MinHasher, estimate_jaccard
from transforms.dedup.repetition import REPETITION_FEATURES_VERSION, repetition_features
from transforms.dedup.rolling import line_hashes, strip_boilerplate, strip_boilerplate_batch
from transforms.dedup.shingles import Shingler, reference_words
from transforms.infra.hashing import content_key

__all__ = [
    "BloomFilter",
    "BloomFormatError",
    "BoilerplateConfig",
    "CrossReleaseConfig",
    "Decision",
    "DecontaminationConfig",
    "Decontaminator",
    "DedupConfig",
    "DedupFeaturizer",
    "DedupMethod",
    "DedupPluginConfig",
    "DocFeatures",
    "EvalSetConfig",
    "ExactDedupConfig",
    "Member",
    "MethodDecisions",
    "MinHasher",
    "NearDedupConfig",
    "REPETITION_FEATURES_VERSION",
    "Shingler",
    "UnionFind",
    "audit_pairs",
    "band_hashes",
    "bloom_size",
    "bucket_edges",
    "connected_components",
    "content_key",
    "estimate_jaccard",
    "exact_jaccard",
    "line_hashes",
    "optimal_bands",
    "reference_words",
    "repetition_features",
    "resolve_component",
    "strip_boilerplate",
    "strip_boilerplate_batch",
]
