"""Each arm is a normal curate run: the base config plus the arm's overrides, on the training split.

Every arm gets the same input (the raw training split), the same tokenizer file, no eval split of
its own (`sampling.eval_fraction: 0`; the shared eval set replaces it) and 13-gram
decontamination (action drop) against the held-out eval set and every user eval set, whatever its
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
