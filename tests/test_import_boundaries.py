"""The import arrows of docs/architecture.md: pipelines -> transforms -> quality; train stands alone.

Also: no import circle anywhere in the four packages (imports inside functions count), and the
transforms subpackages import from the top-level transforms modules only the infrastructure.
"""

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
            names.update(_top(a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(_top(node.module))
    return names


def _top(module: str) -> str:
    """The package a module belongs to; the config engine (train.typed_config) is named apart."""
    return CONFIG_ENGINE if module == CONFIG_ENGINE else module.split(".")[0]


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


# The config engine both sides of the wall build their configs with. It lives in train (which may
# import no curation package), and is the one train module the curation packages may import at
# module level: `_imports` names it apart from `train`, so the rules above and below allow it.
CONFIG_ENGINE = "train.typed_config"


def test_the_config_engine_imports_no_project_module_nor_beam_nor_torch():
    imports = _imports_with_place(ROOT / "train" / "typed_config.py")
    outside_stdlib = {
        (name, lazy) for name, lazy in imports if name.split(".")[0] not in sys.stdlib_module_names
    }
    # PyYAML reads a --set value; both install sets have it (setup.py), and it loads on first use.
    assert outside_stdlib == {("yaml", True)}, outside_stdlib
    code = (
        "import sys, train.typed_config\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('apache_beam', 'torch', 'yaml',"
        " 'pipelines', 'transforms', 'quality') or (m.startswith('train.') and m != 'train.typed_config')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", out.stdout


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


# ------------------------------------------------------------------ the module graph, no circles
PACKAGES = ("pipelines", "transforms", "quality", "train")

# Imports that may close a circle because they run late, inside a function, by design. Empty
# today; an entry is (importer, imported) with the reason next to it.
LAZY_CIRCLE_EXCEPTIONS: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports, anywhere in the file (inside functions too: they
    still close a circle at run time), but not under `if TYPE_CHECKING:` (never runs).

    `from a.b import c` counts as importing `a.b.c` when that is a module, else `a.b`. The parent
    packages a dotted import also runs are not edges: a package importing its own submodules,
    which import their siblings, is how every package works and no circle in practice.
    """
    modules = {_module_name(f): f for pkg in PACKAGES for f in _package_files(pkg)}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()

        def visit(node: ast.AST, edges=edges, name=name, path=path) -> None:
            if _is_type_checking(node):
                return
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                base = node.module
                if node.level:  # relative: resolve against this module's package
                    pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = ".".join(pkg[: len(pkg) - node.level + 1] + [node.module])
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            for t in targets:
                # the longest prefix that is a project module
                parts = t.split(".")
                while parts and ".".join(parts) not in modules:
                    parts.pop()
                if parts and ".".join(parts) != name:
                    edges.add(".".join(parts))
                    if isinstance(node, ast.ImportFrom):
                        break  # `from a import b`: b is a module or a name in a, not both
            for child in ast.iter_child_nodes(node):
                visit(child)

        visit(ast.parse(path.read_text()))
        graph[name] = {t for t in edges if (name, t) not in LAZY_CIRCLE_EXCEPTIONS}
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := dfs(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := dfs(start)):
            return found
    return None


def test_no_import_circle_in_any_package():
    graph = _import_graph()
    assert "transforms.infra.hashing" in graph and graph["pipelines.graph"], (
        "the graph came out empty"
    )
    cycle = _find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_one():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


# transforms/ is laid out by what each module is, and the kinds form layers (an import may point
# only down or within its own kind):
#   stages    the pipeline stages in data-flow order; they compose everything below
#   dedup, sampling, stats    the corpus-wide parts, each on its own: none imports another
#   infra     Beam infrastructure and the shared record contract; imports no other kind
TRANSFORMS_LAYERS = {
    "transforms.stages": {
        "transforms.dedup",
        "transforms.sampling",
        "transforms.stats",
        "transforms.infra",
    },
    "transforms.dedup": {"transforms.infra"},
    "transforms.sampling": {"transforms.infra"},
    "transforms.stats": {"transforms.infra"},
    "transforms.infra": set(),
}


def _kind(module: str) -> str | None:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "transforms" and len(parts) > 1 else None


def test_transforms_is_laid_out_by_kind():
    """Every transforms module lives in one of the kinds; nothing is left at the top level."""
    subs = {
        f"transforms.{d.name}"
        for d in (ROOT / "transforms").iterdir()
        if (d / "__init__.py").is_file()
    }
    assert subs == set(TRANSFORMS_LAYERS), subs ^ set(TRANSFORMS_LAYERS)
    loose = sorted(p.name for p in (ROOT / "transforms").glob("*.py") if p.name != "__init__.py")
    assert not loose, f"modules outside a kind folder: {loose}"


def test_transforms_kinds_import_only_down():
    graph = _import_graph()
    assert "transforms.stages.apply_decisions" in graph, "the graph came out empty"
    wrong = []
    for module, imported in sorted(graph.items()):
        kind = _kind(module)
        if kind is None:
            continue
        for m in sorted(imported):
            other = _kind(m)
            if other and other != kind and other not in TRANSFORMS_LAYERS[kind]:
                wrong.append(f"{module} -> {m}")
    assert not wrong, "imports pointing up or across transforms kinds:\n" + "\n".join(wrong)
