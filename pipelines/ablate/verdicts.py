"""From training runs to verdicts: eval sets, the mix-matched aggregate, the comparison family.

Every run is scored bucket by bucket (run.py `eval_shards`). For each eval set this module
rebuilds the per-seed loss from the buckets' summed cross-entropy and tokens:

- `heldout:<source>` and user eval sets: the token-mean loss over their buckets;
- `heldout`: the pooled held-out set (each source weighted by its held-out tokens, which depend
  on document lengths and the holdout draw, so it is reported but judged nothing);
- `heldout:mix`: sum over sources of w_s x loss(heldout:<source>), with w the declared target
  mix (default the raw arm's training token mix). Arms that change the source mix are compared
  at the same mix, so a verdict on it measures what a source's documents learned, not how many
  of them there were.

The family of verdicts is every non-raw arm x {heldout:mix, heldout:<source> when there are 2+
sources, each user eval set, and the primary set}; stats.py does the arithmetic.
"""

from __future__ import annotations

import numpy as np

from pipelines.ablate.config import AblationConfig, StatsConfig
from pipelines.ablate.stats import (
    bootstrap_se,
    compare,
    holm,
    mix_loss,
    paired_difference,
    sequential_stop,
    summary,
    verdict,
)


def eval_views(buckets: dict[str, list[str]], sources: list[str],
               mix: dict[str, float]) -> dict[str, tuple[list[str], list[list[int]], list[float]]]:  # fmt: skip
    """{set name: (bucket names, bucket indices per group, group weights)}."""
    views = {}
    if sources:
        names = [b for s in sources for b in buckets[f"heldout:{s}"]]
        groups, start = [], 0
        for s in sources:
            k = len(buckets[f"heldout:{s}"])
            groups.append(list(range(start, start + k)))
            start += k
        views["heldout:mix"] = (names, groups, [mix[s] for s in sources])
    for name, names in buckets.items():
        views[name] = (names, [list(range(len(names)))], [1.0])
    return views


def family_sets(views: dict, sources: list[str], primary: str) -> list[str]:
    """The eval sets that get a corrected verdict."""
    out = ["heldout:mix"] if sources else []
    if len(sources) > 1:
        out += [f"heldout:{s}" for s in sources]
    out += [n for n in views if not n.startswith("heldout")]
    if primary not in out:
        out.append(primary)
    return out


def _matrices(runs: list[dict], names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(summed CE, tokens), shape (seeds, buckets)."""
    ce = np.array([[r["eval"][b]["loss"] * r["eval"][b]["tokens"] for b in names] for r in runs])
    tok = np.array([[r["eval"][b]["tokens"] for b in names] for r in runs], dtype=float)
    return ce, tok


def evaluate(runs: dict[str, list[dict]], buckets: dict[str, list[str]], sources: list[str],
             mix: dict[str, float], primary: str, cfg: StatsConfig) -> dict:  # fmt: skip
    """{"arms": {arm: {set: entry}}, "family": {...}} for the runs so far (seed-paired)."""
    views = eval_views(buckets, sources, mix)
    family = family_sets(views, sources, primary)
    arms = [a for a in runs if a != "raw"]
    m = max(1, len(arms) * len(family))
    alpha_each = cfg.alpha / m
    raw_runs = runs["raw"]
    out: dict[str, dict] = {a: {} for a in runs}
    tests = []  # (arm, set) of the family, in order, for Holm
    for name, (names, groups, weights) in views.items():
        raw_ce, tok = _matrices(raw_runs, names)
        idx = [np.asarray(g) for g in groups]
        raw_loss = mix_loss(raw_ce, tok, idx, weights)
        for arm, arm_runs in runs.items():
            if [r["seed"] for r in arm_runs] != [r["seed"] for r in raw_runs]:
                raise ValueError(f"arm {arm!r} and raw were trained on different seeds")
            ce, _ = _matrices(arm_runs, names)
            losses = [float(x) for x in mix_loss(ce, tok, idx, weights)]
            entry = {"losses": losses, **summary(losses),
                     "perplexity_mean": float(np.mean(np.exp(np.minimum(losses, 700.0))))}  # fmt: skip
            if arm != "raw":
                entry["diff_to_raw"] = paired_difference(losses, [float(x) for x in raw_loss])
                se = bootstrap_se(ce, raw_ce, tok, idx, weights, cfg.bootstrap_draws,
                                  cfg.bootstrap_seed)  # fmt: skip
                in_family = name in family
                diffs = [a - float(r) for a, r in zip(losses, raw_loss, strict=True)]
                level = alpha_each if in_family else cfg.alpha  # descriptive sets: uncorrected
                entry["compare"] = compare(diffs, se, level, cfg.power)
                entry["in_family"] = in_family
                if in_family:
                    tests.append((arm, name))
            out[arm][name] = entry
    adjusted = holm([out[a][n]["compare"]["p"] for a, n in tests])
    for (arm, name), p in zip(tests, adjusted, strict=True):
        out[arm][name]["p_holm"] = p
        out[arm][name]["verdict"] = verdict(out[arm][name]["compare"], p, cfg.alpha)
    mdes = {a: out[a][primary]["compare"]["mde"] for a in arms}
    return {
        "arms": out,
        "family": {
            "sets": family,
            "size": len(tests),
            "alpha": cfg.alpha,
            "level": 1 - alpha_each,
            "power": cfg.power,
            "primary": {
                "set": primary,
                "mde_per_arm": mdes,
                "mde": max(mdes.values()) if mdes else None,
            },
        },
    }


def stop_rule(stats: dict, cfg: AblationConfig) -> tuple[bool, str]:
    """The sequential seed rule on the primary set's interval of every non-raw arm."""
    primary = cfg.holdout.primary
    entries = [e[primary] for a, e in stats["arms"].items() if a != "raw"]
    n = entries[0]["compare"]["n"] if entries else len(cfg.train.seeds)
    return sequential_stop([e["compare"]["ci"] for e in entries], cfg.train.min_effect, n,
                           cfg.train.seed_cap())  # fmt: skip
