"""Worker side of the local progress channel: `report(stage, ...)` from any DoFn.

The driver of a local run listens on a localhost UDP port and names it in the environment
variable `CURATE_PROGRESS` (host:port) before the pipeline starts, so in-process workers and the
worker processes of `multi_processing` (which inherit the environment) both find it. Each process
keeps cumulative totals per stage and a daemon thread sends those that changed at most once per
`SEND_EVERY_S`: a report costs a lock and three additions, and a lost or reordered datagram only
delays a total (the driver keeps the largest value per sender). Without the variable (progress
off, or a distributed runner), nothing is sent.

Every report also adds to Beam counters in namespace `curate.progress` (`<stage>.units`,
`<stage>.bytes`, `<stage>.docs`): the same totals, for runners with no channel to the driver.
There the driver polls them from the PipelineResult (`pipelines.progress_metrics`) and the
runner's UI shows them. The graph's other counters (`curate.<place>`) count documents only;
the stage lines also need tasks, runs, shards and bytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import uuid

from apache_beam.metrics import Metrics

ENV = "CURATE_PROGRESS"
SEND_EVERY_S = 1.0
COUNTERS = "curate.progress"  # Beam counter namespace of the stage totals
KINDS = ("units", "bytes", "docs")

_lock = threading.Lock()
_ORDER = ("read", "spill", "tokenize", "shards")


def _stage_order(stage: str) -> int:
    return _ORDER.index(stage) if stage in _ORDER else len(_ORDER)


_reporter: _Reporter | None = None


class _Reporter:
    """Cumulative (units, bytes, docs) per stage of this process, sent by a daemon thread."""

    def __init__(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        self.address, self.target = address, (host, int(port))
        self.sender = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.totals: dict[str, list[int]] = {}
        self.dirty: set[str] = set()
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.stop = threading.Event()
        threading.Thread(target=self._loop, name="curate-progress", daemon=True).start()

    def add(self, stage: str, units: int, nbytes: int, docs: int) -> None:
        with self.lock:
            cell = self.totals.setdefault(stage, [0, 0, 0])
            cell[0] += units
            cell[1] += nbytes
            cell[2] += docs
            self.dirty.add(stage)

    def send(self) -> None:
        with self.lock:
            # In pipeline order, so a stage's report never trails a later stage's.
            changed = {s: list(self.totals[s]) for s in sorted(self.dirty, key=_stage_order)}
            self.dirty.clear()
        for stage, (units, nbytes, docs) in changed.items():
            msg = {"p": self.sender, "s": stage, "u": units, "b": nbytes, "d": docs}
            with contextlib.suppress(OSError):  # the driver is gone: progress is best effort
                self.sock.sendto(json.dumps(msg).encode(), self.target)

    def _loop(self) -> None:
        while not self.stop.wait(SEND_EVERY_S):
            self.send()
            if os.environ.get(ENV) != self.address:  # the run that listened has ended
                self.stop.set()
                self.sock.close()


_counters: dict[str, Metrics.DelegatingCounter] = {}


def _count(stage: str, units: int, nbytes: int, docs: int) -> None:
    # A DelegatingCounter finds the current bundle's container at each inc(): one per name serves
    # every thread. Outside a DoFn inc() does nothing.
    for kind, n in zip(KINDS, (units, nbytes, docs), strict=True):
        if n:
            name = f"{stage}.{kind}"
            counter = _counters.get(name)
            if counter is None:
                counter = _counters.setdefault(name, Metrics.counter(COUNTERS, name))
            counter.inc(n)


def report(stage: str, units: int = 0, nbytes: int = 0, docs: int = 0) -> None:
    """Adds work done in `stage` (units: tasks, runs or shards) to this process's totals and to
    the stage's Beam counters."""
    _count(stage, units, nbytes, docs)
    address = os.environ.get(ENV)
    if not address:
        return
    global _reporter
    reporter = _reporter
    if reporter is None or reporter.address != address or reporter.stop.is_set():
        with _lock:  # one reporter per process and run; built once under the lock
            if _reporter is None or _reporter.address != address or _reporter.stop.is_set():
                _reporter = _Reporter(address)
            reporter = _reporter
    reporter.add(stage, units, nbytes, docs)


def flush() -> None:
    """Sends this process's pending totals now (the driver calls it at the end of a run)."""
    reporter = _reporter
    if reporter is not None and not reporter.stop.is_set():
        reporter.send()
