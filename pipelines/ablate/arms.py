"""Each arm is a normal curate run: the base config plus the arm's overrides, on the training split.

Every arm gets the same input (the raw training split), the same tokenizer file, no eval split of
its own (`sampling.eval_fraction: 0`; the shared eval set replaces it) and
decontamination (action drop; shared boilerplate n-grams are no evidence) against the held-out eval set and every user eval set, whatever its
preset says about other dedup stages. A finished arm writes `ablate_arm.json` holding the hash of
its final config; a rerun whose config hashes the same reuses the arm's shards untouched.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from typing import Any

import yaml

from pipelines.ablate.config import AblationConfig, ArmConfig
from pipelines.config import CurateConfig, SourceConfig
from train.typed_config import ConfigError, apply_overrides, build

MARKER = "ablate_arm.json"


def base_dict(cfg: AblationConfig) -> dict[str, Any]:
    """The base curate config as a plain dict, with the ablation's `set` overrides applied."""
    if isinstance(cfg.base, dict):
        data = copy.deepcopy(cfg.base)
    else:
        with open(cfg.base, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    return apply_overrides(data, cfg.set)


def arm_dict(
    base: dict[str, Any],
    arm: ArmConfig,
    output: str,
    sources: list[SourceConfig] | None,
    tokenizer_path: str | None,
    eval_sets: list[dict],
    ngram: int,
) -> dict[str, Any]:
    """The arm's curate config as a dict (not yet validated).

    Args:
        base: the base config dict.
        arm: the arm.
        output: the arm's run folder.
        sources: the training split's sources (None: keep the base's input, for validation only).
        tokenizer_path: the shared tokenizer file (None: keep the base's, for validation only).
        eval_sets: decontamination eval sets ({name, paths, fields}).
        ngram: decontamination n-gram.
    """
    data = copy.deepcopy(base)
    apply_overrides(data, arm.overrides())
    data.setdefault("run", {})["output"] = output
    if sources is not None:
        data["input"] = {
            **{k: v for k, v in (data.get("input") or {}).items() if k not in ("sources", "demo")},
            "sources": [{"name": s.name, "paths": s.paths, "format": s.format} for s in sources],
            "demo": {"enabled": False},
        }
    if tokenizer_path is not None:
        data.setdefault("tokenizer", {})["path"] = tokenizer_path
    data.setdefault("sampling", {})["eval_fraction"] = 0.0
    data.setdefault("train", {})["enabled"] = False  # ablate trains each arm itself
    decon = data.setdefault("dedup", {}).setdefault("decontamination", {})
    decon["eval_sets"] = [*decon.get("eval_sets", []), *eval_sets]
    decon.update(action="drop", ngram=ngram)
    decon["min_example_words"] = min(decon.get("min_example_words", 8), ngram)
    return data


def build_arm(data: dict[str, Any], arm: str) -> CurateConfig:
    """Validates an arm's config; problems are prefixed with the arm's name."""
    try:
        return build(CurateConfig, data)
    except ConfigError as exc:
        raise ConfigError([f"arm {arm!r}: {p}" for p in exc.problems]) from None


def arm_hash(cfg: CurateConfig, inputs_sha256: str) -> str:
    """The identity of an arm's result: its full config and the bytes of its inputs."""
    return hashlib.sha256(f"{cfg.sha256()}:{inputs_sha256}".encode()).hexdigest()


def finished(output: str, identity: str) -> dict | None:
    """The arm's manifest if it finished under `identity`, else None."""
    marker = os.path.join(output, MARKER)
    manifest = os.path.join(output, "manifest.json")
    if not (os.path.isfile(marker) and os.path.isfile(manifest)):
        return None
    with open(marker, encoding="utf-8") as fh:
        if json.load(fh).get("identity") != identity:
            return None
    with open(manifest, encoding="utf-8") as fh:
        return json.load(fh)


def run_arm(cfg: CurateConfig, identity: str) -> tuple[dict, bool]:
    """(manifest, reused): runs the curate job unless a finished run has the same identity."""
    done = finished(cfg.run.output, identity)
    if done is not None:
        return done, True
    from pipelines.run import run

    marker = os.path.join(cfg.run.output, MARKER)
    if os.path.exists(marker):
        os.remove(marker)  # an older result is about to be replaced
    manifest = run(cfg)
    tmp = marker + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"identity": identity, "config_sha256": cfg.sha256()}, fh)
    os.replace(tmp, marker)
    return manifest, False


