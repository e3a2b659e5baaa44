"""How quality/ reads the files it needs (models, lexicons) without knowing where they live.

quality/ never imports Beam, yet its files may be URLs (`gs://...`) that only Beam's
FileSystems can read. So its loaders take the bytes, or a `ReadBytes` function that returns
them: the default reads local files; Beam steps pass `transforms.infra.fs.read_bytes`, which reads
URLs through FileSystems. Config checks here skip URLs: `pipelines.config` checks them through
FileSystems, with every other problem of the config.
"""

from __future__ import annotations

from collections.abc import Callable

ReadBytes = Callable[[str], bytes]


def read_local(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def is_url(path: str) -> bool:
    """A Beam filesystem URL (gs://, s3://, ...), checked and read by the caller's `ReadBytes`."""
    return "://" in str(path)
