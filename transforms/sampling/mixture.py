"""Per-source token budgets for a mixture target, and the check of what was achieved.

A mixture `{code: 0.5, docs: 0.3, man: 0.2}` splits the token budget by share (largest-remainder
rounding, so the parts add up to the budget exactly). Each source is then selected on its own
with its part. A source that holds fewer eligible tokens than its part cannot meet its share:

- `redistribute: false` (default): it contributes what it has, the total falls short, and the
  report says how many tokens it had;
- `redistribute: true`: its shortfall is given to the other sources in proportion to their shares
  (water-filling, repeated while another source runs out), so the budget is still used but the
  achieved shares move away from the targets; the report says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from quality.sampling_gate import MIXTURE_TOLERANCE

# An achieved share within this (absolute) of its target is a hit; the default of
# sampling.mixture_tolerance, which the validation gate also checks (quality/sampling_gate.py).
SHARE_TOLERANCE = MIXTURE_TOLERANCE


def split_by_shares(total: int, shares: Mapping[str, float]) -> dict[str, int]:
    """Integer parts of `total` proportional to `shares` (largest remainder, ties by name)."""
    weight = sum(shares.values())
    if total <= 0 or weight <= 0:
        return dict.fromkeys(shares, 0)
    exact = {s: total * w / weight for s, w in shares.items()}
    parts = {s: math.floor(x) for s, x in exact.items()}
    left = total - sum(parts.values())
    for s in sorted(shares, key=lambda s: (-(exact[s] - parts[s]), s))[:left]:
        parts[s] += 1
    return parts


def allocate_budget(
    total: int, shares: Mapping[str, float], available: Mapping[str, int], redistribute: bool
) -> dict[str, int]:
    """Token budget per source.

    Args:
        total: the whole token budget.
        shares: target share per source (sum 1).
        available: eligible tokens per source (absent = 0).
        redistribute: give the shortfall of short sources to the others.
    """
    if not redistribute:
        return split_by_shares(total, shares)
    budgets: dict[str, int] = {}
    free = {s: w for s, w in shares.items() if w > 0}
    budgets.update({s: 0 for s, w in shares.items() if w <= 0})
    while True:
        parts = split_by_shares(total - sum(budgets.values()), free)
        short = {s for s, b in parts.items() if available.get(s, 0) < b}
        if not short:
            budgets.update(parts)
            return budgets
        for s in short:  # capped at what it has; its excess goes round again
            budgets[s] = available.get(s, 0)
            del free[s]


def share_notes(
    targets: Mapping[str, float],
    target_tokens: Mapping[str, int],
    available: Mapping[str, int],
    selected: Mapping[str, int],
    redistribute: bool,
    tolerance: float = SHARE_TOLERANCE,
) -> dict[str, dict]:
    """Achieved share per source, whether it is within tolerance, and why not when it is not."""
    total = sum(selected.values())
    out: dict[str, dict] = {}
    for s, target in targets.items():
        achieved = selected.get(s, 0) / total if total else 0.0
        hit = abs(achieved - target) <= tolerance
        note = None
        if available.get(s, 0) < target_tokens.get(s, 0):
            note = (
                f"source too small: {available.get(s, 0)} eligible tokens for a target of "
                f"{target_tokens.get(s, 0)}"
                + ("; shortfall given to the other sources" if redistribute else "")
            )
        elif not hit:
            note = (
                f"another source was short{' and its shortfall was redistributed' if redistribute else ''}"
                if any(available.get(o, 0) < target_tokens.get(o, 0) for o in targets)
                else f"budget fill stopped at {selected.get(s, 0)} of {target_tokens.get(s, 0)} tokens "
                "(documents too large for the remaining gap)"
            )
        out[s] = {
            "target_share": target,
            "achieved_share": achieved,
            "within_tolerance": hit,
            "note": note,
        }
    return out
