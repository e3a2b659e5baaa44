"""Per-source scoring policies: which rules reject what, per kind of text.

The scorers' own defaults are web-text rules (Gopher, C4, FineWeb were all written for crawled
HTML text): on source code and manuals they reject most documents for being what they are
(curly brackets, short lines, few stop words, repeated lines). A *policy* is a named set of
per-scorer settings (`action` and threshold overrides) applied on top of the scorer list of the
config; `quality.source_policies` names one per source, `quality.default_policy` the rest, and
`quality.scorers[].by_source.<source>` overrides a single scorer for a single source last.

Built-in policies:

- `web`: the scorers exactly as configured (the papers' defaults unless the config says otherwise).
- `code`: prose rules only score (C4, FineWeb, Gopher's word-shape and stop-word rules, language
  ID); what still rejects is what marks a bad *file*: almost no words (Gopher's word count
  with a floor of 5, e.g. an empty `__init__.py`), over 100,000 words, and half or more of the
  characters in repeated lines (generated tables and data dumps; Gopher's line-repetition rule
  at 0.5 instead of 0.2, since code repeats short lines such as `}` or `return` by nature).
- `docs`: manuals, READMEs, licences: technical prose with option lists, short lines and
  examples. Gopher keeps its length, stop-word and repetition rules but drops the symbol and
  word-shape ones (options such as `--foo` and paths are not words); C4's page rules (curly
  brackets in examples, sentence counts) and FineWeb's line rules (short lines are the format
  of a manual) only score; language ID needs a confidence of 0.3 instead of 0.65 (code
  examples lower it).
"""

from __future__ import annotations

from typing import Any

SCORE_ONLY = {"action": "score_only"}

POLICIES: dict[str, dict[str, dict[str, Any]]] = {
    "web": {},
    "code": {
        "gopher_quality_v1": {
            "action": "filter",
            "thresholds": {
                "min_doc_words": 5,
                "max_doc_words": 100_000,
                "min_mean_word_length": None,
                "max_mean_word_length": None,
                "max_symbol_word_ratio": None,
                "max_bullet_lines_frac": None,
                "max_ellipsis_lines_frac": None,
                "min_alpha_words_frac": None,
                "min_stop_words": None,
            },
        },
        "gopher_repetition_v1": {
            "action": "filter",
            "thresholds": {
                "dup_line_frac": None,
                "dup_para_frac": None,
                "dup_line_char_frac": 0.5,
                "dup_para_char_frac": None,
                "top_2gram_char_frac": None,
                "top_3gram_char_frac": None,
                "top_4gram_char_frac": None,
                "dup_5gram_char_frac": None,
                "dup_6gram_char_frac": None,
                "dup_7gram_char_frac": None,
                "dup_8gram_char_frac": None,
                "dup_9gram_char_frac": None,
                "dup_10gram_char_frac": None,
            },
        },
        "c4_v1": SCORE_ONLY,
        "fineweb_v1": SCORE_ONLY,
        "language_v1": SCORE_ONLY,
    },
    "docs": {
        "gopher_quality_v1": {
            "action": "filter",
            "thresholds": {
                "min_doc_words": 20,
                "max_mean_word_length": None,
                "max_symbol_word_ratio": None,
                "min_alpha_words_frac": None,
            },
        },
        "c4_v1": SCORE_ONLY,
        "fineweb_v1": SCORE_ONLY,
        # Code examples and option tables lower the identifier's confidence in a document's
        # language: on the demo corpus 15% of English docs scored under 0.5 (all English).
        "language_v1": {"thresholds": {"min_confidence": 0.3}},
    },
}


def policy_settings(policy: str, scorer: str) -> tuple[str | None, dict[str, Any]]:
    """(action or None, threshold overrides) that `policy` sets for `scorer`."""
    entry = POLICIES[policy].get(scorer, {})
    return entry.get("action"), dict(entry.get("thresholds", {}))
