"""Config sections for statistics, the validation gate and the HTML report.

Each section is a dataclass with defaults and a `validate() -> list[str]` that reports every
problem (never raises), as `typed_config.build` expects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from quality.scorers.registry import unit_score_columns

DEFAULT_QUANTILES = [0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99]
# Float shard columns that are scores in [0, 1]: the composite quality and what each registered
# scorer declares (`Scorer.value_range`). Other float columns (raw scorer features such as word
# counts, bias weights) are unbounded.
UNIT_SCORE_COLUMNS = unit_score_columns()


@dataclass
class StatsConfig:
    """Corpus statistics computed with mergeable sketches (transforms/stats)."""

    enabled: bool = True
    top_k: int = 50  # top tokens and top n-grams kept in stats.json
    ngram_n: int = 2  # word n-gram order
    ngram_lowercase: bool = True  # n-grams over lowercased words
    # Misra-Gries counters for heavy n-grams: every n-gram with frequency > N/(capacity+1) is
    # kept, counts are off by at most N/(capacity+1) (Agarwal et al. 2012, mergeable summaries).
    ngram_capacity: int = 4096
    # Count-Min rows; the width is e*(capacity+1) so its error eps*N matches the Misra-Gries bound;
    # each row cuts the probability that an estimate exceeds its bound by a factor e.
    ngram_cms_depth: int = 4
    hll_precision: int = 14  # HyperLogLog++ registers 2**p; relative error ~ 1.04/sqrt(2**p)
    # Log-bin quantiles (relative error) of lengths in chars and tokens, and of float columns
    # that are not unit scores; unit scores use linear bins over [0, 1] (error 1/(2*bins)).
    relative_error: float = 0.01
    score_bins: int = 1000
    unit_score_columns: list[str] = field(default_factory=unit_score_columns)
    quantiles: list[float] = field(default_factory=lambda: list(DEFAULT_QUANTILES))
    histogram_bins: int = 40  # display bins in stats.json histograms (for the report)

    def validate(self) -> list[str]:
        out = []
        if self.top_k <= 0:
            out.append(f"top_k must be > 0, got {self.top_k}")
        if not 1 <= self.ngram_n <= 8:
            out.append(f"ngram_n must be in [1, 8], got {self.ngram_n}")
        if self.ngram_capacity < self.top_k:
            out.append(f"ngram_capacity ({self.ngram_capacity}) must be >= top_k ({self.top_k})")
        if not 1 <= self.ngram_cms_depth <= 16:
            out.append(f"ngram_cms_depth must be in [1, 16], got {self.ngram_cms_depth}")
        if not 4 <= self.hll_precision <= 18:
            out.append(f"hll_precision must be in [4, 18], got {self.hll_precision}")
        if not 0.0001 <= self.relative_error <= 0.2:
            out.append(f"relative_error must be in [0.0001, 0.2], got {self.relative_error}")
        if not 10 <= self.score_bins <= 100_000:
            out.append(f"score_bins must be in [10, 100000], got {self.score_bins}")
        if any(not 0.0 <= q <= 1.0 for q in self.quantiles):
            out.append(f"quantiles must lie in [0, 1], got {self.quantiles}")
        if not 2 <= self.histogram_bins <= 500:
            out.append(f"histogram_bins must be in [2, 500], got {self.histogram_bins}")
        return out


@dataclass
class ValidationConfig:
    """The Great Expectations gate over the shards and the manifest (quality/validation.py)."""

    enabled: bool = True
    sample_rows_per_shard: int = 2000  # evenly spaced rows read from each shard for the suite
    min_tokens: int = 1  # n_tokens bounds (EOS included)
    max_tokens: int = 1_000_000
    score_min: float = 0.0  # unit score columns (when present) must lie in [score_min, score_max]
    score_max: float = 1.0
    unit_score_columns: list[str] = field(default_factory=unit_score_columns)
    toxicity_column: str = "toxicity"  # mean checked against the ceiling when the column exists
    toxicity_mean_max: float = 0.2
    check_sha256: bool = True  # recompute each shard's sha256 against the manifest
    data_docs: bool = True  # build GX Data Docs under OUT/validation/data_docs/

    def validate(self) -> list[str]:
        out = []
        if self.sample_rows_per_shard <= 0:
            out.append(f"sample_rows_per_shard must be > 0, got {self.sample_rows_per_shard}")
        if self.min_tokens < 0 or self.max_tokens < self.min_tokens:
            out.append(
                f"need 0 <= min_tokens <= max_tokens, got {self.min_tokens}, {self.max_tokens}"
            )
        if self.score_max < self.score_min:
            out.append(f"score_max ({self.score_max}) must be >= score_min ({self.score_min})")
        if not 0.0 <= self.toxicity_mean_max <= 1.0:
            out.append(f"toxicity_mean_max must be in [0, 1], got {self.toxicity_mean_max}")
        return out


@dataclass
class ReportConfig:
    """The HTML report (quality/report) and the terminal summary."""

    enabled: bool = True
    top_tokens: int = 30  # rows in the top-token table and bar chart
    top_ngrams: int = 30
    examples_per_reason: int = 3  # example documents shown per drop reason
    example_chars: int = 400  # each example is truncated to this many characters
    max_reasons: int = 40  # drop reasons with examples (the most frequent first)
    image_dpi: int = 96

    def validate(self) -> list[str]:
        out = []
        for key in ("top_tokens", "top_ngrams", "max_reasons"):
            if getattr(self, key) <= 0:
                out.append(f"{key} must be > 0, got {getattr(self, key)}")
        if self.examples_per_reason < 0:
            out.append(f"examples_per_reason must be >= 0, got {self.examples_per_reason}")
        if self.example_chars < 20:
            out.append(f"example_chars must be >= 20, got {self.example_chars}")
        if not 40 <= self.image_dpi <= 300:
            out.append(f"image_dpi must be in [40, 300], got {self.image_dpi}")
        return out
