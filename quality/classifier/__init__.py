"""A quality classifier trained on the user's own reference text (no model hub).

`train_classifier` fits a logistic regression over hashed n-grams; `save_model`/`load_model`
write and read one safetensors file with its feature config and training fingerprint; the
`classifier_v1` scorer (`quality.scorers.classifier`) applies it in the pipeline.
"""

from quality.classifier.features import FeatureConfig, HashedFeatures
from quality.classifier.model import (
    LinearModel,
    load_model,
    load_model_cached,
    metadata_from_bytes,
    model_from_bytes,
    read_metadata,
    save_model,
)
from quality.classifier.training import TrainSettings, fingerprint, train_classifier

__all__ = [
    "FeatureConfig",
    "HashedFeatures",
    "LinearModel",
    "TrainSettings",
    "fingerprint",
    "load_model",
    "load_model_cached",
    "metadata_from_bytes",
    "model_from_bytes",
    "read_metadata",
    "save_model",
    "train_classifier",
]
