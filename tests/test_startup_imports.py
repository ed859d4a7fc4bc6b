"""What a process loads before it does anything: a broker pays for a front end only when its
listener is on, and ``logd --help`` loads neither the client, grpc nor the storage engine.

Every test broker of the suite and every ``logd serve`` pays its imports in CPU before it
answers (``logd.node.frontends``: the factories import their front ends when called). These
run a fresh interpreter and read its ``sys.modules``, so an import added at the top of the
composition root, or of a CLI verb module, fails here rather than going unnoticed.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.imports import ROOT, imports_of, modules_under

#: What a front end (and the libraries only it uses) costs; each loads only when the
#: node starts that front end. gRPC is not here: the cluster's internal service needs it.
FRONT_END_MODULES = (
    "logd.frontends.kafka",
    "logd.frontends.http.server",
    "logd.frontends.registry",
    "logd.frontends.admin",
    "logd.frontends.mqtt",
    "kio",
    "aiohttp",
    "logd.registry",
    "jsonschema",
    "proto_schema_parser",
)


#: Libraries a broker with every listener on loads only when a request needs them: a schema
#: language's (the first schema of it parsed or used by a REST client or the console),
#: cryptography (the first TLS peer certificate read), hypothesis (never: kio's strategies).
ON_FIRST_USE = (
    "fastavro",
    "avro",
    "jsonschema",
    "referencing",
    "proto_schema_parser",
    "antlr4",
    "cryptography",
    "hypothesis",
)


def _front_end_modules() -> list[str]:
    """The front-end modules the factories of ``logd.node.frontends`` import (when called)."""
    known = modules_under(ROOT / "logd", ROOT)
    found = imports_of(ROOT / "logd" / "node" / "frontends.py", ROOT, known)
    return sorted(m for m in found if m.startswith("logd.frontends."))


def _loaded_after(code: str, prefixes: tuple[str, ...]) -> list[str]:
    """The modules under ``prefixes`` a fresh interpreter loaded after running ``code`` (a
    name mapped to None is one marked absent, not loaded)."""
    probe = (
        f"{code}\nimport json, sys\n"
        "print(json.dumps(sorted(m for m, v in sys.modules.items() if v is not None)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded: list[str] = json.loads(out.splitlines()[-1])
    return [m for m in loaded if any(m == p or m.startswith(p + ".") for p in prefixes)]


def test_the_composition_root_loads_no_front_end_until_its_listener_starts() -> None:
    code = "import logd.node.main, logd.node.build, logd.node.frontends, logd.node.runner"
    assert _loaded_after(code, FRONT_END_MODULES) == []


def test_every_front_end_started_loads_no_library_before_a_request_needs_it() -> None:
    """What a broker with every listener on has imported once its front ends started: the
    factories' modules, after ``logd.node.main`` marked hypothesis absent (kio registers a
    hypothesis strategy per type when hypothesis is importable: the dev extra)."""
    modules = _front_end_modules()
    assert "logd.frontends.kafka.listener" in modules  # the walk sees the factories' imports
    code = (
        "from logd.node.main import _without_hypothesis\n"
        "_without_hypothesis()\n"
        "import logd.node.runner, " + ", ".join(modules)
    )
    assert _loaded_after(code, ON_FIRST_USE) == []


def test_the_broker_config_loads_no_storage_engine() -> None:
    """``logd.broker.config`` builds the storage settings (``cleaner_config``, ``space``):
    the storage package's names load on first use, so the engine stays out."""
    engine = ("logd.storage.log", "logd.storage.manager", "logd.storage.cleaner", "logd.records")
    assert _loaded_after("import logd.broker.config", engine) == []


def test_every_name_the_storage_package_exports_resolves() -> None:
    import logd.storage

    missing = [name for name in logd.storage.__all__ if not hasattr(logd.storage, name)]
    assert missing == []


def test_logd_help_loads_neither_the_client_nor_grpc_nor_storage() -> None:
    """Every ``logd`` command builds every verb's parser before it runs one (``cli.main``):
    the verb modules import the client inside ``run``, and ``serve``'s flags
    (``logd.node.args``) need no broker config, which loads the storage engine."""
    code = (
        "import contextlib, io, sys\n"
        "from cli.main import main\n"
        "sys.argv = ['logd', '--help']\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main()"
    )
    heavy = ("logd.client", "grpc", "logd.frontends", "logd.cluster", "logd.storage",
             "logd.records")  # fmt: skip
    assert _loaded_after(code, heavy) == []


def test_a_serving_broker_freezes_its_start_up_heap_out_of_full_collections() -> None:
    """Full collections walk every tracked object; a broker that serves freezes what it
    started with (issue 22: 40-80 ms pauses otherwise). Run in a fresh interpreter so this
    process's collector is left alone; start-up garbage is collected, not frozen."""
    code = (
        "import gc, json, weakref\n"
        "import logd.node.build, logd.node.runner\n"
        "class Cycle: pass\n"
        "garbage = Cycle()\n"
        "garbage.me = garbage\n"  # a cycle: only a collection frees it
        "gone = weakref.ref(garbage)\n"
        "del garbage\n"
        "from logd.node.main import freeze_start_up_objects\n"
        "frozen = freeze_start_up_objects()\n"
        "print(json.dumps([frozen, gc.get_freeze_count(), gone() is None]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    frozen, count, garbage_gone = json.loads(out.stdout)
    assert frozen == count > 10_000  # the modules and what they built are frozen
    assert garbage_gone  # the cycle was collected first, not frozen for good
