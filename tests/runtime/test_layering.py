"""The runtime's arrows point one way: its library never reaches up into its command line, and no two of its
modules import each other, not even through an import inside a function (the way a circle hides)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "runtime" / "src" / "probe_runtime"
CLI_MODULES = ("probe_runtime.cli", "probe_runtime.cli_support")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every probe_runtime module ``path`` imports, at the top or inside a function."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("probe_runtime"))
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            target = (f"{base}.{node.module}" if node.module else base) if node.level else (node.module or "")
            if target.startswith("probe_runtime"):
                found.add(target)
                found.update(f"{target}.{a.name}" for a in node.names)  # `from . import ray` names a module
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {m for m in found if m in modules} - {name}


GRAPH = {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


def is_cli(module: str) -> bool:
    return any(module == c or module.startswith(c + ".") for c in CLI_MODULES)


def test_no_library_module_imports_the_command_line():
    wrong = {m: sorted(filter(is_cli, deps)) for m, deps in GRAPH.items() if not is_cli(m) and any(map(is_cli, deps))}
    assert wrong == {}


FACES = {module_name(p) for p in PACKAGE.rglob("__init__.py")}  # a package's face only hands names on


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One loop of imports in ``graph``, as the modules along it, or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for dep in sorted(graph.get(module, ())):
            found = visit(dep, [*path, module])
            if found:
                return found
        done.add(module)
        return None

    return next((c for m in sorted(graph) if (c := visit(m, []))), None)


def test_no_two_runtime_modules_import_each_other_even_indirectly():
    modules = {m: deps - FACES for m, deps in GRAPH.items() if m not in FACES}
    assert find_circle(modules) is None


def test_the_circle_check_finds_a_circle_through_a_lazy_import():
    """As `cli/classify.py` and `cli/ray_classify.py` were: one imported the other at the top, the other the
    first inside a function."""
    assert find_circle({"classify": {"ray_classify", "files"}, "ray_classify": {"classify"}, "files": set()}) == [
        "classify",
        "ray_classify",
        "classify",
    ]
    assert find_circle({"classify": {"ray_classify", "report"}, "ray_classify": {"report"}, "report": set()}) is None
