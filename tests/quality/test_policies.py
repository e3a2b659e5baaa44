"""Per-source policies: the same code text is kept under `code` rules and rejected under web rules."""

import pytest

from pipelines.cli import main as cli_main
from pipelines.config import load_config
from quality.config import QualityConfig, ScorerConfig, SourceOverride
from quality.policies import POLICIES
from quality.stage import QualityStage
from train.typed_config import ConfigError

# Written for this test: a small C program, code as the `code` policy expects it.
CODE = """#include <stdio.h>
#include <string.h>

static int count_words(const char *s) {
    int n = 0, in_word = 0;
    for (; *s; s++) {
        if (*s == ' ' || *s == '\\n' || *s == '\\t') {
            in_word = 0;
        } else if (!in_word) {
            in_word = 1;
            n++;
        }
    }
    return n;
}

int main(int argc, char **argv) {
    char line[4096];
    long total = 0;
    while (fgets(line, sizeof line, stdin) != NULL) {
        total += count_words(line);
    }
    printf("%ld\\n", total);
    return argc > 1 && strcmp(argv[1], "-q") == 0 ? 0 : 0;
}
"""
PROSE = (
    "The harbour town wakes early. Fishing boats come back before sunrise, and the market opens "
    "soon after with bread, cheese and apples from the valley. Most visitors walk along the pier "
    "to watch the ferries, and in the evening the cafes fill with quiet talk about the weather.\n"
    "On Sundays a small band plays near the old lighthouse. The mayor says it has done so for "
    "as long as anyone can remember. Nobody is sure who pays the musicians, but nobody asks."
)


def _scorers() -> list[ScorerConfig]:
    return [ScorerConfig(n) for n in ("gopher_quality_v1", "gopher_repetition_v1", "c4_v1")]


def test_code_is_kept_under_code_policy_and_rejected_under_web_rules():
    cfg = QualityConfig(scorers=_scorers(), source_policies={"repo": "code"})
    results = QualityStage(cfg).score_batch([CODE, CODE, PROSE], ["repo", "web", "web"])
    assert results[0].reason is None
    assert results[1].reason is not None  # web rules: curly brackets, stop words, ...
    assert results[2].reason is None
    # Scores are the same features either way; only the decision follows the policy.
    assert results[0].meta["c4_v1.kept_sentences"] == results[1].meta["c4_v1.kept_sentences"]
    assert results[0].verdicts["c4_v1"].startswith("c4:")  # score_only still reports


def test_default_policy_and_by_source_override_order():
    scorers = _scorers()
    scorers[2].by_source = {"repo": SourceOverride(action="filter")}
    cfg = QualityConfig(scorers=scorers, default_policy="code")
    stage = QualityStage(cfg)
    # Any source: code policy by default; for `repo` the C4 override makes it reject again.
    assert stage.score_text(CODE, "other").reason is None
    assert stage.score_text(CODE, "repo").reason.startswith("c4:")
    action, thresholds = scorers[0].settings("code", "repo")
    assert action == "filter" and thresholds["min_doc_words"] == 5


def test_builtin_policies_build_for_every_scorer_they_name():
    for policy, entries in POLICIES.items():
        cfg = QualityConfig(
            scorers=[ScorerConfig(n) for n in entries if n != "classifier_v1"],
            default_policy=policy,
        )
        assert cfg.problems() == [], policy


def test_config_errors_list_every_problem_at_once(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "a", "text": "hello"}\n')
    yaml_path = tmp_path / "c.yaml"
    yaml_path.write_text(
        f"""
input: {{sources: [{{name: web, paths: ["{data}"]}}, {{name: repo, paths: ["{data}"]}}]}}
quality:
  default_policy: wbe
  source_policies: {{repo: codee, mystery: docs}}
  scorers:
    - {{name: c4_v1, by_source: {{web: {{action: drop}}}}}}
    - {{name: gopher_quality_v1, by_source: {{ghost: {{action: score_only}},
                                              web: {{thresholds: {{min_doc_words: -1}}}}}}}}
"""
    )
    with pytest.raises(ConfigError) as err:
        load_config(str(yaml_path))
    text = str(err.value)
    for needle in (
        "unknown policy 'wbe'",
        "source_policies.repo: unknown policy 'codee'",
        "['ghost', 'mystery']",
        "min_doc_words must be >= 0",
        "c4_v1: by_source.web.action must be one of",
    ):
        assert needle in text, needle
    assert cli_main(["run", "--config", str(yaml_path)]) == 2


def test_input_flag_drops_settings_of_replaced_sources(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "a", "text": "hello"}\n')
    yaml_path = tmp_path / "c.yaml"
    yaml_path.write_text(
        "input: {demo: {enabled: true}}\n"
        "quality: {source_policies: {code: code, input: docs},"
        " scorers: [{name: c4_v1, by_source: {man: {action: score_only}}}]}\n"
    )
    cfg = load_config(str(yaml_path), input_globs=[str(data)])
    assert cfg.quality.source_policies == {"input": "docs"}
    assert cfg.quality.scorers[0].by_source == {}


def test_demo_config_names_a_policy_for_every_demo_source():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    cfg = load_config(str(root / "configs" / "demo.yaml"))
    assert cfg.quality.source_policies == {"code": "code", "docs": "docs", "man": "docs"}
