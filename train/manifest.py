"""The curation manifest, read and verified before any training work.

The manifest (format_version 1) is the whole contract between the curation pipeline and this
trainer: shard paths and checksums, the tokenizer identity, and the validation verdict. We refuse to
train on a corpus whose bytes or tokenizer differ from what the manifest promises, naming every
mismatch in one `ManifestError`, and refuse a corpus whose validation is not a success (failed,
skipped or missing) unless forced.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUPPORTED_FORMAT_VERSIONS = (1,)


class ManifestError(ValueError):
    """Raised when a manifest is unreadable or does not match the files it describes."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"manifest check failed ({len(self.problems)} problem(s)):\n{lines}")


@dataclass(frozen=True)
class ShardEntry:
    """One Arrow shard as the manifest lists it; `path` is absolute."""

    path: Path
    rows: int
    tokens: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class TokenizerInfo:
    """The tokenizer identity the corpus was tokenized with."""

    path: Path
    sha256: str
    vocab_size: int
    eos_id: int
    pad_id: int | None


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest; `sha256` is the hash of the manifest file itself (for reports)."""

    path: Path
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


def load_manifest(path: str | Path) -> Manifest:
    """Parses manifest.json; paths are resolved relative to its directory.

    Raises:
        ManifestError: if the file is missing, not JSON, of an unknown version or missing keys.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise ManifestError([f"{path}: no such manifest file"])
    blob = path.read_bytes()
    try:
        raw = json.loads(blob)
    except json.JSONDecodeError as exc:
        raise ManifestError([f"{path}: not valid JSON ({exc})"]) from None
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
        raise ManifestError([f"{path}: {p}" for p in problems])
    base = path.parent

    def shard(entry: dict[str, Any], where: str) -> ShardEntry:
        missing = [k for k in ("path", "sha256") if k not in entry]
        if missing:
            raise ManifestError([f"{where}: missing {missing}"])
        return ShardEntry(
            base / entry["path"],
            int(entry.get("rows", 0)),
            int(entry.get("tokens", 0)),
            int(entry.get("bytes", -1)),
            entry["sha256"],
        )

    tok = raw["tokenizer"]
    if "path" not in tok:
        raise ManifestError(
            [f"{path}: tokenizer.path is required to train (a hub name cannot be read offline)"]
        )
    return Manifest(
        path=path,
        sha256=hashlib.sha256(blob).hexdigest(),
        format_version=raw["format_version"],
        config_sha256=raw.get("config_sha256", ""),
        code_version=raw.get("code_version", ""),
        tokenizer=TokenizerInfo(
            base / tok["path"],
            tok.get("sha256", ""),
            int(tok.get("vocab_size", -1)),
            int(tok.get("eos_id", -1)),
            tok.get("pad_id"),
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
        if not entry.path.is_file():
            problems.append(f"shard {entry.path}: file is missing")
            continue
        size = entry.path.stat().st_size
        if entry.bytes >= 0 and size != entry.bytes:
            problems.append(f"shard {entry.path}: size {size} != manifest bytes {entry.bytes}")
        actual = file_sha256(entry.path)
        if actual != entry.sha256:
            problems.append(
                f"shard {entry.path}: sha256 {actual} != manifest sha256 {entry.sha256}"
            )
    problems.extend(_tokenizer_problems(manifest.tokenizer))
    if problems:
        raise ManifestError(problems)


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
    if not info.path.is_file():
        return [f"tokenizer {info.path}: file is missing"]
    problems = []
    actual = file_sha256(info.path)
    if actual != info.sha256:
        problems.append(
            f"tokenizer {info.path}: sha256 {actual} != manifest tokenizer.sha256 {info.sha256}"
        )
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(info.path))
    except Exception as exc:  # the tokenizers library raises a bare Exception on bad files
        return problems + [f"tokenizer {info.path}: cannot be loaded ({exc})"]
    vocab = tok.get_vocab_size(with_added_tokens=True)
    if vocab != info.vocab_size:
        problems.append(
            f"tokenizer {info.path}: vocab_size {vocab} != manifest tokenizer.vocab_size {info.vocab_size}"
        )
    if not 0 <= info.eos_id < vocab or tok.id_to_token(info.eos_id) is None:
        problems.append(
            f"tokenizer {info.path}: eos_id {info.eos_id} is not a token id of this tokenizer"
        )
    else:
        specials = {i for i, t in tok.get_added_tokens_decoder().items() if t.special}
        if specials and info.eos_id not in specials:
            name = tok.id_to_token(info.eos_id)
            problems.append(
                f"tokenizer {info.path}: manifest eos_id {info.eos_id} is {name!r}, not one of its special tokens {sorted(specials)}"
            )
    if info.pad_id is not None and not 0 <= int(info.pad_id) < vocab:
        problems.append(f"tokenizer {info.path}: pad_id {info.pad_id} is out of range")
    return problems
