"""transforms.infra.beam_fastpath: Beam's introspection, memoized, gives Beam's own answers."""

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    DirectOptions,
    PipelineOptions,
    StandardOptions,
    TypeOptions,
)
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import userstate
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from transforms.infra.beam_fastpath import install

install()


class _Stateful(beam.DoFn):
    SEEN = ReadModifyWriteStateSpec("seen", beam.coders.VarIntCoder())

    def process(self, kv, seen=beam.DoFn.StateParam(SEEN)):
        n = (seen.read() or 0) + 1
        seen.write(n)
        yield kv[0], n


class _Plain(beam.DoFn):
    def process(self, x):
        yield x


def test_dofn_specs_are_beams_and_computed_once_per_dofn():
    uncached = userstate.get_dofn_specs.__wrapped__
    for dofn in (_Stateful(), _Plain(), beam.core.CallableWrapperDoFn(lambda x: x)):
        assert userstate.get_dofn_specs(dofn) == uncached(dofn)
        assert userstate.get_dofn_specs(dofn) is userstate.get_dofn_specs(dofn)
    assert userstate.is_stateful_dofn(_Stateful()) and not userstate.is_stateful_dofn(_Plain())


def test_a_view_is_kept_and_shares_the_options():
    options = PipelineOptions(["--direct_num_workers=3"])
    view = options.view_as(DirectOptions)
    assert options.view_as(DirectOptions) is view
    assert view.direct_num_workers == 3
    view.direct_running_mode = "in_memory"  # a write through one view is seen by every view
    assert options.view_as(DirectOptions).direct_running_mode == "in_memory"
    options.view_as(StandardOptions).runner = "FnApiRunner"
    assert options.get_all_options()["runner"] == "FnApiRunner"
    assert options.view_as(TypeOptions) is not view
    # another options object gets its own views
    assert PipelineOptions([]).view_as(DirectOptions).direct_num_workers == 1


def test_a_pipeline_with_state_runs_the_same():
    options = PipelineOptions(["--runner=FnApiRunner", "--direct_running_mode=in_memory"])
    with beam.Pipeline(options=options) as p:
        out = p | beam.Create([("a", 1), ("a", 2), ("b", 3)]) | beam.ParDo(_Stateful())
        assert_that(out, equal_to([("a", 1), ("a", 2), ("b", 1)]))  # the state counts per key


def test_args_and_defaults_are_beams_and_follow_a_changed_function():
    from functools import partial

    from apache_beam.transforms import core

    cached, uncached = core.get_function_args_defaults, core.get_function_args_defaults.__wrapped__

    def f(a, b=1, *, c=2):
        return a

    for fn in (f, _Stateful().process, _Plain().process, lambda x, y=3: x, partial(f, 1), len):
        assert cached(fn) == uncached(fn)
        assert cached(fn) == uncached(fn)  # the second answer comes from the cache
    # A bound method's answer does not depend on the instance, nor leak into the function's.
    assert cached(_Plain().process) == (["x"], [])
    assert cached(_Plain.process) == (["self", "x"], [])
    # Callers get lists of their own.
    cached(f)[0].append("z")
    assert cached(f) == (["a", "b"], [1])
    # New defaults or new code on the same function object give the new answer.
    f.__defaults__ = (5,)
    assert cached(f) == (["a", "b"], [5])
    f.__code__ = (lambda p, q, r=0: p).__code__
    f.__defaults__ = (0,)
    assert cached(f) == uncached(f) == (["p", "q", "r"], [0])
