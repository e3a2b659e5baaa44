"""Toxicity: the alt-profanity-check classifier on token windows, batched across documents.

`alt-profanity-check` ships a TF-IDF vectorizer (unigrams, `(?u)\\b\\w\\w+\\b` on lowercased
text, English stop words removed, l2 norm) and a `CalibratedClassifierCV` of linear SVMs with
sigmoid calibration. It was trained on short comments, so a document is scored on fixed windows
of `window_tokens` word tokens (`quality.text`) and the window probabilities are aggregated:

- `meta["toxicity"]` is the **maximum** over windows: one abusive passage makes a document
  toxic however long the rest is (so longer documents have more chances to reach a threshold);
- `meta["toxicity_mean"]` is the mean over windows (a density, for reports and weights).

Profanity is what the model detects: it flags swearing in a friendly message and misses hostile
text in polite words. Treat the score as "contains profanity", not as harm.

Two backends give the same probabilities (tested against `predict_prob` to 1e-9):

- `linear` (default): the model is linear, so each window's probability is computed from the
  vectorizer's vocabulary and idf and the classifiers' weights with a handful of numpy calls
  for a whole batch of documents (token ids via a C-level `dict.get` map, counts via one
  `np.unique`, dot products via `np.bincount`). It reuses the document's word tokens, which
  the lexicons need anyway, instead of tokenizing every window again as sklearn would.
- `sklearn`: `vectorizer.transform` + `model.predict_proba` on the window texts, the
  reference; chosen automatically when the shipped model does not have the expected shape.

The model is loaded once per worker by `load()`, never at import or construction, so the object
pickles small. The linear backend's weights are cached as a plain `.npz` the first time
(`quality.toxicity_weights`): later loads take milliseconds and never import scikit-learn, which
costs about a CPU-second per process.
"""

from __future__ import annotations

import logging
from itertools import repeat
from typing import Literal

import numpy as np

from quality import toxicity_weights
from quality.text import word_tokens

log = logging.getLogger(__name__)

