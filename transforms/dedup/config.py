"""Config section for deduplication."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ExactDedupConfig:
    """Exact dedup on a 128-bit hash of the normalized text."""

    enabled: bool = True
    keep: str = "longest"  # which copy survives: "longest" (then smallest id) or "first_id"

    def validate(self) -> list[str]:
        ok = ("longest", "first_id")
        return [] if self.keep in ok else [f"keep must be one of {ok}, got {self.keep!r}"]


@dataclass
class DedupConfig:
    exact: ExactDedupConfig = field(default_factory=ExactDedupConfig)
