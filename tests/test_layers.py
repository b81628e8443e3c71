"""The import graph of ``src/fivefold`` points downward only and has no cycle between packages.

Every import counts: top-level, inside functions (lazy) and under ``TYPE_CHECKING``. The order,
lowest first, is the one CONTRIBUTING.md describes; a module may import its own layer or a
lower one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "fivefold"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "seeding", "registry", "schema"),
    ("transforms",),
    ("data",),
    ("models",),
    ("training",),
    ("attacks",),
    ("techniques",),
    ("pillars",),
    ("config", "results", "runner"),
    ("report", "tracking"),
    ("audit", "catalog", "cli", "cli_run"),
)
LAYER = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> Iterator[tuple[int, str]]:
    """(line, absolute module) for every fivefold import in ``path`` (the module ``module``),
    relative ones resolved."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            prefix = ".".join(base) if node.level else ""
            target = ".".join(p for p in (prefix, node.module or "") if p)
            # ``from fivefold.x import y`` may name a submodule y: count both.
            names = [target] + [f"{target}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == "fivefold" or name.startswith("fivefold."):
                yield node.lineno, name


def _known(name: str, modules: set[str]) -> str | None:
    """The longest prefix of ``name`` that is a module of the package (None: not a module)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def _graph() -> dict[str, dict[str, int]]:
    """module → {imported module: first line}, for every module of src/fivefold."""
    # The root package is a lazy facade (PEP 562) over the layers, not a layer itself.
    paths = {_module_name(p): p for p in SRC.rglob("*.py") if p != SRC / "__init__.py"}
    graph: dict[str, dict[str, int]] = {}
    for module, path in paths.items():
        edges: dict[str, int] = {}
        for line, name in _imports(path, module):
            target = _known(name, set(paths))
            if target is not None and target != module:
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


def _unit(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _package(module: str, graph: dict[str, dict[str, int]]) -> str:
    """The package a module belongs to (a package's ``__init__`` belongs to itself); a module
    straight under ``fivefold`` (errors, config, cli, ...) stands for itself."""
    if any(other.startswith(module + ".") for other in graph) or module.count(".") == 1:
        return module
    return module.rsplit(".", 1)[0]


def test_every_module_has_a_layer() -> None:
    units = {_unit(m) for m in _graph()} - {None}
    assert units <= set(LAYER), f"place these in LAYERS: {sorted(units - set(LAYER))}"


def test_imports_point_downward() -> None:
    wrong = []
    for module, edges in _graph().items():
        unit = _unit(module)
        for target, line in edges.items():
            other = _unit(target)
            if unit and other and LAYER[other] > LAYER[unit]:
                wrong.append(f"{module}:{line} imports {target} ({other} is above {unit})")
    assert not wrong, "\n".join(wrong)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def package_edges(graph: dict[str, dict[str, int]]) -> dict[str, set[str]]:
    """Package → packages it imports; a package's ``__init__`` importing its own
    sub-packages (registration imports) is not an edge."""
    out: dict[str, set[str]] = {}
    for module, targets in graph.items():
        source = _package(module, graph)
        for target in targets:
            dest = _package(target, graph)
            registering = module == source and dest.startswith(source + ".")
            if dest != source and not registering:
                out.setdefault(source, set()).add(dest)
    return out


def test_no_cycles_between_packages() -> None:
    graph = _graph()
    assert _cycles(package_edges(graph)) == []
    units: dict[str, set[str]] = {}
    for module, targets in graph.items():
        for target in targets:
            a, b = _unit(module), _unit(target)
            if a and b and a != b:
                units.setdefault(a, set()).add(b)
    assert _cycles(units) == []


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": set()}, []),
    ],
)
def test_cycle_finder_finds_cycles(edges: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert _cycles(edges) == expected


def test_lazy_and_type_checking_imports_are_seen(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from fivefold.report import html\n"
        "def f():\n    import fivefold.cli\n"
    )
    found = {name for _, name in _imports(source, "fivefold.probe")}
    assert {"fivefold.report", "fivefold.report.html", "fivefold.cli"} <= found
