from collections import Counter
from types import SimpleNamespace

from tests.spine.corpus import sources, write_corpus
from transforms.infra.record import DeadLetter, Record
from transforms.stages.readers import detect_format, plan_read_tasks, read_task


def _src(d):
    return SimpleNamespace(**{"format": "auto", "id_field": "id", "text_field": "text", **d})


def _read_all(root, split_bytes=1 << 20):
    tasks = plan_read_tasks([_src(s) for s in sources(root)], split_bytes, 1 << 20)
    return tasks, [item for t in tasks for item in read_task(t)]


def test_every_bad_record_gets_a_reason(tmp_path):
    write_corpus(tmp_path)
    _, items = _read_all(tmp_path)
    dead = Counter(i.reason for i in items if isinstance(i, DeadLetter))
    assert dead == {
        "malformed_json": 2,
        "empty_text": 2,
        "missing_text": 2,
        "non_string_text": 1,
        "invalid_utf8": 2,
        "truncated_gzip": 1,
    }
    recs = [i for i in items if isinstance(i, Record)]
    assert {"j0", "z0", "p0", "p2", "h0", "h1"} <= {r.id for r in recs}
    bad = next(i for i in items if isinstance(i, DeadLetter) and i.reason == "malformed_json")
    assert bad.file.endswith("a.jsonl") and bad.line > 1 and b"unterminated" in bad.raw


def test_split_ranges_keep_line_numbers_and_records(tmp_path):
    write_corpus(tmp_path)
    tasks1, whole = _read_all(tmp_path, 1 << 20)
    tasks2, split = _read_all(tmp_path, 512)  # many line-aligned ranges of a.jsonl
    assert len(tasks2) > len(tasks1)

    def key(i):
        return (
            type(i).__name__,
            getattr(i, "id", ""),
            getattr(i, "reason", ""),
            getattr(i, "line", 0) or i.meta.get("_line"),
        )

    assert sorted(map(key, whole)) == sorted(map(key, split))


def test_missing_ids_are_deterministic(tmp_path):
    write_corpus(tmp_path)
    ids1 = sorted(i.id for i in _read_all(tmp_path)[1] if isinstance(i, Record))
    ids2 = sorted(i.id for i in _read_all(tmp_path)[1] if isinstance(i, Record))
    assert ids1 == ids2
    assert any(i.startswith("jsonl:a.jsonl:") for i in ids1)


def test_positions_are_unique(tmp_path):
    write_corpus(tmp_path)
    recs = [i for i in _read_all(tmp_path)[1] if isinstance(i, Record)]
    assert len({r.meta["_pos"] for r in recs}) == len(recs)


def test_detect_format():
    assert detect_format("x/a.jsonl.gz") == "jsonl"
    assert detect_format("a.parquet") == "parquet"
    assert detect_format("notes.txt") == "text"
