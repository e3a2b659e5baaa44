"""A tiny generated corpus in every input format, with every kind of bad record."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

NOUNS = [
    "river",
    "stone",
    "garden",
    "window",
    "paper",
    "lantern",
    "signal",
    "orbit",
    "copper",
    "meadow",
    "engine",
    "harbor",
    "thread",
    "violet",
    "summit",
    "canvas",
    "marble",
    "pocket",
    "rocket",
    "willow",
    "shadow",
    "ladder",
    "beacon",
    "puzzle",
    "falcon",
    "glacier",
    "compass",
    "anchor",
    "quarry",
    "timber",
    "velvet",
    "saddle",
    "orchard",
    "kettle",
    "prairie",
    "tunnel",
    "cinder",
    "mirror",
]
VERBS = [
    "carries",
    "finds",
    "holds",
    "shapes",
    "moves",
    "guards",
    "lifts",
    "follows",
    "paints",
    "builds",
    "crosses",
    "warms",
]
ADJS = [
    "quiet",
    "narrow",
    "bright",
    "heavy",
    "ancient",
    "hollow",
    "gentle",
    "rapid",
    "distant",
    "silver",
    "golden",
    "crooked",
]


def sentence(rng: random.Random, n: int = 12) -> str:
    """A plain English-like sentence (with stop words, as real prose has)."""
    words = [
        "the",
        rng.choice(ADJS),
        rng.choice(NOUNS),
        rng.choice(VERBS),
        "a",
        rng.choice(NOUNS),
        rng.choice(["with", "for", "near", "under"]),
        "the",
        rng.choice(ADJS),
        rng.choice(NOUNS),
        "and",
        "that",
        rng.choice(NOUNS),
        "is",
        rng.choice(ADJS),
    ]
    return " ".join(words).capitalize() + "."


def doc(rng: random.Random, sentences: int = 6) -> str:
    return " ".join(sentence(rng) for _ in range(sentences))


def write_corpus(root: Path, seed: int = 7) -> dict:
    """Writes the fixture; returns the expected accounting (what each bad record must become)."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    good = [doc(rng) for _ in range(60)]
    # JSONL (plain): good docs, one exact duplicate, and every line-level failure.
    lines = [json.dumps({"id": f"j{i}", "text": t}) for i, t in enumerate(good[:30])]
    lines.append(json.dumps({"id": "j-dup-content", "text": good[0]}))  # exact duplicate of j0
    words = good[2].split()
    words[len(words) // 2] = "zeppelin"  # one word changed: word-5-gram Jaccard ~0.9 with j2
    lines.append(json.dumps({"id": "j-near", "text": " ".join(words)}))
    lines.append(
        json.dumps({"id": "j5", "text": "a reused id with other text " + good[40]})
    )  # duplicate id
    lines.append(json.dumps({"text": good[41]}))  # missing id: assigned deterministically
    lines.append(json.dumps({"id": "big", "text": "x " * 6000}))  # over max_doc_bytes
    lines += [
        '{"id": "bad", "text": "unterminated',
        json.dumps({"id": "e", "text": " \n\t "}),
        json.dumps({"id": "m", "body": "no text"}),
        json.dumps({"id": "n", "text": 42}),
        "[1, 2]",
        "",
    ]
    raw = ("\n".join(lines) + "\n").encode() + b'{"id": "u", "text": "caf\xe9"}\n'
    (root / "a.jsonl").write_bytes(raw)
    # JSONL gzip, truncated in the middle.
    body = "".join(
        json.dumps({"id": f"g{i}", "text": doc(rng, 30)}) + "\n" for i in range(40)
    ).encode()
    gz = gzip.compress(body)
    (root / "b.jsonl.gz").write_bytes(gz[: len(gz) // 2])
    # JSONL zstd.
    import zstandard

    zbody = "".join(
        json.dumps({"id": f"z{i}", "text": t}) + "\n" for i, t in enumerate(good[30:36])
    ).encode()
    (root / "c.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(zbody))
    # Parquet with a null and a non-string text (as a separate file with an int column).
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"id": ["p0", "p1", "p2"], "text": [good[36], None, good[37]]}), root / "d.parquet"
    )
    # Plain text files: one doc each, one invalid UTF-8, one empty.
    txt = root / "texts"
    txt.mkdir(exist_ok=True)
    (txt / "t1.txt").write_text(good[38])
    (txt / "t2.txt").write_text(good[39])
    (txt / "bad.txt").write_bytes(b"\xff\xfe not utf8 \xc3")
    (txt / "empty.txt").write_text("   \n")
    # A saved HF dataset.
    import datasets

    datasets.Dataset.from_dict({"id": ["h0", "h1"], "text": [good[42], good[43]]}).save_to_disk(
        str(root / "hf")
    )
    return {
        "dead_letter": {
            "malformed_json": 2,
            "empty_text": 2,
            "missing_text": 2,
            "non_string_text": 1,
            "invalid_utf8": 2,
            "truncated_gzip": 1,
            "duplicate_id": 1,
        },
        "rejected": {"too_large": 1},
        "removed": {"exact": 1, "near": 1},
    }


def sources(root: Path) -> list[dict]:
    return [
        {
            "name": "jsonl",
            "paths": [str(root / "*.jsonl"), str(root / "*.jsonl.gz"), str(root / "*.jsonl.zst")],
        },
        {"name": "parquet", "paths": [str(root / "*.parquet")]},
        {"name": "text", "paths": [str(root / "texts" / "*.txt")], "format": "text"},
        {"name": "hf", "paths": [str(root / "hf")]},
    ]
