"""Input readers: files become read tasks, tasks become Records or DeadLetters.

`plan_read_tasks()` runs in the driver: it expands globs (a missing path is a config error before
any work), sorts the files (the file index is part of each record's position key) and cuts plain
JSONL files into line-aligned byte ranges so one big file still uses every worker. Compressed
files, Parquet row groups, HF dataset Arrow files and text files are tasks of their own.
Parquet footers (row groups) are read concurrently on a thread pool: each is a small ranged
read, so on an object store latency, not bandwidth, bounds the plan. They stay in the driver
(not a Beam step) because the plan is what the graph is built from: the tasks are the graph's
input, the tokenizer sample reads from them, and progress weighs them by size.

Every file, local or a URL (`gs://...`), is opened through `transforms.infra.fs` (Beam's
FileSystems for URLs), in the driver and on the workers.

`read_task()` is pure: it yields `Record` or `DeadLetter` for every physical record (line, row,
file) so the accounting can prove nothing was lost; `TaskReader` also counts the records it met
in the file (`seen`), which is what the read stage counts as read. A bad record is a dead letter
for that record and the task goes on; a bad file (also one that fails while planning: a folder
named x.jsonl, a dangling link, a corrupt Parquet footer) is one `unreadable_file` /
`corrupt_file` dead letter. Record meta carries the internal keys `_pos` (unique int64
position), `_file` and `_line`.

Ids never depend on where the input lives or where curate runs: a text file's id, a record's
default id and the file order all use the source name and the file's path relative to the
*source root* (`source_root()`), never an absolute or working-directory-relative path. The same
files copied elsewhere, or read from another directory, give the same ids, hence the same
shuffle, sample, eval split and shard checksums.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
from collections.abc import Iterator
from typing import NamedTuple

import pyarrow as pa

from transforms.infra import fs
from transforms.infra.hashing import position_key
from transforms.infra.record import DeadLetter, Record

RAW_KEEP = 4096  # bytes of a bad record kept in dead_letter/
BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark: some editors start a file with it
# A file that cannot be planned or read: a dead letter for that file, never a crashed run.
_FILE_ERRORS = (OSError, pa.ArrowException, ValueError, KeyError)
_SURROGATE = re.compile("[\ud800-\udfff]")


class ReadTask(NamedTuple):
    source: str
    path: str
    file_index: int
    format: str  # jsonl, parquet, text, hf_arrow
    start: int = 0  # byte offset (jsonl) or row group (parquet)
    end: int = -1  # byte offset, exclusive (-1: to the end)
    first_line: int = 1  # 1-based line number at `start` (jsonl)
    id_field: str = "id"
    text_field: str = "text"
    max_line_bytes: int = 64_000_000
    size: int = 0  # bytes, for balancing and progress
    rel_path: str = ""  # the file's path relative to its source root, "/"-separated (ids use it)
    error: str = ""  # format "broken": "reason: detail" of a file that failed while planning


def detect_format(path: str) -> str:
    name = path.lower()
    for suffix in (".gz", ".zst", ".zstd"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    if is_hf_dataset(path):
        return "hf_dataset"
    return "text"


_HF_MARKERS = ("state.json", "dataset_dict.json")


def is_hf_dataset(path: str) -> bool:
    """A `save_to_disk` folder (remote: a prefix holding its state.json or dataset_dict.json)."""
    if not fs.is_remote(path) and not os.path.isdir(path):
        return False
    return any(fs.is_file(fs.join(path, marker)) for marker in _HF_MARKERS)


def expand_paths(patterns: list[str]) -> list[str]:
    """The files (and HF dataset folders) the patterns name, sorted; local ones made absolute."""
    out: set[str] = set()
    for pattern in patterns:
        found = fs.match(pattern)
        if fs.is_remote(pattern):
            # An object store has no folders: a dataset folder is named, never matched.
            if not found and not _GLOB_CHARS & set(pattern) and is_hf_dataset(pattern):
                found = [pattern.rstrip("/")]
            out.update(found)
        else:
            out.update(os.path.abspath(p) for p in found)
    return sorted(out)


_GLOB_CHARS = frozenset("*?[")


def _split_url(pattern: str) -> tuple[str, list[str]]:
    """("gs://", ["bucket", "raw", "*.gz"]) for a URL; ("", components) for a local path."""
    if "://" in pattern:
        scheme, rest = pattern.split("://", 1)
        return f"{scheme}://", rest.split("/")
    path = os.path.expanduser(pattern)
    return "", path.split(os.sep)


def glob_root(pattern: str) -> str:
    """The folder a pattern's matches are named from: its directory part, cut at the first glob.

    The directory part is everything before the pattern's last separator; it is cut before its
    first component holding a glob character (`*`, `?`, `[`). So `data/*.jsonl` and
    `data/**/*.jsonl` have the root `data`, `data/a*/x.txt` has `data`, and a literal path
    `data/x.txt` (or an HF dataset folder `data/ds`) has `data`: a file is always named at least
    by its own name. Local roots are made absolute (`~` expanded); URLs keep their scheme and
    bucket (`gs://bucket/raw/*.gz` -> `gs://bucket/raw`).
    """
    scheme, parts = _split_url(pattern)
    kept: list[str] = []
    for part in parts[:-1]:
        if _GLOB_CHARS & set(part):
            break
        kept.append(part)
    if scheme:
        return scheme + "/".join(kept)
    root = os.sep.join(kept)
    if not root and parts[0] == "" and len(parts) > 1:  # a pattern right under "/"
        root = os.sep
    return os.path.abspath(root or os.curdir)


def source_root(patterns: list[str]) -> str:
    """The deepest folder holding every pattern's `glob_root`: what a source's ids are relative to.

    One pattern: its glob root. Several (`[data/a/*.jsonl, data/b/*.jsonl]`): their common folder
    (`data`), so two files of one source never share a relative path. Patterns of one source on
    different filesystems or buckets have no common folder: "" (ids then hold the full path).
    """
    roots = [glob_root(p) for p in patterns]
    if not roots:
        return ""
    if all("://" not in r for r in roots):
        return os.path.commonpath(roots)
    split = [r.split("/") for r in roots]
    common: list[str] = []
    for parts in zip(*split, strict=False):  # stops at the shortest root
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    # At least "scheme://bucket" (three parts: "gs:", "", "bucket") or no common root.
    return "/".join(common) if len(common) >= 3 else ""


def relative_path(path: str, root: str) -> str:
    """`path` relative to `root`, "/"-separated (the full path when it is not under root)."""
    if not root:
        return path
    if "://" in path or "://" in root:
        prefix = root.rstrip("/") + "/"
        return path[len(prefix) :] if path.startswith(prefix) else path
    rel = os.path.relpath(path, root)
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return path
    return rel.replace(os.sep, "/")


def _hf_arrow_files(path: str) -> list[str]:
    """The Arrow files of a `save_to_disk` dataset (every split of a DatasetDict)."""
    dict_file = fs.join(path, "dataset_dict.json")
    if fs.is_file(dict_file):
        splits = json.loads(fs.read_bytes(dict_file))["splits"]
        return [f for s in splits for f in _hf_arrow_files(fs.join(path, s))]
    state = json.loads(fs.read_bytes(fs.join(path, "state.json")))
    return [fs.join(path, f["filename"]) for f in state["_data_files"]]


def _parquet_footers(paths: list[str]) -> dict[str, object]:
    """{path: pyarrow FileMetaData or the exception reading it}, read concurrently (see the
    module docstring); one corrupt file never stops the plan."""
    if not paths:
        return {}
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow.parquet as pq

    def footer(path: str):
        try:
            with fs.open_read(path) as fh:
                return pq.read_metadata(fh)
        except _FILE_ERRORS as exc:
            return exc

    with ThreadPoolExecutor(max_workers=min(16, len(paths))) as pool:
        return dict(zip(paths, pool.map(footer, paths), strict=True))


def _line_aligned_ranges(path: str, split_bytes: int) -> list[tuple[int, int, int]]:
    """(start, end, first_line) ranges of a plain file, with exact line numbers (one fast pass)."""
    size = os.path.getsize(path)
    ranges, start, line = [], 0, 1
    with open(path, "rb") as fh:
        while start < size:
            end = min(start + split_bytes, size)
            fh.seek(end)
            tail = fh.readline() if end < size else b""
            end += len(tail)
            fh.seek(start)
            lines = fh.read(end - start).count(b"\n")
            ranges.append((start, end, line))
            line += lines
            start = end
    return ranges


def _file_tasks(
    src, rel: str, path: str, fmt: str, index: int, footer, split_bytes: int, max_line_bytes: int
) -> list[ReadTask]:
    """The read tasks of one file (may raise: the caller turns that into a "broken" task)."""
    tasks: list[ReadTask] = []
    common = dict(
        source=src.name,
        path=path,
        file_index=index,
        id_field=src.id_field,
        text_field=src.text_field,
        max_line_bytes=max_line_bytes,
        rel_path=rel,
    )
    if fmt == "hf_dataset":
        for sub, arrow in enumerate(_hf_arrow_files(path)):
            inner = relative_path(arrow, path)
            tasks.append(
                ReadTask(
                    format="hf_arrow",
                    start=sub,
                    size=fs.size(arrow),
                    **{**common, "path": arrow, "rel_path": f"{rel}/{inner}"},
                )
            )
    elif fmt == "parquet":
        meta = footer
        if isinstance(meta, BaseException):
            raise meta
        for rg in range(max(meta.num_row_groups, 1)):
            tasks.append(
                ReadTask(
                    format="parquet",
                    start=rg,
                    size=meta.row_group(rg).total_byte_size if meta.num_row_groups else 0,
                    **common,
                )
            )
    elif (
        fmt == "jsonl" and "://" not in path and not path.lower().endswith((".gz", ".zst", ".zstd"))
    ):
        for start, end, first in _line_aligned_ranges(path, split_bytes):
            tasks.append(
                ReadTask(
                    format="jsonl",
                    start=start,
                    end=end,
                    first_line=first,
                    size=end - start,
                    **common,
                )
            )
    else:
        size = os.path.getsize(path) if "://" not in path else 0
        tasks.append(ReadTask(format=fmt, size=size, **common))
    return tasks


def plan_read_tasks(sources, split_bytes: int, max_line_bytes: int) -> list[ReadTask]:
    """Expands every source into read tasks; raises ValueError listing empty globs."""
    problems, entries = [], []
    for src in sources:
        paths = expand_paths(src.paths)
        if not paths:
            problems.append(f"source {src.name!r}: no file matches {src.paths}")
        root = source_root(list(src.paths))
        entries.extend((src, relative_path(p, root), p) for p in paths)
    if problems:
        raise ValueError("; ".join(problems))
    tasks: list[ReadTask] = []
    # Files are ordered by (source, relative path), never by absolute path: the file index is
    # part of each record's position key, which must not change when the input moves.
    entries = sorted(entries, key=lambda e: (e[0].name, e[1]))
    formats = [detect_format(p) if src.format == "auto" else src.format for src, _, p in entries]
    parquet = [e[2] for e, f in zip(entries, formats, strict=True) if f == "parquet"]
    footers = _parquet_footers(parquet)
    for index, ((src, rel, path), fmt) in enumerate(zip(entries, formats, strict=True)):
        try:
            tasks.extend(
                _file_tasks(
                    src, rel, path, fmt, index, footers.get(path), split_bytes, max_line_bytes
                )
            )
        except _FILE_ERRORS as exc:
            # A folder named x.jsonl, a dangling link or loop, an unreadable or corrupt file:
            # a task of its own that the workers dead-letter, so the rest of the run goes on.
            reason = "corrupt_file" if isinstance(exc, pa.ArrowException) else "unreadable_file"
            tasks.append(
                ReadTask(
                    source=src.name,
                    path=path,
                    file_index=index,
                    format="broken",
                    rel_path=rel,
                    error=f"{reason}: {type(exc).__name__}: {exc}",
                )
            )
    return tasks


def _open_binary(path: str) -> io.BufferedIOBase:
    return fs.open_read(path)


def _decompressed(path: str, fh) -> io.BufferedIOBase:
    lower = path.lower()
    if lower.endswith(".gz"):
        return gzip.GzipFile(fileobj=fh)
    if lower.endswith((".zst", ".zstd")):
        return io.BufferedReader(_ZstdFrames(fh), buffer_size=1 << 20)
    return fh


class _ZstdFrames(io.RawIOBase):
    """Decompresses concatenated zstd frames; EOFError when the input ends inside a frame.

    zstandard's own `stream_reader` ends a truncated stream with a silent short read, so the
    records of a cut .zst file vanished; here the cut is a `corrupt_file` dead letter, as a
    cut .gz file is a `truncated_gzip` one.
    """

    def __init__(self, fh) -> None:
        import zstandard

        self._fh = fh
        self._dctx = zstandard.ZstdDecompressor()
        self._frame = None
        self._out = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._out:
            chunk = self._fh.read(1 << 20)
            if not chunk:
                if self._frame is not None and not self._frame.eof:
                    raise EOFError("zstd stream ended inside a frame (truncated file)")
                return 0
            self._out = memoryview(self._feed(chunk))
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def _feed(self, data: bytes) -> bytes:
        parts = []
        while data:
            if self._frame is None or self._frame.eof:
                self._frame = self._dctx.decompressobj()
            parts.append(self._frame.decompress(data))
            data = self._frame.unused_data if self._frame.eof else b""
        return b"".join(parts)


def _default_id(task: ReadTask, line: int) -> str:
    """`source:file name:hash of the relative path:line` for a record without an id."""
    rel = task.rel_path or task.path  # a task built by hand may lack the relative path
    tag = hashlib.sha1(rel.encode()).hexdigest()[:8]
    return f"{task.source}:{rel.rsplit('/', 1)[-1]}:{tag}:{line}"


def text_file_id(task: ReadTask) -> str:
    """A text file's id: `source:relative/path.txt` (unique: one source root per source)."""
    return f"{task.source}:{task.rel_path or task.path}"


