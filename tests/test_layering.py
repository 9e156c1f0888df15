"""Dependencies point one way: runtime <- train <- export <- benchmarks <- research, and libraries never lean on a CLI.

Read from the source (every import statement, at module level or inside a function, parsed with `ast`;
only imports under ``if TYPE_CHECKING:`` are left out, since they never run), so a wrong-way import fails
here before anyone runs the code path that makes it. The rules:
- each layer imports only the layers below it (the runtime none of ours);
- the runtime never imports the training stack (torch, transformers, scikit-learn), nor matplotlib at import
  time (plotting is an optional extra, imported inside the function that draws);
- no library module imports a command-line module (``cli``, ``*_cli``, ``cli_*``, a ``cli`` package,
  ``__main__``): CLIs own output and exit codes, libraries are what they call;
- no import circle inside a package.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.runtime.test_isolation import HEAVY, LAZY

ROOT = Path(__file__).resolve().parents[1]
# Each layer, where its source is, and the layers of ours it may import (the ones below it).
LAYERS = {
    "probe_runtime": (ROOT / "runtime" / "src" / "probe_runtime", ()),
    "probe_train": (ROOT / "train" / "probe_train", ("probe_runtime",)),
    "probe_export": (ROOT / "export" / "probe_export", ("probe_runtime", "probe_train")),
    "benchmarks": (ROOT / "benchmarks", ("probe_runtime", "probe_train", "probe_export")),
    "research": (ROOT / "research", ("probe_runtime", "probe_train", "probe_export", "benchmarks")),
}
LIBRARIES = ("probe_runtime", "probe_train", "probe_export")
RUNTIME_NEVER = tuple(name for name in HEAVY if not name.startswith("probe_"))  # ours: the layer rule says it


@dataclass(frozen=True)
class Import:
    module: str  # absolute, as resolved
    line: int
    top_level: bool  # at module level (runs on import), not inside a function


def module_name(path: Path) -> str:
    """``probe_train.cli`` for train/probe_train/cli.py; a package's __init__ is the package."""
    for layer, (root, _) in LAYERS.items():
        if root in path.parents:
            parts = [layer, *path.relative_to(root).with_suffix("").parts]
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    raise AssertionError(f"{path} is in no layer")


def sources(layer: str) -> list[Path]:
    root = LAYERS[layer][0]
    return sorted(p for p in root.rglob("*.py") if "results" not in p.relative_to(root).parts)


