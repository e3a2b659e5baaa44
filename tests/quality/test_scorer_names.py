"""No code outside a scorer's own module names its columns: the stage, the schemas, the summary,
the report and the sampling weights read what the scorer declares (`quality.scorers.base`).

Checked for the built-in scorers' distinctive column and meta names; generic words that are
also config keys or prose (`language`, `toxicity`, `classifier`) are covered by the tests that
add a new scorer without touching any other file (tests/quality/test_scorer_contract.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CODE = ("quality", "transforms", "pipelines", "train")

# column or meta key -> the files allowed to name it, and why
OWNERS = {
    "language_score": {"quality/scorers/language.py": "its scorer"},
    "toxicity_lexicon_hits": {"quality/scorers/toxicity.py": "its scorer"},
    "identity_groups": {"quality/scorers/bias.py": "its scorer"},
    "bias_weight": {
        "quality/scorers/bias.py": "its scorer",
        "quality/config.py": "BiasConfig documents what its `downweight` sets",
        "transforms/sampling/config.py": "the default `sampling.weight` expression (a config value)",
        "transforms/sampling/weights.py": "the docstring's example expression",
    },
    "toxicity_mean": {
        "quality/scorers/toxicity.py": "its scorer",
        "quality/toxicity.py": "the classifier's docstring says what the mean is",
        # the validation gate's corpus metric of the same name (mean of `toxicity_column`)
        "quality/validation.py": "validation metric, not the column",
        "quality/gx_suite.py": "validation metric, not the column",
        "quality/report_config.py": "ValidationConfig.toxicity_mean_max, the metric's ceiling",
    },
}


def _sources() -> list[Path]:
    out = []
    for package in CODE:
        out += [p for p in (ROOT / package).rglob("*") if p.suffix in (".py", ".j2")]
    return out


@pytest.mark.parametrize("name", sorted(OWNERS))
def test_only_its_scorer_names_a_column(name):
    named = {
        str(p.relative_to(ROOT))
        for p in _sources()
        if name in p.read_text(encoding="utf-8", errors="replace")
    }
    strangers = sorted(named - set(OWNERS[name]))
    assert not strangers, f"{name!r} is named outside its scorer: {strangers}"
