"""The house plan of docs/architecture.md, checked: arrows between app packages run one way."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
# Where the process is put together: only these see the Broker, the composition root.
COMPOSITION_ROOTS = {"broker", "main", "web", "cli", "worker"}


def _package(path: Path) -> str:
    first = path.relative_to(APP).parts[0]
    return first.removesuffix(".py")


def _imports(path: Path) -> set[str]:
    """The app packages a module imports, at its top or inside a function alike."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = ([node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0
                 else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
        found |= {name.split(".")[1] for name in names if name.startswith("app.") and name.count(".") >= 1}
    return found


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in APP.rglob("*.py"):
        source = _package(path)
        if source != "__init__":
            graph[source] |= _imports(path) - {source}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_packages_import_each_other() -> None:
    assert cycles(package_graph()) == []


def test_only_the_composition_roots_see_the_broker() -> None:
    users = {pkg for pkg, targets in package_graph().items() if "broker" in targets}
    assert users <= COMPOSITION_ROOTS, users - COMPOSITION_ROOTS


def test_nothing_below_the_web_layer_imports_it() -> None:
    users = {pkg for pkg, targets in package_graph().items() if "web" in targets}
    assert users <= {"main"}, users


@pytest.mark.parametrize("core", ["oidc", "cas", "saml", "gateway"])
def test_the_protocol_cores_have_no_web_framework_or_database(core: str) -> None:
    for path in (APP / core).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not {m.split(".")[0] for m in modules} & {"fastapi", "starlette", "sqlalchemy"}, path
        allowed = ("app.oidc", "app.crypto", "app.attributes", f"app.{core}")  # the neutral Subject, attributes
        assert not any(m.startswith("app.") and not m.startswith(allowed) for m in modules), path
