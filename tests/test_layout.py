"""The layout the architecture promises: no import circles, and no domain package importing `idp`.

Every module's imports are read with `ast` (top level, inside functions and under
`if TYPE_CHECKING:` alike: a deferred import hides a circle, it does not remove it).
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("idp", "levels", "legal_entities", "clients", "keys")
DOMAIN = ("levels", "legal_entities", "clients", "keys")
# Every exception a domain package raises on purpose derives from its package's base.
ERROR_BASES = {"levels": "levels.errors.LevelsError", "legal_entities": "legal_entities.errors.EntitiesError",
               "clients": "clients.errors.ClientsError", "keys": "keys.errors.KeysError"}

# Imports allowed to close a circle: none. Each entry would be one import (importer, imported) that a
# circle is known to run through; any circle not broken by an entry here fails.
KNOWN_CYCLE_EDGES: frozenset[tuple[str, str]] = frozenset()


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _imported(module: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The modules of ours that `module` imports, by name."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _ours(alias.name, known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from package import module` imports the module; `from module import name` the module.
                if f"{base}.{alias.name}" in known:
                    yield f"{base}.{alias.name}"
                else:
                    yield from _ours(base, known)


def _ours(name: str, known: dict[str, Path]) -> Iterator[str]:
    if name in known:
        yield name


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {m: {i for i in _imported(m, p, known) if i != m} for m, p in known.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    graph = _graph()
    for importer, imported in KNOWN_CYCLE_EDGES:
        graph.get(importer, set()).discard(imported)
    assert _cycles(graph) == []


def test_known_cycle_edges_still_exist() -> None:
    """An allow-list entry whose import is gone is stale: remove it, so it cannot excuse a new circle."""
    graph = _graph()
    assert [edge for edge in sorted(KNOWN_CYCLE_EDGES) if edge[1] not in graph.get(edge[0], set())] == []


def test_domain_packages_never_import_idp() -> None:
    graph = _graph()
    upward = sorted((m, i) for m, targets in graph.items() if m.split(".")[0] in DOMAIN
                    for i in targets if i.split(".")[0] == "idp")
    assert upward == []


def test_domain_exceptions_derive_from_their_package_base() -> None:
    outside = []
    for name in sorted(_modules()):
        package = name.split(".")[0]
        if package not in DOMAIN:
            continue
        module_name, _, base_name = ERROR_BASES[package].rpartition(".")
        base = getattr(importlib.import_module(module_name), base_name)
        for _, cls in inspect.getmembers(importlib.import_module(name), inspect.isclass):
            if cls.__module__ == name and issubclass(cls, BaseException) and not issubclass(cls, base):
                outside.append(f"{name}.{cls.__name__}")
    assert outside == []


def test_the_reader_sees_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
