"""Config section for sampling."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SamplingConfig:
    mode: str = "all"  # keep every surviving document

    def validate(self) -> list[str]:
        return [] if self.mode == "all" else [f"mode must be 'all', got {self.mode!r}"]
