"""Config section for deduplication.

One dataclass per dedup stage; each `validate()` returns problem strings (never raises) so the
loader can report every problem at once. Defaults cite where they come from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from transforms.infra import fs


@dataclass
class ExactDedupConfig:
    """Exact dedup on a 128-bit hash of the normalized text."""

    enabled: bool = True
    # Which copy survives (also near dedup's rank): "longest", "quality" (then longest), or
    # "first_id"; ties always go to the smallest id.
    keep: str = "longest"

    def validate(self) -> list[str]:
        ok = ("longest", "quality", "first_id")
        return [] if self.keep in ok else [f"keep must be one of {ok}, got {self.keep!r}"]


@dataclass
class NearDedupConfig:
    """MinHash-LSH near dedup over word n-gram shingles (see transforms/dedup/near.py)."""

    enabled: bool = True
    # Jaccard similarity above which two documents are duplicates: 0.8 as in GPT-3 / The Pile
    # style fuzzy dedup and datatrove's default (14 bands x 8 rows ~ 0.72 LSH threshold).
    threshold: float = 0.8
    num_perm: int = 128  # datasketch's default; the estimate's std. dev. at J=0.8 is ~0.035
    ngram: int = 5  # word 5-grams: datatrove MinhashConfig.n_grams, Lee et al. 2022 use 5 too
    scheme: Literal["affine32", "legacy"] = "affine32"  # datasketch >= 2.0 default permutations
    # LSH banding: 0 = chosen by minimising weighted FP/FN areas (datasketch's optimal_param)
    # at `lsh_threshold`. Candidate edges are verified on the full signature, so the banding
    # favours recall: a false candidate costs one comparison, a missed pair is a kept duplicate.
    bands: int = 0
    rows: int = 0
    lsh_threshold: float | None = None  # None = threshold - 0.1
    fp_weight: float = 0.1
    fn_weight: float = 0.9
    # Candidate pairs (LSH buckets, banded for `lsh_threshold`) become duplicates on: "exact" =
    # the Jaccard of their shingle sets (sorted distinct 32-bit shingle hashes, computed from the
    # text in the spill runs; the signature estimate only skips pairs 5 standard deviations
    # below the threshold), so no document is removed without a kept one at >= threshold
    # (survivor choice compares only verified pairs: a member is removed for a kept neighbour);
    # "minhash" = the signature estimate (128 perms: std. dev. ~0.035 at J=0.8, so pairs at
    # 0.80-0.82 are missed and pairs at 0.7-0.8 removed; benchmarks/RESULTS.md);
    # "off" = every bucket pair is an edge (survivor choice still uses the estimate).
    # With "exact", `curate run` moves no shingle set through the bucket, component or resolve
    # shuffles: candidates carry a (spill run, row) reference and the pairs go to the runs that
    # hold the two texts (run_features.VerifyPairsInRuns); memory at 400k documents is in
    # benchmarks/RESULTS.md ("exact verification routed to the runs").
    verify: Literal["exact", "minhash", "off"] = "exact"
    max_bucket: int = 64  # larger LSH buckets become a star from their smallest id (no all-pairs)
    lowercase: bool = True
    strip_punct: bool = True  # every non-alphanumeric character is a word separator
    fold_digits: bool = False  # map ASCII digits to 0 (datatrove norm_numbers does the same)
    audit_clusters: int = 20  # clusters sampled (deterministically) for the audit output
    # Large-star/small-star rounds built into the graph for connected components: rounds grow
    # like log(diameter) (a 20,000-node path in sorted id order needs 15); a run whose graph
    # still changes in the last round fails with a message naming this setting.
    max_component_rounds: int = 16
    # Connected components: "rounds" (large-star/small-star, scales out), "local" (one
    # union-find in one worker), "auto" = local on Beam's in-process runners, else rounds.
    components: Literal["auto", "rounds", "local"] = "auto"
    # Which band keys are shuffled with their candidate (id, source, 512-B signature, rank):
    # "sketch" = those a fixed-size sketch cannot rule out as singletons (it fills up past
    # ~2e7 documents, and then every key goes); "exact" = first a shuffle of 8-byte references
    # finds the keys that really repeat, and only those get their candidate (one more shuffle,
    # ~30 B per band key); "auto" = sketch on Beam's in-process runners, exact elsewhere. Both
    # give the same buckets, so the same result (transforms/dedup/run_features.py).
    band_filter: Literal["auto", "sketch", "exact"] = "auto"
    # Survivor choice: a component with at most this many members is resolved in one element
    # (~0.6 kB per member: 2,000 is ~1.2 MB); a larger one in salted sub-groups and levels
    # (transforms/dedup/resolve.py), so a giant template family (16k man pages share one) is
    # not one hot key. Low enough that such a family splits; high enough that ordinary
    # clusters (the demo's largest has 20 members) take the exact one-element path.
    resolve_max_members: int = 2_000

    def validate(self) -> list[str]:
        out = []
        if not 0.0 < self.threshold < 1.0:
            out.append(f"threshold must be in (0, 1), got {self.threshold}")
        if self.lsh_threshold is not None and not 0.0 < self.lsh_threshold < 1.0:
            out.append(f"lsh_threshold must be in (0, 1), got {self.lsh_threshold}")
        if self.num_perm < 2:
            out.append(f"num_perm must be >= 2, got {self.num_perm}")
        if self.ngram < 1:
            out.append(f"ngram must be >= 1, got {self.ngram}")
        if (self.bands == 0) != (self.rows == 0):
            out.append("bands and rows must both be 0 (auto) or both be set")
        if self.bands < 0 or self.rows < 0:
            out.append("bands and rows must be >= 0")
        if self.bands and self.rows and self.bands * self.rows > self.num_perm:
            out.append(f"bands*rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        if self.fp_weight < 0 or self.fn_weight < 0 or self.fp_weight + self.fn_weight == 0:
            out.append("fp_weight and fn_weight must be >= 0 and not both 0")
        if self.max_bucket < 2:
            out.append(f"max_bucket must be >= 2, got {self.max_bucket}")
        if self.audit_clusters < 0:
            out.append("audit_clusters must be >= 0")
        if self.verify not in ("exact", "minhash", "off"):
            out.append(f"verify must be exact, minhash or off, got {self.verify!r}")
        if self.band_filter not in ("auto", "sketch", "exact"):
            out.append(f"band_filter must be auto, sketch or exact, got {self.band_filter!r}")
        if self.components not in ("auto", "rounds", "local"):
            out.append(f"components must be auto, rounds or local, got {self.components!r}")
        if self.max_component_rounds < 1:
            out.append(f"max_component_rounds must be >= 1, got {self.max_component_rounds}")
        if self.resolve_max_members < 2:
            out.append(f"resolve_max_members must be >= 2, got {self.resolve_max_members}")
        return out

    def effective_lsh_threshold(self) -> float:
        """The similarity the LSH banding is tuned for."""
        if self.lsh_threshold is not None:
            return self.lsh_threshold
        return max(0.05, self.threshold - 0.1)


@dataclass
class BoilerplateConfig:
    """Lines repeated across many documents (C4 / RefinedWeb style) are removed from the text."""

    enabled: bool = True
    # A line found in more than this many documents is boilerplate. RefinedWeb and C4 drop
    # repeated spans corpus-wide; a document-count floor keeps rare legitimate repeats.
    min_docs: int = 100
    # Shorter lines (after stripping) are never considered: short lines like "}" or "Thanks!"
    # repeat naturally. 40 chars ~ a short sentence (C4 keeps lines of >= 3 words).
    min_line_chars: int = 40

    def validate(self) -> list[str]:
        out = []
        if self.min_docs < 1:
            out.append(f"min_docs must be >= 1, got {self.min_docs}")
        if self.min_line_chars < 1:
            out.append(f"min_line_chars must be >= 1, got {self.min_line_chars}")
        return out


@dataclass
class CrossReleaseConfig:
    """Drop documents already published in a previous release (its Bloom filter of content keys)."""

    previous_filter: str | None = None  # path/URL of the previous run's filter file, or None
    write_filter: bool = True  # write this release's filter next to the manifest
    cumulative: bool = True  # the written filter also holds the previous filter's keys
    expected_items: int = 10_000_000  # sizing of a new filter (a previous one keeps its size)
    fpr: float = 0.001  # false positive rate at expected_items: 14.4 bits/key (Bloom 1970)
    seed: int = 0  # hash seed of a new filter

    def validate(self) -> list[str]:
        out = []
        prev = self.previous_filter
        problem = fs.path_problem(prev) if prev else None
        if problem:
            out.append(f"previous_filter {problem}")
        if self.expected_items < 1:
            out.append(f"expected_items must be >= 1, got {self.expected_items}")
        if not 0.0 < self.fpr < 0.5:
            out.append(f"fpr must be in (0, 0.5), got {self.fpr}")
        return out


@dataclass
class EvalSetConfig:
    """One evaluation set: JSONL(.gz) files (every string field, or `fields`) or text files."""

    name: str
    paths: list[str]
    fields: list[str] = field(default_factory=list)  # JSONL fields to read; [] = every string

    def validate(self) -> list[str]:
        out = []
        if not self.name or any(c in self.name for c in "/\\ "):
            out.append(f"name {self.name!r} must be non-empty, without spaces or slashes")
        if not self.paths:
            out.append(f"eval set {self.name!r}: paths must list at least one file")
        for pattern in self.paths:
            problem = fs.path_problem(pattern, "glob")
            if problem:
                out.append(f"eval set {self.name!r}: {problem}")
        return out


@dataclass
class DecontaminationConfig:
    """Documents sharing real content with an eval set are flagged or dropped.

    A document is contaminated for an eval set when it contains a whole eval example, or when it
    shares at least `min_hits` distinct word n-grams with the set *and* either those n-grams
    hold `example_share` of one eval example, or they form a passage of at least
    `min_passage_words` words (consecutive shared n-grams) and cover at least `min_overlap` of
    the document's n-grams or of one example's. Templates are not evidence and are ignored:
    n-grams common in the training corpus (licence headers, generated-file banners: found in
    more than max(`common_docs`, `common_fraction` x documents) training documents) and n-grams
    found in `eval_common` or more distinct examples of the eval set (a benchmark's instructions,
    a docs site's "For more information" line). Templated sentences that only a sibling or two
    share are shorter than a paragraph: the passage length rules them out. GPT-3's rule (one
    shared 13-gram, Brown et al. 2020, App. C) is `min_hits: 1, min_overlap: 0,
    min_passage_words: 0, common_docs: 0, common_fraction: 0, eval_common: 0`; on the demo
    ablation it removed a third of the training documents, mostly for licence headers shared
    with held-out documents.
    """

    eval_sets: list[EvalSetConfig] = field(default_factory=list)
    ngram: int = 13  # GPT-3 (Brown et al. 2020, App. C) uses 13-grams
    # Eval examples shorter than `ngram` words are matched whole when they have at least this
    # many words (GPT-3 used a minimum n of 8 for short benchmarks); shorter ones are ignored.
    min_example_words: int = 8
    # Distinct shared (non-template) n-grams a document needs; a whole eval example found in it
    # counts whatever its size. 3 13-grams: one or two are the length of a shared idiom.
    min_hits: int = 3
    # Words in the longest passage of consecutive shared n-grams (templates left out, so they
    # break a passage). Copied content runs on; templated sentences stop at the first word that
    # differs: on the demo ablation every template a held-out document shared with one or two
    # training documents was a sentence or two of at most 49 words, while the two documents
    # sharing real content held copied passages of 103 and 178 words. 64 words is a paragraph.
    # 0 = any passage (the earlier rule).
    min_passage_words: int = 64
    # Share of the document's distinct n-grams, or of one eval example's, that a passage's
    # document must cover (0.1 is lower than PaLM's 70% of an example, Chowdhery et al. 2022,
    # sec. 8, so that a training document holding a tenth of a held-out document still goes).
    min_overlap: float = 0.1
    # ... or, whatever the passage length, the share of one eval example's n-grams the shared
    # n-grams hold: a short example (a benchmark question shorter than a passage) copied with a
    # word or two changed is no longer whole, but still mostly there. 1 = off.
    example_share: float = 0.5
    # An eval n-gram found in more than max(common_docs, common_fraction x documents) training
    # documents is boilerplate, not contamination. Counted over the whole corpus (a CombinePerKey
    # on the n-gram hash), so with action "drop" the decision joins the dedup decisions instead
    # of being taken in stage 1. 0 and 0 = off (decided in stage 1, as before). The fraction
    # keeps a benchmark question copied onto many web pages contamination at web scale (1e-4 of
    # 1B documents is 100,000); the floor is for small corpora, where text found in 3 or more
    # training documents is the corpus's own boilerplate (on the demo ablation, gcloud's 80-word
    # --request-id help, in 3 training man pages and 1 held-out one). The price: on such a
    # corpus, eval text copied into 3 or more training documents is taken for boilerplate too
    # (`curate ablate` removes near copies of held-out documents from training before this).
    common_docs: int = 2
    common_fraction: float = 1e-4
    # An n-gram found in this many distinct examples of one eval set is the set's own template
    # (identical examples count once), no evidence for a passage or a share; it still counts
    # towards holding a whole example. Known from the eval sets alone, so it also applies to
    # "flag". 0 = off.
    eval_common: int = 2
    # "flag" is decided in stage 1, where the corpus-wide count does not exist yet: common_docs
    # and common_fraction apply to "drop" only (the other settings to both).
    action: Literal["flag", "drop"] = "flag"
    # The end-of-run note and the report warn when decontamination removes more than this share
    # of a source's (or the whole input's) documents: real contamination is rare, a large share
    # usually means boilerplate is being matched.
    warn_fraction: float = 0.05

    def validate(self) -> list[str]:
        out = []
        names = [e.name for e in self.eval_sets]
        if len(names) != len(set(names)):
            out.append(f"eval set names must be unique, got {names}")
        if self.ngram < 1:
            out.append(f"ngram must be >= 1, got {self.ngram}")
        if not 1 <= self.min_example_words <= self.ngram:
            out.append(f"min_example_words must be in [1, ngram], got {self.min_example_words}")
        if self.min_hits < 1:
            out.append(f"min_hits must be >= 1, got {self.min_hits}")
        if not 0.0 <= self.min_overlap <= 1.0:
            out.append(f"min_overlap must be in [0, 1], got {self.min_overlap}")
        if self.min_passage_words < 0:
            out.append(f"min_passage_words must be >= 0, got {self.min_passage_words}")
        if not 0.0 < self.example_share <= 1.0:
            out.append(f"example_share must be in (0, 1], got {self.example_share}")
        if self.eval_common < 0 or self.eval_common == 1:
            out.append(f"eval_common must be 0 (off) or >= 2, got {self.eval_common}")
        if self.common_docs < 0:
            out.append(f"common_docs must be >= 0, got {self.common_docs}")
        if not 0.0 <= self.common_fraction <= 1.0:
            out.append(f"common_fraction must be in [0, 1], got {self.common_fraction}")
        if not 0.0 <= self.warn_fraction <= 1.0:
            out.append(f"warn_fraction must be in [0, 1], got {self.warn_fraction}")
        return out

    @property
    def counts_common(self) -> bool:
        """Whether common n-grams are counted over the corpus (a drop then waits for it)."""
        return self.common_docs > 0 or self.common_fraction > 0

    def common_cap(self, n_docs: int) -> int:
        """Training documents an eval n-gram may be found in and still count as evidence."""
        return max(1, self.common_docs, int(self.common_fraction * n_docs))


@dataclass
class DedupPluginConfig:
    """A dedup method of your own (transforms/dedup/plugin.py), run after the built-ins."""

    name: str  # `module:Class` or a `curate.plugins` entry point
    enabled: bool = True
    options: dict[str, Any] = field(default_factory=dict)  # the class's keyword arguments

    def validate(self) -> list[str]:
        from transforms.dedup.plugin import plugin_problems

        return plugin_problems(self.name, self.options)


@dataclass
class DedupConfig:
    """Built-in methods decide in the order exact, boilerplate, near; then `plugins`, in order
    (transforms/dedup/methods.py). Cross-release and decontamination are reference filters,
    applied before the spill (transforms/dedup/reference.py)."""

    exact: ExactDedupConfig = field(default_factory=ExactDedupConfig)
    near: NearDedupConfig = field(default_factory=NearDedupConfig)
    boilerplate: BoilerplateConfig = field(default_factory=BoilerplateConfig)
    cross_release: CrossReleaseConfig = field(default_factory=CrossReleaseConfig)
    decontamination: DecontaminationConfig = field(default_factory=DecontaminationConfig)
    plugins: list[DedupPluginConfig] = field(default_factory=list)

    def validate(self) -> list[str]:
        from transforms.dedup.plugin import PluginError, dedup_plugin_class, dedup_plugin_name

        names = []
        for entry in self.plugins:
            try:
                names.append(dedup_plugin_name(dedup_plugin_class(entry.name)))
            except PluginError:
                continue  # the entry's own check says why
        twice = sorted({n for n in names if names.count(n) > 1})
        return [f"plugins: two plugins are named {n!r}" for n in twice]