def _has_surrogate(value: str) -> bool:
    """A lone surrogate (only a JSON `\\ud800` escape makes one): not text, cannot be encoded."""
    return not value.isascii() and _SURROGATE.search(value) is not None


def record_id(obj_id) -> str | None:
    """The id a record's id field gives: a string as it is, an integer type-tagged (`int:1`).

    The tag keeps the integer 1 and the string "1" apart (both would be "1" otherwise, and one
    of two different documents would be dead-lettered as a duplicate id). None: not an id.
    """
    if isinstance(obj_id, str):
        return obj_id
    if isinstance(obj_id, int) and not isinstance(obj_id, bool):
        return f"int:{obj_id}"
    return None


def _make(task: ReadTask, line: int, obj_id, text, raw: bytes) -> Record | DeadLetter:
    def dead(reason: str, detail: str = "") -> DeadLetter:
        return DeadLetter(reason, task.source, task.path, line, raw[:RAW_KEEP], detail)

    if text is None:
        return dead("missing_text", f"field {task.text_field!r} is absent or null")
    if not isinstance(text, str):
        return dead("non_string_text", f"field {task.text_field!r} is {type(text).__name__}")
    if not text or text.isspace():  # what `not text.strip()` says, without copying the text
        return dead("empty_text")
    if obj_id is None or obj_id == "":
        doc_id = _default_id(task, line)
    else:
        doc_id = record_id(obj_id)
        if doc_id is None:
            return dead("bad_id", f"field {task.id_field!r} is {type(obj_id).__name__}")
    # Lone surrogates are invalid Unicode, like invalid UTF-8 bytes (dead-lettered, never
    # repaired): nothing downstream (hashing, tokenizer, Arrow) can encode them.
    for field, value in ((task.text_field, text), (task.id_field, doc_id)):
        if _has_surrogate(value):
            return dead("invalid_unicode", f"field {field!r} holds a lone surrogate")
    meta = {
        "_pos": position_key(task.file_index, _pos_line(task, line)),
        "_file": task.path,
        "_line": line,
    }
    return Record(doc_id, text, task.source, meta)


