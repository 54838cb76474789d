"""The code's shape, checked from its source: no import cycles, one home per name, short functions,
subpackages that import nothing, and pages that never pay for TensorFlow."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "cnn_core"
MAX_FUNCTION_LINES = 60
MAX_BRANCHES = 15
MAX_PAGE_SCRIPT_LINES = 40  # a page's top-level statements; the rest lives in one function per section
BRANCH_NODES = (ast.If, ast.For, ast.While, ast.Try, ast.ExceptHandler, ast.With, ast.IfExp, ast.BoolOp,
                ast.comprehension, ast.match_case, ast.AsyncFor, ast.AsyncWith)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(LIBRARY.rglob("*.py"))}


def imported_modules(path: Path) -> set[str]:
    """The cnn_core modules a file imports anywhere (functions included): `from a.b import c` counts a.b.c if a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cnn_core"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names if f"{node.module}.{alias.name}" in MODULES)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("cnn_core"))
    return {name for name in found if name in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None: depth-first search with colours."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target, path + [target])):
                return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_cnn_core_has_no_import_cycles():
    # A package's __init__ is imported before its modules, so it is left out as an edge target: only
    # module-to-module imports can form the cycles this test is about.
    graph = {name: {target for target in imported_modules(path) if target != name and MODULES[target].stem != "__init__"}
             for name, path in MODULES.items()}
    assert find_cycle(graph) is None


def top_level_names(path: Path) -> tuple[set[str], set[str]]:
    """(names a module defines, names it only imports) at its top level."""
    defined, imported = set(), set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined.update(t.id for target in targets for t in ast.walk(target) if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            imported.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return defined, imported


def python_files() -> list[Path]:
    return sorted([*LIBRARY.rglob("*.py"), *(ROOT / "app_pages").rglob("*.py"), ROOT / "app.py", ROOT / "router.py",
                   *(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").glob("*.py")])


def test_every_name_is_imported_from_its_one_home():
    # `from cnn_core.x import name` must find `name` defined in x (or be a module), never re-exported by x.
    borrowed = []
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and node.module in MODULES):
                continue
            defined, _ = top_level_names(MODULES[node.module])
            borrowed += [f"{path.relative_to(ROOT)}: {node.module}.{alias.name}" for alias in node.names
                         if alias.name not in defined and f"{node.module}.{alias.name}" not in MODULES]
    assert borrowed == []


def allowed_in_the_package_root(node: ast.AST) -> bool:
    """`__version__`, and environment defaults TensorFlow must see before its import (`import os`, `os.environ.setdefault`)."""
    if isinstance(node, ast.Assign):
        return [ast.unparse(target) for target in node.targets] == ["__version__"]
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names] == ["os"]
    return isinstance(node, ast.Expr) and ast.unparse(node.value).startswith("os.environ.setdefault(")


def test_each_subpackage_init_is_only_a_docstring():
    for init in LIBRARY.rglob("__init__.py"):
        body = ast.parse(init.read_text(encoding="utf-8")).body
        statements = [node for node in body if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
        allowed = [node for node in statements if init.parent == LIBRARY and allowed_in_the_package_root(node)]
        assert body and ast.get_docstring(ast.parse(init.read_text())), init
        assert statements == allowed, init


def branch_count(function: ast.AST) -> int:
    """Decision points: if/elif, loops, except clauses, with, conditional expressions, and/or, comprehensions."""
    return sum(isinstance(node, BRANCH_NODES) for node in ast.walk(function))


def long_functions(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines, branches = node.end_lineno - node.lineno + 1, branch_count(node)
                if lines > MAX_FUNCTION_LINES or branches > MAX_BRANCHES:
                    found.append(f"{path.name}:{node.lineno} {node.name}: {lines} lines, {branches} branches")
    return found


def test_the_size_check_sees_a_long_and_a_branchy_function(tmp_path):
    long = tmp_path / "long.py"
    long.write_text("def f():\n" + "    x = 1\n" * MAX_FUNCTION_LINES + "\n\ndef g(a):\n" + "    if a:\n        a = 1\n" * 16)
    found = long_functions([long])
    assert [line.split(" ")[1] for line in found] == ["f:", "g:"]


def test_no_function_is_over_60_lines_or_15_branches():
    assert long_functions([*LIBRARY.rglob("*.py"), *(ROOT / "app_pages").rglob("*.py"), ROOT / "app.py",
                           ROOT / "router.py"]) == []


def test_page_scripts_are_short_calls_of_section_functions():
    too_long = {}
    for page in (ROOT / "app_pages").glob("*.py"):
        body = ast.parse(page.read_text(encoding="utf-8")).body
        script = [node for node in body if not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom))
                  and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
        lines = sum(node.end_lineno - node.lineno + 1 for node in script)
        if lines > MAX_PAGE_SCRIPT_LINES:
            too_long[page.name] = lines
    assert too_long == {}


LIGHT_MODULES = ["cnn_core", "cnn_core.i18n", "cnn_core.images", "cnn_core.samples", "cnn_core.convolution.ops",
                 "cnn_core.convolution.kernels", "cnn_core.convolution.figures", "cnn_core.datasets.loading",
                 "cnn_core.datasets.uploads", "cnn_core.training.config", "cnn_core.training.runs",
                 "cnn_core.training.launch", "cnn_core.training.view", "cnn_core.models.registry",
                 "cnn_core.cli.main", "cnn_core.convolution.exercises", "cnn_core.models.card", "cnn_core.classify.probes",
                 "cnn_core.classify.adversarial", "cnn_core.classify.probe_figures", "cnn_core.training.snapshots",
                 "cnn_core.classify.corruptions"]


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_light_modules_never_import_tensorflow(module):
    code = f"import sys, {module}; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


VISIBILITY_RULED = {"list_models", "load_model", "load_metadata"}  # what cnn_core.server.owners wraps with its rule


def registry_reads(path: Path) -> list[str]:
    """Where a file lists or opens models through the registry itself: `registry.list_models(...)` or an import of it."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in VISIBILITY_RULED and ast.unparse(node.value).endswith("registry"):
            found.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom) and node.module == "cnn_core.models.registry":
            found += [f"{path.name}:{node.lineno} import {alias.name}" for alias in node.names
                      if alias.name in VISIBILITY_RULED]
    return found


def test_the_registry_check_sees_a_direct_listing(tmp_path):
    page = tmp_path / "page.py"
    page.write_text("from cnn_core.models import registry\nfrom cnn_core.models.registry import load_model\n"
                    "models = registry.list_models()\n")
    assert registry_reads(page) == ["page.py:2 import load_model", "page.py:3 registry.list_models"]


def test_pages_and_commands_list_and_open_models_only_through_the_visibility_rule():
    # One page that listed models itself once showed every visitor's private models to everyone.
    surfaces = [*(ROOT / "app_pages").rglob("*.py"), *(ROOT).glob("*.py"), *(LIBRARY / "cli").glob("*.py")]
    assert [line for path in surfaces for line in registry_reads(path)] == []


# Dependencies point down: pages and the command line -> server -> training -> classify -> models, datasets and
# convolution -> ground (the modules at cnn_core's top). A package imports only from itself and the packages below it:
# training never imports the server (the server passes limits and priority to a run), models never imports training
# (the registry saves and loads; training calls it), classify runs and explains a model (training uses it to score and
# to keep its epoch records).
BELOW = {
    "ground": set(),
    "convolution": {"ground"},
    "datasets": {"ground"},
    "models": {"ground"},
    "classify": {"ground", "datasets", "models", "convolution"},
    "training": {"ground", "datasets", "models", "convolution", "classify"},
    "server": {"ground", "datasets", "models", "convolution", "classify", "training"},
    "cli": {"ground", "datasets", "models", "convolution", "classify", "training", "server"},
}
ENTRY_POINTS = {"cnn_core.__main__": "cli"}  # `python -m cnn_core` runs the command line


def layer_of(module: str) -> str:
    if module in ENTRY_POINTS:
        return ENTRY_POINTS[module]
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in BELOW) else "ground"


def upward_imports() -> list[str]:
    """Every import of a module from a package its own may not depend on."""
    found = []
    for name, path in MODULES.items():
        layer = layer_of(name)
        for target in imported_modules(path):
            if layer_of(target) not in BELOW[layer] | {layer}:
                found.append(f"{name} -> {target}")
    return sorted(found)


def test_the_layer_check_sees_an_upward_import():
    assert layer_of("cnn_core.training.launch") == "training" and layer_of("cnn_core.settings") == "ground"
    assert "training" not in BELOW["models"] and "server" not in BELOW["training"]


def test_dependencies_point_down_training_never_imports_the_server_nor_models_training():
    assert upward_imports() == []


def test_app_pages_holds_the_page_scripts_and_one_folder_of_parts_per_page():
    """The pages are app_pages/*.py (what router.py lists); their helpers live in app_pages/<page>/ or, shared by
    several pages, app_pages/parts/, never beside the pages under a prefix."""
    router = (ROOT / "router.py").read_text(encoding="utf-8")
    pages = {path.name for path in (ROOT / "app_pages").glob("*.py")}
    assert pages and all(f"app_pages/{name}" in router for name in pages)
    folders = {path.name for path in (ROOT / "app_pages").iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert folders <= {"parts"} | {name.removesuffix(".py") for name in pages}
