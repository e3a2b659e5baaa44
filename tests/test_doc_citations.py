"""Every doc and module that code cites exists: `docs/*.md` / `benchmarks/*.md` paths and
backticked dotted module names (`quality.stage`, `transforms.dedup.keep.near_rank`) in the
sources of the four packages and of tests/benchmarks.

A backticked dotted name whose first two parts are not a module or package is a config key
(`train.seed`, `quality.source_policies`), not a citation, and is skipped.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipelines", "transforms", "quality", "train")
DOC_PATH = re.compile(r"\b(?:docs|benchmarks)/[\w/.-]+\.md\b")
MODULE = re.compile(r"`((?:pipelines|transforms|quality|train)(?:\.\w+)+)")


def _sources():
    for folder in (*PACKAGES, "tests", "benchmarks"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def _module_file(parts: list[str]) -> Path | None:
    base = ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _top_names(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _is_module_citation(dotted: str) -> bool:
    return _module_file(dotted.split(".")[:2]) is not None


def _resolves(dotted: str) -> bool:
    """The longest module prefix exists, and the next part (if any) is a name it defines."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        path = _module_file(parts[:n])
        if path is not None:
            return n == len(parts) or parts[n] in _top_names(path)
    return False


def test_cited_docs_exist():
    missing = [
        f"{f.relative_to(ROOT)}: {m}"
        for f in _sources()
        for m in DOC_PATH.findall(f.read_text())
        if not (ROOT / m).is_file()
    ]
    assert not missing, "cited docs that do not exist:\n" + "\n".join(missing)


def test_cited_modules_exist():
    missing = [
        f"{f.relative_to(ROOT)}: {m}"
        for f in _sources()
        for m in MODULE.findall(f.read_text())
        if _is_module_citation(m) and not _resolves(m)
    ]
    assert not missing, "cited modules that do not exist:\n" + "\n".join(missing)


def test_the_checks_catch_a_missing_module():
    assert _resolves("quality.stage.QualityStage")
    assert _resolves("transforms.dedup")
    assert not _resolves("quality.scorers.composite")
    assert not _resolves("transforms.dedup.keys")
    assert not _is_module_citation("train.seed")
