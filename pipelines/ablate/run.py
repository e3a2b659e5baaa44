"""`run_ablation(cfg)`: does curation pay? The same model trained on each curation variant.

Steps, each resumable:

1. validate everything (base config, every arm's config, the train config): one error, no work;
2. split the raw input: the shared eval set out, exact and near copies of it out of training
   (holdout.py); reused while the input bytes and split settings are unchanged;
3. train ONE tokenizer on the training split; every arm and every eval shard uses it;
4. tokenize the eval sets into Arrow shards, in buckets (the bootstrap's unit): `heldout:<source>`
   and each user eval set; `heldout` (pooled) and `heldout:mix` (per-source losses re-weighted
   to the declared target mix) are computed from them;
5. curate every arm (reused when its config hash is unchanged; random curation once per seed),
   size the runs (`train.tokens`, or `train.epochs` of the smallest arm), then train seed rounds:
   every arm on the round's seeds, statistics, and the sequential rule decides whether to add a
   seed (verdicts.py);
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
from pipelines.ablate import training, verdicts
from pipelines.ablate.config import AblationConfig, ArmConfig
from pipelines.ablate.holdout import read_eval, split_holdout
from pipelines.config import CurateConfig
from train.typed_config import ConfigError, build
from transforms.stages.readers import expand_paths

log = logging.getLogger("curate")

# An arm "changes the source mix" when a source's share of its training tokens moves more than
# this (absolute share) from the raw arm's.
MIX_CHANGE = 0.01


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
        on_arm_done: called with an arm's name after each of its training rounds (every arm is
            curated before the first round; tests use it to kill a run between arms).
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
        """Tokenized eval sets (Arrow IPC stream shards, the shard contract) under eval/.

        Each set is written in buckets (`holdout.eval_buckets`, documents dealt round-robin),
        scored bucket by bucket: the bootstrap resamples buckets, and a set's loss is the
        token-weighted union of its buckets (exactly its token-mean loss).
        """
        from transforms.dedup.config import EvalSetConfig
        from transforms.dedup.decontam import read_examples

        docs: dict[str, list[tuple[str, str]]] = {}
        held = read_eval(self.eval_path)
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
        self.buckets: dict[str, list[str]] = {}  # set name -> its bucket names
        self.bucket_entries: dict[str, dict] = {}  # bucket name -> shard manifest entry
        for name, items in docs.items():
            if not items:
                continue
            k = min(self.cfg.holdout.eval_buckets, len(items))
            self.buckets[name] = []
            for b in range(k):
                bucket = f"{name}#{b:03d}"
                path = os.path.join(folder, f"{name.replace(':', '__')}__b{b:03d}.arrow")
                self.bucket_entries[bucket] = _write_shard(
                    path, items[b::k], self.tokenizer_path, self.tok_info.eos_id,
                    self.cfg.holdout.max_doc_tokens,
                )  # fmt: skip
                self.buckets[name].append(bucket)
        self.sources = [n.split(":", 1)[1] for n in self.buckets if n.startswith("heldout:")]
        if self.sources:  # the pooled held-out set: every source's buckets
            self.buckets["heldout"] = [
                b for s in self.sources for b in self.buckets[f"heldout:{s}"]
            ]
        self.eval_entries = {
            name: {
                "rows": sum(self.bucket_entries[b]["rows"] for b in names),
                "tokens": sum(self.bucket_entries[b]["tokens"] for b in names),
                "bytes": sum(self.bucket_entries[b]["bytes"] for b in names),
                "buckets": len(names),
            }
            for name, names in self.buckets.items()
        }
        primary = self.cfg.holdout.primary
        known = [*self.buckets, *(["heldout:mix"] if self.sources else [])]
        if primary not in known:
            raise ValueError(f"the primary eval set {primary!r} is empty or unknown (have {known})")
        # The training eval curve runs on the primary set (the pooled held-out set for the mix).
        self.curve_set = primary if primary in self.buckets else "heldout"
        self.scored_sets = {b: [e["abs_path"]] for b, e in self.bucket_entries.items()}
        self.pooled = {n: list(b) for n, b in self.buckets.items()}
        self.eval_identity = _sha256_files([e["abs_path"] for e in self.bucket_entries.values()])

    # ------------------------------------------------------------------------------- curation
    def curate(self, arm: ArmConfig, seed: int) -> dict:
        """The arm's curate run for training seed `seed` (one run unless its curation is random).

        Random curation (sampling other than `all`) is re-drawn per seed through
        `sampling.seed_offset`, so the seed-to-seed spread includes the sampling draw.
        """
        cfg = self.cfg
        decon = [{"name": "heldout", "paths": [self.eval_path], "fields": ["text"]},
                 *self.user_eval]  # fmt: skip
        data = arms_mod.arm_dict(self.base, arm, self._arm_dir(arm.name), self.train_sources,
                                 self.tokenizer_path, decon, cfg.holdout.ngram)  # fmt: skip
        arm_cfg = arms_mod.build_arm(data, arm.name)
        redraw = cfg.train.redraw_curation == "auto" and arm_cfg.sampling.mode != "all"
        if redraw:
            sampling = data.setdefault("sampling", {})
            sampling["seed_offset"] = int(sampling.get("seed_offset", 0)) + seed
            data["run"]["output"] = os.path.join(self._arm_dir(arm.name), f"seed-{seed}")
            arm_cfg = arms_mod.build_arm(data, arm.name)
        key = (arm.name, seed if redraw else None)
        if key in self.curated:
            return self.curated[key]
        t0 = time.time()
        identity = arms_mod.arm_hash(arm_cfg, self.split_files_sha)
        manifest, reused = arms_mod.run_arm(arm_cfg, identity)
        out = arm_cfg.run.output
        validation = arms_mod.validation_badge(manifest, arm_cfg)
        self.curated[key] = {
            "seed": seed if redraw else None,
            "output": out,
            "identity": identity,
            "config_sha256": arm_cfg.sha256(),
            "reused": reused,
            "summary": arms_mod.removed_summary(manifest),
            "validation": validation,
            "source_tokens": arms_mod.source_tokens(out, manifest),
            "unique_tokens": sum(s.get("tokens", 0) for s in manifest.get("shards", [])),
            "manifest_path": training.write_arm_manifest(
                out, [self.bucket_entries[b] for b in self.buckets[self.curve_set]]
            ),
            "seconds": round(time.time() - t0, 2),
        }
        log.info("ablate: arm %s%s curated (%s) in %.1fs", arm.name,
                 f" seed {seed}" if redraw else "", "reused" if reused else "ran",
                 time.time() - t0)  # fmt: skip
        return self.curated[key]

    # ----------------------------------------------------------------------------------- arms
    def train_seed(self, arm: ArmConfig, seed: int) -> tuple[dict, bool]:
        """(result, reused): one training run of `arm` at `seed`, evaluated on every bucket."""
        cur = self.curate(arm, seed)
        run_cfg = training.seed_config(self.train_data, seed, self.steps,
                                       self.cfg.train.eval_every_steps)  # fmt: skip
        run_id = training.run_identity(cur["identity"], run_cfg, seed, self.eval_identity)
        run_dir = os.path.join(self.out, "runs", os.path.basename(self._arm_dir(arm.name)),
                               f"seed-{seed}")  # fmt: skip
        pad = self.tok_info.pad_id if self.tok_info.pad_id is not None else self.tok_info.eos_id
        note = cur["validation"]["force_note"]
        result, reused = training.run_seed(cur["manifest_path"], run_dir, run_cfg, run_id,
                                           self.scored_sets, pad, self.pooled, note)  # fmt: skip
        return {"seed": seed, "curation_output": cur["output"], **result}, reused

    def size_runs(self) -> None:
        """Steps per run: `train.tokens`, or `train.epochs` of the smallest curated arm."""
        epochs = self.cfg.train.epochs
        if epochs is None:
            return
        smallest = min(c["unique_tokens"] for c in self.curated.values())
        self.tokens = max(1, int(epochs * smallest))
        self.steps, self.per_step = training.steps_for(self.train_data, self.tokens)
        log.info("ablate: %.2f epochs of the smallest arm (%d unique tokens): %d steps",
                 epochs, smallest, self.steps)  # fmt: skip

    def arms(self) -> dict:
        """Curates every arm, then trains seed rounds until the sequential rule stops."""
        cfg, self.curated = self.cfg, {}
        seeds = list(cfg.train.seeds)
        for arm in cfg.arms:
            for seed in seeds:
                self.curate(arm, seed)
        self.size_runs()
        runs: dict[str, list[dict]] = {a.name: [] for a in cfg.arms}
        self.reused_runs = dict.fromkeys(runs, 0)
        self.rounds: list[dict] = []
        todo = seeds
        while True:
            for arm in cfg.arms:
                for seed in todo:
                    result, reused = self.train_seed(arm, seed)
                    runs[arm.name].append(result)
                    self.reused_runs[arm.name] += reused
                if self.on_arm_done is not None:
                    self.on_arm_done(arm.name)
            stop, why = verdicts.stop_rule(self.statistics(runs), cfg)
            self.rounds.append({"seeds": [r["seed"] for r in runs["raw"]], "stop": stop,
                                "why": why})  # fmt: skip
            log.info("ablate: after %d seeds: %s", len(runs["raw"]), why)
            if stop:
                return runs
            todo = [max(r["seed"] for r in runs["raw"]) + 1]

    def statistics(self, runs: dict[str, list[dict]]) -> dict:
        return verdicts.evaluate(
            runs, self.buckets, self.sources, self.target_mix(), self.cfg.holdout.primary,
            self.cfg.stats,
        )  # fmt: skip

    def target_mix(self) -> dict[str, float]:
        """The declared mix of heldout:mix over the sources that have eval documents."""
        raw = next(c for (name, _), c in self.curated.items() if name == "raw")
        declared = self.cfg.holdout.target_mix or raw["source_tokens"]
        mix = {s: float(declared.get(s, 0.0)) for s in self.sources}
        total = sum(mix.values())
        if total <= 0:
            raise ValueError(
                f"target mix {declared} has no weight on an eval source {self.sources}"
            )
        return {s: w / total for s, w in mix.items()}

    # ---------------------------------------------------------------------------------- report
    def summarize(self, runs: dict[str, list[dict]]) -> dict:
        cfg = self.cfg
        stats = self.statistics(runs)
        mix = self.target_mix()
        raw_mix = arms_mod.shares(self.curated[("raw", None)]["source_tokens"])
        slots = self.steps * self.per_step
        results = {}
        for arm in cfg.arms:
            curations = [c for (n, _), c in self.curated.items() if n == arm.name]
            unique = min(c["unique_tokens"] for c in curations)
            arm_mix = arms_mod.shares(curations[0]["source_tokens"])
            shift = max((abs(arm_mix.get(s, 0.0) - raw_mix.get(s, 0.0))
                         for s in {*arm_mix, *raw_mix}), default=0.0)  # fmt: skip
            results[arm.name] = {
                "name": arm.name,
                "preset": arm.preset or arm.name,
                "factors": arm.factors(),
                "overrides": arm.overrides(),
                "output": curations[0]["output"],
                "identity": curations[0]["identity"],
                "config_sha256": curations[0]["config_sha256"],
                "curation_redrawn_per_seed": curations[0]["seed"] is not None,
                "curation_reused": all(c["reused"] for c in curations),
                "curations": [{k: v for k, v in c.items() if k != "manifest_path"}
                              for c in curations],  # fmt: skip
                "curation": curations[0]["summary"],
                "validation": curations[0]["validation"],
                "source_mix": arm_mix,
                "mix_shift": shift,
                "changes_mix": shift > MIX_CHANGE,
                "unique_tokens": unique,
                "runs_reused": self.reused_runs[arm.name],
                "runs": runs[arm.name],
                "token_slots_per_run": slots,
                "tokens_trained": [r["tokens_seen"] for r in runs[arm.name]],
                "epochs": slots / unique if unique else None,
                "eval": stats["arms"][arm.name],
                "verdict": stats["arms"][arm.name][cfg.holdout.primary].get(
                    "verdict", "the baseline"),
            }  # fmt: skip
        max_epochs = max((a["epochs"] or 0.0) for a in results.values())
        warnings = []
        if max_epochs < cfg.train.warn_epochs_below:
            warnings.append(
                f"every arm trains on less than {cfg.train.warn_epochs_below:g} epoch of its data "
                f"(at most {max_epochs:.3f}): duplicates are rarely seen twice in a run, so dedup "
                "can hardly change the loss here. Set train.epochs (epochs of the smallest arm) "
                "to test dedup where it can matter."
            )
        primary = stats["family"]["primary"]
        return {
            "format_version": 2,
            "output": self.out,
            "device": "cuda" if self.cuda else "cpu",
            "primary_eval_set": cfg.holdout.primary,
            "target_mix": mix,
            "target_mix_declared": bool(cfg.holdout.target_mix),
            # sources of the declared (or raw) mix with no held-out documents: left out of it
            "target_mix_missing": sorted(
                set(cfg.holdout.target_mix or self.curated[("raw", None)]["source_tokens"])
                - set(self.sources)
            ),
            "difference": (
                "paired by seed: mean of loss(arm, s) - loss(raw, s); standard error from a "
                "paired bootstrap over seeds and eval-document buckets "
                f"({cfg.stats.bootstrap_draws} draws, seed {cfg.stats.bootstrap_seed}), "
                "Student-t with n-1 df; Holm-corrected over "
                f"{stats['family']['size']} comparisons, intervals at the Bonferroni level"
            ),
            "family": stats["family"],
            "mde": primary,
            "seeds": [r["seed"] for r in runs["raw"]],
            "seed_rule": {
                "initial": list(cfg.train.seeds),
                "cap": cfg.train.seed_cap(),
                "min_effect": cfg.train.min_effect,
                "rounds": self.rounds,
            },
            "tokens_per_run": slots,
            "steps_per_run": self.steps,
            "epochs_of_smallest": cfg.train.epochs,
            "warnings": warnings,
            "train_config": training.seed_config(
                self.train_data, "<seed>", self.steps, cfg.train.eval_every_steps
            ),
            "tokenizer": {
                "path": self.tokenizer_path,
                "sha256": self.tok_info.sha256,
                "vocab_size": self.tok_info.vocab_size,
            },  # fmt: skip
            "split": self.split_info["counts"],
            "eval_sets": self.eval_entries,
            "arms": results,
        }

    def run(self) -> dict:
        t0 = time.time()
        self.validate()
        self.split()
        self.tokenizer()
        self.eval_shards()
        log.info("ablate: split, tokenizer and eval shards ready after %.1fs", time.time() - t0)
        runs = self.arms()
        report = self.summarize(runs)
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
