"""The client's layout holds: its packages import downwards only, the membership machine and
the shells' actions are sans I/O, and every module says what it exports."""

from __future__ import annotations

import ast

from tests.imports import ROOT, imports_of, modules_under

CLIENT = ROOT / "logd" / "client"
#: Bottom-up; a package may import its own modules and those of the rows below it.
LAYERS = (
    ("types", "config"),
    ("transport",),
    ("producer", "group", "serde"),  # serde: the schema-registry serializers (issue 17)
    ("consumer",),
    ("aio",),
    ("sync",),  # sync.Admin runs aio.AsyncAdmin on the shared loop
    ("patterns",),
)
#: No socket, task, thread or clock of their own: inputs in, steps out.
SANS_IO = (
    "logd.client.group.assign",
    "logd.client.group.member_state",
    "logd.client.group.machine",
    "logd.client.consumer.actions",
)
IO = {"asyncio", "grpc", "socket", "threading", "time", "selectors", "logd.v1"}
#: What users (and logd's own CLI and benchmarks) import; the packages above are inside.
PUBLIC = (
    "logd.client",
    "logd.client.aio",
    "logd.client.types",
    "logd.client.patterns",
    "logd.client.serde",  # the schema-registry serializers and their registry client
)
#: The one instrument allowed inside: it times the client's insides (issue 22's stage trace)
#: by wrapping them; no user of logd needs what it reaches.
INSTRUMENTS = ("bench.latency_probes",)


def _package(module: str) -> str | None:
    """``logd.client.group.machine`` -> ``group``; the package's own ``__init__`` -> None."""
    parts = module.split(".")
    if len(parts) < 3:
        return None
    return parts[2]


def _rank(package: str) -> int:
    for rank, row in enumerate(LAYERS):
        if package in row:
            return rank
    raise AssertionError(f"logd/client/{package} is in no row of LAYERS")


def test_client_packages_import_downwards_only() -> None:
    modules = modules_under(CLIENT, ROOT)
    wrong = []
    for name, path in modules.items():
        source = _package(name)
        if source is None:
            continue
        for target in imports_of(path, ROOT, modules):
            if not target.startswith("logd.client."):
                continue
            dest = _package(target)
            assert dest is not None, f"{name} imports the logd.client package itself"
            if dest != source and _rank(dest) >= _rank(source):
                wrong.append(f"{name} -> {target}")
    assert wrong == []


def test_the_cli_and_the_benchmarks_use_only_the_public_client() -> None:
    """They are the client's first users: what they need of it is public API."""
    client = modules_under(CLIENT, ROOT)
    wrong = []
    for tree in ("cli", "bench"):
        for name, path in modules_under(ROOT / tree, ROOT).items():
            if name in INSTRUMENTS:
                continue
            for target in imports_of(path, ROOT, client):
                inside = target.startswith("logd.client.") and not any(
                    target == p or target.startswith(p + ".") for p in PUBLIC[1:]
                )
                if inside:
                    wrong.append(f"{name} -> {target}")
    assert wrong == []


def test_the_machine_and_the_actions_are_sans_io() -> None:
    modules = modules_under(CLIENT, ROOT)
    seen: set[str] = set()
    todo = list(SANS_IO)
    while todo:  # everything they import of the client, transitively
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        imported = imports_of(modules[name], ROOT, modules)
        banned = sorted(i for i in imported if any(i == b or i.startswith(b + ".") for b in IO))
        assert banned == [], f"{name} imports {banned}"
        todo.extend(i for i in imported if i in modules)
    assert {"logd.client.types", "logd.client.config"} <= seen


def test_every_client_module_has_all() -> None:
    missing = []
    for name, path in modules_under(CLIENT, ROOT).items():
        tree = ast.parse(path.read_text())
        names = {
            t.id
            for node in tree.body
            if isinstance(node, (ast.Assign, ast.AnnAssign))
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(t, ast.Name)
        }
        if "__all__" not in names:
            missing.append(name)
    assert missing == []


def _defined_names(tree: ast.Module) -> list[str]:
    """The classes and type aliases a module defines at its top level."""
    names = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    names += [
        node.target.id
        for node in tree.body
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and "TypeAlias" in ast.unparse(node.annotation)
    ]
    return names


def test_one_meaning_per_name() -> None:
    """Every class and type alias of the client is defined once, and the bare name
    ``TopicPartition`` means the public type: imported from ``logd.client.types`` or not at
    all (``group/assign.py`` reaches partitioning's as ``partitioning.TopicPartition``)."""
    where: dict[str, list[str]] = {}
    wrong = []
    for name, path in modules_under(CLIENT, ROOT).items():
        tree = ast.parse(path.read_text())
        for defined in _defined_names(tree):
            where.setdefault(defined, []).append(name)
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            for alias in node.names:
                bound = alias.asname or alias.name
                if "TopicPartition" in (alias.name, bound) and (
                    node.level or node.module != "logd.client.types" or bound != alias.name
                ):
                    source = "." * node.level + (node.module or "")
                    wrong.append(f"{name}: from {source} import {alias.name}")
    assert wrong == []
    assert {n: ms for n, ms in where.items() if len(ms) > 1} == {}
    assert where["TopicPartition"] == ["logd.client.types"]
    assert "Tp" not in where
