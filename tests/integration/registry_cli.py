"""The CLI against a real broker's registry listener, for the registry's integration tests:
in this process (fast) or as the console script (a process of its own)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from unittest import mock

from cli.main import main
from tests.integration.cluster import BrokerProcess

__all__ = ["logd", "logd_process", "ok"]


def logd(
    broker: BrokerProcess, *args: str, stdin: bytes = b"", registry: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    """The CLI in this process (its streams captured), as ``logd -b BROKER ARGS``: the
    same code as the console script at a fraction of a process start each."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.StringIO()
    given = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    url = registry or broker.bound()["registry"]
    with (
        mock.patch.dict(os.environ, {"LOGD_REGISTRY_URL": url}),
        mock.patch.multiple(sys, stdout=out, stderr=err, stdin=given),
    ):
        code = main(["-b", broker.address, *args])
    out.flush()
    argv = ["logd", *args]
    return subprocess.CompletedProcess(argv, code, out.buffer.getvalue(), err.getvalue().encode())


def logd_process(
    broker: BrokerProcess, *args: str, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    """The console script itself, in a process of its own."""
    env = {**os.environ, "LOGD_REGISTRY_URL": broker.bound()["registry"]}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "-b", broker.address, *args],
        input=stdin, capture_output=True, timeout=60, check=False, env=env,
    )  # fmt: skip


def ok(result: subprocess.CompletedProcess[bytes]) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()
