"""C4 rules (Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a Unified
Text-to-Text Transformer", §2.2 "The Colossal Clean Crawled Corpus").

C4 *removes lines* (no terminal punctuation, fewer than 3 words, mentioning "javascript", cookie
and terms-of-use notices) and then drops pages with fewer than 5 sentences, or containing
"lorem ipsum" or a curly bracket. As in TensorFlow Datasets' `c4_utils`, the implementation that
produced C4 (and datatrove's port), "lorem ipsum" and "{" count only on lines that end in
terminal punctuation and have at least 3 words: a code line without a final period does not
condemn its page, a sentence with a brace does. This scorer never rewrites text: it reports each line rule as
the fraction of non-blank lines it would remove, counts the sentences of the lines C4 would
keep (`kept_sentences`), and filters on configurable limits. By default it applies C4's page
rules (sentences, lorem ipsum, curly bracket) and leaves the line fractions score-only (`None`),
since dropping a whole page for lines that C4 would merely strip is stricter than C4.

Sentences are counted as runs of terminal punctuation followed by a space or the line end (at
least one per kept line), not with a trained sentence splitter. Policy substrings and the
1000-character word limit follow TensorFlow Datasets' `c4_utils` (also used by datatrove).
"""

from __future__ import annotations

import re

from quality.scorers.base import (
    Rule,
    Scorer,
    check_fraction,
    check_non_negative,
    raise_if,
    safe_div,
)
from quality.text import TextView

END_PUNCTUATION = (
    ".",
    "?",
    "!",
    '"',
    "'",
)  # §2.2: "period, exclamation mark, question mark, or end quotation mark"
POLICY_SUBSTRINGS = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
_CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s|$)")


class C4(Scorer):
    """C4's line and page rules as fractions and flags; page rules filter by default."""

    name = "c4_v1"
    prefix = "c4"
    features = (
        "no_terminal_punct_line_frac",
        "short_line_frac",
        "javascript_line_frac",
        "policy_line_frac",
        "kept_line_frac",
        "kept_sentences",
        "lorem_ipsum",
        "curly_bracket",
    )
    main_features = ("no_terminal_punct_line_frac", "kept_line_frac", "kept_sentences")

    def __init__(
        self,
        *,
        min_num_sentences: int | None = 5,  # §2.2: "discarded any page with fewer than 5 sentences"
        min_words_per_line: int = 3,  # §2.2: "only retained lines that contained at least 3 words"
        max_word_length: int = 1000,  # TFDS c4_utils: lines with a word over 1000 chars go
        filter_lorem_ipsum: bool = True,  # §2.2: "removed any page where the phrase 'lorem ipsum' appeared"
        filter_curly_bracket: bool = True,  # §2.2: "removed any pages that contained a curly bracket"
        max_no_terminal_punct_line_frac: float | None = None,  # C4 strips these lines: off
        max_short_line_frac: float | None = None,  # C4 strips these lines: off
        max_javascript_line_frac: float | None = None,  # C4 strips these lines: off
        max_policy_line_frac: float | None = None,  # C4 strips these lines: off
        min_kept_line_frac: float | None = None,  # off
    ) -> None:
        problems: list[str] = []
        check_non_negative(
            problems,
            min_num_sentences=min_num_sentences,
            min_words_per_line=min_words_per_line,
            max_word_length=max_word_length,
        )
        check_fraction(
            problems,
            max_no_terminal_punct_line_frac=max_no_terminal_punct_line_frac,
            max_short_line_frac=max_short_line_frac,
            max_javascript_line_frac=max_javascript_line_frac,
            max_policy_line_frac=max_policy_line_frac,
            min_kept_line_frac=min_kept_line_frac,
        )
        raise_if(problems, self.name)
        self.min_words_per_line = min_words_per_line
        self.max_word_length = max_word_length
        rules = [
            Rule("lorem_ipsum", "lorem_ipsum", None, 0.0 if filter_lorem_ipsum else None),
            Rule("curly_bracket", "curly_bracket", None, 0.0 if filter_curly_bracket else None),
            Rule(
                "no_terminal_punct",
                "no_terminal_punct_line_frac",
                None,
                max_no_terminal_punct_line_frac,
            ),
            Rule("short_lines", "short_line_frac", None, max_short_line_frac),
            Rule("javascript", "javascript_line_frac", None, max_javascript_line_frac),
            Rule("policy", "policy_line_frac", None, max_policy_line_frac),
            Rule("kept_lines", "kept_line_frac", min_kept_line_frac, None),
            Rule("too_few_sentences", "kept_sentences", min_num_sentences, None),
        ]
        self.rules = [r for r in rules if r.low is not None or r.high is not None]

    def compute(self, view: TextView) -> dict[str, float]:
        lines = view.stripped_lines
        no_punct = short = javascript = policy = kept = sentences = 0
        lorem = curly = False
        min_words, max_len = self.min_words_per_line, self.max_word_length
        for line in lines:
            words = line.split()
            if "[" in line:
                line = _CITATION.sub("", line).rstrip()
            drop = False
            if not line.endswith(END_PUNCTUATION) or line.endswith("..."):
                no_punct += 1
                drop = True
            if len(words) < min_words:
                short += 1
                drop = True
            lowered = line.lower()
            if not drop:  # TFDS checks the page rules on lines that passed these two only
                lorem = lorem or "lorem ipsum" in lowered
                curly = curly or "{" in line
            if "javascript" in lowered:
                javascript += 1
                drop = True
            # Every policy substring contains one of these three: skip the loop on most lines.
            if (
                "cookie" in lowered or "terms of use" in lowered or "privacy policy" in lowered
            ) and any(p in lowered for p in POLICY_SUBSTRINGS):
                policy += 1
                drop = True
            if drop or (len(line) > max_len and any(len(w) > max_len for w in words)):
                continue
            kept += 1
            sentences += len(_SENTENCE_END.findall(line)) or 1
        n = len(lines)
        return {
            "no_terminal_punct_line_frac": safe_div(no_punct, n),
            "short_line_frac": safe_div(short, n),
            "javascript_line_frac": safe_div(javascript, n),
            "policy_line_frac": safe_div(policy, n),
            "kept_line_frac": safe_div(kept, n),
            "kept_sentences": float(sentences),
            "lorem_ipsum": float(lorem),
            "curly_bracket": float(curly),
        }
