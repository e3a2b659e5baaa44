"""The ablation's HTML page, in the curation report's style (jinja2 + matplotlib PNGs).

`write_report(ablation, folder)` writes `folder/index.html` and its charts: the primary eval loss
per arm (mean and 95% interval over seeds), the training loss curves (mean over seeds, by
tokens), the eval-loss curves during training, and tables of the verdicts, the per-set losses,
tokens and epochs per arm, and what each arm's curation removed.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display
import matplotlib.pyplot as plt  # noqa: E402
from jinja2 import Environment, FileSystemLoader, select_autoescape  # noqa: E402

from quality.report.plots import PALETTE  # noqa: E402
from quality.report.render import fmt  # noqa: E402

_TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")


def _style(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)


def _loss_by_arm(path: str, ablation: dict) -> str:
    arms = list(ablation["arms"].values())
    name = ablation["primary_eval_set"]
    fig, ax = plt.subplots(figsize=(6.4, 0.5 + 0.45 * len(arms)))
    for i, arm in enumerate(arms):
        e = arm["eval"][name]
        lo, hi = e["ci95"]
        ax.errorbar(e["mean"], i, xerr=[[e["mean"] - lo], [hi - e["mean"]]], fmt="o",
                    color=PALETTE[i % len(PALETTE)], capsize=4)  # fmt: skip
        ax.scatter(e["losses"], [i] * len(e["losses"]), color="#8c8c8c", s=10, zorder=3)
    ax.set_yticks(range(len(arms)), [a["name"] for a in arms])
    ax.invert_yaxis()
    ax.set_xlabel(f"eval loss on {name} (nats/token): mean, 95% interval, seeds")
    _style(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return os.path.basename(path)


def _curves(path: str, ablation: dict, key: str, ylabel: str) -> str:
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for i, arm in enumerate(ablation["arms"].values()):
        color = PALETTE[i % len(PALETTE)]
        for j, run in enumerate(arm["runs"]):
            curve = run[key]
            if key == "eval_curve":
                per_step = ablation["tokens_per_run"] / max(1, ablation["steps_per_run"])
                xs = [p["step"] * per_step for p in curve]
            else:
                xs = [p["tokens"] for p in curve]
            ax.plot(xs, [p["loss"] for p in curve], color=color, alpha=0.8, linewidth=1,
                    label=arm["name"] if j == 0 else None)  # fmt: skip
    ax.set_xlabel("training tokens")
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, fontsize=8)
    _style(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return os.path.basename(path)


def write_report(ablation: dict, folder: str) -> str:
    """Writes `folder/index.html` (+ PNGs); returns its path."""
    os.makedirs(folder, exist_ok=True)
    images = {
        "loss_by_arm": _loss_by_arm(os.path.join(folder, "loss_by_arm.png"), ablation),
        "train_curves": _curves(os.path.join(folder, "train_loss.png"), ablation, "loss_curve",
                                "training loss (per step)"),
        "eval_curves": _curves(os.path.join(folder, "eval_loss.png"), ablation, "eval_curve",
                               f"eval loss on {ablation['primary_eval_set']} (sample)"),
    }  # fmt: skip
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html", "j2"])
    )
    env.filters["fmt"] = fmt
    html = env.get_template("ablation.html.j2").render(a=ablation, images=images)
    path = os.path.join(folder, "index.html")
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        fh.write(html)
    os.replace(path + ".tmp", path)
    return path
