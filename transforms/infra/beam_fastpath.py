"""Memoizes three introspections that Beam repeats for every transform and every stage.

Building and running the curation graph (~570 transforms, ~120 fused stages on the in-process
runner) spends most of its fixed cost in Beam helpers that recompute the same answer:

- `userstate.get_dofn_specs(dofn)`: the state and timer specs of a DoFn, found by building an
  `inspect.signature` of every method of the DoFn (~30 of them). Beam asks it about the same
  DoFn instance several times: when the ParDo is built, when the graph is turned into protos,
  and twice more per stage it runs. Here the answer is kept per DoFn instance (weakly: the
  cache never keeps a DoFn alive). A DoFn's methods and their default arguments (where state
  and timer parameters are declared) do not change after construction, so the answer cannot go
  stale.
- `core.get_function_args_defaults(f)`: the argument names and defaults of a function, from
  `inspect.signature`. `get_dofn_specs` asks it about each of the ~30 methods of every DoFn
  instance it sees, and on the embedded runner each fused stage unpickles its DoFns into new
  instances, so the cache above misses there: the same class methods (most of them `DoFn`'s
  own) were inspected again for every stage. Here the answer is kept per function object
  (plain or bound: a bound method's answer is its function's without the first argument, whoever
  it is bound to), and used only while the function keeps the same code, defaults and wrapper
  attributes (the things `inspect.signature` reads besides annotations, which the answer omits).
- `PipelineOptions.view_as(cls)`: builds an argparse parser with every option of `cls` and
  parses the flags again, on every call; `Pipeline.apply` calls it for each transform. A view
  only reads and writes the options' shared `_all_options` dict, so the view made for
  (options, cls) is kept and handed out again while those options keep the same flags and dict.

Measured on the demo (benchmarks/RESULTS.md, "The demo's fixed cost" and "The demo's many small
stages"). All three are pure caches:
the graph, its protos and every output are the same with or without them. `install()` is
idempotent and is called by the driver before it builds the graph and by the local worker
processes (pipelines/beam_worker.py); a Beam without these functions is left as it is.
"""

from __future__ import annotations

import types
import weakref

_installed = False


def install() -> None:
    """Wraps `get_dofn_specs`, `get_function_args_defaults` and `PipelineOptions.view_as` with
    their caches (once)."""
    global _installed
    if _installed:
        return
    from apache_beam.options import pipeline_options
    from apache_beam.transforms import core, userstate

    if hasattr(userstate, "get_dofn_specs"):
        userstate.get_dofn_specs = _cached_specs(userstate.get_dofn_specs)
    if hasattr(core, "get_function_args_defaults"):
        core.get_function_args_defaults = _cached_args_defaults(core.get_function_args_defaults)
    options = pipeline_options.PipelineOptions
    if hasattr(options, "view_as"):
        options.view_as = _cached_view_as(options.view_as)
    _installed = True


def _cached_specs(get_dofn_specs):
    specs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def cached(dofn):
        try:
            found = specs.get(dofn)
        except TypeError:  # not weakly referenceable, or unhashable: not cached
            return get_dofn_specs(dofn)
        if found is None:
            found = get_dofn_specs(dofn)
            specs[dofn] = found
        return found

    cached.__wrapped__ = get_dofn_specs
    cached.__doc__ = get_dofn_specs.__doc__
    return cached


def _signature_inputs(func: types.FunctionType) -> tuple:
    """What `inspect.signature` reads of a function, names and defaults wise."""
    attrs = func.__dict__
    return (
        func.__code__,
        func.__defaults__,
        func.__kwdefaults__,
        attrs.get("__wrapped__"),
        attrs.get("__signature__"),
    )


def _cached_args_defaults(get_function_args_defaults):
    found: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def cached(f):
        bound = isinstance(f, types.MethodType)
        func = f.__func__ if bound else f
        if not isinstance(func, types.FunctionType):  # builtins, partials, callable objects
            return get_function_args_defaults(f)
        inputs = _signature_inputs(func)
        by_kind = found.get(func)
        if by_kind is None:
            by_kind = found[func] = {}
        entry = by_kind.get(bound)
        if entry is None or any(a is not b for a, b in zip(entry[0], inputs, strict=True)):
            args, defaults = get_function_args_defaults(f)
            entry = by_kind[bound] = (inputs, tuple(args), tuple(defaults))
        return list(entry[1]), list(entry[2])  # fresh lists, as Beam's own

    cached.__wrapped__ = get_function_args_defaults
    cached.__doc__ = get_function_args_defaults.__doc__
    return cached


def _cached_view_as(view_as):
    views: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def cached(self, cls):
        try:
            by_class = views.get(self)
        except TypeError:
            return view_as(self, cls)
        if by_class is None:
            by_class = {}
            views[self] = by_class
        view = by_class.get(cls)
        # A view is the same options' flags and shared dict seen through `cls`'s attributes.
        if (
            view is None
            or view.__dict__.get("_all_options") is not self.__dict__.get("_all_options")
            or view.__dict__.get("_flags") is not self.__dict__.get("_flags")
        ):
            view = view_as(self, cls)
            by_class[cls] = view
        return view

    cached.__wrapped__ = view_as
    cached.__doc__ = view_as.__doc__
    return cached
