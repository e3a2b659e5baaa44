"""Lexicon files: one term per line, `#` comments, optional `[group]` sections and exclusions.

```
# gender.txt: a comment
[female]            # following terms belong to group "female"
woman
women
!man page           # "!" marks an exclusion: a group term inside it does not count
```

Terms before any `[group]` line belong to the group named by the caller (`default_group`).
Terms are matched as word sequences, case-insensitively (see `quality.automaton`). Exclusions
remove false friends that a lexicon cannot otherwise tell apart ("man page", "white space").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from quality.files import ReadBytes, is_url, read_local

LEXICON_DIR = Path(__file__).with_name("lexicons")
BIAS_AXES = (
    "gender",
    "religion",
    "ethnicity_nationality",
    "age",
    "disability",
    "sexual_orientation",
)


@dataclass(frozen=True)
class LexiconEntry:
    """One term of a lexicon file."""

    term: str
    group: str
    exclude: bool = False


def parse_lexicon(text: str, default_group: str = "term") -> list[LexiconEntry]:
    """Parses the lexicon format above; raises ValueError naming the first bad line."""
    entries: list[LexiconEntry] = []
    group = default_group
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]") or not line[1:-1].strip():
                raise ValueError(f"line {number}: bad group header {raw.strip()!r}")
            group = line[1:-1].strip()
            continue
        exclude = line.startswith("!")
        term = line[1:].strip() if exclude else line
        if not term:
            raise ValueError(f"line {number}: empty term")
        entries.append(LexiconEntry(term, group, exclude))
    return entries


def load_lexicon(
    path: str | os.PathLike, default_group: str = "term", read_bytes: ReadBytes = read_local
) -> list[LexiconEntry]:
    """Reads (with `read_bytes`: local by default) and parses one lexicon file (UTF-8)."""
    text = read_bytes(str(path)).decode("utf-8")
    try:
        return parse_lexicon(text, default_group)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def bias_lexicon_paths(directory: str | os.PathLike | None = None) -> dict[str, str]:
    """{axis: path} of the identity lexicons shipped with the package (or found in `directory`).

    A URL folder is not listed here (quality/ has no Beam filesystems): every axis gets its
    `<axis>.txt` name, and `pipelines.config` checks that the configured ones exist.
    """
    if directory and is_url(directory):
        base = str(directory).rstrip("/")
        return {axis: f"{base}/{axis}.txt" for axis in BIAS_AXES}
    base = Path(directory) if directory else LEXICON_DIR
    return {
        axis: str(base / f"{axis}.txt") for axis in BIAS_AXES if (base / f"{axis}.txt").is_file()
    }
