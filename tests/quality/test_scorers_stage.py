"""Config validation, the composite quality score, the stage's decisions and its summary."""

from __future__ import annotations

import json

import pytest

from quality.config import BiasConfig, PiiConfig, QualityConfig, ScorerConfig, ToxicityConfig
from quality.scorers import SCORERS, GopherQuality, Scorer
from quality.scorers.base import Rule
from quality.stage import ERROR_REASON, QualityStage, quality_columns
from quality.summary import ScoringSummary
from train.typed_config import ConfigError, build

PROSE = (
    "The river town wakes slowly in winter. Boats wait at the quay while the ferry crew checks "
    "the engines, and the baker on the corner opens his shutters before the first bus arrives.\n"
    "Most visitors come for the old stone bridge, but those who stay a few days learn that the "
    "market is the real heart of the place.\nFarmers bring cheese and apples from the valley, "
    "and everyone seems to know the price of everything.\nIn the evening the lamps are lit along "
    "the water and the cafes fill with quiet talk.\nWrite to the harbour office at "
    "harbour@example.org for a timetable."
)
CODE = "def f(x):\n    return {x: x + 1}\n\nclass A:\n    pass\n"
TOXIC = PROSE + "\nShut up, you damn idiot, this is shit."


def test_registry_names_are_versioned():
    assert sorted(SCORERS) == [
        "c4_v1",
        "classifier_v1",
        "fineweb_v1",
        "gopher_quality_v1",
        "gopher_repetition_v1",
        "language_v1",
    ]


def test_config_builds_from_yaml_dict_and_reports_every_problem(tmp_path):
    cfg = build(
        QualityConfig,
        {
            "scorers": [
                {
                    "name": "gopher_quality_v1",
                    "action": "score_only",
                    "thresholds": {"min_doc_words": 10},
                }
            ]
        },
    )
    assert cfg.scorers[0].thresholds == {"min_doc_words": 10} and cfg.toxicity.enabled
    with pytest.raises(ConfigError) as err:
        build(
            QualityConfig,
            {
                "scorers": [
                    {"name": "gopher_v9"},
                    {"name": "c4_v1", "thresholds": {"max_short_line_frac": 3, "nope": 1}},
                    {"name": "fineweb_v1", "action": "drop"},
                ],
                "toxicity": {"threshold": 2, "lexicon": str(tmp_path / "missing.txt")},
                "bias": {"axes": ["gender", "height"], "policy": "drop"},
                "pii": {"types": ["ssn"]},
            },
        )
    text = str(err.value)
    for needle in [
        "gopher_v9",
        "nope",
        "action",
        "threshold must be in [0, 1]",
        "missing.txt",
        "height.txt",
        "ssn",
    ]:
        assert needle in text, needle


def test_direct_config_problems_and_defaults_suit_web_text(tmp_path):
    cfg = QualityConfig()
    assert cfg.problems() == []
    assert [s.action for s in cfg.scorers] == ["filter"] * 4
    bad = QualityConfig(
        scorers=[ScorerConfig("c4_v1"), ScorerConfig("c4_v1")],
        toxicity=ToxicityConfig(enabled=False),
        bias=BiasConfig(policy="drop", lexicon_dir=str(tmp_path)),
        pii=PiiConfig(mode="mask"),
    )
    problems = " | ".join(bad.problems())
    assert "more than once" in problems and "needs toxicity.enabled" in problems
    assert "no lexicon file gender.txt" in problems and "mode must be" in problems


def test_soft_pass_and_composite_quality():
    rule = Rule("x", "x", 10, 20)
    assert [rule.soft(v) for v in (15, 5, 0, 30, 40, 50)] == [1.0, 0.5, 0.0, 0.5, 0.0, 0.0]
    stage = QualityStage(QualityConfig(toxicity=ToxicityConfig(enabled=False)))
    good, code = stage.score_batch([PROSE, CODE])
    assert good.meta["quality"] == pytest.approx(1.0)
    assert 0.0 <= code.meta["quality"] < 0.8


@pytest.fixture(scope="module")
def stage() -> QualityStage:
    return QualityStage(
        QualityConfig(toxicity=ToxicityConfig(action="filter", threshold=0.8))
    ).load()


def test_stage_keeps_prose_rejects_code_with_reason_and_redacts(stage):
    prose, code, toxic = stage.score_batch([PROSE, CODE, TOXIC])
    assert prose.reason is None and "<EMAIL>" in prose.text and prose.meta["pii"]["email"] == 1
    assert set(quality_columns(stage.cfg)) <= set(prose.meta)
    assert prose.meta["identity_groups"] == [] and prose.meta["bias_weight"] == 1.0
    assert code.reason == "gopher_quality:word_count" and "< min 50" in code.detail
    assert code.verdicts["c4_v1"] == "c4:too_few_sentences"
    assert toxic.reason == "toxicity:classifier" and toxic.meta["toxicity"] >= 0.8


