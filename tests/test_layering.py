"""The layers of docs/internals.md hold: every import of ``logd/``, ``cli/`` and the pure
packages goes down the direction, no two packages of ``logd/`` import each other (directly or
round a cycle), and the broker core loads no gRPC.

    records <- storage <- metadata <- cluster <- broker <- frontends/<name> <- node

Anyone may import ``logd.errors``, ``logd.clock`` and the pure packages (``replication``,
``partitioning``, ``logd.groups``, ``logd.security``, ``logd.registry``), which themselves
import only each other and ``logd.errors``. A front end reaches the core only through its seam
(``logd.broker.seam``, ``logd.broker.routing``, ``logd.broker.api``), the cluster only through
its internal handler, and no other front end -- but any front end may import the front ends'
shared plumbing, ``logd.frontends.common`` (aiohttp listener set-up, HTTP callers), which
imports no front end. The protobufs (``logd.v1``) are for the cluster
(its wire and log format), the front ends, the node and the client. The client imports nothing
of the server; the CLI the client, and of the server only what starts one
(``logd.node.args``/``main``/``listeners``). grpc is imported by the gRPC front end, the
cluster's peer transport, the client, the generated stubs and ``logd dev`` (the standard health
check of its brokers) only.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.imports import ROOT, cycles, imports_of, modules_under, roots

LAYERS = (
    "logd.records",
    "logd.storage",
    "logd.metadata",
    "logd.cluster",
    "logd.broker",
    "logd.frontends",
    "logd.node",
)
BASE = ("logd.errors", "logd.clock", "logd.tls", "logd.stats")
PURE = ("replication", "partitioning", "logd.groups", "logd.security", "logd.registry")
OTHERS = ("logd.client", "logd.v1", "logd.protogen", "cli")
WIRE_USERS = ("logd.cluster", "logd.frontends", "logd.node", "logd.client")
#: The front ends' shared plumbing: any front end may import it; it imports no front end.
FRONTEND_COMMON = "logd.frontends.common"
#: Of the core, what a front end may import.
SEAM = ("logd.broker.seam", "logd.broker.routing", "logd.broker.api", "logd.cluster.internal")
CLIENT_MAY = ("logd.client", "logd.records", "logd.metadata", "logd.v1", *BASE, *PURE)
CLI_MAY = ("cli", "logd.client", "logd.node.args", "logd.node.main", "logd.node.listeners")
GRPC = {"grpc", "grpc_health", "grpc_reflection", "grpc_tools"}
GRPC_USERS = (
    "logd.frontends.grpc",
    "logd.cluster.transport",
    "logd.client",
    "logd.v1",  # the generated *_pb2_grpc stubs
    "logd.protogen",  # runs grpc_tools' protoc
    "cli.dev",  # supervises its brokers with the standard gRPC health check
)
TREES = ("logd", "cli", "partitioning", "replication")


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def package_of(name: str) -> str:
    """The package a module belongs to for these rules; each front end is its own."""
    if _within(name, ("logd.frontends",)):
        parts = name.split(".")
        return ".".join(parts[:3]) if len(parts) > 2 else "logd.frontends"
    for prefix in sorted((*LAYERS, *BASE, *PURE, *OTHERS), key=len, reverse=True):
        if _within(name, (prefix,)):
            return prefix
    return name


def _rank(package: str) -> int:
    layer = "logd.frontends" if package.startswith("logd.frontends") else package
    return LAYERS.index(layer) if layer in LAYERS else -1


def allowed(source: str, target: str) -> bool:
    """May module ``source`` import ``target`` (a module of the trees)?"""
    src, dst = package_of(source), package_of(target)
    if src == dst or src in ("logd", "logd.protogen"):
        return True
    if src in PURE:
        # logd.security.wire: the one translation of the security types to logd.v1's
        # generated messages, shared by the gRPC front end and the client (pure code).
        wire = source == "logd.security.wire" and dst == "logd.v1"
        return dst in PURE or dst == "logd.errors" or wire
    if dst in BASE or dst in PURE:
        return True
    if src == "cli":
        return _within(target, CLI_MAY)
    if src == "logd.client":
        return _within(target, CLIENT_MAY)
    if dst == "logd.v1":
        return _within(source, WIRE_USERS)
    if _rank(src) < 0 or _rank(dst) < 0:
        return False
    if src.startswith("logd.frontends") and dst == FRONTEND_COMMON:
        return True
    if src.startswith("logd.frontends") and dst in ("logd.broker", "logd.cluster"):
        return _within(target, SEAM)
    return _rank(dst) < _rank(src)


def _ours(name: str) -> bool:
    return name.split(".", maxsplit=1)[0] in TREES


def violations(root: Path = ROOT) -> list[str]:
    """Every import against the rules, as ``source -> target`` lines."""
    modules: dict[str, Path] = {}
    for tree in TREES:
        if (root / tree).is_dir():
            modules.update(modules_under(root / tree, root))
    found = []
    for name, path in modules.items():
        imported = imports_of(path, root, modules)
        for target in sorted(i for i in imported if _ours(i)):
            if not allowed(name, target):
                found.append(f"{name} -> {target}")
        if roots(imported) & GRPC and not _within(name, GRPC_USERS):
            found.append(f"{name} -> grpc")
    return found


def package_cycles(root: Path = ROOT) -> list[list[str]]:
    """Cycles between the packages of ``logd/`` (each front end a package of its own)."""
    modules = modules_under(root / "logd", root)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        src = package_of(name)
        for target in imports_of(path, root, modules):
            if target.startswith("logd.") and package_of(target) != src:
                graph.setdefault(src, set()).add(package_of(target))
    return cycles(graph)


def test_every_import_goes_down_the_layers() -> None:
    assert violations() == []


def test_no_two_packages_of_logd_depend_on_each_other() -> None:
    assert package_cycles() == []


def test_the_broker_core_and_its_seam_load_no_grpc_and_no_wire_format() -> None:
    code = (
        "import sys, logd.broker.core, logd.broker.seam, logd.broker.routing\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('grpc', 'google') or m.startswith('logd.v1') or m.startswith('logd.frontends')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[]"


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_check_sees_an_edge_against_the_direction_and_a_cycle(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "logd/__init__.py": "",
            "logd/broker/__init__.py": "",
            "logd/broker/core.py": "from logd.cluster import runtime\n",
            "logd/broker/seam.py": "from . import core\n",
            "logd/cluster/__init__.py": "",
            "logd/cluster/runtime.py": "def f():\n    from ..broker.core import X\n",
            "logd/frontends/__init__.py": "",
            "logd/frontends/kafka/__init__.py": "",
            "logd/frontends/kafka/api.py": (
                "import grpc\nfrom logd.broker import seam\nfrom logd.broker.core import Y\n"
                "from logd.frontends.grpc import errors\n"
            ),
            "logd/frontends/grpc/__init__.py": "",
            "logd/frontends/grpc/errors.py": "import grpc\nfrom logd.node import main\n",
            "logd/node/__init__.py": "",
            "logd/node/main.py": "from logd.frontends.kafka import api\n",
            "logd/node/args.py": "",
            "logd/groups/__init__.py": "import asyncio\nfrom logd.storage import log\n",
            "logd/storage/__init__.py": "",
            "logd/storage/log.py": "",
            "cli/__init__.py": "from logd.broker import core\nfrom logd.node import args\n",
        },
    )
    assert sorted(violations(root)) == [
        "cli -> logd.broker.core",
        "logd.cluster.runtime -> logd.broker.core",
        "logd.frontends.grpc.errors -> logd.node.main",
        "logd.frontends.kafka.api -> grpc",
        "logd.frontends.kafka.api -> logd.broker.core",
        "logd.frontends.kafka.api -> logd.frontends.grpc.errors",
        "logd.groups -> logd.storage.log",
    ]
    assert package_cycles(root) == [
        ["logd.broker", "logd.cluster"],
        ["logd.frontends.grpc", "logd.frontends.kafka", "logd.node"],
    ]


def test_one_topic_partition_for_every_internal_layer() -> None:
    import ast

    import logd.broker.api
    import logd.groups.messages
    import logd.metadata.types
    import partitioning

    one = partitioning.TopicPartition
    assert logd.broker.api.TopicPartition is one
    assert logd.groups.messages.TopicPartition is one
    assert logd.metadata.types.TopicPartition is one
    assert str(one("orders", 3)) == "orders-3"
    defined = [
        name
        for tree in TREES
        for name, path in modules_under(ROOT / tree).items()
        if not name.startswith("logd.client")  # the client's public one has offsets
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef) and node.name == "TopicPartition"
    ]
    assert defined == ["partitioning.model"]