MODEL_NAME = "profanity_check_v1"
_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
_PROBES = [
    "",
    "have a nice day",
    "you are a damn idiot and this is shit",
    "The committee approved the budget for the new library building.",
    "what the hell is wrong with this stupid code",
]


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class ToxicityClassifier:
    """Scores batches of documents: (max, mean) profanity probability over token windows."""

    def __init__(
        self, window_tokens: int = 64, backend: Literal["auto", "linear", "sklearn"] = "auto"
    ) -> None:
        if window_tokens <= 0:
            raise ValueError(f"window_tokens must be > 0, got {window_tokens}")
        if backend not in ("auto", "linear", "sklearn"):
            raise ValueError(f"backend must be auto, linear or sklearn, got {backend!r}")
        self.window_tokens = window_tokens
        self.requested_backend = backend
        self.backend: str | None = None  # set by load()
        self._vectorizer = self._model = None

    # Loading ------------------------------------------------------------------------------------
    def load(self) -> ToxicityClassifier:
        """Loads the shipped model once (idempotent) and picks the backend.

        The linear backend reads the weights cached by an earlier load when there are some
        (`quality.toxicity_weights`: no scikit-learn import); else it loads the pickles, checks
        its own probabilities against scikit-learn's and caches the weights.
        """
        if self.backend is not None:
            return self
        cache = None
        if self.requested_backend != "sklearn":
            cache = toxicity_weights.cache_path()
            weights = toxicity_weights.read_cache(cache)
            if weights is not None:
                self._use(weights)
                self.backend = "linear"
                return self
        from profanity_check import profanity_check as shipped  # heavy: scikit-learn, joblib

        self._vectorizer, self._model = shipped.vectorizer, shipped.model
        self.backend = "sklearn"
        if self.requested_backend != "sklearn":
            try:
                self._prepare_linear()
                self.backend = "linear"
            except (AttributeError, ValueError, TypeError, IndexError) as exc:
                if self.requested_backend == "linear":
                    raise
                log.warning(
                    "profanity model not usable by the linear backend (%s): using sklearn", exc
                )
            else:
                toxicity_weights.write_cache(cache, self._linear)
        return self

    def _prepare_linear(self) -> None:
        vec, model = self._vectorizer, self._model
        params = vec.get_params()
        expected = {
            "analyzer": "word",
            "ngram_range": (1, 1),
            "lowercase": True,
            "token_pattern": _TOKEN_PATTERN,
            "tokenizer": None,
            "preprocessor": None,
            "strip_accents": None,
            "norm": "l2",
            "use_idf": True,
            "sublinear_tf": False,
            "binary": False,
        }
        wrong = {k: params.get(k) for k, v in expected.items() if params.get(k) != v}
        if wrong or list(model.classes_) != [0, 1] or model.method != "sigmoid":
            raise ValueError(f"unexpected model parameters {wrong or model.method}")
        self._use(toxicity_weights.from_sklearn(vec, model))
        probes = [word_tokens(t) for t in _PROBES]
        fast = self._linear_window_probs(probes)[0]
        reference = self._sklearn_window_probs(probes)[0]
        if not np.allclose(fast, reference, rtol=0, atol=1e-9):
            raise ValueError(f"linear backend disagrees with sklearn: {fast} vs {reference}")

    def _use(self, weights: toxicity_weights.LinearWeights) -> None:
        self._linear = weights
        self._vocab = weights.vocab
        self._idf = weights.idf
        self._weights = weights.weights  # (vocabulary, classifiers)
        self._intercepts = weights.intercepts
        self._slopes = weights.slopes
        self._offsets = weights.offsets

    # Scoring ------------------------------------------------------------------------------------
    def score_tokens(self, docs_tokens: list[list[str]]) -> list[tuple[float, float]]:
        """(max, mean) window probability per document, from each document's word tokens."""
        self.load()
        if not docs_tokens:
            return []
        if self.backend == "linear":
            probs, starts = self._linear_window_probs(docs_tokens)
        else:
            probs, starts = self._sklearn_window_probs(docs_tokens)
        maxima = np.maximum.reduceat(probs, starts)
        counts = np.diff(np.append(starts, len(probs)))
        means = np.add.reduceat(probs, starts) / counts
        return [(float(a), float(b)) for a, b in zip(maxima, means, strict=True)]

    def score_texts(self, texts: list[str]) -> list[tuple[float, float]]:
        """(max, mean) per document of raw texts."""
        return self.score_tokens([word_tokens(t) for t in texts])

    def _window_counts(self, docs_tokens: list[list[str]]) -> np.ndarray:
        """Windows per document: ceil(tokens / window), at least 1 (an empty document too)."""
        size = self.window_tokens
        return np.array([max(1, -(-len(t) // size)) for t in docs_tokens], dtype=np.int64)

    def _linear_window_probs(self, docs_tokens: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """(probability per window of every document, index of each document's first window)."""
        size, vocab = self.window_tokens, self._vocab
        n_windows = self._window_counts(docs_tokens)
        starts = np.concatenate(([0], np.cumsum(n_windows)[:-1]))
        windows, columns = [], []
        for first, tokens in zip(starts, docs_tokens, strict=True):
            ids = np.fromiter(map(vocab.get, tokens, repeat(-1)), dtype=np.int64, count=len(tokens))
            known = np.flatnonzero(ids >= 0)
            windows.append(first + known // size)
            columns.append(ids[known])
        total = int(n_windows.sum())
        window = np.concatenate(windows) if windows else np.zeros(0, np.int64)
        column = np.concatenate(columns) if columns else np.zeros(0, np.int64)
        n_vocab = len(self._idf)
        keys, tf = np.unique(window * n_vocab + column, return_counts=True)
        window, column = keys // n_vocab, keys % n_vocab
        tfidf = tf * self._idf[column]
        norm = np.sqrt(np.bincount(window, tfidf * tfidf, minlength=total))
        norm[norm == 0] = 1.0  # an empty window is the zero vector: decision = intercept
        contributions = tfidf[:, None] * self._weights[column]
        probs = np.zeros(total)
        for k in range(self._weights.shape[1]):
            decision = (
                np.bincount(window, contributions[:, k], minlength=total) / norm
                + self._intercepts[k]
            )
            probs += _expit(-(self._slopes[k] * decision + self._offsets[k]))
        return probs / self._weights.shape[1], starts

    def _sklearn_window_probs(self, docs_tokens: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        size = self.window_tokens
        n_windows = self._window_counts(docs_tokens)
        starts = np.concatenate(([0], np.cumsum(n_windows)[:-1]))
        texts = []
        for tokens, count in zip(docs_tokens, n_windows, strict=True):
            texts.extend(" ".join(tokens[k * size : (k + 1) * size]) for k in range(count))
        probs = self._model.predict_proba(self._vectorizer.transform(texts))[:, 1]
        return np.asarray(probs, dtype=np.float64), starts
