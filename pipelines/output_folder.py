"""The output folder: a run deletes only what a previous curate run listed as its own.

Every run records the top-level names it writes: in `manifest.json` ("outputs") when it finishes,
and in `_tmp/run.json` while it runs (so a crashed run is recognised too). A name that was in the
folder before the run and that no previous run listed is the user's (`--overwrite`): curate
writes into it but never lists it, so no later run deletes it. A run into the folder:

1. takes the folder's lock (`_curate.lock`, see output_lock): a second run into a busy folder
   stops with exit 2 before touching anything;
2. finishes what a killed run left half done (a restore, or dropping the old outputs);
3. refuses a non-empty folder that holds no such record, unless `--overwrite` (then it writes
   into it and deletes nothing);
4. moves the previous run's listed outputs aside into `OUT/_previous/` (one rename per name, so
   the old release stays whole until the new one exists), and points every configured input that
   lived there (a previous Bloom filter, previous stats, source files) at its new place;
5. deletes `_previous/` once the new run has written its manifest; after a crash it moves the old
   outputs back, so a failed run loses nothing.

Steps 4 and 5 are journaled in `_previous/_journal.json`: every move is entered before it
happens, and the journal is deleted last, so a run killed while claiming, restoring or dropping
leaves a journal from which the next run finishes the job (each step is safe to repeat).

Moving aside rather than overwriting in place: a crash half way through writing shards would
otherwise leave a manifest whose shards are half old, half new.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager

from pipelines.output_lock import LOCK, OutputFolderError, OutputLock
from train.typed_config import ConfigError
from transforms.infra import fs

log = logging.getLogger("curate")

MANIFEST = "manifest.json"
RUN_RECORD = "_tmp/run.json"  # the outputs of a run in progress (deleted with _tmp/ at the end)
ASIDE = "_previous"
JOURNAL = "_journal.json"  # in ASIDE: what moved and what a restore has done (see OutputFolder)


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
    """Claims an output folder for one run (see the module docstring).

    Use as `with folder.locked(): folder.check(); folder.claim(); ...`.
    """

    def __init__(self, output: str, outputs: list[str], overwrite: bool = False) -> None:
        self.output, self.outputs, self.overwrite = output, list(outputs), overwrite
        self.aside = fs.join(output, ASIDE)
        self.lock = OutputLock(output)
        self.journal: dict | None = None  # this run's journal, once it moved anything aside

    @contextmanager
    def locked(self):
        """Holds the folder's lock (see output_lock) for the block; released on every exit."""
        try:
            fs.makedirs(self.output)
            self.lock.acquire()
        except (FileExistsError, NotADirectoryError) as exc:
            raise OutputFolderError(
                f"run.output {self.output!r} cannot be a folder: {exc.strerror or exc}"
                " (a file is in the way)"
            ) from exc
        except PermissionError as exc:
            raise OutputFolderError(
                f"run.output {self.output!r} is not writable ({exc.strerror or exc}):"
                " choose a folder this user may write"
            ) from exc
        try:
            yield self
        finally:
            self.lock.release()

    def check(self) -> None:
        """Raises ConfigError if the folder holds things that no curate run listed (no --overwrite).

        First finishes what a killed run left half done (see `_recover`).
        """
        self._recover()
        present = [n for n in fs.listdir(self.output) if n != LOCK]
        if ASIDE in present:  # not ours (ours has a journal and was recovered above)
            raise OutputFolderError(
                f"run.output {self.output!r} holds a folder {ASIDE!r} that no curate run made:"
                " curate keeps the previous run's outputs there during a run; move it away"
            )
        previous = previous_outputs(self.output)
        ours = "_tmp" in (previous or []) or fs.exists(fs.join(self.output, RUN_RECORD))
        if "_tmp" in present and not ours:
            raise OutputFolderError(
                f"run.output {self.output!r} holds a folder '_tmp' that no curate run made:"
                " curate keeps its scratch files there and deletes it; move it away"
            )
        if not present or self.overwrite or previous is not None:
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

    def claim(self) -> dict[str, str]:
        """Moves the previous run's outputs aside; returns {old path: new path} for inputs there.

        Names already in the folder that no previous run listed are the user's (`--overwrite`):
        they leave this run's `outputs`, so no later run deletes them. Each move is entered in
        the journal (`_previous/_journal.json`) before it happens.
        """
        listed = set(previous_outputs(self.output) or []) & set(fs.listdir(self.output))
        if "_tmp" in listed:
            fs.delete(fs.join(self.output, "_tmp"))  # scratch of the previous run
        listed.discard("_tmp")
        users = set(fs.listdir(self.output)) - listed - {LOCK}
        self.outputs = [n for n in self.outputs if n not in users]
        record = {"outputs": self.outputs}
        fs.atomic_write_bytes(fs.join(self.output, RUN_RECORD), json.dumps(record).encode())
        if not listed:
            return {}
        self.journal = {
            "started_unix": self.lock.info["started_unix"],
            "outputs": self.outputs,
            "aside": sorted(listed),
            "moved": [],
            "phase": "claiming",
        }
        moves = {}
        for name in sorted(listed):
            src, dst = fs.join(self.output, name), fs.join(self.aside, name)
            self._write_journal(moving=name)
            fs.move(src, dst)
            self.journal["moved"].append(name)
            moves[src] = dst
        self._write_journal(phase="running", moving=None)
        log.info("moved the previous run's outputs aside to %s until this run finishes", self.aside)
        return moves

    def finished(self) -> None:
        """The run wrote its manifest: the previous outputs go."""
        if self.journal is not None:
            self._drop_aside(self.journal)

    def failed(self) -> None:
        """The run crashed before its manifest: the previous outputs return.

        With nothing to restore, the partial outputs stay for inspection (`_tmp/run.json` still
        marks them as curate's); else they make way for the previous run's.
        """
        if self.journal is None:
            return
        self._restore(self.journal)
        log.info("the run failed: the previous run's outputs are back in place")

    # -- the journal ---------------------------------------------------------------------------

    def _write_journal(self, journal: dict | None = None, **changes) -> None:
        journal = self.journal if journal is None else journal
        journal.update(changes)
        data = json.dumps(journal).encode()
        fs.atomic_write_bytes(fs.join(self.aside, JOURNAL), data)

    def _recover(self) -> None:
        """After a killed run: finish its restore, or drop the old outputs if it had finished."""
        aside = [n for n in fs.listdir(self.aside) if n != JOURNAL]
        journal = _read_json(fs.join(self.aside, JOURNAL)) or self._legacy_journal(aside)
        if journal is None:
            if fs.is_dir(self.aside) and not aside:  # emptied by a finished restore or drop
                fs.delete(self.aside)
            elif aside and previous_outputs(self.output) and previous_outputs(self.aside):
                fs.delete(self.aside)  # an older curate, killed after its manifest
            return
        if journal.get("phase") == "dropping" or self._finished_manifest(journal):
            self._drop_aside(journal)
            return
        self._restore(journal)
        log.info("restored the outputs of the last finished run from %s", self.aside)

    def _legacy_journal(self, aside: list[str]) -> dict | None:
        """The journal of a run by a curate from before journals (its `_tmp/run.json`)."""
        record = _read_json(fs.join(self.output, RUN_RECORD)) or {}
        if not aside or record.get("aside") != ASIDE:
            return None
        phase = "running" if record.get("claimed") else "claiming"
        return {"started_unix": 0, "outputs": record.get("outputs") or [], "aside": aside,
                "phase": phase}  # fmt: skip

    def _finished_manifest(self, journal: dict) -> bool:
        """Whether the manifest in the folder is the journal's run's (it finished)."""
        if journal.get("phase") != "running" or not journal.get("started_unix"):
            return False
        manifest = _read_json(fs.join(self.output, MANIFEST)) or {}
        return manifest.get("created_unix", 0) >= int(journal["started_unix"])

    def _restore(self, journal: dict) -> None:
        """Puts the journal's aside names back; each step is journaled first, so a restore
        killed at any point is finished by the next run (every step may run twice)."""
        if journal.get("phase") != "restoring":
            # Running: every listed name at the top is the run's own partial output. Claiming:
            # the pipeline had not started; a name at the top is an old one not yet moved, but
            # for `_tmp` (the old one was deleted first; the new holds only the run record).
            doomed = journal.get("outputs", [])
            if journal.get("phase") != "running":
                doomed = [n for n in doomed if n == "_tmp"]
            self._write_journal(journal, phase="restoring", delete=doomed, deleted=False)
        if not journal.get("deleted"):
            for name in journal["delete"]:
                fs.delete(fs.join(self.output, name))
            self._write_journal(journal, deleted=True)
        waiting = set(fs.listdir(self.aside)) - {JOURNAL}
        for name in [n for n in journal.get("aside", []) if n in waiting]:
            self._write_journal(journal, restoring=name)
            fs.move(fs.join(self.aside, name), fs.join(self.output, name))
        self._remove_aside()

    def _drop_aside(self, journal: dict) -> None:
        """Deletes the previous outputs kept aside (the run that moved them finished)."""
        if journal.get("phase") != "dropping":
            self._write_journal(journal, phase="dropping")
        for name in set(fs.listdir(self.aside)) - {JOURNAL}:
            fs.delete(fs.join(self.aside, name))
        self._remove_aside()

    def _remove_aside(self) -> None:
        """The journal goes last: until then, a killed run's next run knows `_previous/` is ours."""
        fs.delete(fs.join(self.aside, JOURNAL))
        fs.delete(self.aside)


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
