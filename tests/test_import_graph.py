"""The package's import graph, lazy (in-function) imports included: no cycles, no upward arrows.

Every ``import`` / ``from ... import`` statement anywhere in a module of ``svdd_ray`` is an arrow from
that module to the module it names (``from a.b import c`` names ``a.b.c`` when that is a module,
else ``a.b``). Parent packages that Python runs on the way are not arrows.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "svdd_ray"
DOMAINS = ("chem", "dna", "images", "rna")


def module_names(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``root / package``."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _base(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a ``from`` statement starts from (relative levels resolved)."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def imported(module: str, path: Path, known: set[str]) -> set[str]:
    """Every module ``module`` imports anywhere in its file (absolute names, third-party included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _base(module, path, node)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (external imports dropped, self-arrows dropped)."""
    modules = module_names(root)
    known = set(modules)
    return {name: (imported(name, path, known) & known) - {name} for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_engine_imports_no_domain():
    domains = tuple(f"{PACKAGE}.{d}" for d in DOMAINS)
    arrows = [
        (src, dst)
        for src, dsts in import_graph().items()
        if src.startswith(f"{PACKAGE}.engine")
        for dst in dsts
        if dst.startswith(domains)
    ]
    assert arrows == []


def test_library_never_imports_experiments():
    modules = module_names()
    known = set(modules)
    offenders = [
        (name, dst)
        for name, path in modules.items()
        for dst in imported(name, path, known)
        if dst == "experiments" or dst.startswith("experiments.")
    ]
    assert offenders == []


def test_cycle_finder_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
