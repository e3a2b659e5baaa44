"""Driver of `curate classifier train`: sample reference and raw text, fit, save one model file.

Positives are the user's reference text (globs of JSONL/Parquet/text files, read by the
pipeline's own readers); negatives are a uniform sample of the raw input: the sources (or the
demo corpus) of a pipeline config, or explicit globs. Both are normalized exactly as `curate
run` normalizes documents before scoring (the config's `normalize` section), so the model sees
at training time the text it will score. Sampling is a bottom-k by a seeded hash of the text:
uniform, deterministic, independent of file order, memory bounded by `max_docs`; it reads the
inputs once. The algorithm is `quality.classifier.train_classifier`.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import os
from dataclasses import dataclass

from pipelines.config import CurateConfig, NormalizeConfig, SourceConfig, load_config
from quality.classifier import FeatureConfig, TrainSettings, save_model, train_classifier
from transforms.infra.record import Record
from transforms.stages.normalize import Normalizer
from transforms.stages.readers import plan_read_tasks, read_task

log = logging.getLogger(__name__)


@dataclass
class ClassifierJob:
    """What `curate classifier train` was asked to do."""

    positives: list[str]
    out: str
    negatives: list[str] | None = None  # globs; None: the raw input of `config`
    config: str | None = None  # a pipeline YAML: its input sources and normalize settings
    max_docs: int = 5000  # per class
    settings: TrainSettings | None = None


def sample_texts(
    sources: list[SourceConfig], normalizer: Normalizer, max_docs: int, seed: int
) -> list[str]:
    """A uniform sample of up to `max_docs` normalized texts (bottom-k by keyed hash)."""
    tasks = plan_read_tasks(sources, 1 << 62, 64 << 20)
    heap: list[tuple[int, str]] = []  # (-hash, text): the max-heap of the k smallest hashes
    key = f"sample:{seed}".encode()
    for task in tasks:
        for item in read_task(task):
            if not isinstance(item, Record):
                continue
            text = normalizer(item.text)
            if not text:
                continue
            digest = hashlib.blake2b(
                text.encode("utf-8", "surrogatepass"), digest_size=8, key=key
            ).digest()
            h = int.from_bytes(digest, "big")
            if len(heap) < max_docs:
                heapq.heappush(heap, (-h, text))
            elif h < -heap[0][0]:
                heapq.heapreplace(heap, (-h, text))
    return [text for _, text in sorted(heap, key=lambda e: (-e[0], e[1]))]


def _raw_sources(cfg: CurateConfig) -> list[SourceConfig]:
    sources = list(cfg.input.sources)
    if cfg.input.demo.enabled:
        from pipelines.run import demo_sources

        sources += demo_sources(cfg, os.path.abspath(cfg.run.output))
    return sources


def run_training(job: ClassifierJob) -> dict:
    """Trains and saves the model; returns the training report (metrics, counts, paths)."""
    settings = job.settings or TrainSettings()
    cfg = load_config(job.config) if job.config else None
    normalizer = Normalizer.from_config(cfg.normalize if cfg else NormalizeConfig())
    # Raw sources first: with the demo input this builds the corpus the positives may come from.
    if job.negatives:
        neg_sources = [SourceConfig("negatives", list(job.negatives))]
    elif cfg is not None:
        neg_sources = _raw_sources(cfg)
    else:
        raise ValueError("give --negatives GLOB or --config YAML (its input is the raw text)")
    positives = sample_texts(
        [SourceConfig("positives", list(job.positives))], normalizer, job.max_docs, settings.seed
    )
    negatives = sample_texts(neg_sources, normalizer, job.max_docs, settings.seed + 1)
    log.info("training on %d positive and %d negative documents", len(positives), len(negatives))
    model, report = train_classifier(positives, negatives, settings)
    model.metadata["data"]["positives"]["paths"] = list(job.positives)
    model.metadata["data"]["negatives"]["paths"] = [p for s in neg_sources for p in s.paths]
    save_model(model, job.out)
    os.chmod(job.out, 0o644)  # safetensors writes 0600; a model is shared with workers
    summary = {
        k: v
        for k, v in report.items()
        if k not in ("raw_score_quantiles", "positive_score_quantiles")
    }
    summary["model"] = job.out
    summary["features"] = model.features.to_json()
    summary["data"] = model.metadata["data"]
    return summary


def settings_from_args(args) -> TrainSettings:
    features = FeatureConfig(
        n_features=1 << args.hash_bits,
        char_ngrams=(3, 5) if args.chars else None,
        max_chars=args.max_chars,
    )
    return TrainSettings(
        features=features,
        holdout_fraction=args.holdout,
        threshold=args.threshold,
        seed=args.seed,
    )


def print_report(summary: dict, as_json: bool = False) -> None:
    """A few lines for a person (held-out AUC, precision/recall, the model); `as_json`: all of it."""
    if as_json:
        print(json.dumps(summary, indent=1))
        return
    held, trained = summary["held_out_docs"], summary["train_docs"]
    precision = summary.get("precision")
    shown = "n/a (nothing scored above it)" if precision is None else f"{precision:.3f}"
    print(
        f"held-out ROC-AUC {summary['auc']:.3f} over {held['positive']:,} positive and"
        f" {held['negative']:,} negative documents\n"
        f"at threshold {summary['threshold']}: precision {shown}, recall {summary['recall']:.3f}\n"
        f"trained on {trained['positive']:,} positive and {trained['negative']:,} negative documents\n"
        f"model: {summary['model']}  (--json prints the full summary)"
    )
