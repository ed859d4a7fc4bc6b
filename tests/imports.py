"""The one import walker of the purity and layering tests: what each module of a source tree
imports, read with ``ast`` (nothing is imported, so no module's side effects run).

Every import counts -- at the top, inside a function (a lazy import is a dependency all the
same), under ``if TYPE_CHECKING`` -- and relative imports are resolved against the module's
package. ``from a.b import c`` is the edge ``a.b.c`` when ``a/b/c.py`` is a module of the
tree, else ``a.b``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["ROOT", "cycles", "imports_of", "module_name", "modules_under", "roots"]

#: The repository (the directory holding ``logd/``, ``partitioning/`` …).
ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path, root: Path = ROOT) -> str:
    """``logd/broker/core.py`` -> ``logd.broker.core``; a package's ``__init__`` is the
    package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules_under(package_dir: Path, root: Path = ROOT) -> dict[str, Path]:
    """Every ``.py`` module below ``package_dir``, by dotted name."""
    return {module_name(p, root): p for p in sorted(package_dir.rglob("*.py"))}


def imports_of(path: Path, root: Path = ROOT, known: Iterable[str] = ()) -> set[str]:
    """The dotted names ``path`` imports (see the module doc); ``known`` names the modules
    of the tree, so that ``from pkg import module`` resolves to the module."""
    modules = set(known)
    name = module_name(path, root) if path.is_relative_to(root) else path.stem
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in modules else base)
    found.discard("")
    return found


def roots(names: Iterable[str]) -> set[str]:
    """The top-level names (``os.path`` -> ``os``)."""
    return {n.split(".")[0] for n in names}


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found
