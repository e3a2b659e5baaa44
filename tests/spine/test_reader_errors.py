"""Issue 18: no record is lost, and no bad record or file stops the run (readers, read stage)."""

import gzip
import json
import os
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.run import sample_texts
from transforms.infra.accounting import Tally, accounting_from_tally, accounting_problems
from transforms.infra.record import DeadLetter, Record
from transforms.stages import readers
from transforms.stages.normalize import Normalizer
from transforms.stages.read import ReadAndNormalize
from transforms.stages.readers import TaskReader, plan_read_tasks, read_task

GOOD = "A sentence about copper stones and the river."


def _src(paths, name="s"):
    return SimpleNamespace(
        name=name, paths=[str(p) for p in paths], format="auto", id_field="id", text_field="text"
    )


def _read(paths, split_bytes=1 << 20):
    tasks = plan_read_tasks([_src(paths)], split_bytes, 1 << 20)
    return [item for t in tasks for item in read_task(t)]


def _lines(path, lines: list[str | bytes]) -> None:
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))


def _dead(items):
    return {(i.line, i.reason) for i in items if isinstance(i, DeadLetter)}


def test_record_level_errors_are_dead_letters_and_the_task_goes_on(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    _lines(
        tmp_path / "a.jsonl",
        [
            json.dumps({"id": "a", "text": GOOD}),
            '{"id": ' + "9" * 5000 + ', "text": "huge id"}',  # over the int-string limit
            json.dumps({"id": "b", "text": GOOD}),
            '{"id": "c", "text": ' + deep + "}",  # RecursionError in json
            json.dumps({"id": "d", "text": GOOD}),
        ],
    )
    items = _read([tmp_path / "a.jsonl"])
    assert [i.id for i in items if isinstance(i, Record)] == ["a", "b", "d"]
    assert _dead(items) == {(2, "malformed_json"), (4, "malformed_json")}


def test_lone_surrogates_are_invalid_unicode(tmp_path):
    _lines(
        tmp_path / "a.jsonl",
        [
            '{"id": "a", "text": "bad \\ud800 text"}',
            '{"id": "b\\udfff", "text": "good text"}',
            '{"id": "c", "text": "a pair \\ud83d\\ude00 is fine"}',
        ],
    )
    items = _read([tmp_path / "a.jsonl"])
    assert [i.id for i in items if isinstance(i, Record)] == ["c"]
    assert _dead(items) == {(1, "invalid_unicode"), (2, "invalid_unicode")}
    # Tokenizer training samples Records only: nothing it gets can fail to encode.
    tasks = plan_read_tasks([_src([tmp_path / "a.jsonl"])], 1 << 20, 1 << 20)
    assert sample_texts(tasks, Normalizer(), 10, 1 << 20) == ["a pair \U0001f600 is fine"]


def test_bom_int_ids_and_string_ids(tmp_path):
    _lines(
        tmp_path / "a.jsonl",
        [
            b"\xef\xbb\xbf" + json.dumps({"id": 1, "text": GOOD}).encode(),
            json.dumps({"id": "1", "text": GOOD + " Another."}),
        ],
    )
    (tmp_path / "b.txt").write_bytes(b"\xef\xbb\xbfplain text file")
    items = _read([tmp_path / "a.jsonl", tmp_path / "b.txt"])
    recs = {i.id: i.text for i in items if isinstance(i, Record)}
    assert not _dead(items)
    assert set(recs) == {"int:1", "1", "s:b.txt"}  # 1 and "1" stay distinct ids
    assert recs["s:b.txt"] == "plain text file"


def test_bad_files_become_dead_letters_while_planning(tmp_path, monkeypatch):
    _lines(tmp_path / "good.jsonl", [json.dumps({"id": "g", "text": GOOD})])
    (tmp_path / "folder.jsonl").mkdir()
    os.symlink(tmp_path / "nowhere.jsonl", tmp_path / "dangling.jsonl")
    os.symlink(tmp_path / "loop.jsonl", tmp_path / "loop.jsonl")
    (tmp_path / "corrupt.parquet").write_bytes(b"PAR1 this is not parquet")
    pq.write_table(pa.table({"id": ["p"], "text": [GOOD]}), tmp_path / "whole.parquet")
    data = (tmp_path / "whole.parquet").read_bytes()
    (tmp_path / "truncated.parquet").write_bytes(data[: len(data) // 2])
    _lines(tmp_path / "locked.jsonl", [json.dumps({"id": "x", "text": GOOD})])
    (tmp_path / "locked.jsonl.gz").write_bytes(gzip.compress(b'{"id": "y", "text": "t"}\n'))
    # Tests run as root, so chmod 000 reads anyway: the two files refuse to open instead.
    locked = {str(tmp_path / "locked.jsonl"), str(tmp_path / "locked.jsonl.gz")}
    real_open, real_open_binary = open, readers._open_binary

    def refusing(opener):
        def wrapped(path, *args, **kwargs):
            if str(path) in locked:
                raise PermissionError(13, "Permission denied", str(path))
            return opener(path, *args, **kwargs)

        return wrapped

    monkeypatch.setattr(readers, "open", refusing(real_open), raising=False)
    monkeypatch.setattr(readers, "_open_binary", refusing(real_open_binary))
    monkeypatch.setattr(readers.fs, "open_read", refusing(readers.fs.open_read))
    tasks = plan_read_tasks([_src([tmp_path / "*"])], 1 << 20, 1 << 20)
    items = [(t, item) for t in tasks for item in read_task(t)]
    got = {os.path.basename(i.file): i.reason for _, i in items if isinstance(i, DeadLetter)}
    assert got == {
        "folder.jsonl": "unreadable_file",
        "dangling.jsonl": "unreadable_file",
        "loop.jsonl": "unreadable_file",
        "corrupt.parquet": "corrupt_file",
        "truncated.parquet": "corrupt_file",
        "locked.jsonl": "unreadable_file",
        "locked.jsonl.gz": "unreadable_file",
    }
    assert all(i.detail for _, i in items if isinstance(i, DeadLetter))
    assert sorted(i.id for _, i in items if isinstance(i, Record)) == ["g", "p"]


def _run_read_stage(task):
    fn = ReadAndNormalize(Normalizer(), 1 << 20, progress=False)
    fn.start_bundle()
    out = list(fn.process(task))
    tally = Tally()
    for tagged in fn.finish_bundle():
        tally.merge(Tally.from_state(tagged.value.value))
    for item in out:  # what the sinks would count downstream
        value = getattr(item, "value", item)
        if isinstance(value, DeadLetter):
            tally.add("dead_letter", value.reason, value.source)
        else:
            tally.add("written", "", value.source)
    return out, accounting_from_tally(tally)


def test_read_counts_records_met_so_a_lost_one_fails_the_accounting(tmp_path, monkeypatch):
    _lines(tmp_path / "a.jsonl", [json.dumps({"id": f"r{i}", "text": GOOD}) for i in range(3)])
    (task,) = plan_read_tasks([_src([tmp_path / "a.jsonl"])], 1 << 20, 1 << 20)
    out, acc = _run_read_stage(task)
    assert len(out) == 3 and acc["read"] == 3 and accounting_problems(acc) == []

    # A reader that meets line 2 and emits nothing for it (the bug class of issue 18).
    real = readers._jsonl_item
    monkeypatch.setattr(
        readers, "_jsonl_item", lambda t, line, data: None if line == 2 else real(t, line, data)
    )
    monkeypatch.setitem(
        readers._READERS,
        "jsonl",
        lambda t: (i for i in readers._read_jsonl(t) if i is not None),
    )
    out, acc = _run_read_stage(task)
    assert len(out) == 2 and acc["read"] == 3
    assert accounting_problems(acc)


def test_task_reader_counts_every_physical_record(tmp_path):
    _lines(
        tmp_path / "a.jsonl",
        [json.dumps({"id": "a", "text": GOOD}), "", "not json", json.dumps({"id": "b"})],
    )
    tasks = plan_read_tasks([_src([tmp_path / "a.jsonl"])], 16, 1 << 20)
    readers_ = [TaskReader(t) for t in tasks]
    items = [i for r in readers_ for i in r]
    assert sum(r.seen for r in readers_) == len(items) == 3  # the blank line is no record


def test_tokenizer_sample_does_not_depend_on_split_bytes(tmp_path):
    for name in "ab":
        _lines(
            tmp_path / f"{name}.jsonl",
            [json.dumps({"id": f"{name}{i}", "text": f"{GOOD} {name} {i}"}) for i in range(40)],
        )
    samples = []
    for split in (1 << 20, 300, 1000):
        tasks = plan_read_tasks([_src([tmp_path / "*.jsonl"])], split, 1 << 20)
        samples.append(sample_texts(tasks, Normalizer(), 20, 1 << 20))
    assert samples[0] == samples[1] == samples[2] and len(samples[0]) == 20


def test_one_invalid_utf8_parquet_cell_is_one_dead_letter(tmp_path):
    # Arrow does not check UTF-8 on write; reading the column as a whole fails on one cell.
    text = pa.array([GOOD.encode(), b"bad \xff", GOOD.encode() + b"!"]).view(pa.string())
    pq.write_table(pa.table({"id": ["a", "b", "c"], "text": text}), tmp_path / "d.parquet")
    items = _read([tmp_path / "d.parquet"])
    assert [i.id for i in items if isinstance(i, Record)] == ["a", "c"]
    assert _dead(items) == {(2, "invalid_utf8")}


def test_hf_dataset_arrow_files_have_distinct_positions(tmp_path):
    import datasets

    splits = {
        "train": datasets.Dataset.from_dict({"id": ["a", "b"], "text": ["x y", "y z"]}),
        "test": datasets.Dataset.from_dict({"id": ["c"], "text": ["z w"]}),
    }
    datasets.DatasetDict(splits).save_to_disk(str(tmp_path / "ds"))
    recs = [i for i in _read([tmp_path / "ds"]) if isinstance(i, Record)]
    assert sorted(r.id for r in recs) == ["a", "b", "c"]
    assert len({r.meta["_pos"] for r in recs}) == 3  # rows of both Arrow files all start at 1
    assert sorted(r.meta["_line"] for r in recs) == [1, 1, 2]  # lines stay the rows
