"""A run deletes only what a previous curate run listed; nothing is lost on the way."""

from __future__ import annotations

import json

import pytest

from pipelines.cli import main as cli_main
from pipelines.output_folder import OutputFolder, previous_outputs
from tests.spine.small_run import write_config, write_corpus
from train.typed_config import ConfigError


def _manifest(out):
    return json.loads((out / "manifest.json").read_text())


def test_user_files_survive_and_stale_outputs_go(tmp_path):
    corpus = write_corpus(tmp_path / "in" / "docs.jsonl", n_docs=40)
    out = tmp_path / "out"
    (out / "notes").mkdir(parents=True)
    (out / "notes" / "todo.txt").write_text("mine")
    (out / "report").mkdir()
    (out / "report" / "draft.md").write_text("my own report folder")
    cfg = write_config(tmp_path / "c.yaml", [str(corpus)], str(out))

    assert cli_main(["run", "--config", str(cfg)]) == 2  # not curate's folder: refused
    assert sorted(p.name for p in out.iterdir()) == ["notes", "report"]

    assert cli_main(["run", "--config", str(cfg), "--overwrite"]) == 0
    assert (out / "notes" / "todo.txt").read_text() == "mine"
    assert (out / "report" / "draft.md").exists()  # --overwrite writes, it never deletes
    first = _manifest(out)
    assert {"shards", "manifest.json", "tokenizer"} <= set(first["outputs"])
    # report/ held the user's file before the run: curate wrote into it but never owns it.
    assert "notes" not in first["outputs"] and "report" not in first["outputs"]

    # Second run: no report this time; report/ is the user's, so it stays, with their file.
    cfg2 = write_config(tmp_path / "c2.yaml", [str(corpus)], str(out), report={"enabled": False})
    assert cli_main(["run", "--config", str(cfg2)]) == 0
    assert (out / "notes" / "todo.txt").read_text() == "mine"
    assert (out / "report" / "draft.md").read_text() == "my own report folder"
    assert not (out / "_previous").exists()
    assert _manifest(out)["shards"] == first["shards"]  # same input, config and seed


def test_overwrite_never_makes_the_users_folders_curates(tmp_path):
    """Issue 18: `--overwrite` then a normal run deleted report/mine.txt and shards/README.txt."""
    out = tmp_path / "out"
    for name, file in (("report", "mine.txt"), ("shards", "README.txt")):
        (out / name).mkdir(parents=True)
        (out / name / file).write_text("mine")
    folder = OutputFolder(str(out), ["manifest.json", "report", "shards", "stats.json", "_tmp"])
    folder.overwrite = True  # refused without it (test_config_error_lists_the_folder)
    with folder.locked():
        folder.check()
        assert folder.claim() == {}
    assert folder.outputs == ["manifest.json", "stats.json", "_tmp"]
    assert json.loads((out / "_tmp" / "run.json").read_text())["outputs"] == folder.outputs
    (out / "shards" / "train-00000.arrow").write_text("new")
    (out / "manifest.json").write_text(
        json.dumps({"format_version": 1, "accounting": {}, "outputs": folder.outputs})
    )
    # The next (normal) run moves aside and would drop only what the manifest listed.
    nxt = OutputFolder(str(out), ["manifest.json", "report", "shards", "_tmp"])
    with nxt.locked():
        nxt.check()
        nxt.claim()
        nxt.finished()
    assert (out / "report" / "mine.txt").read_text() == "mine"
    assert (out / "shards" / "README.txt").read_text() == "mine"


def test_next_release_reads_its_previous_filter_from_the_same_folder(tmp_path):
    old = write_corpus(tmp_path / "in" / "old.jsonl", n_docs=30, source_id="a")
    new = write_corpus(tmp_path / "in" / "new.jsonl", n_docs=10, seed=1, source_id="b")
    out = tmp_path / "out"
    dedup = {"near": {"enabled": False}, "cross_release": {"expected_items": 10_000}}
    cfg1 = write_config(tmp_path / "r1.yaml", [str(old)], str(out), dedup=dedup)
    assert cli_main(["run", "--config", str(cfg1)]) == 0
    assert _manifest(out)["bloom_filter"] == "bloom_filter.bin"

    dedup2 = {**dedup, "cross_release": {**dedup["cross_release"]}}
    dedup2["cross_release"]["previous_filter"] = str(out / "bloom_filter.bin")
    cfg2 = write_config(tmp_path / "r2.yaml", [str(old), str(new)], str(out), dedup=dedup2)
    assert cli_main(["run", "--config", str(cfg2)]) == 0
    acc = _manifest(out)["accounting"]
    assert acc["removed"] == {"cross_release": 30} and acc["written"] == 10
    # The config is recorded as given, and the new (cumulative) filter replaced the old one.
    recorded = _manifest(out)["config"]["dedup"]["cross_release"]["previous_filter"]
    assert recorded == str(out / "bloom_filter.bin")
    assert (out / "bloom_filter.bin").is_file() and not (out / "_previous").exists()


def test_a_non_empty_working_directory_is_refused(tmp_path, monkeypatch, capsys):
    corpus = write_corpus(tmp_path / "in" / "docs.jsonl", n_docs=5)
    cfg = write_config(tmp_path / "c.yaml", [str(corpus)], "unused")
    monkeypatch.chdir(tmp_path)
    assert cli_main(["run", "--config", str(cfg), "--output", "."]) == 2
    err = capsys.readouterr().err
    assert "is not empty (c.yaml, in) and holds no curate manifest" in err
    assert "--overwrite" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml", "in"]


