"""End to end: a mixed corpus where code is kept under `policy: code` and rejected under web rules.

One small in-process run with two sources of the same kind of code: `repo` gets the `code`
policy, `pasted` the default (web) one. Language ID and a classifier trained in the test add
their shard columns and report sections.
"""

import json
import random

import pyarrow as pa
import yaml

from pipelines.config import load_config
from pipelines.run import run
from quality.classifier import FeatureConfig, TrainSettings, save_model, train_classifier
from tests.spine.corpus import doc

NAMES = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta", "lambda", "zeta"]


def _code(rng: random.Random, i: int) -> str:
    name, other = rng.choice(NAMES), rng.choice(NAMES)
    return (
        f"#include <stdio.h>\n\nstatic int {name}_{i}(const int *xs, int n) {{\n"
        f"    int total = 0;\n    for (int k = 0; k < n; k++) {{\n"
        f"        if (xs[k] > {i}) {{\n            total += xs[k] * {rng.randint(2, 9)};\n"
        f"        }} else {{\n            total -= {other}_{i + 1}(xs, k);\n        }}\n    }}\n"
        f"    return total;\n}}\n\nint main(void) {{\n    int xs[] = {{{i}, {i + 1}, {i + 2}}};\n"
        f'    printf("%d\\n", {name}_{i}(xs, 3));\n    return 0;\n}}\n'
    )


def _write(path, docs):
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in docs))


def test_code_policy_keeps_code_that_web_rules_reject(tmp_path):
    rng = random.Random(3)
    _write(tmp_path / "repo.jsonl", [(f"r{i}", _code(rng, i)) for i in range(12)])
    _write(tmp_path / "pasted.jsonl", [(f"p{i}", _code(rng, 100 + i)) for i in range(12)])
    prose = [doc(rng, 8) for _ in range(40)]
    _write(tmp_path / "web.jsonl", [(f"w{i}", t) for i, t in enumerate(prose)])
    model, _ = train_classifier(
        prose,
        [_code(rng, 500 + i) for i in range(40)],
        TrainSettings(features=FeatureConfig(n_features=1 << 14, char_ngrams=None)),
    )
    save_model(model, str(tmp_path / "prose.safetensors"))
    cfg = {
        "run": {"output": str(tmp_path / "out"), "running_mode": "in_memory", "progress": False},
        "input": {
            "sources": [
                {"name": n, "paths": [str(tmp_path / f"{n}.jsonl")]}
                for n in ("repo", "pasted", "web")
            ]
        },
        "quality": {
            "source_policies": {"repo": "code"},
            "scorers": [
                {"name": "gopher_quality_v1"},
                {"name": "c4_v1"},
                {"name": "language_v1", "action": "score_only"},
                {
                    "name": "classifier_v1",
                    "action": "score_only",
                    "thresholds": {"model": str(tmp_path / "prose.safetensors")},
                },
            ],
            "toxicity": {"enabled": False},
            "bias": {"enabled": False},
        },
        "dedup": {"near": {"enabled": False}, "boilerplate": {"enabled": False}},
        "tokenizer": {"vocab_size": 400, "train_sample_docs": 100},
        "shards": {"rows_per_shard": 100},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    manifest = run(load_config(str(tmp_path / "c.yaml")))
    assert manifest["accounting_ok"]
    by_source = manifest["accounting"]["by_source"]
    assert by_source["repo"]["written"] == 12 and by_source["repo"]["rejected"] == {}
    assert (
        by_source["pasted"]["written"] == 0 and sum(by_source["pasted"]["rejected"].values()) == 12
    )
    assert by_source["web"]["written"] == 40
    shard = pa.ipc.open_stream(
        pa.memory_map(str(tmp_path / "out" / manifest["shards"][0]["path"]))
    ).read_all()
    assert shard.schema.field("language").type == pa.string()
    assert shard.schema.field("language_score").type == pa.float32()
    assert shard.schema.field("classifier").type == pa.float32()
    rows = shard.select(["source", "language", "classifier"]).to_pylist()
    assert {r["language"] for r in rows if r["source"] == "web"} == {"en"}

    def mean(src):
        scores = [r["classifier"] for r in rows if r["source"] == src]
        return sum(scores) / len(scores)

    assert mean("web") > 0.5 > mean("repo")
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    qs = stats["quality_summary"]
    assert qs["by_source"]["web"]["languages"] == {"en": 40}
    assert qs["by_source"]["pasted"]["rejected"] and not qs["by_source"]["repo"]["rejected"]
    assert qs["classifier"]["scored"] == 64
    assert list(qs["classifier_models"].values())[0]["auc"] > 0.9
    html = (tmp_path / "out" / "report" / "index.html").read_text()
    assert "Language mix" in html and "Classifier score" in html
