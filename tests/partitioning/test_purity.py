"""``partitioning/`` stays pure: no I/O, clocks, randomness or logd (DESIGN.md layout)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import partitioning
from tests.imports import imports_of, roots

PACKAGE = Path(partitioning.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))
FORBIDDEN = {"asyncio", "grpc", "logd", "os", "random", "socket", "threading", "time"}


def test_the_package_has_modules() -> None:
    assert len(MODULES) >= 10


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_nothing_impure(path: Path) -> None:
    assert not roots(imports_of(path)) & FORBIDDEN


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_declares_all(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    assert "__all__" in names


def test_public_api_is_exported() -> None:
    for name in partitioning.__all__:
        assert hasattr(partitioning, name), name
