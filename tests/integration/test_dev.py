"""``logd dev``: a local cluster in the foreground; Ctrl-C stops every node cleanly; a node
that dies is reported and the others keep serving."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from logd.broker.listeners import LISTENERS
from logd.client import Admin, NewTopic, Producer, RecordMetadata
from tests.helpers import free_ports, wait_until

pytestmark = pytest.mark.integration


#: ``python -m cli.main ARGS`` in a process whose SIGINT is ignored when ``logd`` starts,
#: as when it inherits that from a shell (no preexec_fn: the test process has threads).
_IGNORING_SIGINT = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "sys.argv[0] = 'logd'; runpy.run_module('cli.main', run_name='__main__')"
)


def _start_dev(
    tmp_path: Path, *extra: str
) -> tuple[int, Path, subprocess.Popen[bytes], dict[str, int]]:
    """``logd dev --nodes 3`` (and ``extra`` flags) on three free ports, started as a
    non-interactive shell starts a background job: with SIGINT ignored (POSIX), so Ctrl-C
    works only because ``logd dev`` handles it itself. Returns the first port, the output
    file, the process and each listener's first port."""
    port = _three_free_ports()
    listeners, bases = _listener_flags()
    out = tmp_path / "dev.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-c", _IGNORING_SIGINT, "dev", "--nodes", "3",
             "--data-dir", str(tmp_path / "dev"), "--port", str(port), *listeners, *extra],
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return port, out, proc, bases


def _listener_flags() -> tuple[list[str], dict[str, int]]:
    """Every listener beside gRPC on three free ports too (flags, first ports): the defaults
    (9092, 8081 …) may be taken by another test or anyone's `make run`."""
    bases = {spec.name: _three_free_ports() for spec in LISTENERS}
    return [a for spec in LISTENERS for a in (spec.flag, f"127.0.0.1:{bases[spec.name]}")], bases


def _three_free_ports() -> int:
    return free_ports(3)


def _node_pids(out: Path) -> dict[int, int]:
    """Node id -> pid, from the banner ``logd dev`` prints once every node serves."""
    found = re.findall(r"node (\d+) .* pid (\d+)", out.read_text())
    return {int(node): int(pid) for node, pid in found}