HF_ROW_BITS = 26  # rows per Arrow file of an HF dataset in a position (67M; shards are ~500 MB)


def _pos_line(task: ReadTask, line: int) -> int:
    """The line part of a record's position: unique within its input file.

    An HF dataset is one input file (one file index) of several Arrow files whose rows all start
    at 1, so the Arrow file's number goes above the row (the first file's positions are its rows).
    """
    if task.format == "hf_arrow":
        if line >= 1 << HF_ROW_BITS:
            raise ValueError(f"row {line} of an HF dataset Arrow file is past {1 << HF_ROW_BITS}")
        return (task.start << HF_ROW_BITS) | line
    return line


class _Seen:
    """Marks one physical record (line, row, file) met by a reader, before it is parsed."""


SEEN = _Seen()


def _iter_lines(task: ReadTask) -> Iterator[tuple[int, bytes | None, str]]:
    """Yields (line_no, raw_line or None, error_reason) for the task's range of a line file."""
    with _open_binary(task.path) as raw_fh:
        fh = _decompressed(task.path, raw_fh)
        if task.start:
            fh.seek(task.start)
        pos, line = task.start, task.first_line
        try:
            while task.end < 0 or pos < task.end:
                data = fh.readline(task.max_line_bytes + 1)
                if not data:
                    break
                if len(data) > task.max_line_bytes and not data.endswith(b"\n"):
                    # Skip the rest of the oversized line without holding it in memory.
                    rest = data
                    while rest and not rest.endswith(b"\n"):
                        rest = fh.readline(1 << 20)
                        pos += len(rest)
                    pos += len(data)
                    yield line, data[:RAW_KEEP], "line_too_long"
                    line += 1
                    continue
                pos += len(data)
                yield line, data, ""
                line += 1
        except Exception as exc:  # noqa: BLE001 - gzip, zlib, OSError, zstandard's own error
            yield line, None, f"truncated_or_corrupt:{type(exc).__name__}: {exc}"


