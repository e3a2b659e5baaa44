"""The import arrows of DESIGN.md: pipelines -> transforms -> quality; train stands alone."""

import ast
import os
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


# train/storage.py is the one door from train to remote storage: it imports Beam's FileSystems
# inside a function, and only for a path with a URL scheme (a local run never loads Beam).
TRAIN_BEAM_DOOR = ("train/storage.py", "apache_beam.io.filesystems")


def _imports_with_place(path: Path) -> list[tuple[str, bool]]:
    """(full module name, inside a function) for every absolute import statement of `path`."""
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend((a.name, in_function) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, in_function))
        lazy = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for child in ast.iter_child_nodes(node):
            visit(child, lazy)

    visit(ast.parse(path.read_text()), False)
    return found


def test_train_imports_no_curation_package_nor_beam_but_through_its_storage_door():
    beam = []
    for f in _package_files("train"):
        rel = f.relative_to(ROOT).as_posix()
        for name, in_function in _imports_with_place(f):
            top = name.split(".")[0]
            assert top not in {"pipelines", "transforms", "quality"}, f"{rel} imports {name}"
            if top == "apache_beam":
                beam.append((rel, name, in_function))
    assert beam == [(*TRAIN_BEAM_DOOR, True)], (
        f"train may import Beam only as {TRAIN_BEAM_DOOR}, inside a function; found {beam}"
    )


def test_a_local_training_run_works_without_beam(tmp_path):
    """Beam made unimportable: train on a local corpus with a local config and output."""
    (tmp_path / "tiny.yaml").write_text(
        "model: {from_config: {hidden_size: 32, layers: 1, heads: 2, kv_heads: 1,"
        " intermediate_size: 64}}\n"
        "data: {max_seq_len: 32, micro_batch_size: 2}\n"
        "train: {max_steps: 1}\n"
        "eval: {at_start: false, max_batches: 1}\n"
        "output: {tensorboard: false}\n"
    )
    code = (
        "import sys\n"
        "class NoBeam:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'apache_beam':\n"
        "            raise ImportError('apache_beam is not installed (blocked by this test)')\n"
        "sys.meta_path.insert(0, NoBeam())\n"
        "import train\n"
        "from train.synthetic import write_synthetic_corpus\n"
        "m = write_synthetic_corpus(sys.argv[1] + '/c', 24, 1, 0, 200, median_words=12)\n"
        "r = train.run_training(m, sys.argv[1] + '/tiny.yaml', output=sys.argv[1] + '/o')\n"
        "print(r['steps'], 'apache_beam' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "1 False", out.stdout
    assert (tmp_path / "o" / "adapter_model.safetensors").is_file()


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
