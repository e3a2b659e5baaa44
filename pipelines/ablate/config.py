"""The ablation config (`curate ablate --config ablation.yaml`): typed, validated before any work.

```yaml
output: out/ablation_demo
base: configs/demo.yaml          # the curate config every arm starts from
set: []                          # KEY=VALUE overrides of `base`, for every arm
holdout:
  fraction: 0.05                 # raw documents held out for evaluation (by content hash)
  max_docs: 300
  eval_sets: []                  # user eval sets: [{name, paths, fields}] (also decontaminated)
  primary: heldout:mix           # the headline eval set: per-source losses at target_mix
  target_mix: {}                 # {source: weight}; empty: the raw arm's training token mix
  eval_buckets: 40               # bootstrap units per eval set
tokenizer: {vocab_size: 4096}    # ONE tokenizer, trained once on the raw training split
arms: [raw, dedup, dedup+filters, full]   # presets, or {name, preset, pii, set: [KEY=VALUE]}
train:
  config: configs/train/scratch_tiny.yaml   # or an inline mapping (a train config)
  tokens: 400000                 # training tokens per run, the same for every arm
  epochs: null                   # or: this many epochs of the smallest arm (replaces tokens)
  seeds: [0, 1, 2]               # the first round; then the sequential rule:
  max_seeds: 6                   #   add seeds while an interval includes 0 and is wider
  min_effect: 0.02               #   than +-min_effect nats, up to max_seeds
  cuda: {tokens: 20000000, set: [model.from_config.hidden_size=512]}   # used on a GPU
stats: {alpha: 0.05, power: 0.8, bootstrap_draws: 2000, bootstrap_seed: 0}
```

Arm presets are factor settings applied to the base config (`FACTORS`, `PRESETS`): `raw` turns
off every dedup stage, the quality filters, PII redaction and sampling; `dedup` adds the base's
dedup stages back; `dedup+pii` adds PII redaction; `dedup+filters` adds the quality filters
(without PII); `dedup+filters+pii` both; `full` is the base config unchanged (adds sampling).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from train.typed_config import ConfigError, apply_overrides, build

_NO_DEDUP = [
    "dedup.exact.enabled=false",
    "dedup.near.enabled=false",
    "dedup.boilerplate.enabled=false",
]
_NO_SAMPLING = ["sampling.mode=all", "sampling.token_budget=null", "sampling.k=null",
                "sampling.mixture={}", "sampling.dsir.enabled=false"]  # fmt: skip


def quality_overrides(filters: bool, pii: bool) -> list[str]:
    """Overrides that switch the quality filters and PII redaction independently.

    Filters are the scorers, toxicity and the bias weights; PII redaction rewrites text and
    rejects nothing, so it is its own factor (it used to be switched off with the filters).
    """
    if filters and pii:
        return []
    if filters:
        return ["quality.pii.enabled=false"]
    if pii:  # scoring on, nothing that rejects: only the redactor changes documents
        return ["quality.scorers=[]", "quality.toxicity.enabled=false",
                "quality.bias.enabled=false"]  # fmt: skip
    return ["quality.enabled=false", "quality.toxicity.action=score_only"]


# The curation factors of each preset arm: (dedup, filters, pii, sampling); True = the base's.
FACTORS: dict[str, tuple[bool, bool, bool, bool]] = {
    "raw": (False, False, False, False),
    "dedup": (True, False, False, False),
    "dedup+pii": (True, False, True, False),
    "dedup+filters": (True, True, False, False),
    "dedup+filters+pii": (True, True, True, False),
    "full": (True, True, True, True),
}
FACTOR_NAMES = ("dedup", "filters", "pii", "sampling")


def preset_overrides(dedup: bool, filters: bool, pii: bool, sampling: bool) -> list[str]:
    """Overrides of the base curate config that turn the given factors off."""
    return [
        *([] if dedup else _NO_DEDUP),
        *quality_overrides(filters, pii),
        *([] if sampling else _NO_SAMPLING),
    ]


# Overrides of the base curate config that make each preset arm.
PRESETS: dict[str, list[str]] = {name: preset_overrides(*f) for name, f in FACTORS.items()}


@dataclass
class ArmConfig:
    """One curation variant: a preset plus its own overrides of the base config.

    `pii` switches PII redaction on or off whatever the preset says (None: the preset's).
    """

    name: str
    preset: str | None = None  # one of PRESETS; None = the name, if it is a preset
    set: list[str] = field(default_factory=list)
    pii: bool | None = None

    def factors(self) -> dict[str, bool]:
        """The curation factors this arm keeps from the base config (before its own `set`)."""
        values = dict(zip(FACTOR_NAMES, FACTORS[self.preset or self.name], strict=True))
        if self.pii is not None:
            values["pii"] = self.pii
        return values

    def overrides(self) -> list[str]:
        return [*preset_overrides(**self.factors()), *self.set]

    def validate(self) -> list[str]:
        out = []
        if not self.name or any(c in self.name for c in "/\\ "):
            out.append(f"arm name {self.name!r} must be non-empty, without spaces or slashes")
        if (self.preset or self.name) not in PRESETS:
            out.append(
                f"arm {self.name!r}: preset {self.preset or self.name!r} is unknown "
                f"(known: {', '.join(PRESETS)})"
            )
        for text in self.set:
            if "=" not in text:
                out.append(f"arm {self.name!r}: override {text!r} is not KEY=VALUE")
        return out


@dataclass
class EvalSetSpec:
    """A user eval set: JSONL(.gz) (`fields`, default every string field) or text files."""

    name: str
    paths: list[str]
    fields: list[str] = field(default_factory=list)

    def validate(self) -> list[str]:
        import glob

        out = [] if self.paths else [f"eval set {self.name!r}: paths must list files"]
        for pattern in self.paths:
            if not glob.glob(os.path.expanduser(pattern)):
                out.append(f"eval set {self.name!r}: no file matches {pattern!r}")
        if self.name == "heldout" or not self.name or "/" in self.name:
            out.append(f"eval set name {self.name!r} is reserved or invalid")
        return out


@dataclass
class HoldoutConfig:
    """The shared evaluation data, split off the raw input before any arm sees it."""

    fraction: float = 0.05  # raw documents whose content hash falls below this go to eval
    max_docs: int = 500  # at most this many (the smallest hashes: order-independent)
    near_copies: bool = True  # also keep near copies (MinHash-LSH) of eval docs out of training
    # Eval documents are scored on their first N tokens: bounds evaluation cost (a few long
    # documents would otherwise cost more than the training runs themselves on CPU).
    max_doc_tokens: int = 2048
    eval_sets: list[EvalSetSpec] = field(default_factory=list)
    ngram: int = 13  # decontamination n-gram (GPT-3's 13)
    # The eval set of the headline verdicts: heldout:mix (per-source losses re-weighted to
    # target_mix), heldout:<source>, heldout (pooled as held out) or a user eval set name.
    primary: str = "heldout:mix"
    # The declared target mix of heldout:mix, {source: weight} (normalized); empty: the raw
    # arm's training token mix (the raw input's, less the held-out documents).
    target_mix: dict[str, float] = field(default_factory=dict)
    # Eval documents of each set are scored in this many buckets, the unit the bootstrap
    # resamples (one bucket per document when a set has fewer documents).
    eval_buckets: int = 40

    def validate(self) -> list[str]:
        out = []
        if not 0.0 < self.fraction < 0.5:
            out.append(f"fraction must be in (0, 0.5), got {self.fraction}")
        if self.max_docs < 1:
            out.append(f"max_docs must be >= 1, got {self.max_docs}")
        if self.max_doc_tokens < 2:
            out.append(f"max_doc_tokens must be >= 2, got {self.max_doc_tokens}")
        if self.ngram < 1:
            out.append(f"ngram must be >= 1, got {self.ngram}")
        names = ["heldout"] + [e.name for e in self.eval_sets]
        if len(set(names)) != len(names):
            out.append(f"eval set names must be unique, got {names}")
        if self.primary not in names + ["heldout:mix"] and not self.primary.startswith("heldout:"):
            out.append(f"primary {self.primary!r} is not an eval set (have {names + ['heldout:mix']}"
                       " or heldout:<source>)")  # fmt: skip
        if any(w < 0 for w in self.target_mix.values()) or (
            self.target_mix and sum(self.target_mix.values()) <= 0
        ):
            out.append(
                f"target_mix weights must be >= 0 with a positive sum, got {self.target_mix}"
            )
        if self.eval_buckets < 2:
            out.append(f"eval_buckets must be >= 2, got {self.eval_buckets}")
        return out


@dataclass
class SharedTokenizerConfig:
    """The one BPE every arm tokenizes with (or a given tokenizer file)."""

    path: str | None = None
    vocab_size: int = 4096
    train_sample_docs: int = 2000

    def validate(self) -> list[str]:
        if self.path is not None and not os.path.exists(self.path):
            return [f"path {self.path!r} does not exist"]
        return [] if self.vocab_size >= 300 else ["vocab_size must be >= 300"]


@dataclass
class DeviceOverrides:
    """Larger settings used instead when a CUDA GPU is present."""

    tokens: int | None = None
    set: list[str] = field(default_factory=list)


@dataclass
class AblationTrainConfig:
    """The model trained on every arm: same config, same seeds, same number of tokens."""

    config: Any = None  # a train YAML path or an inline train config mapping
    tokens: int = 200_000  # training tokens per run (steps x rows x max_seq_len)
    # Instead of `tokens`: this many epochs of the arm with the fewest unique tokens (every arm
    # then trains that many token slots; larger arms see less than an epoch). Where dedup matters.
    epochs: float | None = None
    # The page warns when every arm trains on less than this fraction of an epoch: duplicates are
    # then rarely seen twice in a run, so dedup can hardly change the loss.
    warn_epochs_below: float = 0.5
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])  # the first round
    # Sequential rule: after each round, while a headline interval includes 0 and is wider than
    # +-min_effect, add the next seed to every arm, up to max_seeds (None: no seed is added).
    max_seeds: int | None = None
    min_effect: float = 0.02  # nats/token: a difference smaller than this is not worth finding
    # Re-draw random curation (sampling) per training seed: auto = arms whose sampling is random.
    redraw_curation: str = "auto"  # auto | never
    set: list[str] = field(default_factory=list)  # KEY=VALUE overrides of the train config
    eval_every_steps: int = 0  # eval-loss curve during training (0: ~10 points per run)
    cuda: DeviceOverrides = field(default_factory=DeviceOverrides)

    def validate(self) -> list[str]:
        out = []
        if self.config is None:
            out.append("config is required: a train YAML path or an inline mapping")
        elif isinstance(self.config, str) and not os.path.isfile(self.config):
            out.append(f"config {self.config!r} does not exist")
        elif not isinstance(self.config, (str, dict)):
            out.append("config must be a path or a mapping")
        if self.tokens <= 0:
            out.append(f"tokens must be > 0, got {self.tokens}")
        if len(self.seeds) < 2 or len(set(self.seeds)) != len(self.seeds):
            out.append(f"seeds must list >= 2 distinct seeds (3+ advised), got {self.seeds}")
        if self.max_seeds is not None and self.max_seeds < len(self.seeds):
            out.append(f"max_seeds ({self.max_seeds}) must be >= the {len(self.seeds)} seeds")
        if self.min_effect <= 0:
            out.append(f"min_effect must be > 0 nats, got {self.min_effect}")
        if self.epochs is not None and self.epochs <= 0:
            out.append(f"epochs must be > 0, got {self.epochs}")
        if self.redraw_curation not in ("auto", "never"):
            out.append(f"redraw_curation must be auto or never, got {self.redraw_curation!r}")
        return out

    def seed_cap(self) -> int:
        return self.max_seeds or len(self.seeds)


@dataclass
class StatsConfig:
    """How verdicts are computed (pipelines/ablate/stats.py)."""

    alpha: float = 0.05  # family-wise error rate (Holm over every arm x verdict eval set)
    power: float = 0.8  # the power the minimum detectable effect is stated at
    bootstrap_draws: int = 2000  # paired bootstrap over seeds and eval-document buckets
    bootstrap_seed: int = 0  # the bootstrap's RNG seed: the same inputs give the same page

    def validate(self) -> list[str]:
        out = []
        if not 0 < self.alpha < 0.5:
            out.append(f"alpha must be in (0, 0.5), got {self.alpha}")
        if not 0.5 <= self.power < 1:
            out.append(f"power must be in [0.5, 1), got {self.power}")
        if self.bootstrap_draws < 100:
            out.append(f"bootstrap_draws must be >= 100, got {self.bootstrap_draws}")
        return out


@dataclass
class AblationConfig:
    """The whole ablation: base curate config, arms, holdout, shared tokenizer, training."""

    base: Any = None  # a curate YAML path, or an inline curate config mapping
    output: str = "out/ablation"
    set: list[str] = field(default_factory=list)
    holdout: HoldoutConfig = field(default_factory=HoldoutConfig)
    tokenizer: SharedTokenizerConfig = field(default_factory=SharedTokenizerConfig)
    arms: list[ArmConfig] = field(default_factory=list)
    train: AblationTrainConfig = field(default_factory=AblationTrainConfig)
    stats: StatsConfig = field(default_factory=StatsConfig)

    def validate(self) -> list[str]:
        out = []
        if self.base is None:
            out.append("base is required: a curate config path or mapping")
        elif isinstance(self.base, str) and not os.path.isfile(self.base):
            out.append(f"base {self.base!r} does not exist")
        names = [a.name for a in self.arms]
        if "raw" not in names:
            out.append(
                f"arms must include 'raw' (the baseline every arm is compared with), got {names}"
            )
        if len(set(names)) != len(names):
            out.append(f"arm names must be unique, got {names}")
        return out


def _normalize_arms(data: dict) -> None:
    """`arms: [raw, full]` is short for `[{name: raw}, {name: full}]`."""
    arms = data.get("arms")
    if isinstance(arms, list):
        data["arms"] = [{"name": a} if isinstance(a, str) else a for a in arms]


def load_ablation_config(
    source: str | os.PathLike | dict, overrides: list[str] | None = None
) -> AblationConfig:
    """Loads and validates an ablation config (YAML path or dict) with `KEY=VALUE` overrides.

    Raises:
        ConfigError: listing every problem (of the ablation file, of the base curate config and
            of every arm's curate config, of the train config).
    """
    if isinstance(source, dict):
        data = yaml.safe_load(yaml.safe_dump(source))  # a deep copy
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError([f"config file {str(path)!r} does not exist"])
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError([f"config file {str(path)!r} is not valid YAML: {exc}"]) from None
        if not isinstance(data, dict):
            raise ConfigError([f"config file {str(path)!r} must hold a mapping"])
    problems: list[str] = []
    try:
        apply_overrides(data, overrides)
    except ConfigError as exc:
        problems.extend(exc.problems)
    _normalize_arms(data)
    try:
        cfg = build(AblationConfig, data)
    except ConfigError as exc:
        problems.extend(exc.problems)
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return cfg