def _jsonl_item(task: ReadTask, line: int, data: bytes) -> Record | DeadLetter:
    """One non-blank line -> a Record or the DeadLetter saying why not."""

    def dead(reason: str, detail: str) -> DeadLetter:
        return DeadLetter(reason, task.source, task.path, line, data[:RAW_KEEP], detail)

    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return dead("invalid_utf8", str(exc))
    try:
        obj = json.loads(decoded)
    except RecursionError:
        return dead("malformed_json", "nested too deeply to parse")
    except ValueError as exc:  # JSONDecodeError, or an integer over Python's digit limit
        return dead("malformed_json", str(exc))
    if not isinstance(obj, dict):
        return dead("malformed_json", f"a JSON {type(obj).__name__}, not an object")
    return _make(task, line, obj.get(task.id_field), obj.get(task.text_field), data)


def _read_jsonl(task: ReadTask) -> Iterator[Record | DeadLetter | _Seen]:
    for line, data, error in _iter_lines(task):
        if error.startswith("truncated_or_corrupt"):
            reason = "truncated_gzip" if task.path.lower().endswith(".gz") else "corrupt_file"
            yield SEEN  # the rest of the file, one dead letter
            yield DeadLetter(
                reason, task.source, task.path, line, b"", error.split(":", 1)[1].strip()
            )
            return
        if line == 1 and data and data.startswith(BOM):
            data = data[len(BOM) :]
        if error:
            yield SEEN
            yield DeadLetter(
                error,
                task.source,
                task.path,
                line,
                data or b"",
                f"line longer than {task.max_line_bytes} bytes",
            )
            continue
        if not data.strip():
            continue  # blank separator lines are not records
        yield SEEN
        try:
            yield _jsonl_item(task, line, data)
        except Exception as exc:  # noqa: BLE001 - one bad record never ends the task
            yield DeadLetter(
                "bad_record",
                task.source,
                task.path,
                line,
                data[:RAW_KEEP],
                f"{type(exc).__name__}: {exc}",
            )


