"""Tokenizers: load one from a path or URL, or train a byte-level BPE on a sample of the input.

The tokenizer is saved as `OUTPUT/tokenizer/tokenizer.json`; its sha256, vocab size and the EOS
and PAD ids go into the manifest, and the trainer refuses a model whose tokenizer differs.
Encoding is batched (`encode_batch_fast`, Rust threads, no offsets) inside stage 2.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from transforms.infra import fs


@dataclass(frozen=True)
class TokenizerInfo:
    path: str
    sha256: str
    vocab_size: int
    eos_id: int
    pad_id: int

    def to_manifest(self, relative_path: str) -> dict:
        return {
            "path": relative_path,
            "sha256": self.sha256,
            "vocab_size": self.vocab_size,
            "eos_id": self.eos_id,
            "pad_id": self.pad_id,
        }


def resolve_tokenizer_file(path: str) -> str:
    """`path` itself if a file, else `path/tokenizer.json` (local or a URL, see transforms.infra.fs)."""
    if not fs.is_file(path):
        path = fs.join(path, "tokenizer.json")
    if not fs.is_file(path):
        raise FileNotFoundError(f"no tokenizer.json at {path!r}")
    return path


def train_bpe(texts: Iterable[str], vocab_size: int, special_tokens: list[str]) -> Tokenizer:
    """A byte-level BPE (GPT-2 style pre-tokenization) trained on `texts`; specials get ids 0..n-1."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def save_tokenizer(tok: Tokenizer, path: str, eos_token: str, pad_token: str) -> TokenizerInfo:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    tok.save(tmp)
    os.replace(tmp, path)
    return describe_tokenizer(path, eos_token, pad_token)


def describe_tokenizer(path: str, eos_token: str, pad_token: str) -> TokenizerInfo:
    """Identity of a tokenizer file; raises ValueError if EOS is missing from its vocabulary."""
    tok = Tokenizer.from_file(path)
    eos = tok.token_to_id(eos_token)
    if eos is None:
        raise ValueError(
            f"tokenizer {path!r} has no EOS token {eos_token!r}; set tokenizer.eos_token"
        )
    pad = tok.token_to_id(pad_token)
    with open(path, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    return TokenizerInfo(
        path, digest, tok.get_vocab_size(with_added_tokens=True), eos, eos if pad is None else pad
    )


class BatchEncoder:
    """Encodes batches of texts to int32 arrays with EOS appended; built lazily (picklable).

    The tokenizer comes from `path` (a local path or URL: the run's `OUTPUT/tokenizer/
    tokenizer.json`, which every worker reads like the rest of the output), checked against
    `sha256` when given; or from `tokenizer_json`, the serialized tokenizer itself. By path, the
    pickled encoder is a few hundred bytes: Beam pickles and unpickles a DoFn (bz2, level 9)
    several times while it builds and runs the graph, and a 0.5 MB tokenizer in it cost each
    of those calls tens of milliseconds.
    """

    def __init__(
        self,
        tokenizer_json: str | None = None,
        eos_id: int | None = None,
        *,
        path: str | None = None,
        sha256: str = "",
    ) -> None:
        if (tokenizer_json is None) == (path is None):
            raise ValueError("BatchEncoder needs one of tokenizer_json and path")
        self._json = tokenizer_json
        self._path, self._sha256 = path, sha256
        self._eos_id = eos_id
        self._tok: Tokenizer | None = None
        # CPU seconds of this process (every thread) inside the tokenizer: `encode_batch_fast`
        # and its ids lists, what tokenizing costs without curate (the `tokenizer_cpu` tally).
        # Process-wide: exact where one bundle runs at a time per process (the local runner's
        # modes); a worker running several bundles at once counts their CPU here too.
        self.cpu_seconds = 0.0

    def __getstate__(self):
        return {**self.__dict__, "_tok": None, "cpu_seconds": 0.0}

    def _load(self) -> Tokenizer:
        text = self._json
        if text is None:
            data = fs.read_bytes(self._path)
            digest = hashlib.sha256(data).hexdigest()
            if self._sha256 and digest != self._sha256:
                raise ValueError(
                    f"tokenizer {self._path} changed during the run: sha256 {digest[:12]},"
                    f" expected {self._sha256[:12]}"
                )
            text = data.decode("utf-8")
        tok = Tokenizer.from_str(text)
        tok.no_padding()
        tok.no_truncation()
        return tok

    def encode(self, texts: list[str]) -> list[np.ndarray]:
        if self._tok is None:
            self._tok = self._load()
        t0 = time.process_time()
        lists = [e.ids for e in self._tok.encode_batch_fast(texts, add_special_tokens=False)]
        self.cpu_seconds += time.process_time() - t0
        eos = self._eos_id
        out = []
        for ids in lists:
            if eos is not None:
                ids.append(eos)
            out.append(np.asarray(ids, dtype=np.int32))
        return out
