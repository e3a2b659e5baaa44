"""`curate classifier train`: reads reference and raw files, writes one self-describing model."""

import json
import random

from pipelines.cli import main as cli_main
from quality.classifier import read_metadata
from tests.spine.corpus import doc


def _write(path, texts):
    path.write_text(
        "".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts))
    )


def test_train_writes_a_model_with_metrics_and_fingerprint(tmp_path, capsys):
    rng = random.Random(0)
    _write(tmp_path / "ref.jsonl", [doc(rng, 6) for _ in range(80)])
    code = [f"def f{i}(x):\n    return [x * {i} for x in range({i})]\n" * 3 for i in range(80)]
    _write(tmp_path / "raw.jsonl", code)
    out = tmp_path / "m.safetensors"
    args = ["classifier", "train", "--positives", str(tmp_path / "ref.jsonl")]
    args += ["--negatives", str(tmp_path / "raw.jsonl"), "--out", str(out), "--hash-bits", "14"]
    assert cli_main(args) == 0
    summary = capsys.readouterr().out
    assert "held-out ROC-AUC" in summary and "precision" in summary and "recall" in summary
    assert f"model: {out}" in summary and len(summary.splitlines()) <= 6
    assert cli_main([*args, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["auc"] > 0.95 and printed["model"] == str(out)
    meta = read_metadata(str(out))
    assert meta["data"]["positives"]["docs"] == 80
    assert meta["data"]["negatives"]["paths"] == [str(tmp_path / "raw.jsonl")]
    assert meta["features"]["n_features"] == 1 << 14
    missing = ["classifier", "train", "--positives", str(tmp_path / "nope*.jsonl")]
    assert cli_main(missing + ["--negatives", str(tmp_path / "raw.jsonl"), "--out", str(out)]) == 2
