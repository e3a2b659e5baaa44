"""Driver: prepare a run (demo corpus, read tasks, tokenizer), execute the graph, load the manifest."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from itertools import islice

import apache_beam as beam

from pipelines.config import DEMO_SOURCES, CurateConfig, SourceConfig
from pipelines.graph import RunPlan, build_graph
from pipelines.options import pipeline_options
from transforms import fs
from transforms.normalize import Normalizer
from transforms.readers import plan_read_tasks, read_task
from transforms.record import Record
from transforms.tokenize import (
    describe_tokenizer,
    resolve_tokenizer_file,
    save_tokenizer,
    train_bpe,
)

log = logging.getLogger("curate")

# Outputs of a previous run that a new run in the same folder replaces (nothing else is touched).
RUN_OUTPUTS = (
    "shards",
    "dead_letter",
    "rejected",
    "removed",
    "report",
    "validation",
    "_tmp",
    "tokenizer",
    "manifest.json",
    "stats.json",
    "dedup_audit.jsonl",
    "bloom_filter.bin",
    "adapter",
)


def code_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("curate")
    except PackageNotFoundError:
        v = "0.0.0"
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=os.path.dirname(__file__),
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{v}+g{sha}" if sha else v


def _clean_previous(output: str) -> None:
    if fs.is_remote(output):
        return
    import shutil

    for name in RUN_OUTPUTS:
        path = os.path.join(output, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


def demo_sources(cfg: CurateConfig, output: str) -> list[SourceConfig]:
    """Builds the demo corpus under OUTPUT/demo_input and returns its sources."""
    from pipelines.demo_data import build_corpus

    folder = os.path.join(output, "demo_input")
    if not os.path.exists(os.path.join(folder, ".complete")):
        build_corpus(
            folder,
            max_docs=cfg.input.demo.max_docs,
            seed=cfg.run.seed,
            malformed=cfg.input.demo.malformed,
        )
        open(os.path.join(folder, ".complete"), "w").close()
    extra = [os.path.join(folder, "truncated-*.jsonl.gz")] if cfg.input.demo.malformed else []
    # One source per generated file family; the names are the ones the config check knows.
    return [
        SourceConfig(
            name, [os.path.join(folder, f"{name}-*.jsonl.gz"), *(extra if name == "docs" else [])]
        )
        for name in DEMO_SOURCES
    ]


def sample_texts(tasks, normalizer: Normalizer, max_docs: int, max_bytes: int) -> list[str]:
    """A deterministic sample across read tasks (round-robin), normalized, for tokenizer training."""
    per_task = max(1, -(-max_docs // max(len(tasks), 1)))
    texts, total = [], 0
    for task in tasks:
        for item in islice((r for r in read_task(task) if isinstance(r, Record)), per_task):
            text = normalizer(item.text)
            if text:
                texts.append(text)
                total += len(text)
            if len(texts) >= max_docs or total >= max_bytes:
                return texts
    return texts


def prepare(cfg: CurateConfig) -> RunPlan:
    output = cfg.run.output if fs.is_remote(cfg.run.output) else os.path.abspath(cfg.run.output)
    cfg.run.output = output
    _clean_previous(output)
    fs.makedirs(output)
    sources = list(cfg.input.sources)
    if cfg.input.demo.enabled:
        sources += demo_sources(cfg, output)
    tasks = plan_read_tasks(sources, cfg.input.split_bytes, cfg.input.max_line_bytes)
    tok_path = fs.join(output, "tokenizer", "tokenizer.json")
    tcfg = cfg.tokenizer
    if tcfg.path:
        with open(resolve_tokenizer_file(tcfg.path), "rb") as src:
            fs.atomic_write_bytes(tok_path, src.read())
        info = describe_tokenizer(tok_path, tcfg.eos_token, tcfg.pad_token)
    else:
        t0 = time.time()
        texts = sample_texts(
            tasks,
            Normalizer.from_config(cfg.normalize),
            tcfg.train_sample_docs,
            tcfg.train_sample_bytes,
        )
        tok = train_bpe(texts, tcfg.vocab_size, [tcfg.eos_token, tcfg.pad_token])
        info = save_tokenizer(tok, tok_path, tcfg.eos_token, tcfg.pad_token)
        log.info(
            "trained a %d-token BPE on %d sampled documents in %.1fs",
            info.vocab_size,
            len(texts),
            time.time() - t0,
        )
    with open(tok_path, encoding="utf-8") as fh:
        tokenizer_json = fh.read()
    plan = RunPlan(
        cfg,
        output,
        tasks,
        info,
        tokenizer_json,
        score_columns(cfg),
        code_version(),
        label_columns=label_columns(cfg),
        config_dict=cfg.to_dict(),
        config_sha256=cfg.sha256(),
    )
    if cfg.sampling.dsir.enabled:
        plan.dsir = fit_dsir(cfg, tasks)
    return plan
    return plan


def score_columns(cfg: CurateConfig) -> list[str]:
    """Float32 score columns of the shards (fixed for a config)."""
    cols: list[str] = []
    if cfg.quality.enabled:
        from transforms.score import score_columns as quality_columns

        cols += quality_columns(cfg.quality)
    if cfg.sampling.dsir.enabled and "dsir" not in cols:
        cols.append("dsir")
    return cols


def label_columns(cfg: CurateConfig) -> list[str]:
    """String columns of the shards taken from record meta (fixed for a config)."""
    cols: list[str] = []
    if cfg.dedup.decontamination.eval_sets and cfg.dedup.decontamination.action == "flag":
        cols.append("decontam")  # the eval sets a kept document shares 13-grams with
    return cols


def fit_dsir(cfg: CurateConfig, tasks):
    """DSIR models fitted in the driver: target sample from config, raw sample from the input."""
    from transforms.sampling.targets import fit_dsir_scorer

    dcfg = cfg.sampling.dsir
    raw = sample_texts(
        tasks, Normalizer.from_config(cfg.normalize), dcfg.raw_sample_docs, 256 << 20
    )
    scorer, _ = fit_dsir_scorer(dcfg, raw)
    return scorer


def run(cfg: CurateConfig, beam_args: list[str] | None = None) -> dict:
    """Runs the whole curation job; returns the manifest."""
    t0 = time.time()
    plan = prepare(cfg)
    plan.started_unix, plan.prepared_unix = t0, time.time()
    options = pipeline_options(cfg.run, beam_args, input_bytes=sum(t.size for t in plan.tasks))
    from apache_beam.options.pipeline_options import StandardOptions

    from transforms.shards import choose_write_path

    plan.write_path = choose_write_path(
        cfg.shards.write_path, options.view_as(StandardOptions).runner
    )
    with beam.Pipeline(options=options) as p:
        build_graph(p, plan)
    with fs.open_read(fs.join(plan.output, "manifest.json")) as fh:
        return json.load(fh)  # written once, by the pipeline's last step (training may hash it)
