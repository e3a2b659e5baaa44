"""Driver side of the local progress channel: one readable line per stage.

Workers call `transforms.infra.progress.report` (cumulative totals per process, sent over localhost UDP
at most once a second). `ProgressBoard` folds them into per-stage totals that never go backwards
(the largest value per sender wins, whatever order datagrams arrive in) and writes a line per
stage: share done, rate and ETA where the total is known, counts and rate where it is not.

    read       input bytes of the read tasks          total: the input files' size (driver)
    spill      runs and documents spilled              no total: ends with stage 1
    decisions  dedup on metadata (no worker reports)   running from the end of read to tokenize
               (the last spill runs are written at the end of stage 1, inside this span)
    tokenize   spilled bytes tokenized, runs done      total: what spill wrote (final by then)
    shards     shards and rows written                 no total: counts and rate

On a terminal the active stage is a redrawn bar; in a log, plain lines every `log_every_s` and
a final line per stage. Only local runners get a channel; elsewhere the driver polls the same
totals from Beam counters (`curate.progress`, see `pipelines.progress_metrics`) into the same
board and lines.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sys
import threading
import time
from contextlib import contextmanager
from typing import IO

from tqdm import tqdm

from transforms.infra import progress as worker_progress

STAGES = ("read", "spill", "decisions", "tokenize", "shards")
BAR = 24  # bar width in characters on a terminal
BAR_STEPS = 1000  # a bar's total: the share done, in thousandths


class _StageBar(tqdm):
    """A tqdm bar whose text after the bar is the board's (tqdm's own rate and ETA would time
    the driver's redraws, not the workers' work)."""

    monitor_interval = 0  # redrawn by the board's thread; no tqdm monitor thread

    def __init__(self, *args, info: str = "", **kwargs) -> None:
        self.info = info  # before tqdm's first draw, which reads it
        super().__init__(*args, **kwargs)

    @property
    def format_dict(self) -> dict:
        return {**super().format_dict, "info": self.info}


class StageTotals:
    """Cumulative (units, bytes, docs) of one stage over all senders; monotone."""

    def __init__(self) -> None:
        self.by_sender: dict[str, tuple[int, int, int]] = {}
        self.first: float | None = None  # when the first report arrived
        self.first_totals = (0, 0, 0)  # (units, bytes, docs) at that moment
        self.last: float | None = None  # when a total last grew

    def update(self, sender: str, units: int, nbytes: int, docs: int, now: float) -> None:
        old = self.by_sender.get(sender, (0, 0, 0))
        new = (max(old[0], units), max(old[1], nbytes), max(old[2], docs))
        if new != old:
            self.by_sender[sender] = new
            if self.first is None:
                self.first, self.first_totals = now, (self.units, self.nbytes, self.docs)
            self.last = now

    @property
    def units(self) -> int:
        return sum(v[0] for v in self.by_sender.values())

    @property
    def nbytes(self) -> int:
        return sum(v[1] for v in self.by_sender.values())

    @property
    def docs(self) -> int:
        return sum(v[2] for v in self.by_sender.values())

    @property
    def started(self) -> bool:
        return self.first is not None


def rate_per_s(done: float, since: float, done_then: float, now: float) -> float | None:
    """The average rate since `since` (when `done_then` was done); None without a time span."""
    if now - since < 0.5 or done <= done_then:
        return None
    return (done - done_then) / (now - since)


def eta_seconds(done: float, total: float, rate: float | None) -> float | None:
    """Time left at `rate`; None while the rate is unknown."""
    if rate is None or rate <= 0 or total <= 0:
        return None
    return max(total - done, 0) / rate


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(round(seconds))
    return (
        f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def _size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,.0f} B"


class ProgressBoard:
    """Per-stage totals from worker reports, and their progress lines (pure; no I/O).

    `timed=False` when reports arrive only at the end (a runner whose metrics are final-only):
    their arrival times say nothing of when the work was done, so lines show no rate or ETA and
    the "decisions" span, which is timed from report arrivals, is left out.
    """

    def __init__(self, input_bytes: int, n_tasks: int, started: float, timed: bool = True) -> None:
        self.input_bytes, self.n_tasks, self.t0 = input_bytes, n_tasks, started
        self.timed = timed
        self.stages = {s: StageTotals() for s in STAGES}
        self.read_done_at: float | None = None

    def update(self, msg: dict, now: float) -> None:
        stage = self.stages.get(str(msg.get("s")))
        if stage is None:
            return
        stage.update(str(msg.get("p")), int(msg["u"]), int(msg["b"]), int(msg["d"]), now)
        if self.read_done_at is None and self.read_finished():
            self.read_done_at = now

    def read_finished(self) -> bool:
        return self.stages["read"].units >= self.n_tasks > 0

    def fraction(self, name: str) -> float | None:
        """Share done of a stage with a known total; None when its total is unknown."""
        st = self.stages[name]
        if name == "read":
            if self.read_finished():
                return 1.0
            return min(st.nbytes / self.input_bytes, 0.999) if self.input_bytes else None
        if name == "tokenize":
            spill = self.stages["spill"]
            if not spill.nbytes:
                return None
            if st.units >= spill.units and self.read_finished():
                return 1.0
            return min(st.nbytes / spill.nbytes, 0.999)
        return None

    def active(self) -> list[str]:
        """Stages that have started, in pipeline order ("decisions" between read and tokenize)."""
        out = [s for s in ("read", "spill") if self.stages[s].started]
        if self.read_done_at is not None and self.timed:
            out.append("decisions")
        out += [s for s in ("tokenize", "shards") if self.stages[s].started]
        return out

    def finished(self, name: str) -> bool:
        """Whether a stage's numbers are final (a later stage has started, or it is complete)."""
        later = STAGES[STAGES.index(name) + 1 :]
        if name == "read":
            return self.read_finished()
        if name == "spill":
            return self.stages["tokenize"].started or self.stages["shards"].started
        if name == "tokenize" and not self.stages["spill"].started:
            # Its total is what spill wrote: not final before spill's report is in (a datagram
            # can arrive after a later stage's).
            return False
        if name in ("decisions", "tokenize"):
            return self.fraction(name) == 1.0 or any(
                self.stages[s].started for s in later if s != "decisions"
            )
        return False

    def line(self, name: str, now: float) -> str:
        """One line for stage `name` at time `now`: share, counts, rate, ETA (or when it ended)."""
        st = self.stages[name]
        if name == "decisions":
            tok = self.stages["tokenize"].first
            begun = self.read_done_at if self.read_done_at is not None else now
            if tok is not None:
                state = f"done after {_clock(tok - begun)}"
            else:
                state = f"running for {_clock(now - begun)}"
            return f"{name:<9}  last spills, then dedup decisions on document metadata: {state}"
        # Stage 1 starts with the pipeline; later stages are timed from their first report.
        since, then = (
            (self.t0, (0, 0, 0)) if name in ("read", "spill") else (st.first, st.first_totals)
        )
        until = st.last if st.last is not None else now  # rates and times of the last report
        if name == "read":
            what = f"{_size(st.nbytes)} of {_size(self.input_bytes)}, {st.units:,}/{self.n_tasks:,} tasks"
            done, total, unit = st.nbytes, self.input_bytes, "B"
        elif name == "tokenize":
            spill = self.stages["spill"]
            what = f"{st.units:,}/{spill.units:,} runs, {st.docs:,} docs"
            done, total, unit = st.nbytes, spill.nbytes, "B"
        elif name == "spill":
            what = f"{st.units:,} runs, {st.docs:,} docs, {_size(st.nbytes)}"
            done, total, unit = st.docs, 0, "docs"
        else:  # shards
            what = f"{st.units:,} written, {st.docs:,} rows"
            done, total, unit = st.docs, 0, "rows"
        done_then = then[1] if unit == "B" else then[2]
        timed = since is not None and self.timed
        rate = rate_per_s(done, since, done_then, until) if timed else None
        shown = (
            "" if rate is None else (f"{_size(rate)}/s" if unit == "B" else f"{rate:,.0f} {unit}/s")
        )
        frac = self.fraction(name)
        at = f"at {_clock(until - self.t0)}"
        if frac is None:
            return "  ".join(p for p in (f"{name:<9}", what, shown, at) if p)
        pct = f"{math.floor(100 * frac):3d}%"  # floor: 99.9% never shows as 100%
        if frac >= 1.0:
            tail = f"done {at}"
        else:
            tail = f"ETA {_clock(eta_seconds(done, total, rate))}" if self.timed else at
        return "  ".join(p for p in (f"{name:<9}", pct, what, shown, tail) if p)


