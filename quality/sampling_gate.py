"""Whether a run met the token budget and the source mixture it asked for.

A budgeted run can come out far from what its config asks: a source too small for its share
(the demo config asks 60/20/20 of code, docs and man pages), or a filter that keeps little of an
input (web rules on documentation) so a 1.3M-token budget gets 45k tokens. The sampler reports
what it selected (stats.json `sampling`); this module turns that into two gate checks and their
console notes, with the numbers:

- `mixture_within_tolerance`: each source's share of the written tokens is within
  `sampling.mixture_tolerance` (absolute, in share of tokens) of its `sampling.mixture` target;
- `budget_filled`: the written tokens are at least `sampling.min_budget_fill` of
  `sampling.token_budget`.

Inputs are plain dicts (the manifest's resolved config and stats.json), so the gate, the summary
and `curate report` compute the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Defaults of sampling.mixture_tolerance and sampling.min_budget_fill (transforms/sampling/config).
# 3 points of token share: whole documents make a share land a fraction of a point off its
# target at demo scale (a 1.3M budget, documents of a few thousand tokens); a source short of
# its share misses by far more.
MIXTURE_TOLERANCE = 0.03
# 90% of the budget: the sampler fills a budget to within one document (plus its lookahead
# window) when the input holds enough eligible tokens; below 90% the input was too small or
# the filters kept too little of it.
MIN_BUDGET_FILL = 0.9


@dataclass(frozen=True)
class SamplingOutcome:
    """What a run asked of the sampler and what it wrote (tokens; eval split included)."""

    token_budget: int | None
    written_tokens: int
    targets: dict[str, float] = field(default_factory=dict)  # source -> target share
    tokens_by_source: dict[str, int] = field(default_factory=dict)
    mixture_tolerance: float = MIXTURE_TOLERANCE
    min_budget_fill: float = MIN_BUDGET_FILL

    def shares(self) -> dict[str, float]:
        """Each target source's share of the written tokens."""
        total = sum(self.tokens_by_source.values())
        return {
            s: (self.tokens_by_source.get(s, 0) / total if total else 0.0) for s in self.targets
        }

    def budget_fill(self) -> float | None:
        return self.written_tokens / self.token_budget if self.token_budget else None

    def mixture_ok(self) -> bool:
        got = self.shares()
        return all(abs(got[s] - t) <= self.mixture_tolerance for s, t in self.targets.items())

    def budget_ok(self) -> bool:
        fill = self.budget_fill()
        return fill is None or fill >= self.min_budget_fill

    def mixture_message(self) -> str:
        got = self.shares()
        parts = ", ".join(
            f"{s} target {100 * t:.1f}% got {100 * got[s]:.1f}%" for s, t in self.targets.items()
        )
        return (
            f"mixture off target by more than {100 * self.mixture_tolerance:.1f} points "
            f"(sampling.mixture_tolerance): {parts}"
        )

    def budget_message(self) -> str:
        fill = self.budget_fill() or 0.0
        return (
            f"budget {self.token_budget:,} tokens, written {self.written_tokens:,} "
            f"({100 * fill:.1f}%, below sampling.min_budget_fill {100 * self.min_budget_fill:.0f}%)"
        )

    def misses(self) -> list[str]:
        """One line per missed target, with the numbers (empty when both were met)."""
        out = []
        if self.targets and not self.mixture_ok():
            out.append(self.mixture_message())
        if not self.budget_ok():
            out.append(self.budget_message())
        return out


def sampling_outcome(manifest: dict, stats: dict) -> SamplingOutcome | None:
    """The outcome of a budgeted run from its manifest and stats.json; None without a budget."""
    cfg = ((manifest.get("config") or {}).get("sampling")) or {}
    budget = cfg.get("token_budget")
    if cfg.get("mode", "all") == "all" or not budget:
        return None
    shards = list(manifest.get("shards") or []) + list(manifest.get("eval_shards") or [])
    sources = ((stats.get("sampling") or {}).get("sources")) or {}
    return SamplingOutcome(
        token_budget=int(budget),
        written_tokens=sum(int(s.get("tokens", 0)) for s in shards),
        targets={s: float(v) for s, v in (cfg.get("mixture") or {}).items()},
        tokens_by_source={s: int(v.get("selected_tokens", 0)) for s, v in sources.items()},
        mixture_tolerance=float(cfg.get("mixture_tolerance", MIXTURE_TOLERANCE)),
        min_budget_fill=float(cfg.get("min_budget_fill", MIN_BUDGET_FILL)),
    )
