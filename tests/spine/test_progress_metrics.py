"""Progress off the local runner: the driver polls `curate.progress` counters from the result."""

from __future__ import annotations

import io

import apache_beam as beam
from apache_beam.metrics.execution import MetricKey, MetricResult
from apache_beam.metrics.metricbase import MetricName
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.progress import ProgressLines
from pipelines.progress_metrics import FollowedPipeline, counter_reports, follow
from transforms.infra import progress as worker_progress
from transforms.infra.progress import COUNTERS


def _counter(name, committed, attempted=None, step="s1", namespace=COUNTERS):
    return MetricResult(MetricKey(step, MetricName(namespace, name)), committed, attempted)


class FakeMetrics:
    def __init__(self, counters):
        self.counters = counters

    def query(self, filter=None):
        got = [c for c in self.counters if c.key.metric.namespace in filter.namespaces]
        return {"counters": got, "distributions": [], "gauges": []}


class FakeResult:
    """A PipelineResult that walks through `states` (one per read of .state) and whose metrics()
    gives the next snapshot of `snapshots` per call (the last one again once they run out)."""

    def __init__(self, states, snapshots=(), metrics_error=None):
        self.states, self.snapshots = list(states), list(snapshots)
        self.metrics_error = metrics_error
        self.state_reads = self.metrics_calls = 0

    @property
    def state(self):
        self.state_reads += 1
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def metrics(self):
        self.metrics_calls += 1
        if self.metrics_error:
            raise self.metrics_error
        snap = self.snapshots.pop(0) if len(self.snapshots) > 1 else self.snapshots[0]
        return FakeMetrics(snap)


def _lines(input_bytes=1000, n_tasks=2):
    out = io.StringIO()
    lines = ProgressLines(input_bytes, n_tasks, out, log_every_s=0, tty=False)
    lines.board.t0 = 100.0  # the fake clock's start
    return lines, out


def _clock():
    """A clock that moves 1 s per reading, from the board's start."""
    t = [100.0]

    def now():
        t[0] += 1.0
        return t[0]

    return now


def test_counter_reports_sum_steps_prefer_committed_and_skip_other_names():
    reports = counter_reports(
        {
            "counters": [
                _counter("read.bytes", 300, 999),
                _counter("read.bytes", 200, step="s2"),
                _counter("read.units", None, 1),  # a runner with attempted values only
                _counter("spill.docs", 7),
                _counter("read.rows", 5),  # not a kind the board knows
                _counter("other.docs", 5),  # not a stage
            ]
        }
    )
    assert reports == [
        {"p": "counters", "s": "read", "u": 1, "b": 500, "d": 0},
        {"p": "counters", "s": "spill", "u": 0, "b": 0, "d": 7},
    ]


def test_live_runner_is_polled_until_terminal_then_gets_final_lines():
    snapshots = [
        [_counter("read.bytes", 250)],
        [_counter("read.bytes", 600), _counter("read.units", 1)],
        [
            _counter("read.bytes", 1000),
            _counter("read.units", 2),
            _counter("spill.units", 3),
            _counter("spill.docs", 40),
            _counter("spill.bytes", 900),
            _counter("shards.units", 2),
            _counter("shards.docs", 30),
        ],
    ]
    result = FakeResult(["RUNNING", "RUNNING", "DONE"], snapshots)
    lines, out = _lines()
    sleeps = []
    follow(result, lines, every_s=3.0, live=True, sleep=sleeps.append, clock=_clock())
    text = out.getvalue()
    assert sleeps == [3.0, 3.0] and result.metrics_calls == 3
    assert " 25%  250 B of 1.0 kB, 0/2 tasks" in text
    assert " 60%  600 B of 1.0 kB, 1/2 tasks" in text
    assert "100%  1.0 kB of 1.0 kB, 2/2 tasks" in text and "done at" in text
    assert "spill      3 runs, 40 docs, 900 B" in text
    assert "shards     2 written, 30 rows" in text


def test_final_only_runner_is_read_once_at_the_end_without_rates():
    """The portable runner's metrics() freezes its first answer: no reads before the end."""
    final = [
        _counter("read.bytes", 1000),
        _counter("read.units", 2),
        _counter("spill.units", 1),
        _counter("spill.bytes", 800),
        _counter("spill.docs", 10),
        _counter("tokenize.units", 1),
        _counter("tokenize.bytes", 800),
        _counter("tokenize.docs", 10),
    ]
    result = FakeResult(["STARTING", "RUNNING", "RUNNING", "DONE"], [final])
    lines, out = _lines()
    sleeps = []
    follow(result, lines, every_s=5.0, live=False, sleep=sleeps.append, clock=_clock())
    assert result.metrics_calls == 1 and len(sleeps) == 3
    text = out.getvalue()
    assert "100%  1.0 kB of 1.0 kB, 2/2 tasks  done at" in text
    assert "100%  1/1 runs, 10 docs  done at" in text
    assert "/s" not in text  # arrival times are not work times: no rates
    assert "decisions" not in text  # its span is timed from arrivals


def test_runner_without_metrics_does_not_crash_or_print():
    for live in (True, False):
        result = FakeResult(["RUNNING", "DONE"], metrics_error=NotImplementedError())
        lines, out = _lines()
        follow(result, lines, live=live, sleep=lambda s: None, clock=_clock())
        assert out.getvalue() == "" and result.metrics_calls == 1


def test_unreadable_state_or_no_job_ends_the_polling_quietly():
    class Broken(FakeResult):
        @property
        def state(self):
            raise ConnectionError("job service gone")

    lines, out = _lines()
    follow(Broken(["RUNNING"], [[]]), lines, live=True, sleep=lambda s: None)
    no_job = FakeResult(["UNKNOWN"], [[]])
    follow(no_job, lines, live=True, sleep=lambda s: None)
    assert out.getvalue() == "" and no_job.metrics_calls == 0


class _Reports(beam.DoFn):
    def process(self, n):
        worker_progress.report("read", units=1, nbytes=500, docs=n)
        yield n


def test_followed_pipeline_reads_the_counters_workers_report(monkeypatch):
    """End to end on the embedded runner: report() feeds Beam counters the driver reads."""
    monkeypatch.delenv(worker_progress.ENV, raising=False)  # no local channel: counters only
    lines, out = _lines(input_bytes=1000, n_tasks=2)
    options = PipelineOptions(["--runner=FnApiRunner"])
    with FollowedPipeline(options=options, progress=lines) as p:
        _ = p | beam.Create([3, 4]) | beam.ParDo(_Reports())
    assert "100%  1.0 kB of 1.0 kB, 2/2 tasks" in out.getvalue()
    assert lines.board.stages["read"].docs == 7
