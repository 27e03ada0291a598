"""The layer contract, read from the import graph: imports only go down, and no module imports itself back.

Every first-party import counts, at module level or inside a function; imports under `if TYPE_CHECKING:` do not
(type-only references may point anywhere). A layer may import itself and the layers listed for it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "flock_core"
FIRST_PARTY = ("flock_core", "engines")

LEAVES = frozenset(
    {"exceptions", "_ids", "_version", "_clock", "_usage", "_budget", "_records", "_tracing", "_trace_content"}
)

# layer -> the layers it may import (besides itself). Leaves may import leaves only.
ALLOWED: dict[str, frozenset[str]] = {
    "leaves": frozenset(),
    "blackboard": frozenset({"leaves"}),
    "agents": frozenset({"blackboard", "leaves"}),
    "orchestration": frozenset({"agents", "blackboard", "leaves"}),
    "mcp": frozenset({"leaves"}),
    "observe": frozenset({"orchestration", "agents", "blackboard", "leaves"}),
    "serve": frozenset({"mcp", "observe", "orchestration", "agents", "blackboard", "leaves"}),
    "facade": frozenset({"serve", "mcp", "observe", "orchestration", "agents", "blackboard", "leaves"}),
    "tracing": frozenset({"observe", "leaves"}),
    "testing": frozenset({"facade", "serve", "mcp", "observe", "orchestration", "agents", "blackboard", "leaves"}),
    "cli": frozenset(
        {"facade", "tracing", "testing", "serve", "mcp", "observe", "orchestration", "agents", "blackboard", "leaves"}
    ),
}


def layer_of(module: str) -> str:
    """The layer of a `flock_core` module, from its dotted name."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in {"__init__", "_flock", "_new_flocks"}:
        return "facade"
    head = parts[1]
    if head in LEAVES:
        return "leaves"
    if head in ALLOWED:
        return head
    raise AssertionError(f"{module} belongs to no layer: add it to the contract in {Path(__file__).name}")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module) for every first-party import of a file, skipping `if TYPE_CHECKING:` blocks."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    yield from _walk(ast.parse(path.read_text(encoding="utf-8")), package)


def _walk(node: ast.AST, package: list[str]) -> Iterator[tuple[int, str]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            yield from (found for stmt in child.orelse for found in _walk(stmt, package))
            continue
        if isinstance(child, ast.ImportFrom):
            base = package[: len(package) - (child.level - 1)] if child.level else []
            target = ".".join([*base, *([child.module] if child.module else [])])
            names = [alias.name for alias in child.names]
            for module in [target] if child.module else [f"{target}.{alias}" for alias in names]:
                yield child.lineno, module
        elif isinstance(child, ast.Import):
            for alias in child.names:
                yield child.lineno, alias.name
        yield from _walk(child, package)


def first_party_edges() -> Iterator[tuple[str, int, str]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        for line, target in imports_of(path):
            if target.split(".")[0] in {"flock_core", "engines"}:
                yield source, line, target


def test_imports_only_go_down() -> None:
    upward = [
        f"{src}:{line} ({layer_of(src)}) imports {target} ({layer_of(target)})"
        for src, line, target in first_party_edges()
        if target.startswith("flock_core")
        and layer_of(target) != layer_of(src)
        and layer_of(target) not in ALLOWED[layer_of(src)]
    ]
    assert upward == []


@pytest.mark.parametrize("layer", sorted(set(ALLOWED) - {"facade", "leaves", "tracing"}))
def test_every_layer_package_documents_what_it_may_import(layer: str) -> None:
    doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text(encoding="utf-8")))
    assert doc is not None
    assert "import" in doc, f"flock_core/{layer}/__init__.py should say what the layer may import"


def module_graph() -> dict[str, set[str]]:
    """First-party module -> the first-party modules it imports (module level or in a function, not type-only)."""
    paths = {module_name(path): path for package in FIRST_PARTY for path in sorted((ROOT / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        for _line, imported in imports_of(path):
            target = imported
            while target and target not in paths:  # `from pkg.module import name` -> pkg.module
                target = target.rpartition(".")[0]
            if target and target != name:
                graph[name].add(target)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted; every one holds a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while not component or component[-1] != node:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycles() -> None:
    assert import_cycles(module_graph()) == []


def test_the_cycle_finder_finds_rings_and_ignores_chains() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert import_cycles(graph) == [["a", "b", "c"]]


def test_flock_core_never_imports_engines() -> None:
    """The core finds engines through the `flock_core.engines` entry point, never by importing the package.

    Unlike the layer contract, type-only imports count too: the core's annotations name its own protocols.
    """
    offenders = [
        f"{module_name(path)}:{line} imports {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        for line, name in _absolute_imports(node)
        if name == "engines" or name.startswith("engines.")
    ]
    textual = [
        str(path.relative_to(ROOT))
        for path in PACKAGE.rglob("*.py")
        if any(f"{q}engines{q}" in path.read_text(encoding="utf-8") for q in ('"', "'"))
    ]
    assert offenders == []
    assert textual == [], "a module names the `engines` package as a string (import_module?)"


def _absolute_imports(node: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of an absolute import statement, type-only ones included."""
    if isinstance(node, ast.Import):
        return [(node.lineno, alias.name) for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [(node.lineno, node.module)]
    return []
