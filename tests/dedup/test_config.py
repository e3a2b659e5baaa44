"""The dedup config sections load from YAML-like dicts and report every problem."""

import pytest

from train.typed_config import ConfigError, build
from transforms.dedup.config import DedupConfig


def test_defaults_are_valid_and_sections_load(tmp_path):
    evals = tmp_path / "mmlu.jsonl"
    evals.write_text('{"question": "q"}\n')
    cfg = build(
        DedupConfig,
        {
            "near": {"threshold": 0.85, "bands": 16, "rows": 8, "fold_digits": True},
            "boilerplate": {"min_docs": 5},
            "cross_release": {"previous_filter": None, "fpr": 0.01},
            "decontamination": {
                "eval_sets": [{"name": "mmlu", "paths": [str(evals)], "fields": ["question"]}],
                "action": "drop",
            },
        },
    )
    assert cfg.near.bands == 16 and cfg.decontamination.eval_sets[0].name == "mmlu"
    assert cfg.exact.keep == "longest"  # the exact section is untouched


def test_every_problem_is_reported_at_once(tmp_path):
    with pytest.raises(ConfigError) as err:
        build(
            DedupConfig,
            {
                "near": {"threshold": 1.2, "bands": 3},
                "boilerplate": {"min_docs": 0},
                "cross_release": {"previous_filter": str(tmp_path / "nope.bloom"), "fpr": 0.9},
                "decontamination": {
                    "eval_sets": [{"name": "bad name", "paths": [str(tmp_path / "missing.jsonl")]}],
                    "action": "delete",
                },
            },
        )
    text = str(err.value)
    for needle in (
        "threshold must be in (0, 1)",
        "bands and rows must both be 0",
        "min_docs must be >= 1",
        "does not exist",
        "fpr must be in (0, 0.5)",
        "no file matches",
        "without spaces",
        "must be one of 'flag', 'drop'",
    ):
        assert needle in text, needle
