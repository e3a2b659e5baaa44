"""The `DedupMethod` contract: what one dedup method declares, so the stages loop over methods.

A method is one small class. It declares, in one place:

- its **config**: built-ins take their `DedupConfig` section (a dataclass whose `validate()` the
  config loader runs); a plugin takes the keyword arguments of its `dedup.plugins` entry;
- its **spill columns** (`spill_columns()`: name and Arrow type) and how a record's text becomes
  their values (`featurize(texts)`, once, in stage 1, batched; the values live in the spill run
  next to the text, never in the metadata shuffles);
- how it **decides** (`decide()`: a Beam step over the records that survived the methods before
  it: their `DocMeta` when `reads == "metas"`, else each spill run with the positions of the
  records already dropped, a `RunWork`), returning `MethodDecisions`: removals (routed to their
  spill run by id), the dropped (run key, position) pairs, kept members' cluster ids, stats
  sections, and an optional apply-time state (one bounded element);
- how it **rewrites** a surviving record at apply time (`rewrite(text, state)`, e.g. boilerplate
  lines stripped; stage 2 calls it through `rewrite_batch`, which a method may vectorise). A
  record it removed needs nothing here: its `Removal` (stage = the method's name, the reason in
  `removed/` and the manifest) reaches the apply step with the other decisions.

`transforms/dedup/stage.py` runs the enabled methods in order (`transforms/dedup/methods.py`),
`transforms/infra/spill.py` writes the columns they declare, and
`transforms/stages/apply_decisions.py` applies their rewrites; none of them names a method.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import apache_beam as beam
import pyarrow as pa


@dataclass
class MethodDecisions:
    """What a method's `decide()` step returns (every field but `removed` may be None)."""

    removed: beam.PCollection | None = None  # Removal (stage = the method's name)
    # (run key, input position) of each removed record: later methods skip these rows. None for
    # a method that only knows ids; the stage then derives them with one join, when needed.
    dropped: beam.PCollection | None = None
    kept: beam.PCollection | None = None  # surviving DocMeta (a `reads == "metas"` method)
    clusters: beam.PCollection | None = None  # (kept id, cluster id) of kept cluster members
    sections: dict[str, beam.PCollection] = field(default_factory=dict)  # stats.json sections
    state: beam.PCollection | None = None  # singleton handed to `rewrite` (bounded: say why)
    audit: beam.PCollection | None = None  # audited pairs ({"a", "b", ...}), a bounded sample


class DedupMethod:
    """Base of a dedup method (see the module docstring).

    Args:
        seed: the run seed (hashing, sampling).
        keep: which copy of a group survives: `dedup.exact.keep` (`transforms/dedup/keep.py`).
    """

    name: ClassVar[str] = ""  # config section, removal stage, Beam label, column prefix
    reads: ClassVar[Literal["metas", "runs"]] = "runs"
    # Counter of what `rewrite` removes ("boilerplate_lines"); None: the method never rewrites.
    rewrite_unit: ClassVar[str | None] = None

    def __init__(self, seed: int = 0, keep: str = "longest") -> None:
        self.seed, self.keep = seed, keep

    @property
    def label(self) -> str:
        """The Beam label of the method's decide step: its name in CamelCase."""
        return "".join(part.title() for part in self.name.split("_"))

    def spill_columns(self) -> list[tuple[str, pa.DataType]]:
        """(name, Arrow type) of each spill column this method fills (nullable)."""
        return []

    def featurize(self, texts: list[str]) -> dict[str, list]:
        """Values of each `spill_columns()` column for `texts`, in order (None = null)."""
        return {}

    def decide(self) -> beam.PTransform:
        """The Beam step: `DocMeta` (reads "metas") or `RunWork` (reads "runs") ->
        `MethodDecisions`."""
        raise NotImplementedError

    def rewrite(self, text: str, state: Any) -> tuple[str, int] | None:
        """A surviving record's text at apply time: (new text, units removed), or None when
        the method leaves it as it is. An empty result rejects the record
        (`empty_after_<name>`)."""
        return None

    def rewrite_batch(self, texts: list[str], state: Any) -> list[tuple[str, int] | None]:
        """`rewrite` of each text, in order; a method overrides it to work on the whole batch at
        once (stage 2 rewrites every surviving record, in tokenizer-sized batches)."""
        return [self.rewrite(text, state) for text in texts]
