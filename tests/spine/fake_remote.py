"""A fake remote Beam filesystem, `fakegs://`, over a local folder (tests only).

Beam finds filesystems by scheme among `FileSystem` subclasses, so importing this module
registers it. In-process runs (in_memory) share the test's interpreter; worker processes
(multi_processing, a portable runner's worker pool) import it through the pipeline option
`--beam_plugins=tests.spine.fake_remote` (Beam's SDK worker imports every plugin at start-up;
the repository root must be on their PYTHONPATH) and find the folder in the environment
variable `CURATE_FAKEGS_ROOT`, which they inherit. `FakeGcsFileSystem.root`, when set, overrides
the variable in this process only.

Like GCS it has no directories (a path is an object name, listing is by prefix, a prefix
"exists" only as the objects under it) and `rename` is a copy then a delete, not atomic.
"""

from __future__ import annotations

import os
import shutil

from apache_beam.io.filesystem import BeamIOError, CompressionTypes, FileMetadata, FileSystem
from apache_beam.io.localfilesystem import LocalFileSystem

SCHEME = "fakegs"
ROOT_ENV = "CURATE_FAKEGS_ROOT"


class FakeGcsFileSystem(FileSystem):
    """`fakegs://bucket/a/b` is the file `root/bucket/a/b`."""

    root: str | None = None  # in-process override of $CURATE_FAKEGS_ROOT

    @classmethod
    def scheme(cls):
        return SCHEME

    @classmethod
    def base(cls) -> str:
        base = cls.root or os.environ.get(ROOT_ENV)
        if not base:
            raise BeamIOError(f"{SCHEME}:// has no root: set ${ROOT_ENV}")
        return base

    @classmethod
    def local(cls, url: str) -> str:
        assert url.startswith(f"{SCHEME}://"), url
        return os.path.join(cls.base(), url[len(SCHEME) + 3 :])

    @classmethod
    def url(cls, local: str) -> str:
        return f"{SCHEME}://" + os.path.relpath(local, cls.base()).replace(os.sep, "/")

    def __init__(self, pipeline_options=None):
        super().__init__(pipeline_options)
        self._local = LocalFileSystem(pipeline_options)

    def join(self, basepath, *paths):
        return "/".join([basepath.rstrip("/"), *(p.strip("/") for p in paths)])

    def split(self, path):
        head, _, tail = path.rstrip("/").rpartition("/")
        return head, tail

    def mkdirs(self, path):
        pass  # no directories in an object store

    def has_dirs(self):
        return False

    def _list(self, dir_or_prefix):
        prefix = self.local(dir_or_prefix)
        base = prefix if os.path.isdir(prefix) else os.path.dirname(prefix)
        for d, _, files in os.walk(base):
            for f in files:
                path = os.path.join(d, f)
                if path.startswith(prefix):
                    st = os.stat(path)
                    yield FileMetadata(self.url(path), st.st_size, st.st_mtime)

    def create(
        self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO
    ):
        os.makedirs(os.path.dirname(self.local(path)), exist_ok=True)
        return self._local.create(self.local(path), mime_type, compression_type)

    def open(
        self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO
    ):
        return self._local.open(self.local(path), mime_type, compression_type)

    def copy(self, source_file_names, destination_file_names):
        for src, dst in zip(source_file_names, destination_file_names, strict=True):
            os.makedirs(os.path.dirname(self.local(dst)), exist_ok=True)
            shutil.copyfile(self.local(src), self.local(dst))

    def rename(self, source_file_names, destination_file_names):
        """Copy, then delete the source (as GCS does): a reader may see both for a while."""
        errors = {}
        for src, dst in zip(source_file_names, destination_file_names, strict=True):
            try:
                if not os.path.isfile(self.local(src)):
                    raise FileNotFoundError(f"{src} is no object")
                self.copy([src], [dst])
                os.remove(self.local(src))
            except OSError as exc:
                errors[(src, dst)] = exc
        if errors:
            raise BeamIOError("rename failed", errors)

    def exists(self, path):
        return os.path.isfile(self.local(path))

    def size(self, path):
        return os.path.getsize(self.local(path))

    def last_updated(self, path):
        return os.path.getmtime(self.local(path))

    def checksum(self, path):
        return str(self.size(path))

    def metadata(self, path):
        return FileMetadata(path, self.size(path), self.last_updated(path))

    def delete(self, paths):
        errors = {}
        for path in paths:
            local = self.local(path)
            if os.path.isfile(local):
                os.remove(local)
            elif path.endswith("/") and os.path.isdir(local):  # GCS: "dir/" means every object
                shutil.rmtree(local)
            else:
                errors[path] = BeamIOError(f"{path} does not exist")
        if errors:
            raise BeamIOError("delete failed", errors)
