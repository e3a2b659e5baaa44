"""Reading the DSIR target sample named by `sampling.dsir.target_paths`.

Files are matched with Beam's filesystems (local paths, gs://, ...) and decompressed by extension
(.gz, .bz2, .zst where Beam supports it). A file whose name contains `.jsonl`, `.ndjson` or ends in
`.json` holds one JSON object per line with the text under `text_field`; any other file is one
document (e.g. a .txt or .md file). Unreadable files and lines are skipped and counted: the sample
is a statistical target, and the caller gets the counts to report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from apache_beam.io.filesystems import FileSystems

from transforms.sampling.dsir import DsirScorer

JSON_MARKERS = (".jsonl", ".ndjson", ".json")


@dataclass
class TargetSample:
    """The texts read, and what was skipped."""

    texts: list[str] = field(default_factory=list)
    files: int = 0
    skipped_lines: int = 0
    skipped_files: list[str] = field(default_factory=list)


def _is_jsonl(path: str) -> bool:
    name = path.rsplit("/", 1)[-1].lower()
    for ext in (".gz", ".bz2", ".zst", ".deflate"):
        name = name.removesuffix(ext)
    return name.endswith(JSON_MARKERS) or ".jsonl" in name


def load_target_texts(
    patterns: list[str], text_field: str = "text", max_docs: int = 100_000
) -> TargetSample:
    """Reads up to `max_docs` documents from the files matching `patterns` (sorted, deterministic)."""
    out = TargetSample()
    paths = sorted({m.path for r in FileSystems.match(list(patterns)) for m in r.metadata_list})
    for path in paths:
        if len(out.texts) >= max_docs:
            break
        try:
            with FileSystems.open(path) as raw:
                out.files += 1
                if not _is_jsonl(path):
                    text = raw.read().decode("utf-8", errors="replace")
                    if text.strip():
                        out.texts.append(text)
                    continue
                for line in iter(raw.readline, b""):  # Beam's compressed files are not io.IOBase
                    if len(out.texts) >= max_docs:
                        break
                    try:
                        text = json.loads(line.decode("utf-8", errors="replace")).get(text_field)
                    except (ValueError, AttributeError):
                        text = None
                    if isinstance(text, str) and text.strip():
                        out.texts.append(text)
                    elif line.strip():
                        out.skipped_lines += 1
        except (OSError, EOFError, ValueError) as exc:  # truncated gzip, permission, ...
            out.skipped_files.append(f"{path}: {exc}")
    return out


def fit_dsir_scorer(cfg, raw_texts: list[str]) -> tuple[DsirScorer, TargetSample]:
    """Reads the target sample named by a `DsirConfig` and fits the scorer (graph-build time).

    Args:
        cfg: the `sampling.dsir` section.
        raw_texts: a sample of raw input texts (about `cfg.raw_sample_docs`).

    Raises:
        ValueError: the target sample or the raw sample is empty (fail before any work).
    """
    sample = load_target_texts(cfg.target_paths, cfg.text_field, cfg.max_target_docs)
    return DsirScorer.fit(sample.texts, raw_texts, cfg), sample
