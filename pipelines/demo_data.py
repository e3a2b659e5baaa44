"""Builds a real-text corpus from files found on any machine with Python.

Used by `configs/demo.yaml` (a few thousand documents), by tests (tiny) and by the benchmarks
(hundreds of MB). Sources, each a JSONL.gz family with `id`, `text` fields:

- `code`: Python modules of the standard library and installed packages;
- `docs`: READMEs, package METADATA (long descriptions), license and changelog files;
- `man`: manual pages from /usr/share/man, roff markup stripped.

Licence files and vendored modules recur across packages, so the corpus has natural exact and
near duplicates. Nothing is committed: the corpus is made at run time. File choice is a seeded
hash order over sorted paths, so the same machine and seed give the same corpus.

Run directly: `python -m pipelines.demo_data --out DIR --max-bytes 200MB`.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import json
import os
import re
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

MAX_FILE_BYTES = 400_000
DOC_NAMES = re.compile(
    r"(README|LICEN[CS]E|COPYING|NOTICE|CHANGELOG|CHANGES|HISTORY|AUTHORS|METADATA)", re.I
)
DOC_SUFFIXES = {".md", ".rst", ".txt"}


def _roots() -> list[Path]:
    paths = sysconfig.get_paths()
    roots = {Path(paths["stdlib"]), Path(paths["purelib"]), Path(paths["platlib"])}
    roots.add(Path(sys.base_prefix) / "lib")
    return sorted(r for r in roots if r.is_dir())


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _classify(path: Path) -> str | None:
    name = path.name
    if name.endswith(".py"):
        return "code"
    if path.suffix.lower() in DOC_SUFFIXES or DOC_NAMES.match(name):
        return "docs"
    return None


_ROFF_ESC = re.compile(r"\\f[BIRPC]|\\f\(..|\\s[+-]?\d|\\[&,/%:|^]|\\e|\\\*\(..|\\\*.|\\\((..)|\\-")
_ROFF_CHARS = {"em": "—", "en": "–", "bu": "•", "co": "©", "lq": "“", "rq": "”", "aq": "'"}


def roff_to_text(src: str) -> str:
    """Strips roff markup from a man page: a rough reading, enough for real prose."""
    out = []
    for line in src.splitlines():
        if line.startswith(('.\\"', "'\\\"", '.\\"')) or line.strip() in (".", "'"):
            continue
        if line.startswith((".", "'")):
            parts = line[1:].split(None, 1)
            if not parts:
                continue
            macro, args = parts[0], (parts[1] if len(parts) > 1 else "")
            if macro in (
                "TH",
                "de",
                "ds",
                "nr",
                "so",
                "if",
                "ie",
                "el",
                "ig",
                "ft",
                "ad",
                "na",
                "hy",
                "nh",
                "ne",
                "in",
                "ti",
                "ll",
                "ta",
                "ps",
                "vs",
            ):
                continue
            if macro in ("PP", "LP", "P", "sp", "br", "RS", "RE", "IP", "TP", "HP"):
                out.append("" if macro in ("PP", "LP", "P", "sp") else args.strip('"'))
                continue
            line = args.replace('"', "")
            if macro in ("SH", "SS"):
                out.append("")
                line = line.upper() if macro == "SH" else line
        line = _ROFF_ESC.sub(
            lambda m: _ROFF_CHARS.get(
                m.group(1) or "", {"\\-": "-", "\\e": "\\"}.get(m.group(0), "")
            ),
            line,
        )
        out.append(line)
    return "\n".join(out).strip()


@functools.lru_cache(maxsize=4)
def _tree_files(roots: tuple[Path, ...]) -> dict[str, tuple[Path, ...]]:
    """{family: files} of ONE walk over `roots`: code and docs come from the same trees, and a
    walk of the interpreter's libraries (~150k files) costs seconds; built once per process."""
    out: dict[str, list[Path]] = {"code": [], "docs": []}
    for root in roots:
        for path in _walk(root):
            family = _classify(path)
            if family is not None:
                out[family].append(path)
    return {family: tuple(paths) for family, paths in out.items()}


def _man_files() -> list[Path]:
    base = Path("/usr/share/man")
    if not base.is_dir():
        return []
    return [p for d in sorted(base.glob("man[1-8]")) for p in sorted(d.iterdir()) if p.is_file()]


def _order(paths: list[Path], seed: int) -> list[Path]:
    return sorted(paths, key=lambda p: hashlib.sha1(f"{seed}:{p}".encode()).digest())


def iter_documents(family: str, seed: int = 0) -> Iterator[tuple[str, str]]:
    """Yields (id, text) of one family in a seeded, machine-stable order."""
    if family == "man":
        files = _order(_man_files(), seed)
    else:
        files = _order(list(_tree_files(tuple(_roots())).get(family, ())), seed)
    seen_paths: set[str] = set()
    for path in files:
        try:
            real = str(path.resolve())
            if (
                real in seen_paths
                or path.stat().st_size > MAX_FILE_BYTES
                or path.stat().st_size == 0
            ):
                continue
            seen_paths.add(real)
            raw = path.read_bytes()
            if family == "man":
                raw = gzip.decompress(raw) if path.suffix == ".gz" else raw
                text = roff_to_text(raw.decode("utf-8", errors="replace"))
            else:
                text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile):
            continue
        if text.strip():
            yield f"{family}/{path.name}-{hashlib.sha1(str(path).encode()).hexdigest()[:10]}", text


