"""Stage 1 entry: read tasks -> normalized Records, with dead letters and size rejections."""

from __future__ import annotations

from dataclasses import dataclass

import apache_beam as beam

from transforms.infra.accounting import TALLY, TallyingDoFn
from transforms.infra.progress import report as report_progress
from transforms.infra.record import DeadLetter, Record, Rejection, utf8_len
from transforms.infra.stage_output import StageOutput
from transforms.stages.normalize import Normalizer
from transforms.stages.readers import ReadTask, TaskReader

REPORT_EVERY = 256  # records between progress reports of a read task


class ReadAndNormalize(TallyingDoFn):
    """ReadTask -> Record (main), DeadLetter ("dead"), Rejection for size limits ("rejected")."""

    stage = "read"
    timed = True
    DEAD, REJECTED = "dead", "rejected"

    def __init__(self, normalizer: Normalizer, max_doc_bytes: int, progress: bool = True) -> None:
        self._normalizer = normalizer
        self._max_doc_bytes = max_doc_bytes
        self._progress = progress  # report to the driver's progress channel (when one listens)

    def process(self, task: ReadTask):
        # Progress is in input-file bytes (what the driver's total counts): a record's text stands
        # for its bytes of the task until the task ends and counts the rest (compression, markup).
        # Reported every REPORT_EVERY records, so it costs nothing next to reading one.
        counted = pending_bytes = pending_docs = 0
        for item in self._read(task):
            if self._progress:
                size = min(len(item.text) if isinstance(item, Record) else 0, task.size - counted)
                counted += max(size, 0)
                pending_bytes += max(size, 0)
                pending_docs += 1
                if pending_docs >= REPORT_EVERY:
                    report_progress("read", nbytes=pending_bytes, docs=pending_docs)
                    pending_bytes = pending_docs = 0
            yield item
        if self._progress:
            rest = pending_bytes + max(task.size - counted, 0)
            report_progress("read", units=1, nbytes=rest, docs=pending_docs)

    def _read(self, task: ReadTask):
        # "read" counts the records the reader met in the file (`seen`), added when the task
        # ends; each item adds only its bytes. A record met but never emitted is then counted
        # as read and nowhere else, and the accounting check fails (exit 3) instead of passing.
        reader = TaskReader(task)
        for item in reader:
            if isinstance(item, DeadLetter):
                self.count("read", "", item.source, len(item.raw), n=0)
                yield beam.pvalue.TaggedOutput(self.DEAD, item)
                continue
            rec: Record = item
            size = utf8_len(rec.text)
            self.count("read", "", rec.source, size, n=0)
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
                # the dead letter keeps at most 4 KiB of the text: the rest is trimmed bytes
                self.count("trimmed", "normalization", rec.source, size - min(size, 4096), n=0)
                continue
            if text != rec.text:  # bytes the funnel would otherwise lose between read and fate
                trimmed = size - utf8_len(text)
                self.count("trimmed", "normalization", rec.source, trimmed, n=0)
            yield rec if text == rec.text else rec._replace(text=text)
        self.count("read", "", task.source, n=reader.seen)


@dataclass(frozen=True)
class ReadSettings:
    """How stage 1 reads (`from_config` builds it for a run).

    Attributes:
        normalizer: the text normalization (fused into the read).
        max_doc_bytes: larger documents are rejected (too_large).
        progress: report to the driver's progress channel.
    """

    normalizer: Normalizer
    max_doc_bytes: int
    progress: bool = True

    @classmethod
    def from_config(cls, cfg) -> ReadSettings:
        """From the run's `CurateConfig` (pipelines/config.py)."""
        return cls(Normalizer.from_config(cfg.normalize), cfg.input.max_doc_bytes, cfg.run.progress)


class Read(beam.PTransform):
    """Stage: the pipeline's start -> normalized Records (`StageOutput`).

    Main: the records; `dead`: malformed input and empty texts; `rejected`: too-large
    documents; `tally`: what was read.
    """

    def __init__(self, tasks: list[ReadTask], settings: ReadSettings) -> None:
        super().__init__()
        self._tasks, self._settings = list(tasks), settings

    def expand(self, pbegin):
        s = self._settings
        fn = ReadAndNormalize(s.normalizer, s.max_doc_bytes, s.progress)
        read = (
            pbegin
            | "ReadTasks" >> beam.Create(self._tasks)
            | "ReadAndNormalize"
            >> beam.ParDo(fn).with_outputs(fn.DEAD, fn.REJECTED, TALLY, main="records")
        )
        return StageOutput(read.records, rejected=read.rejected, dead=read.dead, tally=read[TALLY])
