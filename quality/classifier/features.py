"""Hashed word and character n-gram features: fastText's input layer, without a vocabulary.

Words (`\\w\\w+` tokens, lowercased) give unigrams and bigrams, optionally characters give
n-grams inside word boundaries (sklearn's `char_wb`), and all are hashed (MurmurHash3, signed)
into one space of `n_features` buckets, as fastText hashes its n-grams into shared buckets.
Each document's vector is L2-normalised, so long and short documents score on one scale. Hashing needs no
fitted state: the feature config below is the whole featurizer, stored in the model file, and
the same text gives the same vector in any process or version of sklearn's stable hashing.
Only the first `max_chars` characters are read (the cost per document stays bounded).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class FeatureConfig:
    """Everything that defines the featurizer (saved with the model)."""

    n_features: int = 1 << 20
    word_ngrams: tuple[int, int] = (1, 2)
    # Character n-grams (e.g. (3, 5)) cost ~9x the scoring time for no AUC gain on the demo
    # corpus (benchmarks/RESULTS.md, "Quality classifier"): off by default.
    char_ngrams: tuple[int, int] | None = None
    lowercase: bool = True
    max_chars: int = 10_000

    def problems(self) -> list[str]:
        out = []
        if not 1 <= self.n_features <= 1 << 26:
            out.append(f"n_features must be in [1, 2**26], got {self.n_features}")
        for name in ("word_ngrams", "char_ngrams"):
            value = getattr(self, name)
            if value is not None and not (len(value) == 2 and 1 <= value[0] <= value[1] <= 8):
                out.append(f"{name} must be (low, high) with 1 <= low <= high <= 8, got {value}")
        if self.max_chars <= 0:
            out.append(f"max_chars must be > 0, got {self.max_chars}")
        return out

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureConfig:
        char = data.get("char_ngrams")
        return cls(
            n_features=int(data["n_features"]),
            word_ngrams=tuple(data["word_ngrams"]),
            char_ngrams=tuple(char) if char is not None else None,
            lowercase=bool(data["lowercase"]),
            max_chars=int(data["max_chars"]),
        )


class HashedFeatures:
    """`transform(texts)` -> CSR matrix (len(texts), n_features), rows L2-normalised."""

    def __init__(self, cfg: FeatureConfig) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        problems = cfg.problems()
        if problems:
            raise ValueError("feature config: " + "; ".join(problems))
        self.cfg = cfg
        common = {"n_features": cfg.n_features, "lowercase": cfg.lowercase, "norm": None}
        self._vectorizers = [
            HashingVectorizer(analyzer="word", ngram_range=cfg.word_ngrams, **common)
        ]
        if cfg.char_ngrams is not None:
            self._vectorizers.append(
                HashingVectorizer(analyzer="char_wb", ngram_range=cfg.char_ngrams, **common)
            )

    def transform(self, texts: list[str]) -> sparse.csr_matrix:
        from sklearn.preprocessing import normalize

        heads = [t[: self.cfg.max_chars] for t in texts]
        total = self._vectorizers[0].transform(heads)
        for vec in self._vectorizers[1:]:
            total = total + vec.transform(heads)
        return normalize(total.astype(np.float32), norm="l2", copy=False).tocsr()