def test_score_only_records_verdicts_without_rejecting():
    names = [n for n in SCORERS if n != "classifier_v1"]  # that one needs a trained model file
    cfg = QualityConfig(scorers=[ScorerConfig(n, action="score_only") for n in names])
    result = QualityStage(cfg).score_text(CODE)
    assert result.reason is None
    assert result.verdicts["gopher_quality_v1"] == "gopher_quality:word_count"


def test_bias_policies():
    text = TOXIC + "\nThe women of the town agree."
    base = {"toxicity": ToxicityConfig(threshold=0.8)}
    drop = QualityStage(QualityConfig(**base, bias=BiasConfig(policy="drop"))).score_text(text)
    assert drop.reason == "bias:toxic_identity" and "gender:female" in drop.detail
    down = QualityStage(
        QualityConfig(**base, bias=BiasConfig(policy="downweight", downweight=0.25))
    ).score_text(text)
    assert down.reason is None and down.meta["bias_weight"] == 0.25
    report = QualityStage(QualityConfig(**base)).score_text(text)
    assert report.reason is None and report.meta["bias_weight"] == 1.0


def test_toxicity_lexicon_filter(tmp_path):
    lexicon = tmp_path / "terms.txt"
    lexicon.write_text("# project terms\nquay\nstone bridge\n")
    cfg = QualityConfig(
        toxicity=ToxicityConfig(
            action="filter", threshold=0.99, lexicon=str(lexicon), lexicon_min_hits=2
        )
    )
    result = QualityStage(cfg).score_text(PROSE)
    assert result.meta["toxicity_lexicon_hits"] == 2.0
    assert result.reason == "toxicity:lexicon"
    assert "toxicity_lexicon_hits" in quality_columns(cfg)


class _Exploding(Scorer):
    name, prefix, features, main_features = "exploding_v1", "exploding", ("x",), ("x",)
    rules = []

    def compute(self, view):
        if "boom" in view.text:
            raise RuntimeError("boom")
        return {"x": 1.0}


def test_a_failing_document_is_rejected_alone(stage):
    local = QualityStage(stage.cfg).load()
    local.scorers.append((_Exploding(), "filter", 1.0))
    ok, bad = local.score_batch([PROSE, "boom " + PROSE])
    assert ok.reason is None and ok.meta["exploding_v1.x"] == 1.0
    assert bad.reason == ERROR_REASON and "RuntimeError: boom" in bad.detail
    assert "<EMAIL>" in bad.text  # rejected text is redacted too


def test_results_do_not_depend_on_batching(stage):
    texts = [PROSE, CODE, TOXIC, "", "x" * 50, PROSE.upper()]
    together = stage.score_batch(texts)
    alone = [stage.score_text(t) for t in texts]
    assert [(r.text, r.meta, r.reason, r.detail) for r in together] == [
        (r.text, r.meta, r.reason, r.detail) for r in alone
    ]


def test_summary_counts_and_merges(stage):
    texts = [PROSE, CODE, TOXIC, PROSE]
    sources = ["web", "code", "web", "docs"]
    results = stage.score_batch(texts)
    whole = ScoringSummary.for_config(stage.cfg)
    parts = [ScoringSummary.for_config(stage.cfg) for _ in range(2)]
    for i, (source, result) in enumerate(zip(sources, results, strict=True)):
        whole.add(source, result)
        parts[i % 2].add(source, result)
    merged = ScoringSummary.for_config(stage.cfg)
    merged.merge_state(json.loads(json.dumps(parts[1].to_state())))
    merged.merge_state(parts[0].to_state())
    out = whole.to_json()
    assert merged.to_json() == out
    assert out["docs"] == 4 and out["kept"] == 2
    assert out["rejected"] == {"gopher_quality:word_count": 1, "toxicity:classifier": 1}
    assert out["scorers"]["gopher_quality_v1"] == {
        "pass": 3,
        "fail": 1,
        "fail_by_rule": {"gopher_quality:word_count": 1},
    }
    assert sum(out["toxicity"]["histogram"]) == 4 and out["toxicity"]["above_threshold"] == 1
    assert out["pii"]["counts"]["email"] == 3
    assert out["by_source"]["web"]["docs"] == 2 and out["bias"]["corpus"]["docs"] == 4
    json.dumps(out)


def test_quality_columns_follow_the_config():
    cfg = QualityConfig(
        scorers=[ScorerConfig("gopher_quality_v1"), ScorerConfig("c4_v1", enabled=False)],
        bias=BiasConfig(enabled=False),
    )
    cols = quality_columns(cfg)
    assert cols == [
        "quality",
        *(GopherQuality.column(f) for f in GopherQuality.main_features),
        "toxicity",
        "toxicity_mean",
    ]
    assert quality_columns(QualityConfig(enabled=False)) == []
