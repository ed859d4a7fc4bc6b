"""``logd dev``: a local cluster in the foreground; Ctrl-C stops every node cleanly; a node
that dies is reported and the others keep serving."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from logd.client import Admin, NewTopic, Producer, RecordMetadata
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


def test_dev_keeps_serving_when_a_node_is_killed(tmp_path: Path) -> None:
    """What a user trying failover does: ``kill -9`` the leader of a replicated partition
    (its pid is in the banner). ``logd dev`` says so in one line, the two others keep
    taking acks=all writes, and Ctrl-C then exits 1 (a node died) after stopping them."""
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
        pids = {
            int(n): int(pid) for n, pid in re.findall(r"node (\d+) .* pid (\d+)", out.read_text())
        }
        assert sorted(pids) == [0, 1, 2]
        brokers = ",".join(f"127.0.0.1:{port + i}" for i in range(3))
        with Admin(brokers=brokers) as admin:
            admin.create_topics([NewTopic("failover", 1, 3)])
            wait_until(lambda: admin.describe_topics(["failover"])[0].partitions[0].leader >= 0,
                       timeout=30, message="a leader")  # fmt: skip
            leader = admin.describe_topics(["failover"])[0].partitions[0].leader
        os.kill(pids[leader], signal.SIGKILL)
        wait_until(lambda: f"node {leader} exited (-9)".encode() in out.read_bytes(),
                   timeout=30, message="the death reported")  # fmt: skip
        assert "2 node(s) still serving" in out.read_text()
        assert proc.poll() is None  # the others still run
        outcomes: list[object] = []
        with Producer(brokers=brokers, acks="all") as producer:
            producer.produce(
                "failover",
                b"after the kill",
                on_delivery=lambda err, md: outcomes.append(err or md),
            )
            assert producer.flush(60) == 0
        assert len(outcomes) == 1 and isinstance(outcomes[0], RecordMetadata), outcomes
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 1
        for i in set(pids) - {leader}:
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
