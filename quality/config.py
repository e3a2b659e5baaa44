"""Config sections of the quality package: scoring/filtering, statistics, validation, report."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class QualityConfig:
    """Scorers and the filter decision (filled in by the quality work)."""

    enabled: bool = True
