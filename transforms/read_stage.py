"""Stage 1 entry: read tasks -> normalized Records, with dead letters and size rejections."""

from __future__ import annotations

import os
import sys
import time

import apache_beam as beam

from transforms.accounting import TallyingDoFn
from transforms.normalize import Normalizer
from transforms.readers import ReadTask, read_task
from transforms.record import DeadLetter, Record, Rejection


class Progress:
    """Rate-limited progress lines on stderr from each worker (local runs)."""

    def __init__(self, label: str, every_s: float = 10.0, enabled: bool = True) -> None:
        self.label, self.every_s, self.enabled = label, every_s, enabled
        self.n = self.bytes = 0
        self._t0 = self._last = time.monotonic()

    def add(self, n_bytes: int) -> None:
        self.n += 1
        self.bytes += n_bytes
        now = time.monotonic()
        if self.enabled and now - self._last >= self.every_s:
            self._last = now
            rate = self.bytes / max(now - self._t0, 1e-9) / 1e6
            print(
                f"[curate] {self.label}: {self.n:,} docs, {self.bytes / 1e6:,.1f} MB ({rate:.1f} MB/s, worker {os.getpid()})",
                file=sys.stderr,
                flush=True,
            )


class ReadAndNormalize(TallyingDoFn):
    """ReadTask -> Record (main), DeadLetter ("dead"), Rejection for size limits ("rejected")."""

    stage = "read"
    timed = True
    DEAD, REJECTED = "dead", "rejected"

    def __init__(self, normalizer: Normalizer, max_doc_bytes: int, progress: bool = True) -> None:
        self._normalizer = normalizer
        self._max_doc_bytes = max_doc_bytes
        self._progress_enabled = progress

    def setup(self):
        self._progress = Progress("read", enabled=self._progress_enabled)

    def process(self, task: ReadTask):
        for item in read_task(task):
            if isinstance(item, DeadLetter):
                self.count("read", "", item.source, len(item.raw))
                yield beam.pvalue.TaggedOutput(self.DEAD, item)
                continue
            rec: Record = item
            size = len(rec.text.encode("utf-8", "surrogatepass"))
            self.count("read", "", rec.source, size)
            self._progress.add(size)
            if size > self._max_doc_bytes:
                yield beam.pvalue.TaggedOutput(
                    self.REJECTED,
                    Rejection(rec, "too_large", f"{size} bytes > {self._max_doc_bytes}"),
                )
                continue
            text = self._normalizer(rec.text)
            if not text:
                yield beam.pvalue.TaggedOutput(
                    self.DEAD,
                    DeadLetter(
                        "empty_text",
                        rec.source,
                        rec.meta["_file"],
                        rec.meta["_line"],
                        rec.text.encode()[:4096],
                        "empty after normalization",
                    ),
                )
                continue
            yield rec if text == rec.text else rec._replace(text=text)
