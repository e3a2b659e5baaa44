"""The curation manifest, read and verified before any training work.

The manifest (format_version 1) is the whole contract between the curation pipeline and this
trainer: shard paths and checksums, the tokenizer identity, and the validation verdict. We refuse to
train on a corpus whose bytes or tokenizer differ from what the manifest promises, naming every
mismatch in one `ManifestError`, and refuse a corpus whose validation is not a success (failed,
skipped or missing) unless forced.

A manifest may be a URL (`gs://bucket/run/manifest.json`): it is read through `train.storage`, and
its shards and tokenizer are fetched by `verify_manifest` into a local cache, each kept only if its
sha256 matches the manifest, so everything after verification reads local files. Each file then has
a `location` (where the manifest says it lives: a URL or a local path, the name every message
uses) and a `path` (the local file the trainer reads; the same file for a local manifest).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from train import storage

SUPPORTED_FORMAT_VERSIONS = (1,)


class ManifestError(ValueError):
    """Raised when a manifest is unreadable or does not match the files it describes."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"manifest check failed ({len(self.problems)} problem(s)):\n{lines}")


@dataclass(frozen=True)
class ShardEntry:
    """One Arrow shard as the manifest lists it; `path` is absolute and local."""

    path: Path
    rows: int
    tokens: int
    bytes: int
    sha256: str
    location: str  # URL or local path, as listed (relative to the manifest)

    @property
    def remote(self) -> bool:
        return storage.is_remote(self.location)


