"""The one door from `train` to remote storage: local files via `os`, URLs via Beam's FileSystems.

A path with a URL scheme (`gs://`, `s3://`, any scheme a Beam `FileSystem` registers) is read and
written through `apache_beam.io.filesystems.FileSystems`; anything else is a plain local file.
Beam is imported lazily, inside `_filesystems()`, and only for a URL: a run on local paths never
imports it, so a trainer installed without Beam works on local corpora. This is the only module of
`train` that may import Beam (tests/test_import_boundaries.py holds it to that).

Remote inputs are downloaded, not streamed: the trainer memory-maps shards and revisits documents
in a new seeded order every epoch, and the manifest contract asks for every byte to be checked
before any training work. So a remote shard is fetched once into a local cache, hashed on the way
and kept only if its sha256 matches (`download`). Outputs are written locally and uploaded at the
end (`upload_tree`), since torch, safetensors and peft write to local files.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_CHUNK = 8 << 20
# Beam's FileSystems guesses compression from the file name; these bytes are copied as they are.
_UNCOMPRESSED = "uncompressed"  # == apache_beam.io.filesystem.CompressionTypes.UNCOMPRESSED


def is_remote(path: str | os.PathLike) -> bool:
    """True for a URL (`scheme://...`), False for a local path."""
    return bool(_SCHEME.match(os.fspath(path)))


def join(base: str, *parts: str) -> str:
    """`base/part/...`: '/'-joined for URLs, `os.path.join` for local paths."""
    if is_remote(base):
        return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])
    return os.path.join(base, *parts)


def dirname(path: str) -> str:
    """The folder of `path` (a URL keeps its scheme: `gs://b/x/m.json` -> `gs://b/x`)."""
    if is_remote(path):
        return path.rstrip("/").rpartition("/")[0]
    return os.path.dirname(os.path.abspath(path))


def cache_root() -> Path:
    """Where remote inputs are cached and remote outputs are staged.

    `CURATE_TRAIN_CACHE` if set, else `$XDG_CACHE_HOME/curate/train` (default `~/.cache`). It holds
    about one corpus per manifest trained on: delete it freely, it is refetched on demand.
    """
    if os.environ.get("CURATE_TRAIN_CACHE"):
        return Path(os.environ["CURATE_TRAIN_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "curate" / "train"


def _filesystems():
    from apache_beam.io.filesystems import FileSystems  # lazy: only a URL needs Beam

    return FileSystems


def exists(path: str) -> bool:
    if is_remote(path):
        return _filesystems().exists(path)
    return os.path.isfile(path)


def size(path: str) -> int:
    """Bytes in the file at `path`."""
    if is_remote(path):
        return _filesystems().get_filesystem(path).size(path)
    return os.path.getsize(path)


def read_bytes(path: str) -> bytes:
    """The whole file (small files: manifests, configs). Raises FileNotFoundError if missing."""
    if not exists(path):
        raise FileNotFoundError(path)
    if not is_remote(path):
        return Path(path).read_bytes()
    with _filesystems().open(path, compression_type=_UNCOMPRESSED) as fh:
        return fh.read()


def download(url: str, dest: Path, expected_sha256: str) -> str:
    """Copies `url` to `dest`, hashing on the way; returns the sha256 of the bytes read.

    `dest` is written under a temporary name and renamed into place only if the hash equals
    `expected_sha256`, so the cache never holds bytes the manifest does not vouch for (and a
    concurrent download of the same file by another rank is harmless).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
    digest = hashlib.sha256()
    try:
        with (
            _filesystems().open(url, compression_type=_UNCOMPRESSED) as src,
            open(tmp, "wb") as out,
        ):
            while block := src.read(_CHUNK):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() == expected_sha256:
            os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return digest.hexdigest()


def upload_tree(local_dir: Path, url: str, last: tuple[str, ...] = ()) -> list[str]:
    """Copies every file under `local_dir` to the same relative name under `url`.

    Files named in `last` (relative paths) are uploaded after all others, so their presence marks a
    complete upload (e.g. training_report.json). Object stores have no rename worth the name, and a
    single object appears atomically, so files are written in place.

    Returns:
        The URLs written, in upload order.
    """
    files = sorted(p for p in local_dir.rglob("*") if p.is_file())
    rel = [p.relative_to(local_dir).as_posix() for p in files]
    order = sorted(range(len(files)), key=lambda i: (rel[i] in last, rel[i]))
    written = []
    filesystems = _filesystems()
    for i in order:
        target = join(url, rel[i])
        with (
            open(files[i], "rb") as src,
            filesystems.create(target, compression_type=_UNCOMPRESSED) as out,
        ):
            while block := src.read(_CHUNK):
                out.write(block)
        written.append(target)
    return written
