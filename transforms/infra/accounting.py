"""Where every record ends: tallies of (place, reason, source) -> [documents, bytes].

DoFns that move records into a place (read, dead_letter, rejected, removed, written, ...) count
them in a `Tally` and emit it once per bundle on the "tally" output, so the accounting costs one
small element per bundle instead of one per record. `MergeTallies` folds them into one dict.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

TALLY = "tally"
TERMINAL = ("dead_letter", "rejected", "removed", "sampled_out", "written")


def _zero_pair() -> list[int]:
    return [0, 0]


class Tally:
    """A mergeable count of documents and bytes per (place, reason, source), plus CPU seconds."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str], list[int]] = defaultdict(_zero_pair)
        self.seconds: dict[str, float] = defaultdict(float)

    def add(self, place: str, reason: str, source: str, n_bytes: int = 0, n: int = 1) -> None:
        cell = self.counts[(place, reason, source)]
        cell[0] += n
        cell[1] += n_bytes

    def merge(self, other: Tally) -> Tally:
        for key, (n, b) in other.counts.items():
            cell = self.counts[key]
            cell[0] += n
            cell[1] += b
        for stage, s in other.seconds.items():
            self.seconds[stage] += s
        return self

    def __bool__(self) -> bool:
        return bool(self.counts) or bool(self.seconds)

    def to_state(self) -> dict[str, Any]:
        return {
            "counts": [[*k, *v] for k, v in sorted(self.counts.items())],
            "seconds": dict(self.seconds),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Tally:
        t = cls()
        for place, reason, source, n, b in state["counts"]:
            t.add(place, reason, source, b, n)
        for stage, s in state["seconds"].items():
            t.seconds[stage] += s
        return t


def accounting_from_tally(t: Tally) -> dict[str, Any]:
    """The manifest's accounting block (see docs/architecture.md), with per-source breakdown and bytes."""

    def block() -> dict[str, Any]:
        return {
            "read": 0,
            "written": 0,
            "dead_letter": {},
            "rejected": {},
            "removed": {},
            "sampled_out": 0,
            "bytes": {},
        }

    total, by_source = block(), defaultdict(block)
    for (place, reason, source), (n, b) in sorted(t.counts.items()):
        for acc in (total, by_source[source]):
            acc["bytes"][place] = acc["bytes"].get(place, 0) + b
            if place in ("read", "written", "sampled_out"):
                acc[place] += n
            elif place in ("dead_letter", "rejected", "removed"):
                acc[place][reason] = acc[place].get(reason, 0) + n
            else:  # informational places (e.g. stage outputs) kept under "stages"
                acc.setdefault("stages", {}).setdefault(place, 0)
                acc["stages"][place] += n
    for acc in (total, *by_source.values()):
        _derive_sampled_out_bytes(acc)
    total["by_source"] = dict(by_source)
    return total


def _derive_sampled_out_bytes(acc: dict[str, Any]) -> None:
    """Sampled-out documents' bytes: every tokenized candidate is either written or sampled
    out, and the sampler's fates carry no text, so their bytes are tokenized - written."""
    b = acc["bytes"]
    if not b.get("sampled_out") and "tokenized" in b:
        b["sampled_out"] = b["tokenized"] - b.get("written", 0)


def byte_gap(acc: dict[str, Any]) -> int:
    """Bytes read minus the bytes of every fate and of text trimmed on the way (0 when the
    byte accounting is complete)."""
    b = acc.get("bytes") or {}
    return b.get("read", 0) - sum(b.get(p, 0) for p in (*TERMINAL, "trimmed"))


def accounting_problems(acc: dict[str, Any]) -> list[str]:
    """Checks read == written + dead_letter + rejected + removed + sampled_out, overall and per source."""

    def check(name: str, a: dict[str, Any]) -> str | None:
        out = (
            a["written"]
            + sum(a["dead_letter"].values())
            + sum(a["rejected"].values())
            + sum(a["removed"].values())
            + a["sampled_out"]
        )
        if out != a["read"]:
            return f"{name}: read {a['read']} != accounted {out} (written {a['written']}, dead_letter {sum(a['dead_letter'].values())}, rejected {sum(a['rejected'].values())}, removed {sum(a['removed'].values())}, sampled_out {a['sampled_out']})"
        return None

    problems = [check("total", acc)] + [
        check(f"source {s}", a) for s, a in acc["by_source"].items()
    ]
    return [p for p in problems if p]


class TallyingDoFn(beam.DoFn):
    """Base for DoFns that count into a per-bundle Tally.

    A DoFn with `timed = True` also adds its bundles' wall seconds under `stage`: one per fused
    stage only, since fused DoFns' bundles overlap in time.
    """

    stage = "stage"
    timed = False

    def start_bundle(self):
        self._tally = Tally()
        self._t0 = time.perf_counter()

    def count(self, place: str, reason: str, source: str, n_bytes: int = 0, n: int = 1) -> None:
        """Tallies documents (and bytes) into `place`, and mirrors them in a Beam counter."""
        self._tally.add(place, reason, source, n_bytes, n)
        counters = self.__dict__.setdefault("_counters", {})
        counter = counters.get((place, reason))
        if counter is None:
            counter = counters[(place, reason)] = beam.metrics.Metrics.counter(
                f"curate.{place}", reason or "docs"
            )
        counter.inc(n)

    def finish_bundle(self):
        if self.timed:
            self._tally.seconds[self.stage] += time.perf_counter() - self._t0
        yield beam.pvalue.TaggedOutput(
            TALLY, WindowedValue(self._tally.to_state(), MIN_TIMESTAMP, [GlobalWindow()])
        )
        self._tally = Tally()


class MergeTallies(beam.CombineFn):
    """Tally states -> one merged Tally state."""

    def create_accumulator(self) -> Tally:
        return Tally()

    def add_input(self, acc: Tally, state: dict) -> Tally:
        return acc.merge(Tally.from_state(state))

    def merge_accumulators(self, accs) -> Tally:
        out = Tally()
        for a in accs:
            out.merge(a)
        return out

    def extract_output(self, acc: Tally) -> dict:
        return acc.to_state()
