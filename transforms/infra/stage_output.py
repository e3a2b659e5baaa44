"""What every composite stage of the graph hands on: typed outputs, never magic keys.

A stage returns a `StageOutput`: its main PCollection, the records it dropped (each kind in its
own PCollection, written and counted by the funnel's sinks), its accounting tallies, the
`stats.json` sections it computed (dotted path -> single-element PCollection) and the mergeable
corpus accumulators it fed ((name, accumulator) pairs, merged per name for the Finalize step).
`Funnel` collects all of these from every stage, so `build_graph` stays one straight chain.
A stage with more to hand on subclasses `StageOutput` with typed fields, never dict keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import apache_beam as beam


@dataclass
class StageOutput:
    main: beam.PCollection
    rejected: beam.PCollection | None = None  # Rejection
    removed: beam.PCollection | None = None  # (Removal, text)
    dead: beam.PCollection | None = None  # DeadLetter
    tally: beam.PCollection | None = None  # accounting states
    sections: dict[str, beam.PCollection] = field(default_factory=dict)  # "a.b" -> singleton
    accumulators: beam.PCollection | None = None  # (name, mergeable accumulator)


@dataclass
class Funnel:
    """Collects what the stages drop, count and summarise."""

    dead: list = field(default_factory=list)
    rejected: list = field(default_factory=list)
    removed: list = field(default_factory=list)
    tallies: list = field(default_factory=list)
    sections: dict = field(default_factory=dict)
    accumulators: list = field(default_factory=list)

    def take(self, out: StageOutput) -> beam.PCollection:
        """Records the stage's side outputs; returns its main output."""
        for place, value in (
            ("dead", out.dead),
            ("rejected", out.rejected),
            ("removed", out.removed),
            ("tallies", out.tally),
            ("accumulators", out.accumulators),
        ):
            if value is not None:
                getattr(self, place).append(value)
        for path, pcoll in out.sections.items():
            if path in self.sections:
                raise ValueError(f"two stages write the stats section {path!r}")
            self.sections[path] = pcoll
        return out.main


def set_section(stats: dict, path: str, value) -> None:
    """Puts `value` at the dotted `path` of `stats` (creating the parents)."""
    *parents, leaf = path.split(".")
    node = stats
    for name in parents:
        node = node.setdefault(name, {})
    node[leaf] = value