def _read_text(task: ReadTask) -> Iterator[Record | DeadLetter | _Seen]:
    yield SEEN
    try:
        with _open_binary(task.path) as raw_fh:
            data = _decompressed(task.path, raw_fh).read()
    except Exception as exc:  # noqa: BLE001 - OSError, a corrupt gzip/zstd stream
        yield DeadLetter(
            "unreadable_file", task.source, task.path, 0, b"", f"{type(exc).__name__}: {exc}"
        )
        return
    try:
        text = data.removeprefix(BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        yield DeadLetter("invalid_utf8", task.source, task.path, 1, data[:RAW_KEEP], str(exc))
        return
    yield _make(task, 1, text_file_id(task), text, data)


class _InvalidUtf8(NamedTuple):
    """A string cell whose bytes are not UTF-8 (Parquet/Arrow do not check on write)."""

    raw: bytes
    detail: str


def _column_values(table: pa.Table, name: str) -> list:
    """A column as Python values; a cell that is not valid UTF-8 becomes `_InvalidUtf8`."""
    if name not in table.column_names:
        return [None] * table.num_rows
    column = table.column(name)
    try:
        return column.to_pylist()
    except UnicodeDecodeError:  # one bad cell: find it, and keep every other row
        values = []
        for i in range(len(column)):
            try:
                values.append(column[i].as_py())
            except UnicodeDecodeError as exc:
                raw = column[i].as_buffer().to_pybytes()[:RAW_KEEP]
                values.append(_InvalidUtf8(raw, f"field {name!r}: {exc}"))
        return values


def _rows(task: ReadTask, table: pa.Table, first_row: int) -> Iterator[Record | DeadLetter | _Seen]:
    ids = _column_values(table, task.id_field)
    texts = _column_values(table, task.text_field)
    for i, (doc_id, text) in enumerate(zip(ids, texts, strict=True)):
        yield SEEN
        bad = next((v for v in (doc_id, text) if isinstance(v, _InvalidUtf8)), None)
        if bad is not None:
            row = first_row + i
            yield DeadLetter("invalid_utf8", task.source, task.path, row, bad.raw, bad.detail)
            continue
        try:
            raw = b"" if isinstance(text, str) else repr(text).encode()[:RAW_KEEP]
            yield _make(task, first_row + i, doc_id, text, raw)
        except Exception as exc:  # noqa: BLE001 - one bad row never ends the task
            yield DeadLetter(
                "bad_row",
                task.source,
                task.path,
                first_row + i,
                b"",
                f"{type(exc).__name__}: {exc}",
            )


def _read_parquet(task: ReadTask) -> Iterator[Record | DeadLetter | _Seen]:
    import pyarrow.parquet as pq

    with fs.open_read(task.path) as fh:
        pf = pq.ParquetFile(fh)
        if pf.metadata.num_row_groups == 0:
            return
        first = 1 + sum(pf.metadata.row_group(i).num_rows for i in range(task.start))
        cols = [c for c in (task.id_field, task.text_field) if c in pf.schema_arrow.names]
        table = pf.read_row_group(task.start, columns=cols)
    yield from _rows(task, table, first)


def _read_hf_arrow(task: ReadTask) -> Iterator[Record | DeadLetter | _Seen]:
    opened = pa.memory_map(task.path) if not fs.is_remote(task.path) else fs.open_read(task.path)
    with opened as source:
        reader = pa.ipc.open_stream(source)
        row = 1
        for batch in reader:
            yield from _rows(task, pa.Table.from_batches([batch]), row)
            row += batch.num_rows


def _read_broken(task: ReadTask) -> Iterator[DeadLetter | _Seen]:
    """A file that failed while planning (`task.error`): one dead letter for the whole file."""
    reason, _, detail = task.error.partition(": ")
    yield SEEN
    yield DeadLetter(reason or "unreadable_file", task.source, task.path, 0, b"", detail)


_READERS = {
    "jsonl": _read_jsonl,
    "text": _read_text,
    "parquet": _read_parquet,
    "hf_arrow": _read_hf_arrow,
    "broken": _read_broken,
}


class TaskReader:
    """Iterates a task's Records and DeadLetters, counting the physical records it met (`seen`).

    `seen` counts records by their place in the file (non-blank lines, rows, whole files), not
    by what was emitted: a record met and never emitted makes `seen` exceed the items, so the
    accounting check fails instead of the record vanishing. A file-level error that ends the
    task early is one dead letter (and one seen record) for the rest of the file.
    """

    def __init__(self, task: ReadTask) -> None:
        self.task = task
        self.seen = 0

    def __iter__(self) -> Iterator[Record | DeadLetter]:
        task = self.task
        try:
            for item in _READERS[task.format](task):
                if item is SEEN:
                    self.seen += 1
                else:
                    yield item
        except Exception as exc:  # noqa: BLE001 - a file-level error: dead-letter the file
            self.seen += 1
            reason = "corrupt_file" if isinstance(exc, pa.ArrowException) else "unreadable_file"
            yield DeadLetter(reason, task.source, task.path, 0, b"", f"{type(exc).__name__}: {exc}")


def read_task(task: ReadTask) -> Iterator[Record | DeadLetter]:
    """Every physical record of the task, as a Record or a DeadLetter; never raises on bad data."""
    return iter(TaskReader(task))
