"""A budget or a mixture the run did not meet fails the gate, with the numbers (issue 18)."""

from __future__ import annotations

import pytest

from quality.report.summary import end_of_run_notes, summarize_manifest
from quality.report_config import ValidationConfig
from quality.sampling_gate import SamplingOutcome, sampling_outcome
from quality.validation import validate_output
from tests.stats.fake_output import build_fake_output

FAST = ValidationConfig(data_docs=False)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    out = tmp_path_factory.mktemp("good")
    return out, build_fake_output(out, n_docs=40, include_text=False)


def _outcome(written: int, **kw) -> SamplingOutcome:
    # classifier_demo.yaml's miss: 60/20/20 asked, 76.5/12.5/11.1 got
    return SamplingOutcome(
        token_budget=kw.pop("budget", 1000),
        written_tokens=written,
        targets={"code": 0.6, "docs": 0.2, "man": 0.2},
        tokens_by_source=kw.pop("by_source", {"code": 765, "docs": 125, "man": 111}),
        **kw,
    )


def test_missed_mixture_and_budget_fail_the_gate_with_the_numbers(good):
    out, manifest = good
    written = sum(s["tokens"] for s in manifest["shards"] + manifest["eval_shards"])
    sampling = _outcome(written, budget=30 * written)
    verdict = validate_output(str(out), manifest, FAST, sampling=sampling)
    assert not verdict["success"]
    assert {"mixture_within_tolerance", "budget_filled"} <= set(verdict["failed"])
    checks = {e["name"]: e for e in verdict["expectations"]}
    mix = checks["mixture_within_tolerance"]["detail"]
    assert "code target 60.0% got 76.4%" in mix and "docs target 20.0% got 12.5%" in mix
    assert "man target 20.0% got 11.1%" in mix and "3.0 points" in mix
    budget = checks["budget_filled"]["detail"]
    assert f"budget {30 * written:,} tokens, written {written:,} (3.3%" in budget
    manifest = {**manifest, "validation": verdict}
    printed = summarize_manifest(manifest, {}, str(out))
    assert "validation: FAILED" in printed and "man target 20.0% got 11.1%" in printed


def test_met_mixture_and_budget_pass(good):
    out, manifest = good
    written = sum(s["tokens"] for s in manifest["shards"] + manifest["eval_shards"])
    met = _outcome(written, budget=written, by_source={"code": 610, "docs": 195, "man": 195})
    verdict = validate_output(str(out), manifest, FAST, sampling=met)
    assert verdict["success"], verdict["failed"]
    assert {"mixture_within_tolerance", "budget_filled"} <= {
        e["name"] for e in verdict["expectations"]
    }


def test_tolerance_and_fill_are_settings():
    assert not _outcome(850).mixture_ok() and not _outcome(850).budget_ok()  # 3 points, 90%
    assert _outcome(850, min_budget_fill=0.8).budget_ok()
    assert _outcome(850, mixture_tolerance=0.2).mixture_ok()


def test_outcome_comes_from_the_manifest_config_and_stats():
    manifest = {
        "config": {
            "sampling": {
                "mode": "budget",
                "token_budget": 1_300_000,
                "mixture": {},
                "min_budget_fill": 0.9,
            }
        },
        "shards": [{"tokens": 40_000}],
        "eval_shards": [{"tokens": 5_000}],
    }
    got = sampling_outcome(manifest, {"sampling": {"sources": {"input": {"selected_tokens": 1}}}})
    assert got.written_tokens == 45_000 and got.misses() == [
        "budget 1,300,000 tokens, written 45,000 (3.5%, below sampling.min_budget_fill 90%)"
    ]
    all_mode = {"config": {"sampling": {"mode": "all"}}}
    assert sampling_outcome(all_mode, {}) is None


def _run_manifest(written: int, by_source: dict) -> dict:
    return {
        "config": {
            "sampling": {
                "mode": "budget",
                "token_budget": 1000,
                "mixture": {"code": 0.6, "docs": 0.2, "man": 0.2},
            }
        },
        "shards": [{"tokens": written}],
        "accounting": {"by_source": by_source},
    }


def _stats(tokens: dict) -> dict:
    return {"sampling": {"sources": {s: {"selected_tokens": n} for s, n in tokens.items()}}}


def test_end_of_run_notes_say_what_was_missed_with_numbers():
    by_source = {
        "docs": {"read": 300, "rejected": {"gopher_quality:stop_words": 210, "c4:lines": 30}},
        "code": {"read": 100, "rejected": {"gopher_quality:stop_words": 50}},  # half: no note
        "man": {"read": 0, "rejected": {}},
    }
    manifest = _run_manifest(500, by_source)
    notes = end_of_run_notes(
        manifest,
        _stats({"code": 382, "docs": 63, "man": 55}),
        ["note: --input replaces the sources: per-source quality settings of ['code'] ..."],
    ).splitlines()
    assert notes == [
        "note: mixture off target by more than 3.0 points (sampling.mixture_tolerance): "
        "code target 60.0% got 76.4%, docs target 20.0% got 12.6%, man target 20.0% got 11.0%",
        "note: budget 1,000 tokens, written 500 (50.0%, below sampling.min_budget_fill 90%)",
        "note: source 'docs' lost 70.0% of its documents (210 of 300) to rule "
        "'gopher_quality:stop_words'",
        "note: --input replaces the sources: per-source quality settings of ['code'] ...",
    ]


def test_a_run_that_met_its_targets_has_no_notes():
    manifest = _run_manifest(990, {"code": {"read": 10, "rejected": {"x": 5}}})
    assert end_of_run_notes(manifest, _stats({"code": 600, "docs": 200, "man": 200})) == ""
