"""A word-level phrase automaton: thousands of lexicon terms matched in one pass over a document.

Terms and text are cut into the same lowercase word tokens (`quality.text.word_tokens`: runs of
`\\w`), so matching is case-insensitive and word-boundary aware by construction: "man" never
matches inside "manual", "non-binary" matches "Non-Binary" and "non binary" (punctuation and
whitespace between words are not compared), and a phrase is a sequence of tokens.

The automaton is a trie of dicts keyed by whole tokens. A character-level Aho–Corasick walk
costs a Python-level step per character; here the only per-token work is a set-membership test
run by C code (`map(first_tokens.__contains__, tokens)` inside `itertools.compress`), and the
trie is walked from the few positions whose token can start a term. A phrase has at most a
handful of tokens, so the walk from each start is bounded by the longest term (K tokens) and
the pass costs O(tokens + starts * K) with no failure links to follow: for matches that must
start and end on token boundaries this finds exactly what an Aho–Corasick automaton over the
token alphabet would, every occurrence of every term, overlapping ones included.

Build once per worker (a lexicon of 5,000 terms builds in milliseconds) and reuse.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from itertools import chain, compress, count

from quality.text import word_tokens

# Terminal marker inside a trie node. Tokens are non-empty, so "" is never a token.
_END = ""

Match = tuple[int, int, tuple]
"""A term occurrence: (start, end, values): tokens [start, end) and the values of the term."""


class PhraseAutomaton:
    """Finds every occurrence of every term (one or more words) in a text or token list.

    One-token terms (most of a lexicon) live in a flat dict, so their matches come from C-level
    `map`/`compress` calls; multi-token terms live in the trie, walked from their first tokens.
    """

    def __init__(self, terms: Iterable[tuple[str, Hashable]]) -> None:
        """Builds the trie.

        Args:
            terms: (term, value) pairs. A term is any text; it is tokenized like documents are.
                Several terms may share tokens ("non-binary", "non binary"): a match then
                carries every value. Terms without any word token are ignored.
        """
        single: dict[str, tuple] = {}
        root: dict = {}
        n_terms = longest = 0
        for term, value in terms:
            tokens = word_tokens(term)
            if not tokens:
                continue
            if len(tokens) == 1:
                node_values = single.get(tokens[0], ())
                if value not in node_values:
                    single[tokens[0]] = (*node_values, value)
            else:
                node = root
                for token in tokens:
                    node = node.setdefault(token, {})
                node_values = node.get(_END, ())
                if value not in node_values:
                    node[_END] = (*node_values, value)
            n_terms += 1
            longest = max(longest, len(tokens))
        self._single = single
        self._root = root
        self._first = frozenset(root)
        self._any_first = frozenset(single) | self._first
        self.n_terms = n_terms
        self.longest = longest

    def find_tokens(self, tokens: list[str]) -> list[Match]:
        """Every match in a token list (from `quality.text.word_tokens`).

        One-token matches come first, by position, then multi-token matches, by start and end;
        sort the list if a single order matters (most callers only count or collect values).
        """
        if self._any_first.isdisjoint(tokens):
            return []
        single = self._single
        out = [
            (i, i + 1, single[tokens[i]])
            for i in compress(count(), map(single.__contains__, tokens))
        ]
        if self._first and not self._first.isdisjoint(tokens):
            out.extend(self._walk(tokens))
        return out

    def _walk(self, tokens: list[str]) -> list[Match]:
        """Matches of the multi-token terms: a trie walk from each possible first token."""
        root, n = self._root, len(tokens)
        out = []
        for i in compress(count(), map(self._first.__contains__, tokens)):
            node = root[tokens[i]]
            j = i + 1
            while j < n:
                node = node.get(tokens[j])
                if node is None:
                    break
                j += 1
                values = node.get(_END)
                if values is not None:
                    out.append((i, j, values))
        return out

    def find(self, text: str) -> list[Match]:
        """Every match in `text` (token positions, see `find_tokens`)."""
        return self.find_tokens(word_tokens(text))

    def values_in(self, tokens: list[str]) -> set:
        """The set of values of every term found in `tokens` (no positions: faster)."""
        if self._any_first.isdisjoint(tokens):
            return set()
        found = set(chain.from_iterable(filter(None, map(self._single.get, tokens))))
        if self._first and not self._first.isdisjoint(tokens):
            found.update(v for _, _, values in self._walk(tokens) for v in values)
        return found

    def count(self, tokens: list[str]) -> int:
        """The number of matches in `tokens` (no positions: faster)."""
        if self._any_first.isdisjoint(tokens):
            return 0
        n = sum(map(self._single.__contains__, tokens))
        if self._first and not self._first.isdisjoint(tokens):
            n += len(self._walk(tokens))
        return n
