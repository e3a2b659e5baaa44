"""User plugins without forking: the README's filter and dedup method, from a package installed
into a temp folder (not the test virtualenv), named as `module:Class` and by their entry points,
on the embedded runner and on Beam's portable runner (curate from its wheel, the plugins on the
workers' PYTHONPATH).

The filter corpus: plain documents, documents in capitals (the filter rejects them) and
documents that a plugin transform (`normalize.transforms`) shouts, so they are rejected only if
the transform ran before scoring. A plugin scorer adds a float32 shard column.

The dedup corpus: documents sharing a first line (the README's `SameFirstLine` removes all but
the longest of each group) and a near-duplicate pair, removed by near dedup first: the plugin
then sees only the pair's survivor.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from tests.spine.portable import portable_beam
from tests.spine.small_run import ROOT, run_cli, write_config, write_corpus
from transforms.infra.accounting import accounting_problems

REASON = "no_shouting:shouting"
# Test-only classes, next to the README's: a transform and a scorer.
EXTRA = """

class Yell:
    def transform(self, text):
        return text.upper() if text.startswith("Yell:") else text


class Caps:
    def score(self, text):
        return sum(map(str.isupper, text)) / len(text)
"""
PYPROJECT = """[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "my-filters"
version = "0.1"

[tool.setuptools]
py-modules = ["my_filters", "my_dedup"]

[project.entry-points."curate.plugins"]
no_shouting = "my_filters:NoShouting"
same_first_line = "my_dedup:SameFirstLine"
"""


def readme_block(section: str, language: str) -> str:
    """The first `language` block of the README's `### <section>` section."""
    text = (ROOT / "README.md").read_text()
    part = text[text.index(f"### {section}\n") :]
    return re.search(rf"```{language}\n(.*?)```", part, re.S).group(1)


def readme_filter() -> str:
    """The Python block of the README's "Your own filter" section."""
    return readme_block("Your own filter", "python")


def readme_dedup() -> str:
    """The Python block of the README's "Your own dedup method" section."""
    return readme_block("Your own dedup method", "python")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> str:
    """The plugin package, pip-installed (with its entry point) into a folder of its own."""
    tmp = tmp_path_factory.mktemp("plugin")
    pkg = tmp / "pkg"
    pkg.mkdir()
    (pkg / "my_filters.py").write_text(readme_filter() + EXTRA)
    (pkg / "my_dedup.py").write_text(readme_dedup())
    (pkg / "pyproject.toml").write_text(PYPROJECT)
    target = tmp / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(target), str(pkg)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return str(target)


def _corpus(folder: Path) -> tuple[Path, set[str]]:
    """Plain documents plus shouted ones; returns the file and the ids the filter rejects."""
    path = write_corpus(folder / "docs.jsonl", n_docs=24)
    lines = path.read_text().splitlines()
    shouted = set()
    for i in range(0, 24, 6):  # in capitals already
        doc = json.loads(lines[i])
        lines[i] = json.dumps({**doc, "text": doc["text"].upper()})
        shouted.add(doc["id"])
    for i in range(3, 24, 6):  # shouted by the Yell transform
        doc = json.loads(lines[i])
        lines[i] = json.dumps({**doc, "text": "Yell: " + doc["text"]})
        shouted.add(doc["id"])
    path.write_text("\n".join(lines) + "\n")
    return path, shouted


def _config(tmp: Path, corpus: Path, name: str, out: str) -> Path:
    return write_config(
        tmp / f"{out}.yaml",
        [str(corpus)],
        str(tmp / out),
        run={"progress": False},
        normalize={"transforms": ["my_filters:Yell"]},
        quality={
            "enabled": True,
            "scorers": [
                {"name": name, "action": "filter"},
                {"name": "my_filters:Caps", "action": "score_only"},
            ],
            "toxicity": {"enabled": False},
            "bias": {"enabled": False},
        },
        dedup={"near": {"enabled": False}, "boilerplate": {"enabled": False}},
    )


def _check_run(out: Path, shouted: set[str]) -> None:
    rejected = [
        json.loads(line)
        for f in sorted((out / "rejected").glob("*.jsonl"))
        for line in f.read_text().splitlines()
    ]
    assert {r["id"] for r in rejected} == shouted
    assert {r["reason"] for r in rejected} == {REASON}
    manifest = json.loads((out / "manifest.json").read_text())
    acc = manifest["accounting"]
    assert acc["rejected"] == {REASON: len(shouted)}
    assert acc["read"] == 24
    assert manifest["accounting_ok"] and accounting_problems(acc) == []
    assert acc["read"] == acc["written"] + len(shouted)
    table = pa.concat_tables(
        pa.ipc.open_stream(pa.memory_map(str(out / s["path"]))).read_all()
        for s in manifest["shards"]
    )
    assert table.schema.field("caps.score").type == pa.float32()
    assert table.num_rows == acc["written"] == 24 - len(shouted)
    assert max(table.column("caps.score").to_pylist()) < 0.5


@pytest.mark.parametrize("name", ["my_filters:NoShouting", "no_shouting"])
def test_plugin_filter_rejects_with_its_reason_code(tmp_path, site, name):
    corpus, shouted = _corpus(tmp_path)
    config = _config(tmp_path, corpus, name, "out")
    result = run_cli(["run", "--config", str(config)], cwd=tmp_path, extra_path=site)
    assert result.returncode == 0, result.stderr[-3000:]
    _check_run(tmp_path / "out", shouted)


def test_bad_plugin_names_are_one_config_error(tmp_path, site):
    corpus, _ = _corpus(tmp_path)
    config = write_config(
        tmp_path / "bad.yaml",
        [str(corpus)],
        str(tmp_path / "out"),
        normalize={"transforms": ["my_filters:NoShouting"]},  # no transform method
        quality={
            "enabled": True,
            "scorers": [{"name": "my_filters:Missing"}, {"name": "no_such_plugin"}],
        },
    )
    result = run_cli(["run", "--config", str(config)], cwd=tmp_path, extra_path=site)
    assert result.returncode == 2, result.stderr[-3000:]
    err = result.stderr
    assert "invalid configuration (3 problem(s))" in err
    assert "module 'my_filters' has no 'Missing'" in err
    assert "unknown scorer 'no_such_plugin'" in err and "no_shouting" in err  # installed names
    assert "class NoShouting has no `transform(self, text)` method" in err
    assert not (tmp_path / "out").exists()  # before any work


def test_plugin_runs_on_beams_portable_runner(tmp_path, site):
    corpus, shouted = _corpus(tmp_path)
    config = _config(tmp_path, corpus, "no_shouting", "portable")
    with portable_beam(tmp_path / "beam", env={"PYTHONPATH": site}) as beam_services:
        result = run_cli(
            ["run", "--config", str(config), *beam_services.beam_args],
            cwd=tmp_path,
            extra_path=site,
        )
        assert result.returncode == 0, result.stderr[-3000:] + beam_services.logs()
    _check_run(tmp_path / "portable", shouted)


def test_the_readmes_config_block_is_a_valid_config_as_written(tmp_path, monkeypatch):
    """`PYTHONPATH=. curate run --config my.yaml` with the section's two files, as typed: the
    YAML block alone must pass the config check (it once named no input and exited 2)."""
    from pipelines.config import load_config

    section = (ROOT / "README.md").read_text()
    section = section[section.index("### Your own filter") :]
    yaml_block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    (tmp_path / "my_filters.py").write_text(readme_filter())
    (tmp_path / "my.yaml").write_text(yaml_block)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = load_config("my.yaml")
    assert cfg.input.demo.enabled or cfg.input.sources
    assert any(s.name == "my_filters:NoShouting" for s in cfg.quality.scorers)


DEDUP_STAGE = "same_first_line"


def _dedup_corpus(folder: Path) -> tuple[Path, dict[str, str]]:
    """Documents with shared first lines and a near-duplicate pair; returns the file and the
    expected removals (id -> stage)."""
    path = write_corpus(folder / "docs.jsonl", n_docs=24)
    docs = [json.loads(line) for line in path.read_text().splitlines()]

    def titled(i: int, title: str, extra: str = "") -> None:
        docs[i]["text"] = f"{title}\n{docs[i]['text']}{extra}"

    for i, extra in ((0, ""), (1, " And one more sentence."), (2, "")):
        titled(i, "Our weekly garden notes", extra)  # kept: 1 (the longest of the three)
    titled(4, "Copper report")
    docs[5]["text"] = docs[4]["text"] + " Indeed."  # near-duplicate of 4: 4 removed by near
    titled(6, "COPPER REPORT", " " + "A long closing line about the quarry. " * 4)  # beats 5
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    longest_garden = max((0, 1, 2), key=lambda i: len(docs[i]["text"]))
    removed = {f"d{i}": DEDUP_STAGE for i in (0, 1, 2) if i != longest_garden}
    removed.update({"d4": "near", "d5": DEDUP_STAGE})
    return path, removed


def _dedup_config(tmp: Path, corpus: Path, name: str, out: str) -> Path:
    return write_config(
        tmp / f"{out}.yaml",
        [str(corpus)],
        str(tmp / out),
        run={"progress": False},
        dedup={"near": {"enabled": True}, "plugins": [{"name": name}]},
    )


def _check_dedup_run(out: Path, expected: dict[str, str]) -> None:
    removed = [
        json.loads(line)
        for f in sorted((out / "removed").glob("*.jsonl"))
        for line in f.read_text().splitlines()
    ]
    assert {r["id"]: r["stage"] for r in removed} == expected
    plugin_removed = [r for r in removed if r["stage"] == DEDUP_STAGE]
    assert all(r["cluster"].startswith(f"{DEDUP_STAGE}:") for r in plugin_removed)
    manifest = json.loads((out / "manifest.json").read_text())
    acc = manifest["accounting"]
    assert acc["read"] == 24
    assert acc["removed"] == {DEDUP_STAGE: 3, "near": 1}
    assert manifest["accounting_ok"] and accounting_problems(acc) == []
    assert acc["read"] == acc["written"] + 4
    table = pa.concat_tables(
        pa.ipc.open_stream(pa.memory_map(str(out / s["path"]))).read_all()
        for s in manifest["shards"]
    )
    ids, cluster_ids = table.column("id").to_pylist(), table.column("dedup_cluster").to_pylist()
    clusters = dict(zip(ids, cluster_ids, strict=True))
    kept = {r["kept_id"] for r in plugin_removed}
    assert kept and all(clusters[k].startswith(f"{DEDUP_STAGE}:") for k in kept)
    assert table.num_rows == 20
    stats = json.loads((out / "stats.json").read_text())
    sizes = stats["dedup"][f"{DEDUP_STAGE}_cluster_sizes"]
    assert sizes == {"2": 1, "3": 1}  # {d5, d6}; the three garden notes


@pytest.mark.parametrize("name", ["my_dedup:SameFirstLine", DEDUP_STAGE])
def test_dedup_plugin_removes_all_but_one_per_key(tmp_path, site, name):
    corpus, expected = _dedup_corpus(tmp_path)
    config = _dedup_config(tmp_path, corpus, name, "out")
    result = run_cli(["run", "--config", str(config)], cwd=tmp_path, extra_path=site)
    assert result.returncode == 0, result.stderr[-3000:]
    _check_dedup_run(tmp_path / "out", expected)


def test_dedup_plugin_runs_on_beams_portable_runner(tmp_path, site):
    corpus, expected = _dedup_corpus(tmp_path)
    config = _dedup_config(tmp_path, corpus, DEDUP_STAGE, "portable")
    with portable_beam(tmp_path / "beam", env={"PYTHONPATH": site}) as beam_services:
        result = run_cli(
            ["run", "--config", str(config), *beam_services.beam_args],
            cwd=tmp_path,
            extra_path=site,
        )
        assert result.returncode == 0, result.stderr[-3000:] + beam_services.logs()
    _check_dedup_run(tmp_path / "portable", expected)


def test_bad_dedup_plugins_are_config_errors(tmp_path, site):
    corpus, _ = _dedup_corpus(tmp_path)
    config = write_config(
        tmp_path / "bad.yaml",
        [str(corpus)],
        str(tmp_path / "out"),
        dedup={
            "plugins": [
                {"name": "my_filters:NoShouting"},  # a filter, not a dedup method
                {"name": "my_dedup:SameFirstLine", "options": {"bogus": 1}},
                {"name": "same_first_line"},
            ]
        },
    )
    result = run_cli(["run", "--config", str(config)], cwd=tmp_path, extra_path=site)
    assert result.returncode == 2, result.stderr[-3000:]
    err = result.stderr
    assert "invalid configuration (3 problem(s))" in err, err
    assert "class NoShouting has no `key(self, text)` or `decide(self)`" in err
    assert "plugin 'my_dedup:SameFirstLine' cannot be built: TypeError" in err
    assert "two plugins are named 'same_first_line'" in err
    assert not (tmp_path / "out").exists()


def test_the_readmes_dedup_config_block_is_a_valid_config_as_written(tmp_path, monkeypatch):
    from pipelines.config import load_config
    from transforms.dedup.methods import dedup_methods

    (tmp_path / "my_dedup.py").write_text(readme_dedup())
    (tmp_path / "my.yaml").write_text(readme_block("Your own dedup method", "yaml"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = load_config("my.yaml")
    method = dedup_methods(cfg.dedup, cfg.run.seed)[-1]
    assert method.name == DEDUP_STAGE
    keys = method.featurize(["Title\nbody", " title \nother body", "", "Another\n"])[
        f"{DEDUP_STAGE}.key"
    ]
    assert keys[0] == keys[1] and keys[2] is None and keys[3] not in (None, keys[0])
