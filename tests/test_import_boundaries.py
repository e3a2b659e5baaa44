"""The import arrows of DESIGN.md: pipelines -> transforms -> quality; train stands alone."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path, module_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if module_level_only else ast.walk(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _package_files(pkg: str):
    return sorted((ROOT / pkg).rglob("*.py"))


def test_train_imports_no_curation_package_nor_beam():
    for f in _package_files("train"):
        bad = _imports(f) & {"apache_beam", "pipelines", "transforms", "quality"}
        assert not bad, f"{f.relative_to(ROOT)} imports {bad}"


def test_quality_is_the_bottom_of_the_curation_arrows():
    for f in _package_files("quality"):
        bad = _imports(f) & {"apache_beam", "pipelines", "transforms", "train", "torch"}
        assert not bad, f"{f.relative_to(ROOT)} imports {bad}"


def test_transforms_never_import_drivers_or_training():
    for f in _package_files("transforms"):
        bad = _imports(f) & {"pipelines", "train", "torch"}
        assert not bad, f"{f.relative_to(ROOT)} imports {bad}"


def test_pipelines_import_train_only_lazily():
    for f in _package_files("pipelines"):
        bad = _imports(f, module_level_only=True) & {"train", "torch"}
        assert not bad, f"{f.relative_to(ROOT)} imports {bad} at module level"


def test_curation_never_loads_torch():
    code = (
        "import sys, pkgutil, importlib\n"
        "import pipelines.cli, pipelines.run, pipelines.graph\n"
        "for pkg in ('transforms', 'quality', 'pipelines'):\n"
        "    mod = importlib.import_module(pkg)\n"
        "    for info in pkgutil.walk_packages(mod.__path__, pkg + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False False", out.stdout


def test_ablate_imports_train_only_lazily_and_nothing_imports_ablate():
    """curate ablate joins both halves: it may call train (inside functions, so importing it never
    loads torch) and the curation packages; neither side may depend on it."""
    files = _package_files("pipelines/ablate")
    assert files, "pipelines/ablate is missing"
    for f in files:
        bad = _imports(f, module_level_only=True) & {"train", "torch", "transformers"}
        assert not bad, f"{f.relative_to(ROOT)} imports {bad} at module level"
    for pkg in ("train", "transforms", "quality"):
        for f in _package_files(pkg):
            text = f.read_text()
            assert "pipelines.ablate" not in text, (
                f"{f.relative_to(ROOT)} depends on pipelines.ablate"
            )
