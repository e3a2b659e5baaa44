"""JSONL outputs for records that leave the pipeline: dead_letter/, rejected/, removed/.

Each line says why the record left, where it came from, and (truncated) what it was, so a user
can audit every drop.

The files are the same bytes whatever the runner, the number of workers or the bundle sizes: a
line goes to file `hash(line) % n` (n from the count of lines, `LINES_PER_FILE` each on average),
and each file holds its lines sorted. One worker sorts one file at a time, so memory is one file's
lines (at most ~2 kB each: texts are clipped), never the whole folder. A file is written to a
temporary name and renamed, so a retried bundle rewrites the same bytes.
"""

from __future__ import annotations

import json

import apache_beam as beam
import xxhash

from transforms.infra import fs
from transforms.infra.accounting import TallyingDoFn
from transforms.infra.disk_group import GroupByKeyOnDisk
from transforms.infra.record import DeadLetter, Rejection, Removal

TEXT_KEEP = 2000
# Lines per drop file, on average: one file is sorted in one worker's memory (<= ~50 MB).
LINES_PER_FILE = 20_000


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
    """Counts each outgoing record under `place` and turns it into (place, JSON line)."""

    def __init__(self, place: str) -> None:
        self.place = place

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
        yield self.place, json.dumps(obj, ensure_ascii=False)


def _n_files(n_lines: int) -> int:
    return max(1, -(-n_lines // LINES_PER_FILE))


def _file_of(item: tuple[str, str], n_lines: dict[str, int]) -> tuple[tuple[str, int], str]:
    place, line = item
    n_files = _n_files(n_lines[place])
    return (place, xxhash.xxh64_intdigest(line.encode("utf-8")) % n_files), line


def _file_name(output: str, place: str, index: int, n_files: int) -> str:
    return fs.join(output, place, f"{place}-{index:05d}-of-{n_files:05d}.jsonl")


class _WriteSortedFile(beam.DoFn):
    """Writes one file's lines, sorted, through a temporary name; yields its path."""

    def __init__(self, output: str) -> None:
        self.output = output

    def process(self, element, n_lines: dict[str, int]):
        (place, index), lines = element
        path = _file_name(self.output, place, index, _n_files(n_lines[place]))
        _write_lines(path, sorted(lines))
        yield path


def _write_lines(path: str, lines) -> None:
    fs.makedirs(path.rsplit("/", 1)[0])
    tmp = fs.temp_name(path)
    with fs.open_write(tmp) as fh:
        for line in lines:
            fh.write(line.encode("utf-8"))
            fh.write(b"\n")
    fs.rename(tmp, path)


def _write_empty(_, output: str, places: tuple[str, ...], n_lines: dict[str, int]):
    """A place with no drops still has its folder and one empty file (what readers expect)."""
    for place in places:
        if place not in n_lines:
            path = _file_name(output, place, 0, 1)
            _write_lines(path, [])
            yield path


class WriteJsonLines(beam.PTransform):
    """Counts and writes {place: records} to `<output>/<place>/<place>-*.jsonl`; -> the tallies.

    Each place's records become JSON lines where they are (texts clipped); then every place
    goes through the same few steps (one count, one grouping, one writer), so the number of
    fused stages does not grow with the number of places. The files are those that one writer
    per place would write. Every place given gets its folder, with one empty file when nothing
    went there.
    """

    def __init__(self, output: str) -> None:
        super().__init__()
        self.output = output

    def expand(self, drops):  # {place: PCollection of its records}
        places = tuple(drops)
        json_lines = [
            pc
            | f"Json_{place}" >> beam.ParDo(ToJsonLines(place)).with_outputs("tally", main="lines")
            for place, pc in drops.items()
        ]
        lines = [j.lines for j in json_lines] | "AllLines" >> beam.Flatten()
        counts = lines | "CountPerPlace" >> beam.combiners.Count.PerKey()
        n_lines = beam.pvalue.AsDict(counts)
        _ = (
            lines
            # bounded: the side input is one count per place (dead_letter, rejected, removed)
            | "File" >> beam.Map(_file_of, n_lines)
            # bounded: one drop file's lines per group (LINES_PER_FILE on average)
            | "Group" >> GroupByKeyOnDisk()
            # bounded: one count per place again
            | "Write" >> beam.ParDo(_WriteSortedFile(self.output), n_lines)
        )
        _ = (
            drops[places[0]].pipeline
            | "Once" >> beam.Impulse()
            # bounded: one count per place again
            | "Empty" >> beam.FlatMap(_write_empty, self.output, places, n_lines)
        )
        return tuple(j.tally for j in json_lines)
