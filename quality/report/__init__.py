"""The run report: HTML with charts (`build_report`) and a terminal summary (`summarize`)."""

from quality.report.builder import build_report
from quality.report.summary import summarize

__all__ = ["build_report", "summarize"]
