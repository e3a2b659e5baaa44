"""The output folder: a run deletes only what a previous curate run listed as its own.

Every run records the top-level names it writes: in `manifest.json` ("outputs") when it finishes,
and in `_tmp/run.json` while it runs (so a crashed run is recognised too). A new run into the
same folder:

1. refuses a non-empty folder that holds no such record, unless `--overwrite` (then it writes
   into it and deletes nothing);
2. moves the previous run's listed outputs aside into `OUT/_previous/` (one rename per name, so
   the old release stays whole until the new one exists), and points every configured input that
   lived there (a previous Bloom filter, previous stats, source files) at its new place;
3. deletes `_previous/` once the new run has written its manifest; after a crash it moves the old
   outputs back, so a failed run loses nothing.

Moving aside rather than overwriting in place: a crash half way through writing shards would
otherwise leave a manifest whose shards are half old, half new.
"""

from __future__ import annotations

import json
import logging
import os

from pipelines.typed_config import ConfigError
from transforms import fs

log = logging.getLogger("curate")

MANIFEST = "manifest.json"
RUN_RECORD = "_tmp/run.json"  # the outputs of a run in progress (deleted with _tmp/ at the end)
ASIDE = "_previous"


def run_outputs(cfg) -> list[str]:
    """The top-level names a run with this config writes inside its output folder."""
    names = {MANIFEST, "stats.json", "shards", "dead_letter", "rejected", "removed", "tokenizer"}
    names.add("_tmp")
    if cfg.report.enabled:
        names.add("report")
    if cfg.validation.enabled and cfg.validation.data_docs:
        names.add("validation")
    if cfg.dedup.near.enabled:
        names.add("dedup_audit.jsonl")
    if cfg.dedup.cross_release.write_filter:
        names.add("bloom_filter.bin")
    if cfg.train.enabled and not cfg.train.output:
        names.add("adapter")
    return sorted(names)


def _read_json(path: str) -> dict | None:
    try:
        with fs.open_read(path) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def previous_outputs(output: str) -> list[str] | None:
    """What a previous curate run in `output` listed as its outputs; None: no curate run there.

    A manifest from before the "outputs" list existed counts as curate's, with the names its
    own entries point at (shards, tokenizer, stats, report, data docs, filter).
    """
    manifest = _read_json(fs.join(output, MANIFEST))
    if manifest is not None and "format_version" in manifest and "accounting" in manifest:
        if isinstance(manifest.get("outputs"), list):
            return [str(n) for n in manifest["outputs"]]
        refs = [s.get("path", "") for s in manifest.get("shards") or []]
        refs += [(manifest.get("tokenizer") or {}).get("path") or ""]
        refs += [manifest.get(k) or "" for k in ("stats", "report", "bloom_filter")]
        refs += [(manifest.get("validation") or {}).get("data_docs") or ""]
        return sorted({MANIFEST} | {str(r).split("/", 1)[0] for r in refs if r})
    record = _read_json(fs.join(output, RUN_RECORD))
    if record is not None and isinstance(record.get("outputs"), list):
        return [str(n) for n in record["outputs"]]
    return None


