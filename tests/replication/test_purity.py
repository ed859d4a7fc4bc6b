"""replication/ is sans-I/O (DESIGN.md principle 4, STYLE.md 1): no I/O, clock or
randomness modules, and nothing of logd."""

from __future__ import annotations

import ast
import pathlib

import replication
from tests.imports import imports_of, roots

FORBIDDEN = {"grpc", "asyncio", "time", "random", "os", "socket", "threading", "logd"}
PACKAGE = pathlib.Path(replication.__file__).parent


def test_no_core_module_imports_io_clock_randomness_or_logd() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) >= 10
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(roots(imports_of(path)) & FORBIDDEN)
        for path in modules
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_check_sees_imports(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os.path\nfrom time import monotonic\nimport logd.errors as e\n")
    assert roots(imports_of(bad)) & FORBIDDEN == {"os", "time", "logd"}


def test_every_core_module_declares_all() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        names = {
            t.id
            for node in ast.parse(path.read_text()).body
            if isinstance(node, ast.Assign)
            for t in node.targets
            if isinstance(t, ast.Name)
        }
        assert "__all__" in names, f"{path.name} has no __all__"
