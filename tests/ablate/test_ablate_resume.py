"""A killed `curate ablate` resumes: finished arms (curation and training) are reused."""

from __future__ import annotations

import pytest

import pipelines.run
import train.recipe
from pipelines.ablate import load_ablation_config, run_ablation
from tests.ablate.conftest import ablation_config
from train.typed_config import ConfigError


class Killed(RuntimeError):
    pass


@pytest.mark.slow
def test_killed_after_the_first_arm_reuses_it_on_rerun(junk_corpus, tmp_path, monkeypatch):
    raw, clean = junk_corpus
    data = ablation_config(tmp_path, raw, clean, arms=["raw", "full"], tokens=8192)
    data["train"].update(seeds=[0, 1], eval_every_steps=1000)
    cfg = load_ablation_config(data)

    curated, trained = [], []
    real_run, real_train = pipelines.run.run, train.recipe.run_training

    def spy_run(c, *a, **k):
        curated.append(c.run.output)
        return real_run(c, *a, **k)

    def spy_train(manifest, config, *a, **k):
        trained.append(str(k.get("output")))
        return real_train(manifest, config, *a, **k)

    monkeypatch.setattr(pipelines.run, "run", spy_run)
    monkeypatch.setattr(train.recipe, "run_training", spy_train)

    def kill_after_raw(name):
        if name == "raw":
            raise Killed("killed after the first arm")

    # Every arm is curated before any training (train.epochs needs every arm's size), so the
    # kill after raw's seeds leaves both curations and raw's two runs.
    with pytest.raises(Killed):
        run_ablation(cfg, on_arm_done=kill_after_raw)
    assert len(curated) == 2 and len(trained) == 2
    curated.clear(), trained.clear()

    report = run_ablation(cfg)
    assert curated == [], "no arm may be curated again"
    assert all("/runs/full/" in t for t in trained) and len(trained) == 2
    assert report["arms"]["raw"]["curation_reused"] and report["arms"]["raw"]["runs_reused"] == 2
    assert report["arms"]["full"]["curation_reused"] and report["arms"]["full"]["runs_reused"] == 0

    # A third run reuses everything; a changed arm config re-runs that arm only.
    curated.clear(), trained.clear()
    again = run_ablation(cfg)
    assert curated == [] and trained == []
    assert again["arms"]["full"]["eval"] == report["arms"]["full"]["eval"]


def test_sequential_rule_adds_seeds_up_to_the_cap(junk_corpus, tmp_path):
    """An arm equal to raw but for its shard order: its interval includes 0, so with a tiny
    minimum effect the rule adds seeds until the cap. Runs are sized by `train.epochs`."""
    raw, clean = junk_corpus
    shuffled = {"name": "shuffled", "preset": "raw", "set": ["run.seed=7"]}
    data = ablation_config(tmp_path, raw, clean, arms=["raw", shuffled], tokens=4096)
    # Sized by epochs of the smallest arm instead of tokens (0.1: a few thousand tokens).
    data["train"].update(seeds=[0, 1], max_seeds=3, min_effect=1e-9, eval_every_steps=1000,
                         epochs=0.1)  # fmt: skip
    report = run_ablation(load_ablation_config(data))
    smallest = min(a["unique_tokens"] for a in report["arms"].values())
    per_step = report["tokens_per_run"] // report["steps_per_run"]
    assert 0 <= 0.1 * smallest - report["tokens_per_run"] < per_step
    assert report["epochs_of_smallest"] == 0.1
    assert min(a["epochs"] for a in report["arms"].values()) == pytest.approx(0.1, abs=0.02)
    assert "less than 0.5 epoch" in report["warnings"][0]
    assert report["seeds"] == [0, 1, 2]
    rounds = report["seed_rule"]["rounds"]
    assert [len(r["seeds"]) for r in rounds] == [2, 3] and not rounds[0]["stop"]
    assert "cap 3" in rounds[-1]["why"]
    assert [r["seed"] for r in report["arms"]["shuffled"]["runs"]] == [0, 1, 2]


def test_bad_config_lists_every_problem_before_any_work(junk_corpus, tmp_path):
    raw, clean = junk_corpus
    data = ablation_config(tmp_path, raw, clean, arms=["full", {"name": "x", "preset": "nope"}])
    data["train"].update(seeds=[0], max_seeds=0, min_effect=0)
    data["base"]["dedup"]["near"]["threshold"] = 3
    with pytest.raises(ConfigError) as err:
        load_ablation_config(data)
    problems = "\n".join(err.value.problems)
    assert "include 'raw'" in problems and "preset 'nope'" in problems and "seeds" in problems
    assert "max_seeds" in problems and "min_effect" in problems
    data = ablation_config(tmp_path, raw, clean)
    data["base"]["dedup"]["near"]["threshold"] = 3
    data["train"]["set"] = ["train.lr=-1"]
    with pytest.raises(ConfigError) as err:
        run_ablation(load_ablation_config(data))
    problems = "\n".join(err.value.problems)
    assert "threshold" in problems and "lr" in problems
    assert not (tmp_path / "abl").exists(), "nothing may be written before the config is valid"


def test_cli_exits_2_on_a_bad_config(tmp_path, capsys):
    from pipelines.cli import main

    bad = tmp_path / "ablation.yaml"
    bad.write_text("arms: [full]\ntrain: {tokens: 0}\nbase: nope.yaml\n")
    assert main(["ablate", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "include 'raw'" in err and "tokens must be > 0" in err and "nope.yaml" in err
