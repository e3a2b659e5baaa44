"""Issue 18 end to end: bad records and bad files are dead letters and the run goes on."""

import json
import os

from pipelines.config import load_config
from pipelines.run import run
from tests.spine.small_run import write_config, write_corpus
from transforms.infra.accounting import accounting_problems


def test_a_run_over_bad_records_and_files_succeeds_and_adds_up(tmp_path):
    data = tmp_path / "data"
    write_corpus(data / "good.jsonl", n_docs=40)
    good = json.loads((data / "good.jsonl").read_text().splitlines()[0])["text"]
    (data / "bad.jsonl").write_bytes(
        b"\xef\xbb\xbf"  # a BOM: line 1 is still a record
        + json.dumps({"id": "bom", "text": good + " With a BOM."}).encode()
        + b'\n{"id": "s", "text": "lone \\ud800 surrogate"}\n'
        + b'{"id": "s\\udfff", "text": "surrogate in the id"}\n'
        + b'{"id": '
        + b"9" * 5000
        + b', "text": "huge int"}\n'
        + json.dumps({"id": "after", "text": good + " After the huge int."}).encode()
        + b'\n{"text": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}\n"
    )
    (data / "folder.jsonl").mkdir()
    os.symlink(data / "missing.jsonl", data / "dangling.jsonl")
    (data / "corrupt.parquet").write_bytes(b"PAR1 not really parquet")
    cfg = write_config(tmp_path / "c.yaml", [str(data / "*")], str(tmp_path / "out"))
    m = run(load_config(str(cfg)))
    acc = m["accounting"]
    assert m["accounting_ok"] and accounting_problems(acc) == []
    assert acc["read"] == 40 + 6 + 3
    assert acc["dead_letter"] == {
        "invalid_unicode": 2,
        "malformed_json": 2,
        "unreadable_file": 2,
        "corrupt_file": 1,
    }
    dead = [
        json.loads(line)
        for f in (tmp_path / "out" / "dead_letter").glob("*.jsonl")
        for line in f.read_text().splitlines()
    ]
    where = {(os.path.basename(d["file"]), d["line"], d["reason"]) for d in dead}
    assert ("bad.jsonl", 4, "malformed_json") in where
    assert ("folder.jsonl", 0, "unreadable_file") in where
    assert ("corrupt.parquet", 0, "corrupt_file") in where
    assert acc["written"] == 42  # 40 good documents, "bom" and "after"
