"""The quality classifier's model file: one safetensors file, weights plus JSON metadata.

A linear model over hashed n-grams (`quality.classifier.features`): `p = sigmoid(x . w + b)`.
The file holds two tensors (`weights`: float32[n_features], `bias`: float32[1]) and, in the
safetensors header, one JSON string under `curate_classifier` with the format version, the
feature config, the training-data fingerprint, held-out metrics and the held-out score
quantiles that turn `keep_top_fraction` into a threshold. safetensors parses no code (unlike
pickle), so a model file from anyone is safe to load.

`model_from_bytes` / `metadata_from_bytes` parse a file's bytes, wherever they were read (Beam
steps read URLs through `transforms.infra.fs`; see `quality.files`). `load_model_cached` keeps one
model per (path, content) per process, built under a lock: Beam workers run bundles on threads
and every scorer instance shares the weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quality.classifier.features import FeatureConfig, HashedFeatures
from quality.files import ReadBytes, read_local

FORMAT = "curate-classifier"
FORMAT_VERSION = 1
METADATA_KEY = "curate_classifier"


@dataclass
class LinearModel:
    """Weights, bias and metadata; `score(texts)` gives probabilities of the positive class."""

    features: FeatureConfig
    weights: np.ndarray
    bias: float
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.weights = np.asarray(self.weights, dtype=np.float32)
        self.bias = float(np.float32(self.bias))  # as stored: a loaded model scores identically
        if self.weights.shape != (self.features.n_features,):
            raise ValueError(f"weights shape {self.weights.shape} != ({self.features.n_features},)")
        self._featurizer: HashedFeatures | None = None

    @property
    def featurizer(self) -> HashedFeatures:
        if self._featurizer is None:
            self._featurizer = HashedFeatures(self.features)
        return self._featurizer

    def decision(self, texts: list[str]) -> np.ndarray:
        """Raw margins x . w + b (float64)."""
        if not texts:
            return np.zeros(0)
        x = self.featurizer.transform(texts)
        return np.asarray(x @ self.weights, dtype=np.float64) + self.bias

    def score(self, texts: list[str]) -> np.ndarray:
        """Probability of the positive class (the reference text) per text."""
        return 1.0 / (1.0 + np.exp(-self.decision(texts)))


def top_fraction_threshold(quantiles: list[float], fraction: float) -> float:
    """The score above which `fraction` of raw documents fall, from evenly spaced quantiles."""
    if not quantiles:
        raise ValueError("no raw-score quantiles in the model (trained without raw negatives?)")
    grid = np.linspace(0.0, 1.0, len(quantiles))
    return float(np.interp(1.0 - fraction, grid, np.asarray(quantiles, dtype=np.float64)))


def save_model(model: LinearModel, path: str) -> None:
    """Writes the model atomically (temporary name, then rename)."""
    from safetensors.numpy import save_file

    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "features": model.features.to_json(),
        **model.metadata,
    }
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    save_file(
        {"weights": model.weights, "bias": np.array([model.bias], dtype=np.float32)},
        tmp,
        metadata={METADATA_KEY: json.dumps(meta, sort_keys=True)},
    )
    os.replace(tmp, path)


def read_metadata(path: str) -> dict[str, Any]:
    """The JSON metadata alone (reads the header, not the weights); ValueError if not a model."""
    from safetensors import safe_open

    try:
        with safe_open(path, framework="numpy") as fh:
            raw = (fh.metadata() or {}).get(METADATA_KEY)
    except Exception as exc:  # noqa: BLE001 - any parse failure means "not a model file"
        raise ValueError(f"{path}: not a safetensors file ({exc})") from None
    return _check_metadata(raw, path)


def metadata_from_bytes(data: bytes, where: str = "buffer") -> dict[str, Any]:
    """The JSON metadata of a model file's bytes (header only); ValueError if not a model."""
    # A safetensors file: an 8-byte little-endian header length, then the JSON header.
    try:
        n = int.from_bytes(data[:8], "little")
        if len(data) < 8 + n:
            raise ValueError("truncated header")
        header = json.loads(data[8 : 8 + n])
        raw = (header.get("__metadata__") or {}).get(METADATA_KEY)
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"{where}: not a safetensors file ({exc})") from None
    return _check_metadata(raw, where)


def _check_metadata(raw: str | None, where: str) -> dict[str, Any]:
    if raw is None:
        raise ValueError(f"{where}: no {METADATA_KEY} metadata (not a curate classifier)")
    meta = json.loads(raw)
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{where}: format {meta.get('format')!r} v{meta.get('format_version')}, "
            f"expected {FORMAT!r} v{FORMAT_VERSION}"
        )
    return meta


def model_from_bytes(data: bytes, where: str = "buffer") -> LinearModel:
    """A model from a model file's bytes; ValueError if they are not one."""
    from safetensors.numpy import load

    meta = metadata_from_bytes(data, where)
    tensors = load(data)
    features = FeatureConfig.from_json(meta.pop("features"))
    meta.pop("format"), meta.pop("format_version")
    return LinearModel(features, tensors["weights"], float(tensors["bias"][0]), meta)


def load_model(path: str, read_bytes: ReadBytes = read_local) -> LinearModel:
    return model_from_bytes(read_bytes(path), path)


_LOCK = threading.Lock()
_CACHE: dict[tuple[str, bytes], LinearModel] = {}


def load_model_cached(path: str, read_bytes: ReadBytes = read_local) -> LinearModel:
    """One shared model per file content per process (thread-safe).

    The file is read on every call (a remote file has no cheap version stamp that every
    filesystem offers) but parsed once per content: what scorer instances share is the model.
    """
    data = read_bytes(path)
    key = (path, hashlib.blake2b(data, digest_size=16).digest())
    with _LOCK:
        model = _CACHE.get(key)
        if model is None:
            model = _CACHE[key] = model_from_bytes(data, path)
        return model
