"""Quality classifier: curate's hashed n-grams + logistic regression vs a PyPI fastText build.

Same input, same split, one process: positives are the `docs` source of a demo corpus (the
"reference text"); negatives a uniform sample of (1) the whole corpus, docs included, as
`curate classifier train --config` samples them (negatives identical to a positive are dropped,
but unsampled docs stay as negatives: label noise that caps the AUC), and (2) the other sources
only (a reference that is not part of the raw corpus, as in DCLM). The held-out part is
chosen by `quality.classifier.training`'s text hash, so every model is scored on the same
held-out documents. Reported per model: held-out ROC-AUC, training CPU seconds, and scoring
throughput (MB/s per core = UTF-8 bytes of every sampled document / process CPU time).

- curate (default): word 1-2-grams hashed into 2**20, logistic regression (liblinear), as
  `curate classifier train` runs it; scoring = `LinearModel.score` in batches of 256, what the
  `classifier_v1` scorer does per batch;
- curate --chars: plus char_wb 3-5-grams in the same hashed space;
- fastText (`fasttext-numpy2-wheel`, a wheel of the archived fastText 0.9.2 with training;
  `--extra-path` points at a `pip install --target` folder): `train_supervised` with word
  bigrams and char 3-5-grams (`minn`/`maxn`), 2**20 buckets, 10 epochs, dim 32.

    python -m pipelines.demo_data --out /tmp/classify-corpus --max-bytes 40MB
    python benchmarks/bench_classifier.py --corpus /tmp/classify-corpus --extra-path /tmp/ftcand
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

from pipelines.classifier_train import sample_texts
from pipelines.config import NormalizeConfig, SourceConfig
from quality.classifier import FeatureConfig, TrainSettings, train_classifier
from quality.classifier.training import _held_out, text_digest
from transforms.stages.normalize import Normalizer


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def _rate(texts: list[str], score) -> float:
    nbytes = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
    t0 = time.process_time()
    for i in range(0, len(texts), 256):
        score(texts[i : i + 256])
    return nbytes / 1e6 / (time.process_time() - t0)


def _curate(name, pos, neg, features, all_texts, held_texts, y_held):
    t0 = time.process_time()
    model, report = train_classifier(pos, neg, TrainSettings(features=features))
    train_s = time.process_time() - t0
    auc = _auc(y_held, model.score(held_texts))
    assert abs(auc - report["auc"]) < 1e-6, "held-out split differs from train_classifier's"
    return name, auc, train_s, _rate(all_texts, model.score)


def _fasttext(extra_path, train, held_texts, y_held, all_texts):
    sys.path.insert(0, extra_path)
    import fasttext

    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        for text, label in train:
            fh.write(f"__label__{label} {' '.join(text[:10_000].split())}\n")
        path = fh.name
    t0 = time.process_time()
    model = fasttext.train_supervised(
        path, wordNgrams=2, minn=3, maxn=5, bucket=1 << 20, epoch=10, dim=32, thread=1, seed=0,
        verbose=0,
    )  # fmt: skip
    train_s = time.process_time() - t0
    os.unlink(path)

    def score(texts):
        out = []
        for t in texts:
            labels, probs = model.predict(" ".join(t[:10_000].split()), k=2)
            out.append(dict(zip(labels, probs, strict=True)).get("__label__1", 0.0))
        return np.array(out)

    auc = _auc(y_held, score(held_texts))
    return "fastText (fasttext-numpy2-wheel)", auc, train_s, _rate(all_texts, score)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--max-docs", type=int, default=3000, help="documents sampled per class")
    ap.add_argument("--extra-path", help="a pip --target folder with fasttext-numpy2-wheel")
    args = ap.parse_args(argv)
    norm = Normalizer.from_config(NormalizeConfig())
    pos = sample_texts(
        [SourceConfig("p", [f"{args.corpus}/docs-*.jsonl.gz"])], norm, args.max_docs, 0
    )
    setups = {
        "negatives: whole corpus (docs included)": [f"{args.corpus}/*.jsonl.gz"],
        "negatives: the other sources (code, man)": [
            f"{args.corpus}/code-*.jsonl.gz",
            f"{args.corpus}/man-*.jsonl.gz",
        ],
    }
    for title, globs in setups.items():
        raw = sample_texts([SourceConfig("n", globs)], norm, args.max_docs, 1)
        _one_setup(title, pos, raw, args.extra_path)


def _one_setup(title: str, pos: list[str], raw: list[str], extra_path: str | None) -> None:
    pos_d = {text_digest(t) for t in pos}
    neg = [t for t in raw if text_digest(t) not in pos_d]
    labelled = [(t, 1) for t in pos] + [(t, 0) for t in neg]
    held = [(t, y) for t, y in labelled if _held_out(t, 0, 0.2)]
    train = [(t, y) for t, y in labelled if not _held_out(t, 0, 0.2)]
    held_texts, y_held = [t for t, _ in held], np.array([y for _, y in held])
    all_texts = [t for t, _ in labelled]
    mb = sum(len(t.encode("utf-8", "surrogatepass")) for t in all_texts) / 1e6
    print(
        f"\n== {title}: {len(pos)} positives (docs), {len(neg)} negatives ({len(raw) - len(neg)} "
        f"dropped as positives), {mb:.1f} MB; held out {int(y_held.sum())} pos / "
        f"{int((1 - y_held).sum())} neg"
    )
    rows = [
        _curate(
            "curate words only (default)", pos, neg, FeatureConfig(), all_texts, held_texts, y_held
        ),
        _curate(
            "curate words+chars (--chars)",
            pos,
            neg,
            FeatureConfig(char_ngrams=(3, 5)),
            all_texts,
            held_texts,
            y_held,
        ),
    ]
    if extra_path:
        rows.append(_fasttext(extra_path, train, held_texts, y_held, all_texts))
    print(f"{'model':<34} {'AUC':>7} {'train CPU s':>12} {'score MB/s/core':>16}")
    for name, auc, train_s, rate in rows:
        print(f"{name:<34} {auc:>7.4f} {train_s:>12.1f} {rate:>16.2f}")
    base = rows[0][3]
    for name, _, _, rate in rows[1:]:
        print(f"scoring speed {name} / curate words only: {rate / base:.2f}x")


if __name__ == "__main__":
    main()
