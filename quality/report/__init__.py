"""The run report: HTML with charts (`build_report`) and a terminal summary (`summarize`).

Both are imported on first use (PEP 562): the builder imports matplotlib (~0.35 CPU-s), which a
run that only needs the summary helpers, or has the report off, never pays for.
"""

__all__ = ["build_report", "summarize"]


def __getattr__(name: str):
    if name == "build_report":
        from quality.report.builder import build_report

        return build_report
    if name == "summarize":
        from quality.report.summary import summarize

        return summarize
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
