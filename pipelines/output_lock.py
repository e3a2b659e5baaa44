"""One run at a time per output folder: a lock file naming who holds it.

`OUT/_curate.lock` holds the host, pid and start time of the run that owns the folder. It is
created atomically on a local output (`O_CREAT | O_EXCL`: of two runs started together exactly
one creates it). Beam's FileSystems has no create-if-absent, so on a remote output the lock is a
marker written when absent and read back: two runs that both look before either has written can
both write, and the one whose marker is read back last wins only if the other has not yet read
its own back. That window is the time of one small write plus one read (well under a second on
an object store); curate does not close it. Two runs into one remote folder should still be
avoided by the user, and the lock catches every case but that near-simultaneous start.

A lock left by a killed run is broken when its pid is gone on this same host (with a log line);
a lock from another host is never broken (curate cannot see that host's processes): the message
names the file to delete once the user knows that run is over.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
import uuid

from train.typed_config import ConfigError
from transforms.infra import fs

log = logging.getLogger("curate")

LOCK = "_curate.lock"
# An unreadable local lock younger than this is one being written right now (create, then write).
_WRITING_S = 10.0


class OutputFolderError(ConfigError):
    """The output folder cannot be used (exit 2 with this one line, like a config error)."""

    def __init__(self, message: str) -> None:
        super().__init__([message])
        self.args = (message,)

    def __str__(self) -> str:
        return self.args[0]


class OutputBusy(OutputFolderError):
    """Another run holds the output folder."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class OutputLock:
    """The lock file of one output folder; `acquire()` it before touching the folder."""

    def __init__(self, output: str) -> None:
        self.output = output
        self.path = fs.join(output, LOCK)
        self.held = False
        self.info = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_unix": round(time.time(), 3),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "token": uuid.uuid4().hex,
        }

    def acquire(self) -> None:
        """Takes the lock, breaking a stale one of this host once.

        Raises:
            OutputBusy: a live run holds it (the message says which: pid, host, since when).
        """
        data = json.dumps(self.info).encode()
        for _ in range(3):
            if self._create(data):
                self.held = True
                return
            holder = self._read()
            if holder is None and not fs.exists(self.path):
                continue  # released between our create and our read
            stale = self._stale_reason(holder)
            if stale is None or not self._break(holder):
                raise OutputBusy(self._busy_message(holder))
            log.warning("broke a stale lock on %s: %s", self.output, stale)
        raise OutputBusy(self._busy_message(self._read()))

    def release(self) -> None:
        """Deletes the lock if it is still ours (safe to call on every exit path, twice too)."""
        if not self.held:
            return
        self.held = False
        holder = self._read()
        if holder is not None and holder.get("token") == self.info["token"]:
            fs.delete(self.path)

    def _create(self, data: bytes) -> bool:
        if fs.is_remote(self.path):
            if fs.exists(self.path):
                return False
            fs.atomic_write_bytes(self.path, data)
            holder = self._read()  # the race window: see the module docstring
            return holder is not None and holder.get("token") == self.info["token"]
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def _read(self) -> dict | None:
        try:
            holder = json.loads(fs.read_bytes(self.path))
        except (OSError, ValueError):
            return None
        return holder if isinstance(holder, dict) else None

    def _stale_reason(self, holder: dict | None) -> str | None:
        """Why the lock's run is surely over, or None when it may be running."""
        if holder is None:  # empty or corrupt: a run killed between create and write?
            if fs.is_remote(self.path):
                return None
            try:
                age = time.time() - os.path.getmtime(self.path)
            except OSError:
                return None
            return f"unreadable lock file, {age:.0f}s old" if age > _WRITING_S else None
        if holder.get("host") != self.info["host"]:
            return None
        pid = holder.get("pid")
        if not isinstance(pid, int) or _pid_alive(pid):
            return None
        return f"pid {pid} on this host ({holder['host']}) has exited"

    def _break(self, holder: dict | None) -> bool:
        """Removes the stale lock `holder`; False if it changed meanwhile (then it is not stale).

        Locally the lock is first renamed to a private name (only one breaker can do that), then
        checked to be the same stale lock, so a breaker never deletes a fresh lock taken by
        another run that broke the stale one first.
        """
        if fs.is_remote(self.path):
            fs.delete(self.path)
            return True
        private = f"{self.path}.broken-{self.info['token'][:12]}"
        try:
            os.rename(self.path, private)
        except FileNotFoundError:
            return True  # someone else broke it: try to create ours
        try:
            with open(private, "rb") as fh:
                moved = json.loads(fh.read() or b"null")
        except (OSError, ValueError):
            moved = None
        if moved == holder:
            os.remove(private)
            return True
        # A fresh lock of another run: put it back (unless a third run took the name since).
        with contextlib.suppress(FileExistsError):
            os.link(private, self.path)
        os.remove(private)
        return False

    def _busy_message(self, holder: dict | None) -> str:
        if holder is None:
            who = "another curate run (its lock file is being written or unreadable)"
        else:
            who = (
                f"another curate run: pid {holder.get('pid')} on host {holder.get('host')},"
                f" since {holder.get('started')}"
            )
        return (
            f"run.output {self.output!r} is in use by {who}; wait for it to finish or choose"
            f" another folder (if that run is gone, delete {self.path})"
        )
