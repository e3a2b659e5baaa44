"""One config engine (train/typed_config.py) for both sides of the import wall: a curate config and a
train config read numbers, `--set` overrides and problems the same way (issue 19)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import yaml

from pipelines.config import load_config
from train.config import load_train_config
from train.typed_config import ConfigError, build

TRAIN_BASE = {"model": {"from_config": {"hidden_size": 32, "heads": 2, "kv_heads": 1}}}


def _curate(tmp_path, data: dict | None = None, overrides: list[str] = ()):
    path = tmp_path / "curate.yaml"
    path.write_text(yaml.safe_dump({"input": {"demo": {"enabled": True}}, **(data or {})}))
    return load_config(str(path), list(overrides))


def _train(tmp_path, data: dict | None = None, overrides: list[str] = ()):
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump({**TRAIN_BASE, **(data or {})}))
    return load_train_config(path, list(overrides))


def _problems(load, *args, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load(*args, **kwargs)
    return err.value.problems


def test_yaml_reads_1e_minus_4_as_a_string_and_both_sides_take_it_for_a_float(tmp_path):
    assert yaml.safe_load("x: 1e-4") == {"x": "1e-4"}  # YAML 1.1: no dot, no float
    (tmp_path / "c.yaml").write_text(
        "input: {demo: {enabled: true}}\nsampling: {eval_fraction: 1e-4}\n"
    )
    assert load_config(str(tmp_path / "c.yaml")).sampling.eval_fraction == 1e-4
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(TRAIN_BASE) + "train: {lr: 1e-4, eps: 1E-8}\n")
    loop = load_train_config(tmp_path / "t.yaml").train
    assert (loop.lr, loop.eps) == (1e-4, 1e-8)
    assert isinstance(loop.lr, float)


def test_set_reads_the_same_on_both_sides(tmp_path):
    curate = _curate(tmp_path, overrides=["sampling.eval_fraction=2e-2", "run.seed=7"])
    train = _train(tmp_path, overrides=["train.lr=2e-2", "train.seed=7"])
    assert (curate.sampling.eval_fraction, curate.run.seed) == (0.02, 7)
    assert (train.train.lr, train.train.seed) == (0.02, 7)
    bad = ["no_equals_sign", "a..b=1", "c=[1,"]
    expected = [
        "override 'no_equals_sign': expected KEY.PATH=VALUE",
        "override 'a..b=1': the key 'a..b' has an empty part",
        "override 'c=[1,': the value is not valid YAML",
    ]
    for problems in (
        _problems(_curate, tmp_path, overrides=bad),
        _problems(_train, tmp_path, overrides=bad),
    ):
        assert len(problems) == len(expected), problems  # every malformed override, at once
        assert all(p.startswith(e) for p, e in zip(problems, expected, strict=True)), problems


def test_an_unknown_key_is_listed_with_its_dotted_path_on_both_sides(tmp_path):
    curate = _problems(_curate, tmp_path, {"sampling": {"dsir": {"bogus": 1}}})
    train = _problems(_train, tmp_path, {"train": {"bogus": 1}})
    assert curate == [_starts("sampling.dsir.bogus: unknown key (known: ")]
    assert train == [_starts("train.bogus: unknown key (known: ")]
    # inside an optional section (`from_config: FromConfigModel | None`) too, not a bare
    # "expected FromConfigModel or NoneType"
    nested = _problems(load_train_config, {"model": {"from_config": {"layerz": 2}}})
    assert nested == [_starts("model.from_config.layerz: unknown key (known: ")]


def test_every_problem_is_listed_at_once_on_both_sides(tmp_path):
    # a type problem, an unknown key and a value check in one section: the value check still runs
    curate = _problems(_curate, tmp_path, {"run": {"seed": "x", "bogus": 1, "workers": -1}})
    train = _problems(_train, tmp_path, {"train": {"seed": "x", "bogus": 1, "lr": -1}})
    assert sorted(curate) == [
        _starts("run.bogus: unknown key"),
        _starts("run.seed: expected an integer, got 'x'"),
        _starts("run: workers must be >= 0"),
    ]
    assert sorted(train) == [
        _starts("train.bogus: unknown key"),
        _starts("train.seed: expected an integer, got 'x'"),
        _starts("train: lr must be > 0"),
    ]
    with pytest.raises(ConfigError, match=r"^invalid configuration \(3 problem\(s\)\):\n  - "):
        _train(tmp_path, {"train": {"seed": "x", "bogus": 1, "lr": -1}})


@dataclass
class _Section:
    rate: float = 0.5
    count: int = 1
    rates: list[float] | None = None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1e-4", 1e-4), ("-2.5E3", -2500.0), (".5", 0.5), ("3", 3.0), (3, 3.0), ("+1e+2", 100.0)],
)
def test_a_float_field_takes_a_number_or_a_string_spelling_one(value, expected):
    out = build(_Section, {"rate": value, "rates": [value]})
    assert (out.rate, out.rates) == (expected, [expected])
    assert isinstance(out.rate, float)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1_000", " 1", "1e", "e5", "0x10", True])
def test_a_float_field_refuses_words_that_are_not_config_numbers(value):
    assert _problems(build, _Section, {"rate": value}) == [
        f"rate: expected a number, got {value!r}"
    ]


def test_a_float_string_beyond_the_float_range_is_refused():
    assert _problems(build, _Section, {"rate": "1e999"}) == [
        "rate: the number 1e999 is too large for a float"
    ]


def test_an_int_field_takes_no_number_string():
    assert _problems(build, _Section, {"count": "1e3"}) == ["count: expected an integer, got '1e3'"]


class _starts(str):
    """Equal to any string that starts with it (so a list of problems compares in one assert)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other.startswith(str(self))

    __hash__ = str.__hash__
