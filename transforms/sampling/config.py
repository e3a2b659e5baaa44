"""Config section for sampling: selection mode, weights, mixture, DSIR, eval split, drift.

Defaults keep every document (`mode: all`). Example (budgeted, DSIR-weighted, mixed):

```yaml
sampling:
  mode: budget                 # all | budget | top_k
  token_budget: 50_000_000
  weight: "quality ** 2 * bias_weight * (1 - toxicity)"
  mixture: {code: 0.5, docs: 0.3, man: 0.2}
  redistribute: false
  mixture_tolerance: 0.03      # gate: each share within 3 points of its target
  min_budget_fill: 0.9         # gate: at least 90% of the budget written
  eval_fraction: 0.01
  dsir: {enabled: true, target_paths: ["target/*.jsonl.gz"]}   # temperature: auto
  drift: {enabled: true, previous_stats: out/last/stats.json}
```
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Literal

from quality.sampling_gate import MIN_BUDGET_FILL, MIXTURE_TOLERANCE
from transforms.infra import fs
from transforms.sampling.weights import WeightExpression, WeightExpressionError, default_scores


def _feature_problems(buckets: int, orders: list[int]) -> list[str]:
    out = []
    if not 16 <= buckets <= 1 << 24:
        out.append(f"buckets must be in [16, 2**24], got {buckets}")
    if not orders or any(n not in (1, 2, 3) for n in orders) or len(set(orders)) != len(orders):
        out.append(f"ngram_orders must be distinct values among 1, 2, 3, got {orders}")
    return out


@dataclass
class DsirConfig:
    """DSIR importance weights (Xie et al. 2023, "Data Selection for Language Models via Importance
    Resampling"): hashed unigram+bigram bag-of-ngrams models of a target sample and of the raw
    corpus. A document's score `dsir` is its log importance weight, `temperature * log-ratio`;
    when enabled, the sampling weight becomes `weight * exp(dsir)`.

    Temperature: 1.0 is the paper. Summed over hundreds of n-grams, the naive-Bayes log-ratio is
    far too confident (spreads of hundreds of nats), so sampling collapses onto the most extreme
    documents, and on this project's benchmark a T=1 selection is *further* from the target than a
    random one (benchmarks/bench_sampling.py). `null` (default) calibrates it at fit time:
    T = 1 / (robust spread of the log-ratio over the raw sample, IQR / 1.349), so log-weights
    have a spread of about one nat over the raw corpus."""

    enabled: bool = False
    target_paths: list[str] = field(default_factory=list)  # JSONL(.gz) files or plain text files
    text_field: str = "text"  # field holding the text in JSONL targets
    max_target_docs: int = 100_000  # read at most this many target documents
    raw_sample_docs: int = 20_000  # raw documents the pipeline samples to fit the raw model
    buckets: int = 10_000  # hashed feature buckets (the paper's default)
    ngram_orders: list[int] = field(default_factory=lambda: [1, 2])
    smoothing: float = 1.0  # add-alpha on bucket counts: unseen buckets get a finite log-ratio
    temperature: float | None = None  # None = calibrated on the raw sample; 1.0 = the paper
    hash_seed: int = 0  # feature hashing seed (part of the scorer's identity, not the run seed)

    def validate(self) -> list[str]:
        out = _feature_problems(self.buckets, self.ngram_orders)
        t = self.temperature
        if t is not None and (not math.isfinite(t) or t < 0):
            out.append(f"temperature must be null (auto) or finite and >= 0, got {t}")
        if not self.smoothing > 0:
            out.append(f"smoothing must be > 0, got {self.smoothing}")
        if self.max_target_docs <= 0 or self.raw_sample_docs <= 0:
            out.append("max_target_docs and raw_sample_docs must be > 0")
        if self.enabled and not self.target_paths:
            out.append("enabled needs target_paths: files holding the target sample")
        for pattern in self.target_paths if self.enabled else []:
            # a URL is looked up through Beam's FileSystems (the driver reads the sample)
            problem = fs.path_problem(_local_or_url(pattern), "glob")
            if problem:
                out.append(f"target_paths: {problem}")
        return out


def _local_or_url(path: str) -> str:
    return path if fs.is_remote(path) else os.path.expanduser(path)


@dataclass
class DriftConfig:
    """Hashed n-gram distribution of this run, compared with a previous run's stats.json and
    between sources (Jensen–Shannon divergence, and the n-grams that moved most)."""

    enabled: bool = False
    previous_stats: str | None = None  # a previous run's stats.json; None = no run-to-run check
    buckets: int = 16_384
    ngram_orders: list[int] = field(default_factory=lambda: [1, 2])
    top_moved: int = 20  # n-grams listed as having moved most
    hash_seed: int = 0  # must match the previous run's for a comparison (checked at compare time)

    def validate(self) -> list[str]:
        out = _feature_problems(self.buckets, self.ngram_orders)
        if self.top_moved < 0:
            out.append(f"top_moved must be >= 0, got {self.top_moved}")
        p = self.previous_stats
        problem = fs.path_problem(_local_or_url(p)) if p is not None else None
        if problem:
            out.append(f"previous_stats {problem}")
        return out


@dataclass
class SamplingConfig:
    """Which documents go to the shards: all of them, a weighted sample under a token budget
    (Efraimidis–Spirakis keys), or the top documents by weight; plus the eval split."""

    mode: Literal["all", "budget", "top_k"] = "all"  # all = keep everything (default)
    token_budget: int | None = None  # budget: required; top_k: this or k
    k: int | None = None  # top_k by document count
    # Weight grammar (transforms/sampling/weights.py): numbers, score names, + - * / **,
    # exp log min max clip. Scores: quality, toxicity, bias_weight, dsir (+ any in score_defaults).
    weight: str = "quality * bias_weight * (1 - toxicity)"
    score_defaults: dict[str, float] = field(default_factory=dict)  # extends default_scores()
    mixture: dict[str, float] = field(default_factory=dict)  # source -> share of the token budget
    redistribute: bool = False  # give a short source's shortfall to the other sources
    # The validation gate fails a run whose achieved token share of a mixture source is more
    # than this (absolute share) off its target, or that writes less than this share of the
    # token budget (quality/sampling_gate.py says why these defaults).
    mixture_tolerance: float = MIXTURE_TOLERANCE
    min_budget_fill: float = MIN_BUDGET_FILL
    lookahead: float = 0.25  # extra window (share of the budget) scanned to fill the last gap
    eval_fraction: float = 0.0  # share of selected documents held out as "eval"
    seed_offset: int = 0  # sampling seed = run.seed + seed_offset
    dsir: DsirConfig = field(default_factory=DsirConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)

    def defaults(self) -> dict[str, float]:
        """Score defaults: the built-in ones overridden/extended by `score_defaults`."""
        return {**default_scores(), **self.score_defaults}

    def validate(self) -> list[str]:
        out: list[str] = []
        budget, k = self.token_budget, self.k
        if budget is not None and budget <= 0:
            out.append(f"token_budget must be > 0, got {budget}")
        if k is not None and k <= 0:
            out.append(f"k must be > 0, got {k}")
        if self.mode == "budget" and (budget is None or k is not None):
            out.append("mode budget needs token_budget (and no k)")
        if self.mode == "top_k" and (budget is None) == (k is None):
            out.append("mode top_k needs exactly one of k or token_budget")
        if self.mode == "all" and (budget is not None or k is not None or self.mixture):
            out.append("mode all keeps everything: token_budget, k and mixture must be unset")
        if self.mixture:
            if budget is None:
                out.append("mixture needs token_budget (shares are shares of the token budget)")
            if any(not (math.isfinite(v) and v >= 0) for v in self.mixture.values()):
                out.append(f"mixture shares must be finite and >= 0, got {self.mixture}")
            elif abs(sum(self.mixture.values()) - 1.0) > 1e-6:
                out.append(f"mixture shares must sum to 1, got {sum(self.mixture.values()):.6g}")
        if not (math.isfinite(self.mixture_tolerance) and 0 <= self.mixture_tolerance <= 1):
            out.append(f"mixture_tolerance must be in [0, 1], got {self.mixture_tolerance}")
        if not (math.isfinite(self.min_budget_fill) and 0 <= self.min_budget_fill <= 1):
            out.append(f"min_budget_fill must be in [0, 1], got {self.min_budget_fill}")
        if not (math.isfinite(self.lookahead) and 0 <= self.lookahead <= 10):
            out.append(f"lookahead must be in [0, 10], got {self.lookahead}")
        if not 0 <= self.eval_fraction < 1:
            out.append(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")
        if any(not math.isfinite(v) for v in self.score_defaults.values()):
            out.append(f"score_defaults must be finite numbers, got {self.score_defaults}")
        try:
            names = WeightExpression(self.weight).names
        except WeightExpressionError as exc:
            return [*out, f"weight: {exc}"]
        missing = sorted(names - set(self.defaults()))
        if missing:
            out.append(f"weight uses {missing} without a default: add them to score_defaults")
        if "dsir" in names and self.dsir.enabled:
            out.append("weight must not use dsir when dsir.enabled (exp(dsir) is applied)")
        if "dsir" in names and not self.dsir.enabled:
            out.append("weight uses dsir but dsir.enabled is false (no document would have it)")
        return out