def removed_summary(manifest: dict) -> dict:
    """What the arm's run did with its input, from the manifest's accounting."""
    acc = manifest.get("accounting", {})

    def total(v: Any) -> int:
        return sum(v.values()) if isinstance(v, dict) else int(v or 0)

    return {
        "read": acc.get("read", 0),
        "written": acc.get("written", 0),
        "dead_letter": total(acc.get("dead_letter")),
        "rejected": acc.get("rejected", {}),
        "removed": acc.get("removed", {}),
        "sampled_out": acc.get("sampled_out", 0),
        "tokens_written": sum(s.get("tokens", 0) for s in manifest.get("shards", [])),
        "validation_success": (manifest.get("validation") or {}).get("success"),
    }


# Validation checks an arm is expected to fail, given what it switches off: the raw arm keeps
# every duplicate, so the suite's duplicate check must fail there (it is the point of the arm).
def expected_failures(cfg: CurateConfig) -> dict[str, str]:
    """{check name: why it is expected to fail in this arm}."""
    out = {}
    if not cfg.dedup.exact.enabled:
        out["no_duplicate_texts"] = "exact dedup is off in this arm"
    return out


def validation_badge(manifest: dict, cfg: CurateConfig) -> dict:
    """The arm's validation state for the page: status, failed checks, which were expected.

    `status`: passed, expected failure (only checks the arm is expected to fail failed), failed,
    or not run. `force_note` is what training is told when the corpus failed or was not validated
    (None when it passed):
    ablate trains every arm on purpose, and says so instead of naming a `--force` nobody passed.
    """
    verdict = manifest.get("validation") or {}
    success = verdict.get("success")
    failed = list(verdict.get("failed") or [
        e.get("name") for e in verdict.get("expectations", []) if not e.get("success")
    ])  # fmt: skip
    expected = expected_failures(cfg)
    if success is None:
        status = "not run"
    elif success:
        status = "passed"
    elif failed and all(f in expected for f in failed):
        status = "expected failure"
    else:
        status = "failed"
    note = None
    if success is None:  # training refuses an unvalidated corpus unless told why
        note = "the arm was not validated (validation off); curate ablate trains every arm"
    elif success is False:
        why = (
            "; ".join(f"{f} (expected: {expected[f]})" if f in expected else f for f in failed)
            or "no check named"
        )
        note = f"the arm failed validation: {why}; curate ablate trains every arm and shows this"
    return {
        "status": status,
        "failed": failed,
        "expected": {f: expected[f] for f in failed if f in expected},
        "unexpected": [f for f in failed if f not in expected],
        "force_note": note,
    }


def source_tokens(output: str, manifest: dict) -> dict[str, int]:
    """Training tokens per source in the arm's shards (their `source` and `n_tokens` columns)."""
    import pyarrow as pa

    out: dict[str, int] = {}
    for shard in manifest.get("shards", []):
        path = os.path.join(output, shard["path"])
        with pa.memory_map(path) as src:
            for batch in pa.ipc.open_stream(src):
                sources = batch.column("source").to_pylist()
                tokens = batch.column("n_tokens").to_pylist()
                for s, t in zip(sources, tokens, strict=True):
                    out[s] = out.get(s, 0) + int(t)
    return dict(sorted(out.items()))


def shares(tokens: dict[str, int]) -> dict[str, float]:
    """Token counts per source as shares of their total."""
    total = sum(tokens.values())
    return {s: t / total for s, t in tokens.items()} if total else {}
