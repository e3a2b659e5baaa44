"""`GroupByKeyOnDisk`: a GroupByKey that, on Beam's in-process runners, groups through files.

Beam's embedded runner (FnApiRunner) holds every GroupByKey's input in its own memory, decoded
into Python objects, until the grouping stage runs: for a shuffle of a few kB per document that
is gigabytes per million documents (benchmarks/RESULTS.md, "Scale"). A distributed runner's
shuffle service has no such limit, so there this transform is a plain `beam.GroupByKey`.

On an in-process runner it is the same grouping, done the way an external sort is:

1. `WriteParts` (fused with the producer): every (key, value) is encoded with Beam's
   `FastPrimitivesCoder` and appended to one of `partitions` files of this bundle, chosen by a
   hash of the encoded key; the bundle emits one (partition, path) per file it wrote;
2. a GroupByKey of those (partition, path) pairs: partitions x bundles small elements;
3. `ReadParts` (fused with the consumer): reads one partition's files, groups its records by
   encoded key, and yields (key, [values]) per key.

So no element of the data ever sits in the runner's buffers: memory is one partition's bytes
(the shuffle's total / `partitions`) in one worker. Output equals `GroupByKey`'s (the order of
values inside a group, unspecified there, is the file order here). Files go under `tmp_dir`
(the run's `_tmp`, which the run owns and removes) and are deleted once read.

`build_graph` names that folder once per pipeline (`set_group_dir`); every `GroupByKeyOnDisk()`
and `CoGroupByKeyOnDisk()` of that pipeline uses it. A pipeline without one (a unit test, or a
transform used on its own) gets plain `GroupByKey`/`CoGroupByKey`.
"""

from __future__ import annotations

import struct
import uuid
import weakref

import apache_beam as beam
import xxhash
from apache_beam.coders import FastPrimitivesCoder
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from transforms.infra import fs
from transforms.infra.runners import is_local_runner

_LEN = struct.Struct("<II")
_GROUP_DIRS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def set_group_dir(pipeline: beam.Pipeline, path: str) -> None:
    """Where this pipeline's on-disk groups write their files (a folder the run owns)."""
    _GROUP_DIRS[pipeline] = path


def group_dir(pipeline: beam.Pipeline, tmp_dir: str | None = None) -> str | None:
    """The folder for on-disk grouping (`tmp_dir`, else the pipeline's), or None for plain
    shuffles: none set, or a runner that is not in-process (its shuffle service holds the
    data, not this machine)."""
    path = tmp_dir or _GROUP_DIRS.get(pipeline)
    if path is None or not is_local_runner(getattr(pipeline, "runner", None)):
        return None
    return path


_FLUSH_BYTES = 1 << 18  # per partition buffer before it is written out


class _WriteParts(beam.DoFn):
    def __init__(self, tmp_dir: str, partitions: int) -> None:
        self.tmp_dir, self.partitions = tmp_dir, partitions

    def setup(self) -> None:
        self._coder = FastPrimitivesCoder().get_impl()

    def start_bundle(self) -> None:
        self._bundle = uuid.uuid4().hex
        self._bufs: dict[int, list[bytes]] = {}
        self._sizes: dict[int, int] = {}
        self._files: dict[int, tuple[str, object]] = {}

    def process(self, kv):
        key, value = kv
        kb = self._coder.encode(key)
        vb = self._coder.encode(value)
        part = xxhash.xxh3_64_intdigest(kb) % self.partitions
        buf = self._bufs.setdefault(part, [])
        buf.append(_LEN.pack(len(kb), len(vb)))
        buf.append(kb)
        buf.append(vb)
        self._sizes[part] = self._sizes.get(part, 0) + len(kb) + len(vb) + _LEN.size
        if self._sizes[part] >= _FLUSH_BYTES:
            self._write(part)

    def _write(self, part: int) -> None:
        if part not in self._files:
            path = fs.join(self.tmp_dir, f"part-{part:05d}-{self._bundle}.bin")
            self._files[part] = (path, fs.open_write(path))
        self._files[part][1].write(b"".join(self._bufs.pop(part, [])))
        self._sizes[part] = 0

    def finish_bundle(self):
        for part in list(self._bufs):
            self._write(part)
        for part, (path, fh) in sorted(self._files.items()):
            fh.close()
            yield WindowedValue((part, path), MIN_TIMESTAMP, (GlobalWindow(),))
        self._files = {}