@dataclass(frozen=True)
class TokenizerInfo:
    """The tokenizer identity the corpus was tokenized with."""

    path: Path
    sha256: str
    vocab_size: int
    eos_id: int
    pad_id: int | None
    location: str

    @property
    def remote(self) -> bool:
        return storage.is_remote(self.location)


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest; `sha256` is the hash of the manifest file itself (for reports).

    `location` is where it was read from (a URL or an absolute local path); `path` is a local
    file with the same bytes (for a remote manifest, its copy in the cache).
    """

    path: Path
    location: str
    sha256: str
    format_version: int
    config_sha256: str
    code_version: str
    tokenizer: TokenizerInfo
    shards: list[ShardEntry]
    eval_shards: list[ShardEntry]
    validation: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    @property
    def validation_success(self) -> bool | None:
        """The verdict; None when validation was skipped or not recorded."""
        success = self.validation.get("success")
        return None if success is None else bool(success)


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(path: str | Path, cache_dir: str | Path | None = None) -> Manifest:
    """Parses manifest.json; paths are resolved relative to its directory.

    Args:
        path: a local path or a URL (read through Beam's FileSystems).
        cache_dir: for a remote manifest, where its files are fetched to (default
            `storage.cache_root()`); each manifest gets a folder named by its own sha256.

    Raises:
        ManifestError: if the file is missing, not JSON, of an unknown version or missing keys.
    """
    if storage.is_remote(path):
        location = str(path)
        try:
            blob = storage.read_bytes(location)
        except FileNotFoundError:
            raise ManifestError([f"{location}: no such manifest file"]) from None
        digest = hashlib.sha256(blob).hexdigest()
        base = Path(cache_dir or storage.cache_root()) / "manifests" / digest[:16]
        local = base / "manifest.json"
        if not local.is_file():
            base.mkdir(parents=True, exist_ok=True)
            tmp = base / f".manifest.json.{os.getpid()}.tmp"
            tmp.write_bytes(blob)
            os.replace(tmp, local)
    else:
        local = Path(path).resolve()
        location, base = str(local), local.parent
        if not local.is_file():
            raise ManifestError([f"{local}: no such manifest file"])
        blob = local.read_bytes()
        digest = hashlib.sha256(blob).hexdigest()
    try:
        raw = json.loads(blob)
    except json.JSONDecodeError as exc:
        raise ManifestError([f"{location}: not valid JSON ({exc})"]) from None
    problems = []
    if raw.get("format_version") not in SUPPORTED_FORMAT_VERSIONS:
        problems.append(
            f"format_version {raw.get('format_version')!r} is not supported (known: {SUPPORTED_FORMAT_VERSIONS})"
        )
    for key in ("tokenizer", "shards"):
        if key not in raw:
            problems.append(f"missing key {key!r}")
    if raw.get("arrow_format", "ipc_stream") not in ("ipc_stream", "ipc_file"):
        problems.append(f"arrow_format {raw.get('arrow_format')!r} is not ipc_stream or ipc_file")
    if problems:
        raise ManifestError([f"{location}: {p}" for p in problems])
    folder = storage.dirname(location)

    def place(relative: str, where: str) -> tuple[Path, str]:
        """(local path, location) of a file the manifest names relative to itself."""
        if not storage.is_remote(location):
            return base / relative, str(base / relative)
        parts = relative.replace("\\", "/").split("/")
        if relative.startswith("/") or ".." in parts or storage.is_remote(relative):
            # The cache mirrors the manifest's folder; a path outside it has no place there.
            raise ManifestError([f"{where}: path {relative!r} is not inside the manifest's folder"])
        return base.joinpath(*parts), storage.join(folder, relative)

    def shard(entry: dict[str, Any], where: str) -> ShardEntry:
        missing = [k for k in ("path", "sha256") if k not in entry]
        if missing:
            raise ManifestError([f"{where}: missing {missing}"])
        local_path, shard_location = place(entry["path"], where)
        return ShardEntry(
            local_path,
            int(entry.get("rows", 0)),
            int(entry.get("tokens", 0)),
            int(entry.get("bytes", -1)),
            entry["sha256"],
            shard_location,
        )

    tok = raw["tokenizer"]
    if "path" not in tok:
        raise ManifestError(
            [f"{location}: tokenizer.path is required to train (a hub name cannot be read offline)"]
        )
    tok_path, tok_location = place(tok["path"], "tokenizer")
    return Manifest(
        path=local,
        location=location,
        sha256=digest,
        format_version=raw["format_version"],
        config_sha256=raw.get("config_sha256", ""),
        code_version=raw.get("code_version", ""),
        tokenizer=TokenizerInfo(
            tok_path,
            tok.get("sha256", ""),
            int(tok.get("vocab_size", -1)),
            int(tok.get("eos_id", -1)),
            tok.get("pad_id"),
            tok_location,
        ),
        shards=[shard(s, f"shards[{i}]") for i, s in enumerate(raw["shards"])],
        eval_shards=[
            shard(s, f"eval_shards[{i}]") for i, s in enumerate(raw.get("eval_shards") or [])
        ],
        validation=raw.get("validation") or {},
        raw=raw,
    )


def verify_manifest(manifest: Manifest, force: bool = False) -> None:
    """Checks the validation verdict, every shard's bytes and the tokenizer identity.

    Remote shards and tokenizer are fetched into the cache as they are checked (one read each);
    a file whose bytes do not match the manifest is reported and not kept.

    Args:
        manifest: the parsed manifest.
        force: train even though the corpus failed, skipped or lacks validation (checksums are
            still enforced).

    Raises:
        ManifestError: naming every mismatch found.
    """
    problems = []
    if manifest.validation_success is not True and not force:
        problems.append(_validation_problem(manifest.validation))
    if not manifest.shards:
        problems.append("the manifest lists no training shards")
    for entry in manifest.shards + manifest.eval_shards:
        problems.extend(_shard_problems(entry))
    problems.extend(_tokenizer_problems(manifest.tokenizer))
    if problems:
        raise ManifestError(problems)


def fetch_missing(manifest: Manifest) -> None:
    """Fetches (checked) every remote file of `manifest` that the local cache lacks.

    For the ranks that do not run `verify_manifest`: on the verifying rank's machine this finds
    everything in place; on another machine it downloads the corpus once more, checked again.

    Raises:
        ManifestError: naming every file whose bytes do not match the manifest.
    """
    problems = []
    for item in [*manifest.shards, *manifest.eval_shards, manifest.tokenizer]:
        if item.remote and not item.path.is_file():
            actual = storage.download(item.location, item.path, item.sha256)
            if actual != item.sha256:
                problems.append(
                    f"{item.location}: sha256 {actual} != manifest sha256 {item.sha256}"
                )
    if problems:
        raise ManifestError(problems)


def _shard_problems(entry: ShardEntry) -> list[str]:
    name = f"shard {entry.location}"
    if not storage.exists(entry.location):
        return [f"{name}: file is missing"]
    size = storage.size(entry.location)
    if entry.bytes >= 0 and size != entry.bytes:
        return [f"{name}: size {size} != manifest bytes {entry.bytes}"]
    actual = _fetched_sha256(entry) if entry.remote else file_sha256(entry.path)
    if actual != entry.sha256:
        return [f"{name}: sha256 {actual} != manifest sha256 {entry.sha256}"]
    return []


def _fetched_sha256(item: ShardEntry | TokenizerInfo) -> str:
    """sha256 of a remote file's bytes, leaving a copy in the cache if they match the manifest."""
    if item.path.is_file():
        cached = file_sha256(item.path)  # the cache is a local disk: check it like a local corpus
        if cached == item.sha256:
            return cached
        item.path.unlink()
    return storage.download(item.location, item.path, item.sha256)


def _validation_problem(validation: dict) -> str:
    """Why a verdict other than `success: true` stops training (failed, skipped or missing)."""
    success = validation.get("success")
    detail = json.dumps({k: v for k, v in validation.items() if k != "success"})[:300]
    if success is False:
        why = f"the corpus failed validation (validation.success is false; {detail})"
    elif validation.get("skipped"):
        why = f"the corpus was not validated (validation skipped; {detail})"
    else:
        why = "the manifest holds no validation verdict (validation.success is missing)"
    return f"{why}; only a validated corpus trains: pass --force to train anyway"


def _tokenizer_problems(info: TokenizerInfo) -> list[str]:
    name = f"tokenizer {info.location}"
    if not storage.exists(info.location):
        return [f"{name}: file is missing"]
    actual = _fetched_sha256(info) if info.remote else file_sha256(info.path)
    problems = []
    if actual != info.sha256:
        problems.append(f"{name}: sha256 {actual} != manifest tokenizer.sha256 {info.sha256}")
        if info.remote:  # bytes the manifest does not vouch for are not kept to inspect further
            return problems
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(info.path))
    except Exception as exc:  # the tokenizers library raises a bare Exception on bad files
        return problems + [f"{name}: cannot be loaded ({exc})"]
    vocab = tok.get_vocab_size(with_added_tokens=True)
    if vocab != info.vocab_size:
        problems.append(
            f"{name}: vocab_size {vocab} != manifest tokenizer.vocab_size {info.vocab_size}"
        )
    if not 0 <= info.eos_id < vocab or tok.id_to_token(info.eos_id) is None:
        problems.append(f"{name}: eos_id {info.eos_id} is not a token id of this tokenizer")
    else:
        specials = {i for i, t in tok.get_added_tokens_decoder().items() if t.special}
        if specials and info.eos_id not in specials:
            token = tok.id_to_token(info.eos_id)
            problems.append(
                f"{name}: manifest eos_id {info.eos_id} is {token!r}, not one of its special tokens {sorted(specials)}"
            )
    if info.pad_id is not None and not 0 <= int(info.pad_id) < vocab:
        problems.append(f"{name}: pad_id {info.pad_id} is out of range")
    return problems
