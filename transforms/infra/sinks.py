"""JSONL outputs for records that leave the pipeline: dead_letter/, rejected/, removed/.

Each line says why the record left, where it came from, and (truncated) what it was, so a user
can audit every drop. Writing goes through Beam's WriteToText (temp files + finalize), which
works on every runner and filesystem.
"""

from __future__ import annotations

import json

import apache_beam as beam

from transforms.infra.accounting import TallyingDoFn
from transforms.infra.record import DeadLetter, Rejection, Removal

TEXT_KEEP = 2000


def _clip(text: str) -> str:
    return text if len(text) <= TEXT_KEEP else text[:TEXT_KEEP] + "…"


def dead_letter_json(d: DeadLetter) -> dict:
    return {
        "reason": d.reason,
        "source": d.source,
        "file": d.file,
        "line": d.line,
        "raw": d.raw.decode("utf-8", "backslashreplace")[:TEXT_KEEP],
        "detail": d.detail,
    }


def rejection_json(r: Rejection) -> dict:
    rec = r.record
    return {
        "id": rec.id,
        "source": rec.source,
        "reason": r.reason,
        "detail": r.detail,
        "file": rec.meta.get("_file", ""),
        "line": rec.meta.get("_line", 0),
        "text": _clip(rec.text),
    }


def removal_json(r: Removal, text: str) -> dict:
    return {
        "id": r.id,
        "source": r.source,
        "stage": r.stage,
        "cluster": r.cluster,
        "kept_id": r.kept_id,
        "similarity": round(float(r.similarity), 4),
        "text": _clip(text),
    }


class ToJsonLines(TallyingDoFn):
    """Counts each outgoing record under `place` and turns it into a JSON line."""

    def __init__(self, place: str) -> None:
        self.place = place
        self.stage = f"sink:{place}"

    def process(self, element):
        if isinstance(element, DeadLetter):
            obj, reason, source, size = (
                dead_letter_json(element),
                element.reason,
                element.source,
                len(element.raw),
            )
        elif isinstance(element, Rejection):
            obj, reason, source, size = (
                rejection_json(element),
                element.reason,
                element.record.source,
                len(element.record.text.encode()),
            )
        else:  # (Removal, text) from stage 2, or a Removal with the record text
            removal, text = element
            obj, reason, source, size = (
                removal_json(removal, text),
                removal.stage,
                removal.source,
                len(text.encode()),
            )
        self.count(self.place, reason, source, size)
        yield json.dumps(obj, ensure_ascii=False)


class WriteJsonLines(beam.PTransform):
    """Counts and writes records of one terminal place to `<output>/<place>/<place>-*.jsonl`."""

    def __init__(self, output: str, place: str) -> None:
        super().__init__()
        self.output, self.place = output, place

    def expand(self, pcoll):
        lines = pcoll | f"Json{self.place}" >> beam.ParDo(ToJsonLines(self.place)).with_outputs(
            "tally", main="lines"
        )
        # bounded: Beam's file sink gathers one temporary file name per bundle, not records
        _ = lines.lines | f"Write{self.place}" >> beam.io.WriteToText(
            f"{self.output}/{self.place}/{self.place}", file_name_suffix=".jsonl"
        )
        return lines.tally
