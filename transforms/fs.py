"""File access for outputs: plain `os` for local paths, Beam's FileSystems for URLs (gs://, s3://).

Atomic writes go to a temporary name next to the target and are renamed into place, so a crashed
run never leaves a half file under the final name.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import IO


def is_remote(path: str) -> bool:
    return "://" in path


def join(*parts: str) -> str:
    if is_remote(parts[0]):
        return "/".join(p.strip("/") if i else p.rstrip("/") for i, p in enumerate(parts))
    return os.path.join(*parts)


def makedirs(path: str) -> None:
    if not is_remote(path):
        os.makedirs(path, exist_ok=True)


def open_write(path: str) -> IO[bytes]:
    if is_remote(path):
        from apache_beam.io.filesystems import FileSystems

        return FileSystems.create(path)
    makedirs(os.path.dirname(path) or ".")
    return open(path, "wb")


def open_read(path: str) -> IO[bytes]:
    if is_remote(path):
        from apache_beam.io.filesystems import FileSystems

        return FileSystems.open(path)
    return open(path, "rb")


def rename(src: str, dst: str) -> None:
    if is_remote(src):
        from apache_beam.io.filesystems import FileSystems

        FileSystems.rename([src], [dst])
    else:
        os.replace(src, dst)


def delete_tree(path: str) -> None:
    if is_remote(path):
        from apache_beam.io.filesystems import FileSystems

        if FileSystems.exists(path):
            FileSystems.delete([path])
    else:
        import shutil

        shutil.rmtree(path, ignore_errors=True)


def exists(path: str) -> bool:
    if is_remote(path):
        from apache_beam.io.filesystems import FileSystems

        return FileSystems.exists(path)
    return os.path.exists(path)


def temp_name(path: str) -> str:
    return f"{path}.tmp-{uuid.uuid4().hex[:12]}"


def atomic_write_bytes(path: str, data: bytes) -> None:
    tmp = temp_name(path)
    with open_write(tmp) as fh:
        fh.write(data)
        if not is_remote(path):
            fh.flush()
            os.fsync(fh.fileno())
    rename(tmp, path)


def sha256_file(path: str) -> tuple[str, int]:
    h, n = hashlib.sha256(), 0
    with open_read(path) as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n
