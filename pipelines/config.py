"""The pipeline configuration: typed sections, loaded from YAML, validated before any work.

`load_config(path, overrides)` returns a `CurateConfig` or raises one `ConfigError` that lists
every problem (unknown keys, bad types, bad thresholds, missing input files). Sections owned by
other packages (quality, dedup, sampling, training trigger) are defined next to their code and
composed here.

Every file a run reads may be a local path or a URL (`gs://...`); both are looked up before any
work, URLs through Beam's FileSystems (`transforms.infra.fs`). quality/ cannot look URLs up (it never
imports Beam): `CurateConfig.validate` checks the files its section names (`QualityConfig.files`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from quality.config import QualityConfig
from quality.plugins import PluginError, load_plugin
from quality.report_config import ReportConfig, StatsConfig, ValidationConfig
from train.typed_config import ConfigError, apply_overrides, build, to_dict
from transforms.dedup.config import DedupConfig
from transforms.infra import fs
from transforms.sampling.config import SamplingConfig

FORMATS = ("auto", "jsonl", "parquet", "text", "hf_dataset")
# The sources of the demo corpus (`input.demo`), as pipelines.run.demo_sources names them.
DEMO_SOURCES = ("code", "docs", "man")
# Settings keyed by source name, as (section, field): each key must name a source of the run.
PER_SOURCE_SETTINGS = (("sampling", "mixture"),)
INPUT_SOURCE = "input"  # the one source that --input makes

log = logging.getLogger("curate")


@dataclass
class RunConfig:
    """Where outputs go and how the local runner is used."""

    name: str = "curate"
    output: str = "out/curate"  # local path or a Beam filesystem URL (gs://...)
    seed: int = 0  # drives shuffling, sampling and every seeded choice (never ids)
    workers: int = 0  # local runner processes; 0 = one per core
    # auto: in_memory below auto_process_bytes of input files, else multi_processing (measured
    # fastest for each: worker start-up dominates small runs; see benchmarks/RESULTS.md).
    running_mode: Literal["auto", "multi_processing", "multi_threading", "in_memory"] = "auto"
    auto_process_bytes: int = 32 << 20
    progress: bool = True  # stage progress lines (local channel; elsewhere polled counters)
    # On Beam's in-process runners, the document-sized shuffles group through files in the
    # run's _tmp ("disk": memory stays flat in the corpus size, transforms/infra/disk_group.py) or in
    # the runner's memory ("memory": Beam's own GroupByKey, ~3 KB of RAM per document). Other
    # runners always use their shuffle service.
    local_shuffle: Literal["disk", "memory"] = "disk"

    def validate(self) -> list[str]:
        out = []
        if self.local_shuffle not in ("disk", "memory"):
            out.append(f"local_shuffle must be disk or memory, got {self.local_shuffle!r}")
        if self.workers < 0:
            out.append(f"workers must be >= 0 (0 = one per core), got {self.workers}")
        if not self.output:
            out.append("output must be set")
        return out


@dataclass
class SourceConfig:
    """One named input: file globs of one format."""

    name: str
    paths: list[str]
    format: Literal["auto", "jsonl", "parquet", "text", "hf_dataset"] = "auto"
    id_field: str = "id"  # a missing id is source:file:hash of its path under the root:line
    text_field: str = "text"

    def validate(self) -> list[str]:
        out = []
        if not self.name or any(c in self.name for c in "/\\ "):
            out.append(f"name {self.name!r} must be non-empty, without spaces or slashes")
        if not self.paths:
            out.append(f"source {self.name!r}: paths must list at least one file or glob")
        from transforms.stages.readers import expand_paths

        for pattern in self.paths:
            try:
                found = bool(expand_paths([pattern]))  # files, or an HF dataset folder
            except Exception as exc:  # noqa: BLE001 - e.g. a URL scheme Beam cannot read
                out.append(f"source {self.name!r}: {fs.path_problem(pattern, 'glob') or exc}")
                continue
            if not found:
                out.append(f"source {self.name!r}: no file matches {pattern!r}")
        return out


@dataclass
class DemoConfig:
    """A corpus built at run time from text found on this machine (installed packages, docs)."""

    enabled: bool = False
    max_docs: int = 3000
    malformed: bool = True  # add a few deliberately broken lines to show the dead-letter path

    def validate(self) -> list[str]:
        return [] if self.max_docs > 0 else [f"max_docs must be > 0, got {self.max_docs}"]


@dataclass
class InputConfig:
    """Inputs and per-record policy limits."""

    sources: list[SourceConfig] = field(default_factory=list)
    demo: DemoConfig = field(default_factory=DemoConfig)
    max_doc_bytes: int = 2_000_000  # larger documents go to rejected/ (reason too_large)
    max_line_bytes: int = 64_000_000  # a JSONL line longer than this is dead-lettered unparsed
    split_bytes: int = 16 << 20  # read-task size; plain JSONL/text files are split at lines

    def validate(self) -> list[str]:
        out = []
        if not self.sources and not self.demo.enabled:
            out.append("no input: give input.sources (or --input) or enable input.demo")
        names = [s.name for s in self.sources]
        if len(names) != len(set(names)):
            out.append(f"source names must be unique, got {names}")
        for key in ("max_doc_bytes", "max_line_bytes", "split_bytes"):
            if getattr(self, key) <= 0:
                out.append(f"{key} must be > 0")
        return out


@dataclass
class NormalizeConfig:
    """Text normalization applied before scoring, hashing and tokenization."""

    unicode_form: Literal["NFC", "NFKC", "none"] = "NFC"
    strip_control: bool = True  # drop C0/C1 control chars except \n and \t
    collapse_spaces: bool = False  # interior runs of spaces/tabs become one (indentation kept)
    strip_lines: bool = True  # trailing whitespace per line removed
    max_blank_lines: int = 2  # longer runs of blank lines are shortened; -1 keeps them
    # Your own steps after these, in order: `module:Class` or a `curate.plugins` entry point,
    # a class with `transform(self, text) -> str` (quality.plugins); workers import it too.
    transforms: list[str] = field(default_factory=list)

    def validate(self) -> list[str]:
        out = [] if self.max_blank_lines >= -1 else ["max_blank_lines must be >= -1"]
        for name in self.transforms:
            try:
                load_plugin(name, "transform")()
            except PluginError as exc:
                out.append(f"transforms: {exc}")
            except Exception as exc:  # noqa: BLE001 - the plugin's constructor is user code
                out.append(f"transforms: plugin {name!r} cannot be built: {exc}")
        return out


@dataclass
class TokenizerConfig:
    """A tokenizer from a local path, or a byte-level BPE trained on a sample of the input."""

    path: str | None = None  # tokenizer.json, or a directory holding one
    vocab_size: int = 8192  # when training
    train_sample_docs: int = 5000
    train_sample_bytes: int = 64 << 20
    eos_token: str = "<|endoftext|>"
    pad_token: str = "<|pad|>"
    add_eos: bool = True
    batch_size: int = 512  # documents per encode_batch call

    def validate(self) -> list[str]:
        out = []
        if self.path is not None:
            from transforms.stages.tokenize import resolve_tokenizer_file

            try:
                resolve_tokenizer_file(self.path)
            except Exception as exc:  # noqa: BLE001 - missing, or a URL Beam cannot look up
                out.append(f"path: {exc}")
        if self.path is None and self.vocab_size < 300:
            out.append(f"vocab_size must be >= 300 for a byte-level BPE, got {self.vocab_size}")
        if self.batch_size <= 0:
            out.append("batch_size must be > 0")
        return out


@dataclass
class ShardsConfig:
    """Arrow IPC shards."""

    rows_per_shard: int = 5000
    include_text: bool = False
    min_tokens: int = 1  # documents with fewer tokens (EOS included) are rejected (too_short)
    # How shards are written: `local` = each shard reads its key range from every tokenized run
    # (fast on one disk; shards x runs reads); `shuffle` = a GroupByKey on the shard index
    # (shards + runs file operations; for Dataflow/Flink/Spark); `auto` = local on the embedded
    # runner, shuffle on any other. Both write byte-identical shards.
    write_path: str = "auto"

    def validate(self) -> list[str]:
        problems = [] if self.rows_per_shard > 0 else ["rows_per_shard must be > 0"]
        if self.write_path not in ("auto", "local", "shuffle"):
            problems.append(f"write_path must be auto, local or shuffle, got {self.write_path!r}")
        return problems


@dataclass
class TrainTriggerConfig:
    """Start LoRA training as the last stage of `curate run`, once every shard is final."""

    enabled: bool = False
    config: str | None = None  # a train YAML (configs/train/...), a local path or a URL
    force: bool = False  # train even if validation failed
    overrides: list[str] = field(default_factory=list)  # KEY=VALUE for the train config
    output: str | None = None  # adapter folder, local or a URL; default OUTPUT/adapter
    accelerator: str | None = None  # Beam resource hint for the training step (Dataflow GPUs)

    def validate(self) -> list[str]:
        if not self.enabled:
            return []
        if not self.config:
            return ["enabled needs config: a train YAML path"]
        if "://" not in self.config and not os.path.exists(self.config):
            return [f"config {self.config!r} does not exist"]
        # The train YAML and its overrides are checked now, before any curation work; the train
        # package's config module imports no torch (a URL config is read through Beam's
        # FileSystems). The trigger sends the resolved config, not this path, to the worker.
        from importlib import import_module

        train_config = import_module("train.config")
        try:
            train_config.load_train_config(self.config, list(self.overrides))
        except ValueError as exc:
            return [f"config {self.config!r}: {exc}"]
        return []


@dataclass
class CurateConfig:
    """The whole pipeline configuration (see README for every field)."""

    run: RunConfig = field(default_factory=RunConfig)
    input: InputConfig = field(default_factory=InputConfig)
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    shards: ShardsConfig = field(default_factory=ShardsConfig)
    stats: StatsConfig = field(default_factory=StatsConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    train: TrainTriggerConfig = field(default_factory=TrainTriggerConfig)

    # Runs even when another section has a type problem (it only reads source names and the
    # per-source settings), so a misnamed source is reported with every other problem.
    validate_despite_problems = True

    def source_names(self) -> list[str]:
        """The sources this run reads: the configured ones, then the demo corpus's."""
        names = [s.name for s in self.input.sources]
        demo = getattr(self.input.demo, "enabled", False) is True  # half-built if mistyped
        return names + list(DEMO_SOURCES) if demo else names

    def validate(self) -> list[str]:
        """Cross-section check: per-source settings name only sources of this run."""
        if not isinstance(self.input, InputConfig) or not isinstance(self.input.sources, list):
            return []
        if not all(isinstance(s, SourceConfig) for s in self.input.sources):
            return []
        known = self.source_names()
        out = []
        for section, key in PER_SOURCE_SETTINGS:
            named = getattr(getattr(self, section, None), key, None)
            unknown = sorted(set(named) - set(known)) if isinstance(named, dict) else []
            if unknown:
                out.append(
                    f"{section}.{key} names source(s) {unknown} that this run does not read "
                    f"(its sources: {known}); name only these sources"
                )
        if isinstance(self.quality, QualityConfig):
            out += quality_file_problems(self.quality)
        named_quality = getattr(self.quality, "named_sources", None)
        if callable(named_quality):
            unknown = sorted(named_quality() - set(known))
            if unknown:
                out.append(
                    f"quality: source_policies/by_source name unknown source(s) {unknown} "
                    f"(the input's sources: {sorted(known)})"
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def sha256(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()


def quality_file_problems(cfg: QualityConfig) -> list[str]:
    """The quality section's URL files (models, lexicons): missing or unreadable as their kind.

    Local files are checked by the section itself (quality.config); URLs only here, through
    Beam's FileSystems, with the same parsers the workers use.
    """
    from quality.classifier.model import metadata_from_bytes
    from quality.lexicon import parse_lexicon

    out = []
    try:
        files = cfg.files()
    except Exception:  # noqa: BLE001 - a half-built section: its own problems are reported
        return []
    lexicon_dir = cfg.bias.lexicon_dir if cfg.bias.enabled else None
    if lexicon_dir and fs.is_remote(lexicon_dir):
        problem = fs.path_problem(lexicon_dir, "dir")
        if problem:  # one problem, not one per axis file
            out.append(f"quality.bias.lexicon_dir: {problem}")
            files = [f for f in files if not f[0].startswith("bias.lexicon_dir")]
    for where, path, kind in files:
        if not fs.is_remote(path):
            continue
        problem = fs.path_problem(path)
        if problem:
            out.append(f"quality.{where}: {problem}")
            continue
        try:
            data = fs.read_bytes(path)
            if kind == "model":
                metadata_from_bytes(data, path)
            else:
                parse_lexicon(data.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            out.append(f"quality.{where}: {path!r}: {exc}")
    return out


def drop_replaced_source_settings(data: dict[str, Any]) -> list[str]:
    """Removes per-source settings that name sources other than --input's; returns notes.

    `--input` runs a config on other files (the README runs the demo config on the user's
    files): settings written for the replaced sources, like a mixture of `code`, `docs` and
    `man`, would select nothing from the one source `input`, so they are dropped with a note.
    A `--set` override applied afterwards can still give `input` its own settings.
    """
    notes = []
    for section, key in PER_SOURCE_SETTINGS:
        node = data.get(section)
        named = node.get(key) if isinstance(node, dict) else None
        if isinstance(named, dict) and set(named) - {INPUT_SOURCE}:
            del node[key]
            notes.append(
                f"note: --input replaced the sources with one source {INPUT_SOURCE!r}, so "
                f"{section}.{key} (which names {sorted(named)}) is not used"
            )
    return notes


def _drop_replaced_sources(data: dict[str, Any]) -> list[str]:
    """With --input, per-source quality settings of the replaced sources no longer apply;
    returns the note that says which were dropped."""
    quality = data.get("quality")
    if not isinstance(quality, dict):
        return []
    dropped: set[str] = set()
    policies = quality.get("source_policies")
    if isinstance(policies, dict):
        dropped |= {k for k in policies if k != INPUT_SOURCE}
        quality["source_policies"] = {k: v for k, v in policies.items() if k == INPUT_SOURCE}
    for scorer in quality.get("scorers") or []:
        by_source = scorer.get("by_source") if isinstance(scorer, dict) else None
        if isinstance(by_source, dict):
            dropped |= {k for k in by_source if k != INPUT_SOURCE}
            scorer["by_source"] = {k: v for k, v in by_source.items() if k == INPUT_SOURCE}
    if not dropped:
        return []
    note = (
        f"--input replaces the sources: per-source quality settings of {sorted(dropped)} no "
        f"longer apply (source {INPUT_SOURCE!r} gets quality.default_policy)"
    )
    logging.getLogger(__name__).warning(note)
    return [f"note: {note}"]


def load_config(
    path: str | None,
    overrides: list[str] | None = None,
    input_globs: list[str] | None = None,
    output: str | None = None,
    notes: list[str] | None = None,
) -> CurateConfig:
    """Loads YAML at `path`, applies CLI overrides, validates; raises ConfigError on any problem.

    `notes`, when given, receives one line per setting that `--input` dropped (the CLI prints
    them again at the end of the run, where they are not lost in the progress lines).
    """
    data = read_config_file(path) if path else {}
    if input_globs:
        # --input replaces the configured sources (and the demo corpus) with the user's files.
        data.setdefault("input", {})
        data["input"]["sources"] = [{"name": INPUT_SOURCE, "paths": list(input_globs)}]
        data["input"]["demo"] = {"enabled": False}
        dropped = drop_replaced_source_settings(data)
        for note in dropped:
            log.warning(note)
        dropped += _drop_replaced_sources(data)
        if notes is not None:
            notes.extend(dropped)
    if output:
        data.setdefault("run", {})["output"] = output
    apply_overrides(data, overrides)
    return build(CurateConfig, data, "")


def read_config_file(path: str) -> dict[str, Any]:
    """The mapping a config file holds; one ConfigError line when it cannot be that."""
    if os.path.isdir(path):
        raise ConfigError([f"config file {path!r} is a folder; give a YAML file"])
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError([f"config file {path!r} does not exist"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"config file {path!r} cannot be read: {exc}"]) from None
    except yaml.YAMLError as exc:
        where = " ".join(str(exc).split())
        raise ConfigError([f"config file {path!r} is not valid YAML: {where}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            [
                f"config file {path!r} must hold a mapping at the top level, got {type(data).__name__}"
            ]
        )
    return data