class ProgressLines:
    """Writes a board's lines to a stream: a redrawn bar on a terminal, plain lines in a log.

    Fed by the local channel (`ProgressPrinter`) or by polled Beam counters
    (`pipelines.progress_metrics`). The terminal bar is tqdm's; what this class adds is which
    stage to show and the workers' numbers.
    """

    def __init__(
        self,
        input_bytes: int,
        n_tasks: int,
        stream: IO[str] | None = None,
        log_every_s: float = 10.0,
        tty: bool | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every = 0.5 if self.tty else log_every_s
        self.board = ProgressBoard(input_bytes, n_tasks, time.monotonic())
        self.printed: dict[str, float] = {}  # stage -> when its last line was written
        self.closed: set[str] = set()  # stages whose final line was written
        self.seen: dict[str, float | None] = {}  # stage -> its `last` when last written
        self.last_line: dict[str, str] = {}  # stage -> the last line written for it
        self.bar: tuple[str, _StageBar] | None = None  # the stage drawn on a terminal, its bar

    def tick(self, now: float, final: bool = False) -> None:
        """Writes the lines due at `now` (every stage's final line when `final`)."""
        active = self.board.active()
        open_stages = [n for n in active if n not in self.closed]
        for name in open_stages:
            if final or self.board.finished(name):
                line = self.board.line(name, now)
                if line != self.last_line.get(name) or self.tty:
                    self._write(line, end=True, stage=name)
                self.closed.add(name)
        open_stages = [n for n in open_stages if n not in self.closed]
        # A terminal redraws one stage (the latest with a known total, else the latest); a log
        # gets every open stage now and then.
        if self.tty and open_stages:
            known = [n for n in open_stages if self.board.fraction(n) is not None]
            open_stages = (known or open_stages)[-1:]
        for name in open_stages:
            st = self.board.stages[name]
            changed = self.tty or name == "decisions" or st.last != self.seen.get(name)
            if changed and now - self.printed.get(name, -1e9) >= self.every:
                self._write(self.board.line(name, now), end=not self.tty, stage=name)
                self.printed[name], self.seen[name] = now, st.last

    def _write(self, line: str, end: bool, stage: str = "") -> None:
        self.last_line[stage] = line
        if self.tty:
            self._draw(line, end, stage)
            return
        self.stream.write(f"[curate] {line}\n")
        self.stream.flush()

    def _draw(self, line: str, end: bool, stage: str) -> None:
        """Redraws `stage`'s tqdm bar with `line`'s numbers; `end` leaves it as its final line."""
        if self.bar is not None and self.bar[0] != stage:  # another stage is drawn now
            self.bar[1].close()  # leave=False: cleared; its own final line comes later
            self.bar = None
        frac = self.board.fraction(stage)
        done = 0 if frac is None else math.floor(BAR_STEPS * frac)
        name, info = line[:9], line[11:]  # the board's line: f"{name:<9}  {the rest}"
        if self.bar is None:
            layout = f"[curate] {{desc}}|{{bar:{BAR}}}| {{info}}" if frac is not None else None
            bar = _StageBar(
                info=info,
                total=BAR_STEPS,
                initial=done,
                desc=f"{name}  ",
                file=self.stream,
                bar_format=layout or "[curate] {desc}{info}",
                leave=False,
                disable=False,  # tqdm turns itself off on a non-tty: the caller decided
                mininterval=0,
                dynamic_ncols=False,
            )
            self.bar = (stage, bar)
        else:
            bar = self.bar[1]
            bar.n, bar.info = done, info
            if not end:
                bar.refresh()
        if end:
            bar.leave = True  # close() draws it once more and ends the line
            bar.close()
            self.bar = None


class ProgressPrinter(ProgressLines):
    """Listens for worker reports on a localhost UDP port and prints the board."""

    def __init__(
        self,
        input_bytes: int,
        n_tasks: int,
        stream: IO[str] | None = None,
        log_every_s: float = 10.0,
        tty: bool | None = None,
    ) -> None:
        super().__init__(input_bytes, n_tasks, stream, log_every_s, tty)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="curate-progress-board", daemon=True
        )

    def start(self) -> ProgressPrinter:
        self._thread.start()
        return self

    def _drain(self, wait: bool) -> None:
        self.sock.settimeout(0.2 if wait else 0.0)
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:  # timeout, nothing pending, or closed
                return
            try:
                self.board.update(json.loads(data), time.monotonic())
            except (ValueError, KeyError, TypeError):
                continue  # not ours
            self.sock.settimeout(0.0)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._drain(wait=True)
            self.tick(time.monotonic())

    def stop(self, other_processes: bool) -> None:
        """Collects the last reports, writes every stage's final line, closes the port."""
        worker_progress.flush()
        if other_processes:
            time.sleep(worker_progress.SEND_EVERY_S + 0.2)  # their senders' last round
        self._stop.set()
        self._thread.join(timeout=5)
        self._drain(wait=False)
        self.tick(time.monotonic(), final=True)
        self.sock.close()


@contextmanager
def progress_channel(enabled: bool, input_bytes: int, n_tasks: int, other_processes: bool):
    """Runs a ProgressPrinter for the body and names it to the workers (no-op when disabled)."""
    if not enabled:
        yield None
        return
    printer = ProgressPrinter(input_bytes, n_tasks).start()
    previous = os.environ.get(worker_progress.ENV)
    os.environ[worker_progress.ENV] = printer.address
    try:
        yield printer
    finally:
        try:
            printer.stop(other_processes)
        finally:
            if previous is None:
                os.environ.pop(worker_progress.ENV, None)
            else:
                os.environ[worker_progress.ENV] = previous