def _previous_run(out, names):
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        (out / name).mkdir()
        (out / name / "part-0").write_text(f"old {name}")
    manifest = {"format_version": 1, "accounting": {}, "outputs": [*names, "manifest.json"]}
    (out / "manifest.json").write_text(json.dumps(manifest))


def test_a_crash_puts_the_previous_outputs_back(tmp_path):
    out = tmp_path / "out"
    _previous_run(out, ["shards", "report"])
    (out / "mine.txt").write_text("mine")
    folder = OutputFolder(str(out), ["manifest.json", "shards", "_tmp"])
    folder.check()
    moves = folder.claim()
    assert moves == {
        str(out / "shards"): str(out / "_previous" / "shards"),
        **{str(out / n): str(out / "_previous" / n) for n in ("manifest.json", "report")},
    }
    (out / "shards").mkdir()
    (out / "shards" / "part-0").write_text("half new")
    folder.failed()
    assert (out / "shards" / "part-0").read_text() == "old shards"
    assert (out / "report" / "part-0").read_text() == "old report"
    assert (out / "mine.txt").read_text() == "mine" and not (out / "_previous").exists()
    assert previous_outputs(str(out)) == ["shards", "report", "manifest.json"]


def test_a_killed_run_is_recovered_by_the_next(tmp_path):
    out = tmp_path / "out"
    _previous_run(out, ["shards"])
    OutputFolder(str(out), ["manifest.json", "shards", "_tmp"]).claim()
    (out / "shards").mkdir()
    (out / "shards" / "part-0").write_text("half new")  # then the process was killed
    OutputFolder(str(out), ["manifest.json", "shards", "_tmp"]).check()
    assert (out / "shards" / "part-0").read_text() == "old shards"
    assert (out / "manifest.json").exists() and not (out / "_previous").exists()


def test_only_listed_names_are_moved(tmp_path):
    out = tmp_path / "out"
    _previous_run(out, ["shards"])
    (out / "report").mkdir()  # not listed by the previous run: the user's
    OutputFolder(str(out), ["manifest.json", "shards", "report"]).claim()
    assert (out / "report").is_dir() and not (out / "_previous" / "report").exists()


def test_config_error_lists_the_folder(tmp_path):
    (tmp_path / "x").write_text("x")
    with pytest.raises(ConfigError, match="holds no curate manifest"):
        OutputFolder(str(tmp_path), ["shards"]).check()
    OutputFolder(str(tmp_path), ["shards"], overwrite=True).check()


def test_a_run_killed_while_moving_aside_loses_nothing(tmp_path):
    out = tmp_path / "out"
    _previous_run(out, ["report", "shards"])
    # As if killed after the record was written and "manifest.json" and "report" were moved.
    (out / "_tmp").mkdir()
    record = {"outputs": ["manifest.json", "report", "shards", "_tmp"], "aside": "_previous"}
    (out / "_tmp" / "run.json").write_text(json.dumps(record))
    (out / "_previous").mkdir()
    for name in ("manifest.json", "report"):
        (out / name).rename(out / "_previous" / name)
    OutputFolder(str(out), ["manifest.json", "shards", "_tmp"]).check()
    assert (out / "shards" / "part-0").read_text() == "old shards"  # not yet moved: kept
    assert (out / "report" / "part-0").read_text() == "old report"
    assert (out / "manifest.json").exists() and not (out / "_previous").exists()


def test_a_run_killed_after_its_manifest_drops_the_old_outputs(tmp_path):
    out = tmp_path / "out"
    _previous_run(out / "_previous", ["shards"])  # the old outputs, still aside
    _previous_run(out, ["report"])  # the new run's finished outputs; its _tmp/ is gone
    OutputFolder(str(out), ["manifest.json", "report", "_tmp"]).check()
    assert not (out / "_previous").exists() and (out / "report").is_dir()


def test_a_previous_folder_of_the_users_is_never_touched(tmp_path):
    out = tmp_path / "out"
    _previous_run(out, ["shards"])
    (out / "_previous").mkdir()
    (out / "_previous" / "mine.txt").write_text("mine")
    with pytest.raises(ConfigError, match="'_previous' that no curate run made"):
        OutputFolder(str(out), ["shards"]).check()
    assert (out / "_previous" / "mine.txt").read_text() == "mine"


@pytest.mark.parametrize("moves_done", [0, 1, 2])
def test_a_restore_interrupted_at_any_move_is_finished_by_the_next_run(
    tmp_path, monkeypatch, moves_done
):
    """Issue 18: a restore killed half way left a '_previous' the next run refused."""
    from transforms.infra import fs

    out = tmp_path / "out"
    _previous_run(out, ["shards", "report"])
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    folder = OutputFolder(str(out), ["manifest.json", "shards", "report", "_tmp"])
    folder.claim()
    (out / "shards").mkdir()
    (out / "shards" / "part-0").write_text("half new")
    real_move, calls = fs.move, []

    def dying_move(src, dst):
        if len(calls) == moves_done:
            raise KeyboardInterrupt  # as if killed here
        calls.append(src)
        real_move(src, dst)

    monkeypatch.setattr(fs, "move", dying_move)
    with pytest.raises(KeyboardInterrupt):
        folder.failed()
    monkeypatch.setattr(fs, "move", real_move)
    OutputFolder(str(out), ["manifest.json", "shards", "_tmp"]).check()  # the next run
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
