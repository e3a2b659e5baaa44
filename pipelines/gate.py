"""The validation gate and the report of a finished run, on a local or a remote output.

Called once, in the last curation step, after the shards, stats.json and the drop files exist.
`quality` never imports Beam, so for a remote output (gs://, s3://, any Beam filesystem) this
module gives it local files: the small files the report reads (stats.json, the tokenizer, the
first files of rejected/, removed/, dead_letter/) are copied to a local temporary folder, the
gate reads the shards one at a time through Beam's FileSystems, and the report and the Data Docs
written locally are uploaded into the output. So the manifest always holds a real verdict.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from transforms.infra import fs

DROP_FOLDERS = ("rejected", "removed", "dead_letter")
STAGE_DROP_BYTES = 64 << 20  # per drop folder: the report shows a few examples per reason
UPLOADED = ("report", "validation")


def validate_and_report(cfg, output: str, manifest: dict, stats: dict) -> dict:
    """Runs the Great Expectations gate and builds the HTML report; returns the manifest."""
    with local_view(output, manifest) as local:
        if cfg.validation.enabled:
            from quality.sampling_gate import sampling_outcome
            from quality.validation import validate_output

            # The gate checks at least the shard policy's minimum length (shards.min_tokens).
            vcfg = cfg.validation
            vcfg = dataclasses.replace(vcfg, min_tokens=max(vcfg.min_tokens, cfg.shards.min_tokens))
            remote = fs.is_remote(output)
            manifest["validation"] = validate_output(
                local,
                manifest,
                vcfg,
                shard_root=output if remote else None,
                open_shard=fs.open_read if remote else None,
                sampling=sampling_outcome(manifest, stats),
            )
        if cfg.report.enabled:
            from quality.report import build_report

            path = build_report(local, manifest, stats, cfg.report, shown_output=output)
            manifest["report"] = os.path.relpath(path, local).replace(os.sep, "/")
    return manifest


@contextmanager
def local_view(output: str, manifest: dict) -> Iterator[str]:
    """A local folder standing for `output`: itself when local, else a staged copy (see above).

    On leaving, what was written under report/ and validation/ is uploaded into `output`.
    """
    if not fs.is_remote(output):
        yield output
        return
    with tempfile.TemporaryDirectory(prefix="curate-gate-") as local:
        tok = (manifest.get("tokenizer") or {}).get("path") or "tokenizer/tokenizer.json"
        for rel in (manifest.get("stats") or "stats.json", tok):
            _download(fs.join(output, rel), os.path.join(local, rel))
        for folder in DROP_FOLDERS:
            staged = 0
            for path in fs.list_files(fs.join(output, folder)):
                if staged >= STAGE_DROP_BYTES:
                    break
                rel = path[len(output.rstrip("/")) + 1 :]
                staged += _download(path, os.path.join(local, rel))
        yield local
        for name in UPLOADED:
            if os.path.isdir(os.path.join(local, name)):
                fs.delete(fs.join(output, name))
                fs.upload_tree(os.path.join(local, name), fs.join(output, name))


def _download(src: str, dst: str) -> int:
    """Copies one file to a local path; returns its size (0 when it does not exist)."""
    if not fs.exists(src):
        return 0
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    n = 0
    with fs.open_read(src) as fh, open(dst, "wb") as out:
        while chunk := fh.read(1 << 20):
            out.write(chunk)
            n += len(chunk)
    return n
