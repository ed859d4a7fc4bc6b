"""logd/security/ is pure (PREAMBLE "Global layout"): no I/O, clock, randomness or network
modules, and of logd only the shared error types."""

from __future__ import annotations

import ast
import pathlib

import logd.security

FORBIDDEN = {
    "grpc", "asyncio", "time", "random", "os", "socket", "threading", "ssl", "secrets",
    "subprocess", "pathlib", "aiohttp",
}  # fmt: skip
ALLOWED_LOGD = {"logd.errors", "logd.security", "logd.v1"}  # generated messages
PACKAGE = pathlib.Path(logd.security.__file__).parent


def _imports(path: pathlib.Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _offences(path: pathlib.Path) -> list[str]:
    bad = []
    for name in _imports(path):
        top = name.split(".")[0]
        inside = any(name == ok or name.startswith(ok + ".") for ok in ALLOWED_LOGD)
        if top in FORBIDDEN or (top == "logd" and not inside):
            bad.append(name)
    return sorted(bad)


def test_no_module_imports_io_clock_randomness_or_upper_layers() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) >= 9
    offenders = {str(p.relative_to(PACKAGE)): _offences(p) for p in modules}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_check_sees_imports(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os.path\nfrom time import monotonic\nimport logd.broker.core\n")
    assert _offences(bad) == ["logd.broker.core", "os.path", "time"]


def test_every_module_declares_all() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        names = {
            t.id
            for node in tree.body
            if isinstance(node, (ast.Assign, ast.AnnAssign))
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(t, ast.Name)
        }
        assert "__all__" in names, f"{path.name} has no __all__"
