"""benchmarks/ and research/ import one way: research -> benchmarks -> the libraries, never back, no circles.

A study may use anything in benchmarks/; nothing in benchmarks/ may use a study (a benchmark would then break
when a finished study is changed or removed). The shared pieces live in subpackages (common, data, int8,
harness) that import no command module, so a command can be moved or removed without breaking another's
imports. The graph is read from the source (every import, also those inside functions), not by importing.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIBRARY_PACKAGES = ("benchmarks.common", "benchmarks.data", "benchmarks.int8", "benchmarks.harness")


def _modules() -> dict[str, Path]:
    found = {}
    for path in [*ROOT.glob("benchmarks/**/*.py"), *ROOT.glob("research/**/*.py")]:
        parts = path.relative_to(ROOT).with_suffix("").parts
        if any(part.startswith(".") for part in parts):
            continue  # git-ignored scratch and the harness's venvs
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``path`` imports (``from pkg import mod`` counts as importing pkg.mod)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names & known


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, set(modules)) for name, path in modules.items()}


def test_nothing_in_benchmarks_imports_research():
    wrong = {m: sorted(i for i in deps if i.startswith("research")) for m, deps in _graph().items()}
    assert not {m: deps for m, deps in wrong.items() if m.startswith("benchmarks") and deps}


def test_the_shared_subpackages_import_no_command():
    graph = _graph()
    shared = {m for m in graph if m.startswith(LIBRARY_PACKAGES)}
    wrong = {m: sorted(d for d in graph[m] if d not in shared and d != "benchmarks") for m in shared}
    assert not {m: deps for m, deps in wrong.items() if deps}


def test_no_import_circles():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (circle := visit(dep)):
                return circle
        state[module] = 2
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state:
            circle = visit(module)
            assert circle is None, " -> ".join(circle)