MALFORMED_LINES: list[bytes] = [
    b'{"id": "bad-json-1", "text": "an unterminated object"\n',
    b'{"id": "bad-utf8-1", "text": "caf\xe9 latin-1 bytes"}\n',
    b'{"id": "empty-1", "text": "   \\n\\t  "}\n',
    b'{"id": "no-text-1", "body": "the text field is missing"}\n',
    b'{"id": "num-text-1", "text": 12345}\n',
    b"[1, 2, 3]\n",
]


def build_corpus(
    out_dir: str | os.PathLike,
    max_docs: int | None = None,
    max_bytes: int | None = None,
    seed: int = 0,
    malformed: bool = False,
    docs_per_file: int = 500,
    mix: dict[str, float] | None = None,
) -> dict[str, list[str]]:
    """Writes `{family}-NNNNN.jsonl.gz` files under out_dir; returns {family: [paths]}.

    Args:
        out_dir: folder to create.
        max_docs: cap on documents over all families (split by `mix`).
        max_bytes: cap on text bytes over all families (split by `mix`).
        seed: file-order seed.
        malformed: append deliberately broken lines and one truncated gzip file (demo).
        docs_per_file: documents per JSONL.gz file.
        mix: share of the caps per family (default code 0.5, docs 0.3, man 0.2).
    """
    mix = mix or {"code": 0.5, "docs": 0.3, "man": 0.2}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {
        f: {
            "it": iter_documents(f, seed),
            "fh": None,
            "files": [],
            "docs": 0,
            "bytes": 0,
            "done": False,
        }
        for f in mix
    }

    def fill(family: str, doc_cap: float, byte_cap: float) -> None:
        st = state[family]
        while not st["done"] and st["docs"] < doc_cap and st["bytes"] < byte_cap:
            item = next(st["it"], None)
            if item is None:
                st["done"] = True
                break
            doc_id, text = item
            if st["docs"] % docs_per_file == 0:
                if st["fh"]:
                    st["fh"].close()
                st["files"].append(str(out / f"{family}-{len(st['files']):05d}.jsonl.gz"))
                st["fh"] = gzip.open(st["files"][-1], "wb", compresslevel=1)  # noqa: SIM115 (closed below)
            st["fh"].write(
                json.dumps({"id": doc_id, "text": text}, ensure_ascii=False).encode() + b"\n"
            )
            st["docs"] += 1
            st["bytes"] += len(text.encode())

    inf = float("inf")
    for family, share in mix.items():  # first pass: each family its share
        fill(family, max_docs * share if max_docs else inf, max_bytes * share if max_bytes else inf)
    for family in mix:  # second pass: what a short family left unused goes to the others
        left_docs = max_docs - sum(st["docs"] for st in state.values()) if max_docs else inf
        left_bytes = max_bytes - sum(st["bytes"] for st in state.values()) if max_bytes else inf
        if left_docs > 0 and left_bytes > 0 and (max_docs or max_bytes):
            st = state[family]
            fill(family, st["docs"] + left_docs, st["bytes"] + left_bytes)
    written: dict[str, list[str]] = {}
    for family, st in state.items():
        if st["fh"]:
            if malformed and family == "docs":
                for line in MALFORMED_LINES:
                    st["fh"].write(line)
                # Two prose records under one id (a real document's id could be filtered out
                # first on some machines): the first in input order keeps the id, the second
                # goes to dead_letter/ as duplicate_id.
                for what in ("first", "second"):
                    text = (
                        f"This is the {what} of two demo records that share one id. The pipeline keeps "
                        "the record that comes first in input order and sends the other one to the "
                        "dead-letter output with the reason duplicate_id, together with the position "
                        "of the record that kept the id, so that nothing is lost without a trace."
                    )
                    st["fh"].write(
                        json.dumps({"id": "docs/shared-id", "text": text}).encode() + b"\n"
                    )
            st["fh"].close()
        written[family] = st["files"]
    if malformed:
        # A gzip file cut in the middle: the lines before the cut are read, the rest dead-lettered.
        path = out / "truncated-00000.jsonl.gz"
        body = b"".join(
            json.dumps(
                {
                    "id": f"trunc-{i}",
                    "text": f"line {i} of a file whose gzip stream is cut off; " * 20,
                }
            ).encode()
            + b"\n"
            for i in range(50)
        )
        data = gzip.compress(body)
        path.write_bytes(data[: len(data) // 2])
        written["truncated"] = [str(path)]
    return written


def _parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMG]?)B?", text.strip(), re.I)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r}")
    return int(
        float(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2).upper()]
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-docs", type=int)
    ap.add_argument("--max-bytes", type=_parse_size)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--malformed", action="store_true")
    ap.add_argument("--docs-per-file", type=int, default=500)
    args = ap.parse_args(argv)
    files = build_corpus(
        args.out, args.max_docs, args.max_bytes, args.seed, args.malformed, args.docs_per_file
    )
    for family, paths in files.items():
        print(f"{family}: {len(paths)} files")


if __name__ == "__main__":
    main()
