"""``logd dev``: a local cluster in the foreground; Ctrl-C stops every node cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from logd.client import Admin
from tests.helpers import free_port, wait_until

pytestmark = pytest.mark.integration


def test_dev_runs_a_three_node_cluster_and_stops_it_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    while any(_taken(port + i) for i in range(3)):
        port = free_port()
    out = tmp_path / "dev.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "dev", "--nodes", "3",
             "--data-dir", str(tmp_path / "dev"), "--port", str(port)],
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until(lambda: b"Ctrl-C" in out.read_bytes(), timeout=90, message="dev to serve")
        text = out.read_text()
        brokers = ",".join(f"127.0.0.1:{port + i}" for i in range(3))
        assert f"export LOGD_BROKERS={brokers}" in text
        with Admin(brokers=brokers) as admin:
            info = admin.describe_cluster()
        assert sorted(b.node_id for b in info.brokers) == [0, 1, 2]
        assert info.controller_id in (0, 1, 2)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        for i in range(3):
            log = (tmp_path / "dev" / f"node-{i}.log").read_text()
            assert "stopped cleanly" in log, log[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _taken(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False
