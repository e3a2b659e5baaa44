"""Progress off the local runner: the driver polls the stage totals from Beam counters.

Workers of a distributed runner have no channel to the driver, so `transforms.infra.progress.report`
also adds every stage total to Beam counters (namespace `curate.progress`). `FollowedPipeline`
submits the job, reads those counters from its PipelineResult every `POLL_EVERY_S` until the job
is terminal, and feeds them to the same board and lines as the local channel
(`pipelines.progress`).

Whether the counters are live depends on the runner (read in Beam 2.78's source):

- PortableRunner (Beam's local job service; Flink and Spark job servers go through the same
  Python result class): final only. `PipelineResult.metrics()` keeps its first GetJobMetrics
  answer for good (portable_runner.py), so a read during the run would freeze it, and the local
  job service answers nothing until the job has finished (local_job_service.py: GetJobMetrics
  reads `job.result`, set when the run returns, before the state turns DONE). So the driver does
  not read them during the run and prints one summary at the end.
- Dataflow: live. `DataflowMetrics.query` asks the service on each call and caches only once the
  job is terminal (dataflow_metrics.py). Not run from this project's tests (no GCP access).
- Any other runner: read live. One whose `metrics()` raises (the base PipelineResult raises
  NotImplementedError) gets no lines; the run goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import apache_beam as beam
from apache_beam.metrics.metric import MetricResults, MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineResult, PipelineState

from pipelines.progress import STAGES, ProgressLines
from transforms.infra.progress import COUNTERS, KINDS

log = logging.getLogger("curate")

POLL_EVERY_S = 5.0  # a Dataflow metrics call per poll: well inside the API's quota
SENDER = "counters"  # the board's sender name for counter totals (one sender: they are global)


def counter_reports(query: dict) -> list[dict]:
    """A `MetricResults.query()` answer -> one board report per stage, in pipeline order.

    A counter appears once per step that incremented it: its values are summed. Committed values
    are used where the runner gives them, attempted ones otherwise (retried bundles count twice
    there; the board caps shares below 100% until every read task is done).
    """
    totals: dict[str, list[int]] = {}
    for res in query.get(MetricResults.COUNTERS, ()):
        stage, _, kind = res.key.metric.name.rpartition(".")
        if stage not in STAGES or kind not in KINDS:
            continue
        value = res.committed if res.committed is not None else res.attempted
        totals.setdefault(stage, [0, 0, 0])[KINDS.index(kind)] += int(value or 0)
    return [
        {"p": SENDER, "s": s, "u": u, "b": b, "d": d}
        for s, (u, b, d) in sorted(totals.items(), key=lambda kv: STAGES.index(kv[0]))
    ]


def read_counters(result: PipelineResult) -> list[dict] | None:
    """The stage totals a result's metrics give now; None when the runner gives no metrics."""
    try:
        query = result.metrics().query(MetricsFilter().with_namespace(COUNTERS))
    except Exception:  # progress is best effort: no runner's metrics may fail the run
        log.debug("the runner's metrics cannot be read", exc_info=True)
        return None
    return counter_reports(query)


def metrics_are_live(result: PipelineResult) -> bool:
    """Whether `result.metrics()` may be read while the job runs (see the module docstring)."""
    from apache_beam.runners.portability.portable_runner import (
        PipelineResult as PortableResult,
    )

    return not isinstance(result, PortableResult)


def follow(
    result: PipelineResult,
    lines: ProgressLines,
    every_s: float = POLL_EVERY_S,
    live: bool | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Prints the job's stage lines until it is terminal, then its final lines.

    Waits by reading `result.state`, not by `wait_until_finish(duration)`: the portable result
    starts a new pair of threads on the job's message and state streams at each such call, and
    its cleanup (which can stop a job server) runs from whichever ends first. The caller's
    `wait_until_finish()` after this returns raises on a failed job as it always did.
    """
    live = metrics_are_live(result) if live is None else live
    if not live:
        lines.board.timed = False  # every total arrives at the end: no rates or spans from it
        log.info("progress: this runner reports its counters at the end; totals follow then")
    while True:
        try:
            state = result.state
        except Exception:  # the caller's wait_until_finish() reports what went wrong
            log.debug("the job's state cannot be read; no more progress lines", exc_info=True)
            return
        if state in (None, PipelineState.UNKNOWN):  # no job to follow (e.g. a template)
            return
        if PipelineState.is_terminal(state):
            break
        if live:
            reports = read_counters(result)
            if reports is None:
                log.info("progress: this runner gives no metrics; no progress lines")
                return
            _feed(lines, reports, clock())
            lines.tick(clock())
        sleep(every_s)
    reports = read_counters(result)
    if reports is None:
        log.info("progress: this runner gives no metrics; no progress lines")
        return
    _feed(lines, reports, clock())
    lines.tick(clock(), final=True)


def _feed(lines: ProgressLines, reports: list[dict], now: float) -> None:
    for msg in reports:
        lines.board.update(msg, now)


class FollowedPipeline(beam.Pipeline):
    """A Pipeline whose run() follows the submitted job to its end, printing progress lines.

    `with FollowedPipeline(...) as p:` exits as Beam's Pipeline does: run(), then
    `wait_until_finish()` (which raises on a failed job), then it stops what the pipeline
    started (a job server). run() only adds the polling between submission and that wait.
    """

    def __init__(self, runner=None, options: PipelineOptions | None = None, *, progress=None):
        super().__init__(runner=runner, options=options)
        self._progress: ProgressLines | None = progress
        # Beam's exit does not wait with this option; nor does the progress.
        self._waits = not (options and options.view_as(StandardOptions).no_wait_until_finish)

    def run(self, test_runner_api="AUTO") -> PipelineResult:
        result = super().run(test_runner_api)
        if self._progress is not None and self._waits:
            follow(result, self._progress)
        return result