def _type_checking_only(tree: ast.Module) -> set[int]:
    """The ids of import nodes under ``if TYPE_CHECKING:`` (they never run)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skipped


def imports(path: Path) -> list[Import]:
    """Every import of ``path``, relative ones resolved against its package; ``from a import b`` gives ``a.b``
    when ``a.b`` is a module of ours (so importing a sibling module by name is an edge to that module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_only(tree)
    # Module level: the body's statements, and the imports inside its top-level if/try blocks
    top = {id(n) for stmt in tree.body if not isinstance(stmt, ast.FunctionDef | ast.ClassDef) for n in ast.walk(stmt)}
    package = module_name(path).split(".") if path.name == "__init__.py" else module_name(path).split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [Import(alias.name, node.lineno, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([node.module] if node.module else [])])
            for alias in node.names:
                name = f"{base}.{alias.name}"
                found.append(Import(name if name in MODULES else base, node.lineno, id(node) in top))
    return found


MODULES = {module_name(p): p for layer in LAYERS for p in sources(layer)}


def layer_of(module: str) -> str | None:
    head = module.split(".")[0]
    return head if head in LAYERS else None


def is_cli(module: str) -> bool:
    parts = module.split(".")
    return any(p == "cli" or p.endswith("_cli") or p.startswith("cli_") or p == "__main__" for p in parts[1:])


def _where(path: Path, imp: Import) -> str:
    return f"{path.relative_to(ROOT)}:{imp.line} imports {imp.module}"


@pytest.mark.parametrize("layer", list(LAYERS))
def test_each_layer_imports_only_the_layers_below_it(layer: str):
    allowed = {layer, *LAYERS[layer][1]}
    wrong = [
        _where(path, imp)
        for path in sources(layer)
        for imp in imports(path)
        if layer_of(imp.module) is not None and layer_of(imp.module) not in allowed
    ]
    assert not wrong, "wrong-way imports:\n" + "\n".join(sorted(set(wrong)))


def test_the_runtime_never_imports_the_training_stack_nor_plotting_at_import_time():
    wrong = [
        _where(path, imp)
        for path in sources("probe_runtime")
        for imp in imports(path)
        if imp.module.split(".")[0] in RUNTIME_NEVER or (imp.module.split(".")[0] in LAZY and imp.top_level)
    ]
    assert not wrong, "\n".join(sorted(set(wrong)))


@pytest.mark.parametrize("layer", LIBRARIES)
def test_no_library_module_imports_a_command_line_module(layer: str):
    wrong = [
        _where(path, imp)
        for path in sources(layer)
        if not is_cli(module_name(path))
        for imp in imports(path)
        if layer_of(imp.module) in LIBRARIES and is_cli(imp.module)
    ]
    assert not wrong, "libraries that lean on a CLI:\n" + "\n".join(sorted(set(wrong)))


def circles(layer: str) -> list[list[str]]:
    """The import circles among ``layer``'s modules."""
    return circles_in({module_name(p): {i.module for i in imports(p) if i.module in MODULES} for p in sources(layer)})


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    stack = [start]
    while stack:
        for nxt in graph.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def circles_in(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of two or more nodes that reach one another."""
    reachable = {node: _reachable(graph, node) for node in graph}
    groups = {
        tuple(sorted(other for other in reachable[node] if node in reachable.get(other, ())))
        for node in graph
        if node in reachable[node]
    }
    return sorted(list(group) for group in groups if len(group) > 1)


@pytest.mark.parametrize(
    "layer",
    [
        "probe_runtime",
        "probe_train",
        "probe_export",
        "benchmarks",
        "research",
    ],
)
def test_no_import_circle_inside_a_package(layer: str):
    assert circles(layer) == []


def test_the_checks_see_a_wrong_way_import_a_cli_import_and_a_circle(tmp_path: Path):
    """The rules fire on code that breaks them (so an empty answer above means something)."""
    assert is_cli("probe_train.cli") and is_cli("probe_train.layers_cli") and is_cli("probe_runtime.cli.classify")
    assert not is_cli("probe_train.classifier_module") and not is_cli("probe_export.pipeline")
    assert layer_of("probe_export.pipeline") not in {"probe_train", *LAYERS["probe_train"][1]}
    model_dir = imports(LAYERS["probe_train"][0] / "model_dir.py")
    assert any(i.module == "probe_train.encoder" for i in model_dir)  # relative imports resolve to our modules
    assert any(i.module == "probe_runtime.atomic" for i in model_dir)
    assert circles_in({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles_in({"a": {"b"}, "b": set()}) == []


# benchmarks/ keeps what its commands share in subpackages that import no command, so a command can be moved or
# removed without breaking another's imports (benchmarks/README.md, "Layout").
SHARED_BENCHMARK_PACKAGES = ("benchmarks.common", "benchmarks.data", "benchmarks.int8", "benchmarks.harness")


def test_the_shared_benchmark_subpackages_import_no_command():
    shared = {m for m in MODULES if m.startswith(SHARED_BENCHMARK_PACKAGES)}
    wrong = [
        _where(path, imp)
        for path in sources("benchmarks")
        if module_name(path) in shared
        for imp in imports(path)
        if layer_of(imp.module) == "benchmarks"
        and imp.module in MODULES
        and imp.module not in shared
        and imp.module != "benchmarks"
    ]
    assert not wrong, "shared benchmark code that leans on a command:\n" + "\n".join(sorted(set(wrong)))