def _kill_all(proc: subprocess.Popen[bytes], out: Path) -> None:
    """After a failure: no node may outlive the test (they run in their own sessions)."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for pid in _node_pids(out).values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_dev_runs_a_three_node_cluster_and_stops_it_on_ctrl_c(tmp_path: Path) -> None:
    port, out, proc, bases = _start_dev(tmp_path, "--racks", "a,b")
    try:
        wait_until(lambda: b"Ctrl-C" in out.read_bytes(), timeout=90, message="dev to serve")
        text = out.read_text()
        brokers = ",".join(f"127.0.0.1:{port + i}" for i in range(3))
        assert f"export LOGD_BROKERS={brokers}" in text
        assert f"export LOGD_REGISTRY_URL=http://127.0.0.1:{bases['registry']}" in text
        registry = bases["registry"]
        for i in range(3):  # node i's registry on the first node's port + i, and serving
            assert f"registry 127.0.0.1:{registry + i}" in text
            with urllib.request.urlopen(f"http://127.0.0.1:{registry + i}/subjects") as answer:
                assert json.load(answer) == []
        with Admin(brokers=brokers) as admin:
            info = admin.describe_cluster()
        assert sorted(b.node_id for b in info.brokers) == [0, 1, 2]
        assert {b.node_id: b.rack for b in info.brokers} == {0: "a", 1: "b", 2: "a"}
        assert info.controller_id in (0, 1, 2)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        for i in range(3):
            log = (tmp_path / "dev" / f"node-{i}.log").read_text()
            assert "stopped cleanly" in log, log[-2000:]
    finally:
        _kill_all(proc, out)


def test_dev_keeps_serving_when_a_node_is_killed(tmp_path: Path) -> None:
    """What a user trying failover does: ``kill -9`` the leader of a replicated partition
    (its pid is in the banner). ``logd dev`` says so in one line, the two others keep
    taking acks=all writes, and Ctrl-C then exits 1 (a node died) after stopping them."""
    port, out, proc, _ = _start_dev(tmp_path)
    try:
        wait_until(lambda: b"Ctrl-C" in out.read_bytes(), timeout=90, message="dev to serve")
        pids = _node_pids(out)
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
        _kill_all(proc, out)


def _printed_kcat(out: Path) -> tuple[str, str]:
    """The two kcat command lines ``logd dev --secure`` printed (produce, consume)."""
    lines = [line.strip() for line in out.read_text().splitlines() if "kcat -b" in line]
    produce = next(line for line in lines if line.endswith("-P"))
    consume = next(line for line in lines if line.endswith("-C -e"))
    return produce, consume


def _shell(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip


def test_dev_secure_serves_mtls_with_sasl_and_prints_how_to_connect(tmp_path: Path) -> None:
    """``logd dev --secure`` (the issue's "done when"): three brokers form over mTLS, the
    printed settings (CA, client certificate, admin user and password) connect, the printed
    kcat commands produce and consume over SASL_SSL as printed, and the same command with a
    wrong password fails, saying why."""
    from logd.client import SecurityAdmin
    from logd.errors import LogdError, SaslAuthenticationFailedError

    port = _three_free_ports()
    listeners, _ = _listener_flags()
    out = tmp_path / "dev.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-c", _IGNORING_SIGINT, "dev", "--secure", "--nodes", "3",
             "--data-dir", str(tmp_path / "dev"), "--port", str(port), *listeners],
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until(lambda: b"Ctrl-C" in out.read_bytes(), timeout=120, message="dev to serve")
        exports = dict(re.findall(r"export (\w+)=(\S+)", out.read_text()))
        settings = {
            "brokers": exports["LOGD_BROKERS"], "security_protocol": "SASL_SSL",
            "ssl_ca_location": exports["LOGD_TLS_CA"],
            "ssl_certificate_location": exports["LOGD_TLS_CERT"],
            "ssl_key_location": exports["LOGD_TLS_KEY"], "sasl_username": exports["LOGD_USER"],
        }  # fmt: skip
        admin = SecurityAdmin(**settings, sasl_password=exports["LOGD_PASSWORD"])

        def admin_ok() -> bool:  # the bootstrap user is written once the cluster serves
            try:
                return admin.whoami() == "User:admin"
            except LogdError:
                return False

        try:
            wait_until(admin_ok, timeout=30, message="the admin user")
        finally:
            admin.close()
        with (
            pytest.raises(SaslAuthenticationFailedError),
            SecurityAdmin(**settings, sasl_password="wrong") as intruder,
        ):
            intruder.whoami()
        # The printed settings are all the registry verbs need too (HTTPS, the admin user).
        assert exports["LOGD_REGISTRY_URL"].startswith("https://")
        listed = subprocess.run(
            [sys.executable, "-m", "cli.main", "registry", "subject", "list", "--format", "json"],
            env={**os.environ, **exports}, capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        assert listed.returncode == 0 and json.loads(listed.stdout) == [], listed.stderr
        produce, consume = _printed_kcat(out)
        sent = _shell(produce)  # "seq 5 | kcat ... -t demo -P", as printed
        assert sent.returncode == 0, sent.stderr
        received = _shell(consume)
        assert received.returncode == 0, received.stderr
        assert received.stdout.split() == ["1", "2", "3", "4", "5"]
        password = re.search(r"sasl\.password=(\S+)", consume)
        assert password is not None
        refused = _shell(consume.replace(password.group(0), "sasl.password=wrong"))
        # logd answers with one error; librdkafka logs each attempt it makes before kcat
        # gives up, so every line it prints must say why.
        failures = [line for line in refused.stderr.splitlines() if "|FAIL|" in line]
        assert refused.returncode != 0 and failures, refused.stderr
        assert all("invalid credentials" in line for line in failures), refused.stderr
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
    finally:
        _kill_all(proc, out)
