"""CombineFns over (key, value) pairs that output one dict: several small summaries in one combine.

On Beam's embedded runner every global combine costs fused stages of its own (the combine, then
the default value injected in a stage of its own), ~14 ms of fixed cost each before any work
(benchmarks/RESULTS.md, "The demo's fixed cost"). Where one step needs several small summaries,
tagging their inputs, flattening them and combining once with these costs that fixed price once.
The output is what the separate combines would give: each key's value is its CombineFn's output
on that key's inputs alone.

- `CombineEachKey(fn)`: {key: fn's output} for the keys that have inputs (a `CombinePerKey`
  followed by `ToDict`, in one combine);
- `CombineByTag({tag: fn})`: {tag: fn's output} for every tag, the output on no input (what
  `CombineGlobally` gives an empty input) for a tag without one.

Both hold one accumulator per key: only for a handful of keys (tags, accumulator names). A tag
whose values are many (one per document) is fed with `AccumulateInBundle`, which folds them
into one accumulator per bundle where they are made (what Beam's combiner lifting does for a
`CombineGlobally`), and combined with `MergeAccumulatorsOf(fn)`: only accumulators travel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue


class _PerKey(beam.CombineFn):
    """(key, value) -> {key: accumulator}; `_fn(key)` says which CombineFn a key uses."""

    def _fn(self, key) -> beam.CombineFn:
        raise NotImplementedError

    def _fns(self) -> Iterable[beam.CombineFn]:
        raise NotImplementedError

    def setup(self, *args, **kwargs) -> None:
        for fn in self._fns():
            fn.setup(*args, **kwargs)

    def teardown(self, *args, **kwargs) -> None:
        for fn in self._fns():
            fn.teardown(*args, **kwargs)

    def create_accumulator(self) -> dict:
        return {}

    def add_input(self, acc: dict, item) -> dict:
        key, value = item
        fn = self._fn(key)
        acc[key] = fn.add_input(acc[key] if key in acc else fn.create_accumulator(), value)
        return acc

    def merge_accumulators(self, accs: Iterable[dict]) -> dict:
        by_key: dict = {}
        for acc in accs:
            for key, a in acc.items():
                by_key.setdefault(key, []).append(a)
        return {key: self._fn(key).merge_accumulators(parts) for key, parts in by_key.items()}

    def compact(self, acc: dict) -> dict:
        return {key: self._fn(key).compact(a) for key, a in acc.items()}


class CombineEachKey(_PerKey):
    """(key, value) -> {key: `fn`'s output on that key's values}, for the keys seen."""

    def __init__(self, fn: beam.CombineFn) -> None:
        self._each = fn

    def _fn(self, key) -> beam.CombineFn:
        return self._each

    def _fns(self) -> Iterable[beam.CombineFn]:
        return (self._each,)

    def extract_output(self, acc: dict) -> dict:
        return {key: self._each.extract_output(a) for key, a in acc.items()}


class CombineByTag(_PerKey):
    """(tag, value) -> {tag: `fns[tag]`'s output on that tag's values}, for every tag of `fns`."""

    def __init__(self, fns: Mapping[str, beam.CombineFn]) -> None:
        self._by_tag = dict(fns)

    def _fn(self, key) -> beam.CombineFn:
        return self._by_tag[key]

    def _fns(self) -> Iterable[beam.CombineFn]:
        return self._by_tag.values()

    def extract_output(self, acc: dict) -> dict:
        return {
            tag: fn.extract_output(acc[tag] if tag in acc else fn.create_accumulator())
            for tag, fn in self._by_tag.items()
        }


class MergeAccumulatorsOf(beam.CombineFn):
    """`fn`'s accumulators (from `AccumulateInBundle`) -> `fn`'s output on all their values."""

    def __init__(self, fn: beam.CombineFn) -> None:
        self._fn = fn

    def setup(self, *args, **kwargs) -> None:
        self._fn.setup(*args, **kwargs)

    def teardown(self, *args, **kwargs) -> None:
        self._fn.teardown(*args, **kwargs)

    def create_accumulator(self):
        return self._fn.create_accumulator()

    def add_input(self, acc, partial):
        return self._fn.merge_accumulators([acc, partial])

    def merge_accumulators(self, accs):
        return self._fn.merge_accumulators(accs)

    def compact(self, acc):
        return self._fn.compact(acc)

    def extract_output(self, acc):
        return self._fn.extract_output(acc)


class AccumulateInBundle(beam.DoFn):
    """Values -> one (`tag`, `fn` accumulator of the bundle's values) per bundle."""

    def __init__(self, fn: beam.CombineFn, tag: str) -> None:
        self._fn, self._tag = fn, tag

    def setup(self) -> None:
        self._fn.setup()

    def start_bundle(self) -> None:
        self._acc = self._fn.create_accumulator()

    def process(self, value):
        self._acc = self._fn.add_input(self._acc, value)

    def finish_bundle(self):
        acc, self._acc = self._fn.compact(self._acc), None
        yield WindowedValue((self._tag, acc), MIN_TIMESTAMP, [GlobalWindow()])

    def teardown(self) -> None:
        self._fn.teardown()