class OutputFolder:
    """Claims an output folder for one run (see the module docstring)."""

    def __init__(self, output: str, outputs: list[str], overwrite: bool = False) -> None:
        self.output, self.outputs, self.overwrite = output, outputs, overwrite
        self.aside = fs.join(output, ASIDE)
        self.moved: list[str] = []

    def check(self) -> None:
        """Raises ConfigError if the folder holds things that no curate run listed (no --overwrite).

        First tidies up after a killed run (see `_recover`).
        """
        self._recover()
        present = fs.listdir(self.output)
        if ASIDE in present:  # not ours (ours was recovered or dropped above)
            raise ConfigError(
                [
                    f"run.output {self.output!r} holds a folder {ASIDE!r} that no curate run made:"
                    " curate keeps the previous run's outputs there during a run; move it away"
                ]
            )
        if not present or self.overwrite or previous_outputs(self.output) is not None:
            return
        shown = ", ".join(present[:8]) + (
            f" and {len(present) - 8} more" if len(present) > 8 else ""
        )
        raise ConfigError(
            [
                f"run.output {self.output!r} is not empty ({shown}) and holds no curate manifest:"
                " choose an empty or new folder, or pass --overwrite to write into it"
                " (nothing of yours is deleted; files with the names curate writes are replaced)"
            ]
        )

    def _recover(self) -> None:
        """After a killed run: put the last finished run's outputs back, or drop them if the
        killed run had finished (its manifest written, its run record gone with `_tmp/`)."""
        aside = fs.listdir(self.aside)
        if not aside:
            return
        record = _read_json(fs.join(self.output, RUN_RECORD)) or {}
        if record.get("aside") == ASIDE:  # killed before its manifest
            # Once every old output was aside ("claimed"), the run's listed names at the top
            # level are its own partial outputs; before that, they may be old ones not yet moved.
            partial = (record.get("outputs") or []) if record.get("claimed") else []
            for name in partial:
                fs.delete(fs.join(self.output, name))
            for name in aside:
                fs.delete(fs.join(self.output, name))
                fs.move(fs.join(self.aside, name), fs.join(self.output, name))
            fs.delete(self.aside)
            log.info("restored the outputs of the last finished run from %s", self.aside)
        elif previous_outputs(self.output) is not None and previous_outputs(self.aside):
            fs.delete(self.aside)  # killed after its manifest: the old outputs were to go

    def claim(self) -> dict[str, str]:
        """Moves the previous run's outputs aside; returns {old path: new path} for inputs there.

        The run record (naming the aside folder) is written before anything moves, so a run
        killed half way is recovered by the next.
        """
        listed = set(previous_outputs(self.output) or []) & set(fs.listdir(self.output))
        fs.delete(fs.join(self.output, "_tmp"))  # scratch of the previous run: nothing to keep
        listed.discard("_tmp")
        record = {"outputs": self.outputs, "aside": ASIDE if listed else None}
        fs.atomic_write_bytes(fs.join(self.output, RUN_RECORD), json.dumps(record).encode())
        moves = {}
        for name in sorted(listed):
            src, dst = fs.join(self.output, name), fs.join(self.aside, name)
            fs.move(src, dst)
            self.moved.append(name)
            moves[src] = dst
        if self.moved:
            record["claimed"] = True
            fs.atomic_write_bytes(fs.join(self.output, RUN_RECORD), json.dumps(record).encode())
            log.info(
                "moved the previous run's outputs aside to %s until this run finishes", self.aside
            )
        return moves

    def finished(self) -> None:
        """The run wrote its manifest: the previous outputs go."""
        fs.delete(self.aside)

    def failed(self) -> None:
        """The run crashed before its manifest: the previous outputs return.

        With nothing to restore, the partial outputs stay for inspection (`_tmp/run.json` still
        marks them as curate's); else they make way for the previous run's.
        """
        if fs.exists(fs.join(self.output, MANIFEST)) or not self.moved:
            return
        for name in self.outputs:  # the record in _tmp/ goes too: the old manifest is back
            fs.delete(fs.join(self.output, name))
        for name in self.moved:
            fs.move(fs.join(self.aside, name), fs.join(self.output, name))
        fs.delete(self.aside)
        log.info("the run failed: the previous run's outputs are back in place")


def redirect(path: str | None, moves: dict[str, str]) -> str | None:
    """`path` (a file, folder or glob) rewritten into the folder it was moved to, if it was."""
    if not path:
        return path
    full = path if fs.is_remote(path) else os.path.abspath(os.path.expanduser(path))
    for src, dst in moves.items():
        if full == src or full.startswith(src.rstrip("/") + ("/" if fs.is_remote(src) else os.sep)):
            return dst + full[len(src) :]
    return path


def redirect_inputs(cfg, moves: dict[str, str]) -> list[str]:
    """Points every configured input that lived in a moved output at its new place."""
    if not moves:
        return []
    changed: list[str] = []

    def fix(obj, attr: str, label: str) -> None:
        old = getattr(obj, attr)
        new = [redirect(p, moves) for p in old] if isinstance(old, list) else redirect(old, moves)
        if new != old:
            setattr(obj, attr, new)
            changed.append(label)

    for source in cfg.input.sources:
        fix(source, "paths", f"input.sources[{source.name}].paths")
    fix(cfg.tokenizer, "path", "tokenizer.path")
    fix(cfg.dedup.cross_release, "previous_filter", "dedup.cross_release.previous_filter")
    for es in cfg.dedup.decontamination.eval_sets:
        fix(es, "paths", f"dedup.decontamination.eval_sets[{es.name}].paths")
    fix(cfg.sampling.dsir, "target_paths", "sampling.dsir.target_paths")
    fix(cfg.sampling.drift, "previous_stats", "sampling.drift.previous_stats")
    for label in changed:
        log.info("%s lives in the previous run's outputs: read from %s/", label, ASIDE)
    return changed
