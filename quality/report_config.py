"""Config sections for statistics, the validation gate and the HTML report."""

from __future__ import annotations

from dataclasses import dataclass


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
