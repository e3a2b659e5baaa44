"""The profanity model's linear weights, extracted once and cached as a plain `.npz`.

`alt-profanity-check` ships its model as joblib pickles of scikit-learn objects: loading them
imports scikit-learn and much of scipy, about one CPU-second in every worker process, although
the linear backend of `quality.toxicity` only needs numbers (the vectorizer's vocabulary and
idf, the calibrated SVMs' weights, intercepts and sigmoid parameters). The first load in a
machine extracts them (`from_sklearn`, after `quality.toxicity` checked them against
scikit-learn's own probabilities) and writes them under the cache directory; later loads read
that file with `allow_pickle=False`, without importing scikit-learn. The arrays are the same
float64 values, so the probabilities are bit-identical either way (tested).

The file name carries the package's and scikit-learn's versions and the sha256 of the shipped
model files, so an upgraded or altered model, or a scikit-learn whose probabilities the weights
were not checked against, never meets a stale cache; a file that cannot be read is ignored (the
pickles are loaded again and the file rewritten). Cache directory: `$XDG_CACHE_HOME/curate/models`
(default `~/.cache`); delete it freely.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

PACKAGE = "profanity_check"
DISTRIBUTION = "alt-profanity-check"
MODEL_FILES = ("vectorizer.joblib", "model.joblib")
_ARRAYS = ("terms", "ids", "idf", "weights", "intercepts", "slopes", "offsets")


@dataclass(frozen=True)
class LinearWeights:
    """What the linear backend computes probabilities from (see `quality.toxicity`)."""

    vocab: dict[str, int]  # token -> column
    idf: np.ndarray  # (vocabulary,)
    weights: np.ndarray  # (vocabulary, classifiers)
    intercepts: np.ndarray  # (classifiers,)
    slopes: np.ndarray  # (classifiers,) sigmoid calibration a
    offsets: np.ndarray  # (classifiers,) sigmoid calibration b


def from_sklearn(vectorizer, model) -> LinearWeights:
    """The weights of the shipped `TfidfVectorizer` and `CalibratedClassifierCV` of linear SVMs."""
    weights, intercepts, slopes, offsets = [], [], [], []
    for calibrated in model.calibrated_classifiers_:
        est, (calibrator,) = calibrated.estimator, calibrated.calibrators
        weights.append(np.asarray(est.coef_, dtype=np.float64).ravel())
        intercepts.append(float(est.intercept_[0]))
        slopes.append(float(calibrator.a_))
        offsets.append(float(calibrator.b_))
    return LinearWeights(
        vocab=dict(vectorizer.vocabulary_),
        idf=np.asarray(vectorizer.idf_, dtype=np.float64),
        weights=np.stack(weights, axis=1),
        intercepts=np.array(intercepts),
        slopes=np.array(slopes),
        offsets=np.array(offsets),
    )


def cache_path() -> Path | None:
    """The cache file of the installed model (versions and content in its name); None: no model.

    Finds the package without importing it (its import loads the pickles).
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    digest = hashlib.sha256()
    try:
        for name in MODEL_FILES:
            digest.update((data / name).read_bytes())
        version = importlib.metadata.version(DISTRIBUTION)
        sklearn = importlib.metadata.version("scikit-learn")
    except (OSError, importlib.metadata.PackageNotFoundError):
        return None
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    name = f"{PACKAGE}-{version}-sklearn-{sklearn}-{digest.hexdigest()[:16]}.npz"
    return Path(xdg) / "curate" / "models" / name


def read_cache(path: Path | None) -> LinearWeights | None:
    """The cached weights, or None when there is no usable file (never raises for a bad one)."""
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in _ARRAYS}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        log.warning("ignoring the unreadable toxicity weights cache %s (%s)", path, exc)
        return None
    n_vocab = len(arrays["idf"])
    n_models = len(arrays["intercepts"])
    ids = arrays["ids"]
    if (
        arrays["weights"].shape != (n_vocab, n_models)
        or not len(arrays["slopes"]) == len(arrays["offsets"]) == n_models
        or len(arrays["terms"]) != len(ids)
        or (len(ids) and not 0 <= ids.min() <= ids.max() < n_vocab)
    ):
        log.warning("ignoring the toxicity weights cache %s: inconsistent shapes", path)
        return None
    return LinearWeights(
        vocab=dict(zip(arrays["terms"].tolist(), ids.tolist(), strict=True)),
        **{key: arrays[key] for key in ("idf", "weights", "intercepts", "slopes", "offsets")},
    )


def write_cache(path: Path | None, weights: LinearWeights) -> bool:
    """Writes the weights atomically (a temporary file, then a rename); False when it cannot.

    Skipped when a term would not survive a numpy string array (trailing NUL characters are
    dropped there): the cache must give back exactly the vocabulary it was given.
    """
    if path is None:
        return False
    terms = np.array(list(weights.vocab), dtype=str)
    ids = np.fromiter(weights.vocab.values(), dtype=np.int64, count=len(weights.vocab))
    if terms.tolist() != list(weights.vocab):
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(
                    fh,
                    terms=terms,
                    ids=ids,
                    idf=weights.idf,
                    weights=weights.weights,
                    intercepts=weights.intercepts,
                    slopes=weights.slopes,
                    offsets=weights.offsets,
                )
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        log.info("toxicity weights not cached in %s (%s)", path, exc)
        return False
    return True