def _records(data: bytes):
    at, end = 0, len(data)
    while at < end:
        nk, nv = _LEN.unpack_from(data, at)
        at += _LEN.size
        yield data[at : at + nk], data[at + nk : at + nk + nv]
        at += nk + nv


class _ReadParts(beam.DoFn):
    def setup(self) -> None:
        self._coder = FastPrimitivesCoder().get_impl()

    def process(self, part_paths):
        _, paths = part_paths
        groups: dict[bytes, list[bytes]] = {}
        for path in sorted(paths):
            with fs.open_read(path) as fh:
                data = fh.read()
            for kb, vb in _records(data):
                groups.setdefault(kb, []).append(vb)
            del data
            # Read once, by this step only: free the disk now rather than when the run ends
            # (the shuffles of a run add up to a few KB per document). The in-process runner
            # does not retry a bundle, so nothing reads it again.
            fs.delete(path)
        decode = self._coder.decode
        for kb in list(groups):
            values = groups.pop(kb)
            yield decode(kb), [decode(v) for v in values]


class GroupByKeyOnDisk(beam.PTransform):
    """GroupByKey; through files on an in-process runner (see the module docstring).

    Args:
        tmp_dir: the folder for the files; None means the pipeline's `group_dir` (and a plain
            GroupByKey when it has none).
        partitions: files per bundle, and the number of grouping tasks.
    """

    def __init__(self, tmp_dir: str | None = None, partitions: int = 128) -> None:
        super().__init__()
        self.tmp_dir, self.partitions = tmp_dir, partitions

    def expand(self, pcoll):
        tmp = group_dir(pcoll.pipeline, self.tmp_dir)
        if tmp is None:
            return pcoll | "GroupByKey" >> beam.GroupByKey()
        tmp = fs.join(tmp, f"group-{uuid.uuid4().hex[:12]}")
        return (
            pcoll
            | "WriteParts" >> beam.ParDo(_WriteParts(tmp, self.partitions))
            | "GroupParts" >> beam.GroupByKey()
            | "ReadParts" >> beam.ParDo(_ReadParts())
        )


def _tag(kv, tag):
    return kv[0], (tag, kv[1])


def _untag(kv, tags):
    key, tagged = kv
    out: dict = {t: [] for t in tags}
    for tag, value in tagged:
        out[tag].append(value)
    return key, out


class CoGroupByKeyOnDisk(beam.PTransform):
    """CoGroupByKey of a dict {tag: PCollection of (key, value)} -> (key, {tag: [values]});
    through files on an in-process runner, like `GroupByKeyOnDisk`."""

    def __init__(self, tmp_dir: str | None = None) -> None:
        super().__init__()
        self.tmp_dir = tmp_dir

    def expand(self, parts):
        pipeline = next(iter(parts.values())).pipeline
        if group_dir(pipeline, self.tmp_dir) is None:
            return parts | "CoGroupByKey" >> beam.CoGroupByKey()
        tags = list(parts)
        return (
            [pc | f"Tag[{t}]" >> beam.Map(_tag, t) for t, pc in parts.items()]
            | "Flatten" >> beam.Flatten()
            | "Group" >> GroupByKeyOnDisk(self.tmp_dir)
            | "Untag" >> beam.Map(_untag, tags)
        )


class CombinePerKeyOnDisk(beam.PTransform):
    """`beam.CombinePerKey(fn)` for a plain callable `fn` (values -> one value); on an
    in-process runner a `GroupByKeyOnDisk` and then `fn` per group. A lifted combine keeps
    its per-key accumulators in the runner's memory there, which for a document-sized key
    set is the memory this module exists to avoid."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def expand(self, pcoll):
        if group_dir(pcoll.pipeline) is None:
            return pcoll | "CombinePerKey" >> beam.CombinePerKey(self.fn)
        fn = self.fn
        return (
            pcoll
            | "Group" >> GroupByKeyOnDisk()
            | "Combine" >> beam.MapTuple(lambda key, values: (key, fn(values)))
        )


def _first(values):
    return next(iter(values))


class DistinctOnDisk(beam.PTransform):
    """`beam.Distinct()`, through files on an in-process runner (see `CombinePerKeyOnDisk`)."""

    def expand(self, pcoll):
        if group_dir(pcoll.pipeline) is None:
            return pcoll | "Distinct" >> beam.Distinct()
        return (
            pcoll
            | "WithNone" >> beam.Map(lambda x: (x, None))
            | "Group" >> GroupByKeyOnDisk()
            | "Keys" >> beam.Keys()
        )
