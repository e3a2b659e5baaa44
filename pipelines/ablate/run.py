"""`run_ablation(cfg)`: does curation pay? The same model trained on each curation variant.

Steps, each resumable:

1. validate everything (base config, every arm's config, the train config): one error, no work;
2. split the raw input: the shared eval set out, exact and near copies of it out of training
   (holdout.py); reused while the input bytes and split settings are unchanged;
3. train ONE tokenizer on the training split; every arm and every eval shard uses it;
4. tokenize the eval sets into Arrow shards: `heldout` (all sources), `heldout:<source>`, and
   each user eval set;
5. arm by arm: the curate run (reused when its config hash is unchanged), then one training run
   per seed at the same token budget, each evaluated on every eval set;
6. statistics and the report: `ablation.json` and `report/index.html`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable

from pipelines.ablate import arms as arms_mod
from pipelines.ablate import training
from pipelines.ablate.config import AblationConfig
from pipelines.ablate.holdout import read_eval, split_holdout
from pipelines.ablate.stats import paired_difference, summary, verdict
from pipelines.config import CurateConfig
from train.typed_config import ConfigError, build
from transforms.stages.readers import expand_paths

log = logging.getLogger("curate")


def _sha256_files(paths: list[str]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.encode() + b"\0")
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def _marker(path: str) -> str | None:
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def _write(path: str, text: str) -> None:
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(path + ".tmp", path)


class Ablation:
    """One ablation (see the module docstring); `run()` does it all.

    Args:
        cfg: the ablation config.
        on_arm_done: called with each arm's name once its curation and training are finished
            (tests use it to kill a run between arms).
    """

    def __init__(self, cfg: AblationConfig, on_arm_done: Callable[[str], None] | None = None):
        self.cfg, self.on_arm_done = cfg, on_arm_done
        self.out = os.path.abspath(cfg.output)

    # ------------------------------------------------------------------------------ validate
    def validate(self) -> None:
        """Builds every config before any work; raises one ConfigError listing every problem."""
        cfg, problems = self.cfg, []
        try:
            self.base = arms_mod.base_dict(cfg)
            self.base_cfg = build(CurateConfig, self.base)
        except ConfigError as exc:
            problems += [f"base: {p}" for p in exc.problems]
        except (OSError, ValueError) as exc:  # unreadable YAML
            raise ConfigError([f"base: {exc}"]) from None
        self.user_eval = [
            {"name": e.name, "paths": list(e.paths), "fields": list(e.fields)}
            for e in cfg.holdout.eval_sets
        ]
        for arm in cfg.arms:
            data = arms_mod.arm_dict(
                self.base, arm, self._arm_dir(arm.name), None, None, self.user_eval,
                cfg.holdout.ngram,
            )  # fmt: skip
            try:
                arms_mod.build_arm(data, arm.name)
            except ConfigError as exc:  # base problems are listed once, not once per arm
                problems += [
                    p for p in exc.problems if f"base: {p.split(': ', 1)[-1]}" not in problems
                ]
        self.cuda = training.cuda_available()
        try:
            self.train_data, self.tokens = training.train_dict(cfg, self.cuda)
            self.steps, self.per_step = training.steps_for(self.train_data, self.tokens)
        except ConfigError as exc:
            problems += exc.problems
        if problems:
            raise ConfigError(problems)

    def _arm_dir(self, name: str) -> str:
        return os.path.join(self.out, "arms", name.replace("+", "_"))

    # ---------------------------------------------------------------------------------- split
    def split(self) -> None:
        from pipelines.run import demo_sources

        os.makedirs(self.out, exist_ok=True)
        sources = list(self.base_cfg.input.sources)
        if self.base_cfg.input.demo.enabled:
            sources += demo_sources(self.base_cfg, self.out)
        files = [p for s in sources for p in expand_paths(s.paths)]
        hold = self.cfg.holdout
        identity = json.dumps(
            {
                "inputs": _sha256_files(files),
                "sources": [[s.name, s.paths] for s in sources],
                "holdout": [hold.fraction, hold.max_docs, hold.near_copies],
                "normalize": self.base_cfg.to_dict()["normalize"],
                "near": self.base_cfg.to_dict()["dedup"]["near"],
                "seed": self.base_cfg.run.seed,
            },
            sort_keys=True,
        )
        folder = os.path.join(self.out, "split")
        marker = os.path.join(folder, "split.json")
        self.split_identity = hashlib.sha256(identity.encode()).hexdigest()
        done = _marker(marker)
        if done and json.loads(done)["identity"] == self.split_identity:
            info = json.loads(done)
            log.info("ablate: reusing the split in %s", folder)
        else:
            t0 = time.time()
            split = split_holdout(sources, self.base_cfg, hold, folder)
            info = {
                "identity": self.split_identity,
                "counts": split.counts,
                "train_sources": [[s.name, s.paths] for s in split.train_sources],
                "eval_path": split.eval_path,
                "seconds": round(time.time() - t0, 2),
            }
            _write(marker, json.dumps(info, indent=1))
            log.info("ablate: split %s in %.1fs", split.counts, time.time() - t0)
        from pipelines.config import SourceConfig

        self.split_info = info
        self.train_sources = [SourceConfig(n, p, "jsonl") for n, p in info["train_sources"]]
        self.eval_path = info["eval_path"]
        self.split_files_sha = _sha256_files(
            [p for _, paths in info["train_sources"] for p in paths] + [self.eval_path]
        )

    # ------------------------------------------------------------------------------ tokenizer
    def tokenizer(self) -> None:
        from pipelines.run import sample_texts
        from transforms.stages.normalize import Normalizer
        from transforms.stages.readers import plan_read_tasks
        from transforms.stages.tokenize import describe_tokenizer, save_tokenizer, train_bpe

        tcfg, base_tok = self.cfg.tokenizer, self.base_cfg.tokenizer
        path = os.path.join(self.out, "tokenizer", "tokenizer.json")
        identity = json.dumps([self.split_files_sha, tcfg.path, tcfg.vocab_size,
                               tcfg.train_sample_docs, base_tok.eos_token, base_tok.pad_token])  # fmt: skip
        marker = path + ".identity"
        if _marker(marker) != identity or not os.path.isfile(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if tcfg.path:
                from transforms.stages.tokenize import resolve_tokenizer_file

                with open(resolve_tokenizer_file(tcfg.path), "rb") as src:
                    blob = src.read()
                with open(path, "wb") as dst:
                    dst.write(blob)
            else:
                cfg = self.base_cfg
                tasks = plan_read_tasks(
                    self.train_sources, cfg.input.split_bytes, cfg.input.max_line_bytes
                )
                texts = sample_texts(
                    tasks, Normalizer.from_config(cfg.normalize), tcfg.train_sample_docs, 64 << 20
                )
                tok = train_bpe(texts, tcfg.vocab_size, [base_tok.eos_token, base_tok.pad_token])
                save_tokenizer(tok, path, base_tok.eos_token, base_tok.pad_token)
            _write(marker, identity)
        self.tokenizer_path = path
        self.tok_info = describe_tokenizer(path, base_tok.eos_token, base_tok.pad_token)

    # ----------------------------------------------------------------------------- eval shards
    def eval_shards(self) -> None:
        """Tokenized eval sets (Arrow IPC stream shards, the shard contract) under eval/."""
        from transforms.dedup.config import EvalSetConfig
        from transforms.dedup.decontam import read_examples

        docs: dict[str, list[tuple[str, str]]] = {}
        held = read_eval(self.eval_path)
        docs["heldout"] = [(d["id"], d["text"]) for d in held]
        for source in sorted({d["source"] for d in held}):
            docs[f"heldout:{source}"] = [
                (d["id"], d["text"]) for d in held if d["source"] == source
            ]
        for spec in self.user_eval:
            examples = read_examples(EvalSetConfig(spec["name"], spec["paths"], spec["fields"]))
            docs[spec["name"]] = [
                (f"{spec['name']}-{i}", t) for i, t in enumerate(examples) if t.strip()
            ]
        folder = os.path.join(self.out, "eval")
        os.makedirs(folder, exist_ok=True)
        self.eval_sets: dict[str, list[str]] = {}
        self.eval_entries: dict[str, dict] = {}
        for name, items in docs.items():
            if not items:
                continue
            path = os.path.join(folder, name.replace(":", "__") + ".arrow")
            self.eval_entries[name] = _write_shard(
                path, items, self.tokenizer_path, self.tok_info.eos_id,
                self.cfg.holdout.max_doc_tokens,
            )  # fmt: skip
            self.eval_sets[name] = [path]
        # `heldout` is the union of the per-source sets: scored from their sums, not a second pass.
        sources = [n for n in self.eval_sets if n.startswith("heldout:")]
        self.scored_sets = {
            n: p for n, p in self.eval_sets.items() if n != "heldout" or not sources
        }
        self.pooled = {"heldout": sources} if sources else {}
        primary = self.cfg.holdout.primary
        if primary not in self.eval_sets:
            raise ValueError(f"the primary eval set {primary!r} is empty")
        self.eval_identity = _sha256_files([p for v in self.eval_sets.values() for p in v])

    # ----------------------------------------------------------------------------------- arms
    def arms(self) -> dict:
        cfg, results = self.cfg, {}
        decon = [
            {"name": "heldout", "paths": [self.eval_path], "fields": ["text"]},
            *self.user_eval,
        ]
        seeds = list(cfg.train.seeds)
        for arm in cfg.arms:
            t0 = time.time()
            arm_dir = self._arm_dir(arm.name)
            data = arms_mod.arm_dict(
                self.base, arm, arm_dir, self.train_sources, self.tokenizer_path, decon,
                cfg.holdout.ngram,
            )  # fmt: skip
            arm_cfg = arms_mod.build_arm(data, arm.name)
            identity = arms_mod.arm_hash(arm_cfg, self.split_files_sha)
            manifest, reused = arms_mod.run_arm(arm_cfg, identity)
            curate_s = time.time() - t0
            log.info(
                "ablate: arm %s curated (%s) in %.1fs",
                arm.name,
                "reused" if reused else "ran",
                curate_s,
            )
            manifest_path = training.write_arm_manifest(
                arm_dir, [self.eval_entries[cfg.holdout.primary]]
            )
            unique_tokens = sum(s.get("tokens", 0) for s in manifest.get("shards", []))
            runs, reused_runs = [], 0
            for seed in seeds:
                run_cfg = training.seed_config(
                    self.train_data, seed, self.steps, cfg.train.eval_every_steps
                )
                run_id = training.run_identity(identity, run_cfg, seed, self.eval_identity)
                run_dir = os.path.join(self.out, "runs", os.path.basename(arm_dir), f"seed-{seed}")
                result, was_reused = training.run_seed(
                    manifest_path, run_dir, run_cfg, run_id, self.scored_sets, self.tok_info.pad_id
                    if self.tok_info.pad_id is not None else self.tok_info.eos_id, self.pooled,
                )  # fmt: skip
                reused_runs += was_reused
                runs.append({"seed": seed, **result})
            results[arm.name] = {
                "name": arm.name,
                "preset": arm.preset or arm.name,
                "overrides": arm.overrides(),
                "config_sha256": arm_cfg.sha256(),
                "identity": identity,
                "output": arm_dir,
                "curation_reused": reused,
                "runs_reused": reused_runs,
                "curation": arms_mod.removed_summary(manifest),
                "unique_tokens": unique_tokens,
                "runs": runs,
                "seconds": round(time.time() - t0, 2),
            }
            if self.on_arm_done is not None:
                self.on_arm_done(arm.name)
        return results

    # ---------------------------------------------------------------------------------- report
    def summarize(self, results: dict) -> dict:
        cfg = self.cfg
        raw = results["raw"]
        for arm in results.values():
            slots = self.steps * self.per_step
            arm["token_slots_per_run"] = slots
            arm["tokens_trained"] = [r["tokens_seen"] for r in arm["runs"]]
            arm["epochs"] = slots / arm["unique_tokens"] if arm["unique_tokens"] else None
            arm["eval"] = {}
            for name in self.eval_sets:
                losses = [r["eval"][name]["loss"] for r in arm["runs"]]
                entry = {"losses": losses, **summary(losses)}
                entry["perplexity_mean"] = sum(
                    r["eval"][name]["perplexity"] for r in arm["runs"]
                ) / len(losses)
                if arm is not raw:
                    diff = paired_difference(losses, [r["eval"][name]["loss"] for r in raw["runs"]])
                    entry["diff_to_raw"] = diff
                    entry["verdict"] = verdict(diff)
                arm["eval"][name] = entry
            primary = arm["eval"][cfg.holdout.primary]
            arm["verdict"] = primary.get("verdict", "the baseline")
        return {
            "format_version": 1,
            "output": self.out,
            "device": "cuda" if self.cuda else "cpu",
            "primary_eval_set": cfg.holdout.primary,
            "difference": "paired by seed: mean of loss(arm, s) - loss(raw, s), Student-t 95% interval",
            "seeds": list(cfg.train.seeds),
            "tokens_per_run": self.steps * self.per_step,
            "steps_per_run": self.steps,
            "train_config": training.seed_config(
                self.train_data, "<seed>", self.steps, cfg.train.eval_every_steps
            ),
            "tokenizer": {
                "path": self.tokenizer_path,
                "sha256": self.tok_info.sha256,
                "vocab_size": self.tok_info.vocab_size,
            },  # fmt: skip
            "split": self.split_info["counts"],
            "eval_sets": {
                n: {k: v for k, v in e.items() if k != "abs_path"}
                for n, e in self.eval_entries.items()
            },
            "arms": results,
        }

    def run(self) -> dict:
        t0 = time.time()
        self.validate()
        self.split()
        self.tokenizer()
        self.eval_shards()
        log.info("ablate: split, tokenizer and eval shards ready after %.1fs", time.time() - t0)
        results = self.arms()
        report = self.summarize(results)
        report["seconds"] = round(time.time() - t0, 2)
        _write(os.path.join(self.out, "ablation.json"), json.dumps(report, indent=1, default=str))
        from pipelines.ablate.report import write_report

        report["report"] = write_report(report, os.path.join(self.out, "report"))
        return report


def _write_shard(
    path: str, items: list[tuple[str, str]], tokenizer_path: str, eos_id: int, max_tokens: int
) -> dict:
    """An Arrow IPC stream shard (id, input_ids + EOS, at most `max_tokens` of each document) of
    `items`; its manifest entry."""
    import pyarrow as pa
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(tokenizer_path)
    ids = [(e.ids + [eos_id])[:max_tokens] for e in tok.encode_batch([t for _, t in items])]
    table = pa.table(
        {"id": [i for i, _ in items], "input_ids": pa.array(ids, pa.list_(pa.int32()))}
    )
    with pa.OSFile(path + ".tmp", "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    os.replace(path + ".tmp", path)
    return {
        "abs_path": path,
        "rows": len(items),
        "tokens": sum(map(len, ids)),
        "bytes": os.path.getsize(path),
        "sha256": _file_sha256(path),
    }


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def run_ablation(cfg: AblationConfig, on_arm_done: Callable[[str], None] | None = None) -> dict:
    """Runs (or resumes) an ablation; returns the content of `ablation.json`.

    Raises:
        ConfigError: any config problem (base, arms, training), before any work.
    """
    return Ablation(cfg, on_arm_done).run()


__all__ = ["Ablation", "run_ablation"]
