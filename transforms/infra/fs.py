"""File access: plain `os` for local paths, Beam's FileSystems for URLs (gs://, s3://).

Everything a Beam worker reads (inputs, models, lexicons, filters, eval sets, the tokenizer) and
everything a run writes goes through here, so a URL works wherever a local path does: on a
distributed runner a local path names a file the workers do not have. Reads return the bytes as
stored (no decompression by file extension): callers that read `.gz` files decompress them.

Atomic writes go to a temporary name next to the target and are renamed into place, so a crashed
run never leaves a half file under the final name.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import IO

_KILL_AT = "CURATE_TEST_KILL_AT"
_kill_counts: dict[str, int] = {}


def _kill_point(op: str, path: str) -> None:
    """Test hook for crash tests: `CURATE_TEST_KILL_AT="OP:FRAGMENT[:N]"` kills this process with
    SIGKILL at its N-th (default first) OP ("write", "rename", "move", "delete") on a path
    containing FRAGMENT, before the operation. With `CURATE_TEST_KILL_SIGNAL=INT` it sends
    SIGINT to its process group instead, once (a Ctrl-C in the terminal). Unset (always, outside
    tests) it costs one environment lookup."""
    spec = os.environ.get(_KILL_AT)
    if not spec or not spec.startswith(op + ":"):
        return
    _, fragment, *nth = spec.split(":")
    if fragment not in path.replace(os.sep, "/"):
        return
    _kill_counts[spec] = _kill_counts.get(spec, 0) + 1
    if _kill_counts[spec] < int(nth[0] if nth else 1):
        return
    import signal

    if os.environ.get("CURATE_TEST_KILL_SIGNAL") == "INT":
        del os.environ[_KILL_AT]
        os.killpg(os.getpgrp(), signal.SIGINT)
    else:
        os.kill(os.getpid(), signal.SIGKILL)


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
    _kill_point("write", path)
    if is_remote(path):
        from apache_beam.io.filesystems import FileSystems

        return FileSystems.create(path)
    makedirs(os.path.dirname(path) or ".")
    return open(path, "wb")


def open_read(path: str) -> IO[bytes]:
    """A binary file object of the stored bytes (seekable; remote: read in chunks on demand)."""
    if is_remote(path):
        from apache_beam.io.filesystem import CompressionTypes

        return _filesystems().open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    return open(path, "rb")


def read_bytes(path: str) -> bytes:
    """The whole file (a model, a lexicon, a filter: things a worker loads in `setup()`)."""
    with open_read(path) as fh:
        return fh.read()


def read_text(path: str, encoding: str = "utf-8") -> str:
    return read_bytes(path).decode(encoding)


def is_file(path: str) -> bool:
    """A file (remote: an object; an object store has no folders)."""
    if is_remote(path):
        return _filesystems().exists(path)
    return os.path.isfile(path)


def is_dir(path: str) -> bool:
    """A folder (remote: a prefix with at least one object under `path/`)."""
    if is_remote(path):
        return bool(match(join(path, "**")))
    return os.path.isdir(path)


def path_problem(path: str, kind: str = "file") -> str | None:
    """Why `path` is not a `kind` ("file"; "glob": matches a file; "dir"), or None if it is.

    For config checks: a URL is looked up through Beam's FileSystems, and a URL Beam cannot
    look up (an unknown scheme, no credentials) is a problem too, reported with Beam's reason.
    """
    try:
        if kind == "glob":
            return None if match(path) else f"no file matches {path!r}"
        found = is_dir(path) if kind == "dir" else is_file(path)
        return None if found else f"{path!r} does not exist"
    except Exception as exc:  # noqa: BLE001 - any filesystem's own error becomes the message
        return f"{path!r} cannot be looked up ({type(exc).__name__}: {exc})"


def size(path: str) -> int:
    if is_remote(path):
        found = _filesystems().match([path])[0].metadata_list
        if not found:
            raise FileNotFoundError(path)
        return found[0].size_in_bytes
    return os.path.getsize(path)


def match(pattern: str) -> list[str]:
    """The files a glob names, sorted (local: `**` recursive, `~` expanded); [] when none."""
    if not is_remote(pattern):
        import glob

        return sorted(glob.glob(os.path.expanduser(pattern), recursive=True))
    from apache_beam.io.filesystem import BeamIOError

    try:
        return sorted(m.path for m in _filesystems().match([pattern])[0].metadata_list)
    except BeamIOError:
        return []


def rename(src: str, dst: str) -> None:
    _kill_point("rename", dst)
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
    """A file or folder (remote: an object; see `is_dir` for a prefix)."""
    if is_remote(path):
        return _filesystems().exists(path)
    return os.path.exists(path)


def _filesystems():
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


def list_files(root: str) -> list[str]:
    """Every file under `root` (recursive), sorted; [] when `root` does not exist."""
    if is_remote(root):
        # the file itself, or the files under a folder
        return sorted({*match(root), *match(join(root, "**"))})
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
    _kill_point("delete", path)
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
    _kill_point("move", src)
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
