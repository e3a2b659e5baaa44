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
    """Deletes a folder tree (remote: every object under the prefix; a prefix is no object)."""
    if is_remote(path):
        delete(path)
    else:
        import shutil

        shutil.rmtree(path, ignore_errors=True)


def exists(path: str) -> bool:
    if is_remote(path):
        from apache_beam.io.filesystems import FileSystems

        return FileSystems.exists(path)
    return os.path.exists(path)


def _filesystems():
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


def list_files(root: str) -> list[str]:
    """Every file under `root` (recursive), sorted; [] when `root` does not exist."""
    if is_remote(root):
        from apache_beam.io.filesystem import BeamIOError

        found = set()
        for pattern in (root, join(root, "**")):  # the file itself, or the files under a folder
            try:
                found.update(m.path for m in _filesystems().match([pattern])[0].metadata_list)
            except BeamIOError:
                continue  # nothing matches
        return sorted(found)
    if os.path.isfile(root):
        return [root]
    out = [os.path.join(d, f) for d, _, files in os.walk(root) for f in files]
    return sorted(out)


def listdir(path: str) -> list[str]:
    """The top-level names in folder `path` (files and folders); [] when it does not exist."""
    if not is_remote(path):
        return sorted(os.listdir(path)) if os.path.isdir(path) else []
    prefix = path.rstrip("/") + "/"
    return sorted({p[len(prefix) :].split("/", 1)[0] for p in list_files(path)} - {""})


def delete(path: str) -> None:
    """Deletes a file or a folder tree (missing: nothing to do)."""
    if is_remote(path):
        files = list_files(path)
        if files:
            _filesystems().delete(files)
    elif os.path.isdir(path) and not os.path.islink(path):
        import shutil

        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def move(src: str, dst: str) -> None:
    """Moves a file or a folder tree to `dst` (local: one atomic rename; remote: file by file)."""
    if not is_remote(src):
        makedirs(os.path.dirname(dst) or ".")
        os.replace(src, dst)
        return
    files = list_files(src)
    base = src.rstrip("/")
    _filesystems().rename(files, [dst.rstrip("/") + f[len(base) :] for f in files])


def upload_tree(local_dir: str, dst: str) -> None:
    """Copies every file under local folder `local_dir` to the same relative path under `dst`."""
    for path in list_files(local_dir):
        rel = os.path.relpath(path, local_dir).replace(os.sep, "/")
        with open(path, "rb") as src, open_write(join(dst, rel)) as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)


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
