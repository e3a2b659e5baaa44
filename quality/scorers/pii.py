"""PII as a scorer: redacts (or only detects) PII before any other scorer reads the text.

Configured by the `quality.pii` section (`quality.config.PiiConfig`; detection in `quality.pii`).
Meta key `pii`: {type: count} of every configured type; no shard column, never rejects.
Summary block `pii` per scope: documents with PII and counts per type.
"""

from __future__ import annotations

from typing import Any

from quality.pii import PiiRedactor
from quality.scorers.base import Scorer, SummaryPart
from quality.text import TextView


class PiiSummary(SummaryPart):
    """Documents with any PII and matches per type, per scope."""

    key = "pii"

    def empty(self) -> dict[str, Any]:
        return {"docs_with_pii": 0, "counts": {}}

    def add(self, state: dict[str, Any], meta: dict[str, Any], source: str) -> dict[str, Any]:
        pii = meta.get("pii")
        if pii:
            state["docs_with_pii"] += any(pii.values())
            for kind, n in pii.items():
                state["counts"][kind] = state["counts"].get(kind, 0) + n
        return state

    def merge(self, into: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
        into["docs_with_pii"] += other["docs_with_pii"]
        for kind, n in other["counts"].items():
            into["counts"][kind] = into["counts"].get(kind, 0) + n
        return into

    def to_json(self, state: dict[str, Any]) -> dict[str, Any]:
        return {
            "docs_with_pii": state["docs_with_pii"],
            "counts": dict(sorted(state["counts"].items())),
        }


class Pii(Scorer):
    """Finds PII of the configured types and replaces it with typed placeholders (`redact`)."""

    name = "pii"
    prefix = "pii"
    section = "pii"  # the config section it is built from (`QualityConfig.pii`)
    features = ()
    main_features = ()
    has_verdicts = False

    def __init__(self, *, types: list[str] | tuple[str, ...] = (), mode: str = "redact") -> None:
        # Validated by quality.config.PiiConfig (its problems join the one ConfigError).
        self.types, self.mode = list(types), mode
        self.rules = []
        self.redactor: PiiRedactor | None = None

    @classmethod
    def from_section(cls, section: Any) -> Pii:
        return cls(types=section.types, mode=section.mode)

    def load(self, read_bytes=None) -> None:
        self.redactor = PiiRedactor(self.types, self.mode)

    def prepare(self, text: str) -> tuple[str, dict[str, Any]]:
        if self.redactor is None:
            self.load()
        text, counts = self.redactor(text)
        return text, {"pii": counts}

    def compute(self, view: TextView) -> dict[str, Any]:
        return {}

    def summary_part(self) -> SummaryPart:
        return PiiSummary()
