"""The package's modules import each other without a cycle, counting imports inside functions:
a lazy import that closes a cycle hides an order dependency that breaks once someone hoists it.
Imports under `if TYPE_CHECKING:` are left out (they never run)."""

from __future__ import annotations

import ast
from pathlib import Path

import rudder_sessions

PACKAGE = "rudder_sessions"
ROOT = Path(rudder_sessions.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported(tree: ast.AST, modules: set[str]) -> set[str]:
    """The package modules a module's code imports, wherever the import statement stands."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from rudder_sessions import model` imports the submodule
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if name in modules}


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in ROOT.rglob("*.py")}
    modules = set(paths)
    return {name: imported(ast.parse(path.read_text(), str(path)), modules) - {name} for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each module that is on one (depth-first search)."""
    found, done = [], set()

    def walk(node: str, path: list[str]) -> None:
        if node in path:
            found.append([*path[path.index(node) :], node])
            return
        if node in done:
            return
        for successor in sorted(graph[node]):
            walk(successor, [*path, node])
        done.add(node)

    for start in sorted(graph):
        walk(start, [])
    return found


def test_the_graph_sees_lazy_imports_and_skips_type_checking_ones():
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from rudder_sessions.engine import SessionRunner\n"
        "def f():\n    from rudder_sessions.model import STEPS\n    import rudder_sessions.plan\n"
        "from rudder_sessions import config\n"
    )
    modules = {f"{PACKAGE}.{m}" for m in ("engine", "model", "plan", "config")} | {PACKAGE}
    assert imported(tree, modules) == {f"{PACKAGE}.{m}" for m in ("model", "plan", "config")} | {PACKAGE}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_package_imports_without_cycles():
    graph = import_graph()
    assert f"{PACKAGE}.engine" in graph and f"{PACKAGE}.model" in graph[f"{PACKAGE}.engine"]
    found = cycles(graph)
    assert found == [], "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in found)
