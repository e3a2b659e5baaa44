"""Config sections of the quality package: scoring/filtering, statistics, validation, report."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class QualityConfig:
    """Scorers and the filter decision (filled in by the quality work)."""

    enabled: bool = True


@dataclass
class StatsConfig:
    enabled: bool = True
    top_k: int = 50

    def validate(self) -> list[str]:
        return [] if self.top_k > 0 else ["top_k must be > 0"]


@dataclass
class ValidationConfig:
    enabled: bool = True


@dataclass
class ReportConfig:
    enabled: bool = True
