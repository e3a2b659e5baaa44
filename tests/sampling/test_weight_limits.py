"""Numbers beyond the float range in the sampling config are config errors (exit 2), never crashes."""

import pytest
import yaml

from pipelines.cli import main
from pipelines.config import load_config
from train.typed_config import ConfigError
from transforms.sampling.weights import WeightExpression, WeightExpressionError

HUGE = "1" + "0" * 400  # an int literal that float() cannot hold


@pytest.mark.parametrize(
    "text",
    [f"quality * {HUGE}", f"quality ** {HUGE}", f"max(quality, -{HUGE})", "quality * 1e999"],
)
def test_a_huge_number_in_the_weight_is_an_expression_error(text):
    with pytest.raises(WeightExpressionError, match="too large"):
        WeightExpression(text)


def test_large_but_finite_numbers_still_work():
    w = WeightExpression("quality * 1e300")
    assert w.log_weight({"quality": 1.0}) == pytest.approx(300 * 2.302585092994046)


def _write(tmp_path, sampling: dict) -> str:
    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "one document"}\n')
    path = tmp_path / "c.yaml"
    cfg = {"input": {"sources": [{"name": "s", "paths": [str(tmp_path / "in.jsonl")]}]}}
    path.write_text(yaml.safe_dump({**cfg, "sampling": sampling}))
    return str(path)


def test_config_lists_a_huge_weight_number_with_the_other_problems(tmp_path):
    path = _write(tmp_path, {"weight": f"quality * {HUGE}", "eval_fraction": 2})
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert "sampling: weight" in text and "too large" in text
    assert "eval_fraction" in text  # every problem in one message


def test_a_huge_integer_for_a_float_field_is_a_config_problem(tmp_path):
    path = _write(tmp_path, {"score_defaults": {"x": int(HUGE)}})
    with pytest.raises(ConfigError, match=r"sampling\.score_defaults\.x: .* too large"):
        load_config(path)


def test_cli_exits_2_on_a_huge_weight_number(tmp_path, capsys):
    path = _write(tmp_path, {"weight": f"quality * {HUGE}"})
    assert main(["run", "--config", path, "--output", str(tmp_path / "out")]) == 2
    assert "too large" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # failed before any work
