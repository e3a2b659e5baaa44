"""Property-based fuzz of the readers: whatever the bytes, no crash and exact accounting.

Every non-blank input line ends in exactly one place (a Record or a DeadLetter at its line),
whatever the task split; a cut compressed stream ends in one file-level dead letter at the line
where it broke, after every line before it. `TaskReader.seen` equals the items emitted.
"""

import gzip
import json
from collections import Counter
from types import SimpleNamespace

import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.infra.record import DeadLetter, Record
from transforms.stages.readers import BOM, TaskReader, plan_read_tasks

EDGE_TEXT = ["\ud800", "\udfff", "a\ud83d\ude00b", "\x00", "\ufeff", "\u2028", "é\u0301", " \t "]


def _json_line(draw) -> bytes:
    text = draw(st.one_of(st.text(max_size=30), st.sampled_from(EDGE_TEXT)))
    doc_id = draw(
        st.one_of(
            st.none(),
            st.text(max_size=8),
            st.integers(),
            st.sampled_from([True, 1.5, [], "\ud800", 10**40]),
        )
    )
    obj = {"id": doc_id, "text": text} if draw(st.booleans()) else {"text": text}
    ascii_only = draw(st.booleans())
    return json.dumps(obj, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@st.composite
def lines(draw) -> bytes:
    kind = draw(st.sampled_from(["json", "json", "mutated", "bytes", "deep", "huge_int", "blank"]))
    if kind == "json":
        return _json_line(draw)
    if kind == "mutated":
        line = bytearray(_json_line(draw))
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, max(len(line) - 1, 0)))
            line[i : i + 1] = draw(st.binary(max_size=2))
        return bytes(line)
    if kind == "bytes":
        return draw(st.binary(max_size=40))
    if kind == "deep":
        n = draw(st.sampled_from([3, 50_000]))
        return b'{"text": ' + b"[" * n + b"]" * n + b"}"
    if kind == "huge_int":
        return b'{"id": ' + b"7" * draw(st.sampled_from([10, 5000])) + b', "text": "t"}'
    return draw(st.sampled_from([b"", b"  ", b"\r", b"\t"]))


@st.composite
def files(draw) -> tuple[str, bytes, int | None, bytes]:
    """(suffix, file bytes, where a compressed stream was cut or None, the uncut content)."""
    content = b"\n".join(draw(st.lists(lines(), max_size=12)))
    if draw(st.booleans()):
        content = BOM + content
    if draw(st.booleans()):
        content += b"\n"
    suffix = draw(st.sampled_from([".jsonl", ".jsonl", ".jsonl.gz", ".jsonl.zst"]))
    if suffix == ".jsonl":
        return suffix, content, None, content
    packed = gzip.compress(content) if suffix.endswith(".gz") else _zstd(content)
    cut = draw(st.one_of(st.none(), st.integers(1, max(len(packed) - 1, 1))))
    return suffix, packed[:cut] if cut else packed, cut, content


def _zstd(data: bytes) -> bytes:
    # Two frames when there is something to split: readers go across frames.
    half = len(data) // 2
    c = zstandard.ZstdCompressor()
    return c.compress(data[:half]) + c.compress(data[half:]) if half else c.compress(data)


def _non_blank_lines(content: bytes) -> set[int]:
    out = set()
    for n, line in enumerate(content.split(b"\n"), 1):
        if n == 1:
            line = line.removeprefix(BOM)
        if line.strip():
            out.add(n)
    return out


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(inputs=st.lists(files(), min_size=1, max_size=3), split=st.integers(1, 400))
def test_every_line_ends_in_exactly_one_place(tmp_path_factory, inputs, split):
    root = tmp_path_factory.mktemp("fuzz")
    originals = {}
    for i, (suffix, data, cut, content) in enumerate(inputs):
        path = root / f"f{i}{suffix}"
        path.write_bytes(data)
        originals[str(path)] = (content, cut)
    src = SimpleNamespace(
        name="s", paths=[str(root / "*")], format="auto", id_field="id", text_field="text"
    )
    tasks = plan_read_tasks([src], split, 1 << 20)
    places: Counter = Counter()
    file_level: dict[str, int] = {}
    for task in tasks:
        reader = TaskReader(task)
        items = list(reader)
        assert reader.seen == len(items)
        for item in items:
            if isinstance(item, Record):
                assert item.meta["_file"] == task.path
                places[(task.path, item.meta["_line"])] += 1
            elif item.reason in ("truncated_gzip", "corrupt_file", "unreadable_file"):
                assert item.detail and task.path not in file_level
                file_level[task.path] = item.line
            else:
                assert isinstance(item, DeadLetter) and item.reason and item.line >= 1
                places[(item.file, item.line)] += 1
    assert all(n == 1 for n in places.values()), places
    for path, (content, cut) in originals.items():
        found = {line for p, line in places if p == path}
        expected = _non_blank_lines(content)
        if path in file_level:  # a cut stream: every line before the break, then the break
            assert cut is not None
            assert found == {line for line in expected if line < file_level[path]}
        elif cut is None:  # plain or whole: exactly the non-blank lines, whatever the split
            assert found == expected
        else:  # only a cut exactly between the two zstd frames leaves a valid, shorter stream
            first_half = content[: len(content) // 2]
            assert path.endswith(".zst") and cut == len(
                zstandard.ZstdCompressor().compress(first_half)
            )
            assert found == _non_blank_lines(first_half)
