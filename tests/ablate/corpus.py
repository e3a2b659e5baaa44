"""A synthetic raw corpus dominated by duplicated junk, and a clean eval set from the same language.

Clean documents are sentences of a small generated language (a fixed grammar over word lists, so
a tiny model can learn it within seconds). Junk documents are copies (exact and lightly edited) of
a few dozen templated pages full of hexadecimal garbage: ~60% of the raw documents. Curation
(dedup + a Gopher quality filter) should remove nearly all of the junk; training on the raw input
wastes most of the token budget on it.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

ADJ = [
    "quiet",
    "bright",
    "heavy",
    "narrow",
    "ancient",
    "gentle",
    "rapid",
    "silver",
    "hollow",
    "distant",
    "crooked",
    "golden",
]
NOUN = ["river", "stone", "garden", "window", "lantern", "signal", "orbit", "copper", "meadow", "engine", "harbor", "thread", "summit", "canvas", "marble", "pocket", "willow", "shadow", "ladder", "beacon", "falcon", "glacier", "compass", "anchor", "timber"]  # fmt: skip
VERB = [
    "follows",
    "carries",
    "watches",
    "builds",
    "finds",
    "guards",
    "crosses",
    "paints",
    "lifts",
    "hears",
]
PLACE = ["the valley", "the city", "the north", "the old road", "the quiet shore", "the market"]


def clean_doc(rng: random.Random, sentences: int) -> str:
    out = []
    for _ in range(sentences):
        a, b, c = rng.choice(NOUN), rng.choice(NOUN), rng.choice(NOUN)
        out.append(
            f"The {rng.choice(ADJ)} {a} {rng.choice(VERB)} the {b} of {rng.choice(PLACE)}, "
            f"and that {c} is with the {rng.choice(ADJ)} {rng.choice(NOUN)}."
        )
    return " ".join(out)


def junk_page(rng: random.Random, k: int) -> str:
    rows = [
        f"item {k}-{i} sku {rng.getrandbits(48):012x} ref {rng.getrandbits(32):08x} "
        f"{rng.getrandbits(40):010x} {rng.getrandbits(24):06x}"
        for i in range(10)
    ]
    return f"CATALOG PAGE {k} | {rng.getrandbits(64):016x}\n" + "\n".join(rows)


def write_raw(folder: Path, n_clean: int = 300, n_templates: int = 40, junk_share: float = 0.6,
              seed: int = 0) -> Path:  # fmt: skip
    """Writes folder/raw.jsonl.gz; returns its path."""
    rng = random.Random(seed)
    docs = [clean_doc(rng, rng.randint(4, 9)) for _ in range(n_clean)]
    templates = [junk_page(rng, k) for k in range(n_templates)]
    n_junk = int(n_clean * junk_share / (1 - junk_share))
    for i in range(n_junk):
        page = templates[i % n_templates]
        if i % 3 == 2:  # a near copy: one row changed
            lines = page.split("\n")
            lines[1 + rng.randrange(10)] = f"item x sku {rng.getrandbits(48):012x}"
            page = "\n".join(lines)
        docs.append(page)
    rng.shuffle(docs)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "raw.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for i, text in enumerate(docs):
            fh.write(json.dumps({"id": f"d{i:05d}", "text": text}) + "\n")
    return path


def write_clean_eval(folder: Path, n: int = 60, seed: int = 99) -> Path:
    rng = random.Random(seed)
    path = folder / "clean_eval.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for _ in range(n):
            fh.write(json.dumps({"text": clean_doc(rng, rng.randint(4, 9))}) + "\n")
    return path
