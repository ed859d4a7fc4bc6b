"""Real broker processes for integration tests: start, wait until ready, stop, kill, pause.

A :class:`BrokerProcess` runs ``python -m logd.node`` on a loopback port with its own data
directory and captures stdout and stderr to files (a pipe could fill and block the broker).
Every other listener (Kafka, registry, HTTP, admin, MQTT: ``logd.broker.listeners``) gets a
free loopback port of its own too, or ``off``, so parallel tests never meet on 9092 or 8081;
:meth:`BrokerProcess.bound` gives the addresses the broker reports it bound.
Readiness is the standard gRPC health check answering SERVING, polled against a deadline —
never a fixed sleep. A :class:`Cluster` holds N of them; each broker is told every member
with ``--peers`` once there is more than one, so the replication issue only has to start a
``Cluster(size=3)``.

Every failure message carries the tail of the broker's stderr.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from logd.broker.listeners import LISTENERS
from logd.node.listeners import read_listeners
from tests.helpers import free_port

__all__ = ["BrokerFailed", "BrokerProcess", "Cluster"]

#: How a broker is started: the module (default) or the ``logd serve`` console script.
MODULE_ENTRY = (sys.executable, "-m", "logd.node")
CONSOLE_ENTRY = (str(Path(sys.executable).with_name("logd")), "serve")

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
_TAIL_CHARS = 4000


class BrokerFailed(AssertionError):
    """A broker did not start, stop or answer as expected (the message has its stderr)."""


class BrokerProcess:
    """One broker process. Not thread-safe; owned by one test (or fixture)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        node_id: int = 0,
        port: int | None = None,
        peers: str | None = None,
        config_file: Path | None = None,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        entry: Sequence[str] = MODULE_ENTRY,
        listeners: Mapping[str, str] | None = None,
    ) -> None:
        """``listeners``: listener name -> ``HOST:PORT`` or ``off`` (unnamed ones: off, but
        for the brokers' Raft TCP listener ``rpc``, which gets a free port: it carries the
        cluster's traffic, not a client's); None gives every listener a free loopback port."""
        self.data_dir = data_dir
        self.entry = list(entry)
        self.node_id = node_id
        self._port_chosen_here = port is None
        self.port = port if port is not None else free_port()
        self._listeners_chosen_here = listeners is None
        self.listeners = dict(listeners) if listeners is not None else _free_listeners()
        self.listeners.setdefault("rpc", f"127.0.0.1:{free_port()}")
        self.peers = peers
        self.config_file = config_file
        self.extra_args = list(extra_args)
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._channel: grpc.Channel | None = None
        #: Set for a broker serving TLS: how the harness's own channel reaches it.
        self.channel_credentials: grpc.ChannelCredentials | None = None
        run_dir = data_dir.parent / f"{data_dir.name}.run"
        run_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = run_dir / "stdout.txt"
        self.stderr_path = run_dir / "stderr.txt"

    # -- addresses and clients -------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def bound(self) -> dict[str, str]:
        """The address each started listener bound (``grpc``, ``kafka`` …), as the serving
        broker reported it (``<data-dir>/listeners.json``); {} before it serves."""
        return read_listeners(self.data_dir)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def channel(self) -> grpc.Channel:
        """A channel to this broker, kept across restarts (gRPC reconnects by itself)."""
        if self._channel is None:
            options = [
                ("grpc.max_receive_message_length", -1),
                ("grpc.max_send_message_length", -1),
                # Reconnect quickly after a restart rather than after gRPC's backoff.
                ("grpc.initial_reconnect_backoff_ms", 50),
                ("grpc.max_reconnect_backoff_ms", 200),
            ]
            if self.channel_credentials is not None:
                self._channel = grpc.secure_channel(
                    self.address, self.channel_credentials, options=options
                )
            else:
                self._channel = grpc.insecure_channel(self.address, options=options)
        return self._channel

    def internal_metadata(self) -> tuple[tuple[str, str], ...]:
        """What a broker presents on the internal service without TLS: the cluster's id (as
        the broker derives it from its peers) and a broker's node id (this one's)."""
        from logd.broker.config import parse_peers
        from logd.broker.security.config import derived_cluster_id

        peers = (
            {p.node_id: str(p.address) for p in parse_peers(self.peers)}
            if self.peers
            else {self.node_id: self.address}
        )
        return (("logd-cluster-id", derived_cluster_id(peers)), ("logd-node-id", str(self.node_id)))

    # -- lifecycle -------------------------------------------------------------------------

    def command(self) -> list[str]:
        cmd = [
            *self.entry,
            "--node-id",
            str(self.node_id),
            "--data-dir",
            str(self.data_dir),
            "--listen",
            self.address,
        ]
        for spec in LISTENERS:
            cmd += [spec.flag, self.listeners.get(spec.name, "off")]
        if self.peers:
            cmd += ["--peers", self.peers]
        if self.config_file is not None:
            cmd += ["--config", str(self.config_file)]
        return cmd + self.extra_args

    def start(self, *, wait: bool = True) -> None:
        """Start the process; with ``wait``, return once it serves. A port that another
        process took since :func:`free_port` chose it is replaced once (first start only)."""
        self._spawn()
        if not wait:
            return
        try:
            self.wait_ready()
        except BrokerFailed:
            lost_port = "cannot listen" in self.stderr_text()
            if not (lost_port and self._port_chosen_here and self.starts == 1):
                raise
            self.port = free_port()
            if self._listeners_chosen_here:
                self.listeners = _free_listeners()
            self.close()
            self._spawn()
            self.wait_ready()

    def _spawn(self) -> None:
        assert not self.running, "already running"
        self.starts += 1
        env = {**os.environ, **(self.env or {}), "PYTHONUNBUFFERED": "1"}
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            banner = f"--- start #{self.starts}: {' '.join(self.command())}\n".encode()
            err.write(banner)
            err.flush()
            self.proc = subprocess.Popen(
                self.command(), stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env
            )

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Until the health service says SERVING; fail early if the process exits."""
        deadline = time.monotonic() + timeout
        stub = health_pb2_grpc.HealthStub(self.channel())
        while True:
            if not self.running:
                raise BrokerFailed(f"broker {self.node_id} exited while starting{self._tail()}")
            with contextlib.suppress(grpc.RpcError):
                answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            if time.monotonic() >= deadline:
                raise BrokerFailed(
                    f"broker {self.node_id} not ready after {timeout}s{self._tail()}"
                )
            time.sleep(0.02)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, then wait for the exit; returns the exit code (0 after a clean stop)."""
        return self._signal_and_wait(signal.SIGTERM, timeout)

    def kill(self) -> int:
        """SIGKILL: no flush, no clean-shutdown marker."""
        return self._signal_and_wait(signal.SIGKILL, STOP_TIMEOUT_S)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def restart(self, *, clean: bool = True) -> None:
        """Stop (SIGTERM, or SIGKILL when not ``clean``) and start again: same dir, port."""
        code = self.stop() if clean else self.kill()
        if clean and code != 0:
            raise BrokerFailed(f"broker {self.node_id} exited {code} on SIGTERM{self._tail()}")
        self.start()

    def _signal_and_wait(self, signum: int, timeout: float) -> int:
        proc = self.proc
        assert proc is not None, "never started"
        if proc.poll() is None:
            if signum != signal.SIGKILL:
                proc.send_signal(signal.SIGCONT)  # a paused broker cannot handle SIGTERM
            proc.send_signal(signum)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise BrokerFailed(
                    f"broker {self.node_id} ignored {signal.Signals(signum).name} for "
                    f"{timeout}s{self._tail()}"
                ) from None
        return proc.returncode

    def close(self) -> None:
        """Kill whatever still runs and drop the channel (fixture teardown)."""
        if self.running:
            self.kill()
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    # -- output ----------------------------------------------------------------------------

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def raft_links(self) -> dict[int, str]:
        """How this broker's Raft links to each peer opened last, from its log: ``tcp`` (the
        peer's ``--rpc-listen`` listener) or ``the gRPC stream``."""
        links: dict[int, str] = {}
        for line in self.stderr_text().splitlines():
            _, found, rest = line.partition("raft link to broker ")
            peer, sep, kind = rest.partition(": ")
            if found and sep and peer.isdigit():
                links[int(peer)] = kind.split(" ")[0] if kind.startswith("tcp") else kind
        return links

    def stdout_text(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def _tail(self) -> str:
        text = self.stderr_text()
        return f"\n--- stderr of broker {self.node_id} (tail) ---\n{text[-_TAIL_CHARS:]}"


def _free_listeners() -> dict[str, str]:
    return {spec.name: f"127.0.0.1:{free_port()}" for spec in LISTENERS}


class Cluster:
    """``size`` brokers under ``root`` (ids 0..size-1), each told every member via --peers
    (broker i on rack ``racks[i]`` when ``racks`` are given)."""

    def __init__(
        self,
        root: Path,
        size: int = 1,
        *,
        extra_args: Sequence[str] = (),
        racks: Sequence[str] = (),
        rpc_off: Sequence[int] = (),
    ) -> None:
        """``rpc_off``: the brokers started with ``--rpc-listen off`` (Raft frames reach them
        over the gRPC stream)."""
        ports = [free_port() for _ in range(size)]
        peers = ",".join(f"{i}@127.0.0.1:{p}" for i, p in enumerate(ports)) if size > 1 else None
        self.brokers = [
            BrokerProcess(
                root / f"broker-{i}",
                node_id=i,
                port=ports[i],
                peers=peers,
                extra_args=[*extra_args, *(["--rack", racks[i]] if racks else [])],
            )
            for i in range(size)
        ]
        for i in rpc_off:
            self.brokers[i].listeners["rpc"] = "off"

    def __iter__(self) -> Iterator[BrokerProcess]:
        return iter(self.brokers)

    def __getitem__(self, node_id: int) -> BrokerProcess:
        return self.brokers[node_id]

    @property
    def bootstrap(self) -> str:
        return ",".join(b.address for b in self.brokers)

    def start(self) -> None:
        for broker in self.brokers:
            broker.start(wait=False)
        for broker in self.brokers:
            broker.wait_ready()

    def stop(self) -> dict[int, int]:
        """SIGTERM every broker; their exit codes by node id."""
        return {b.node_id: b.stop() for b in self.brokers if b.proc is not None}

    def close(self) -> None:
        for broker in self.brokers:
            broker.close()

    def stderr_tails(self) -> str:
        return "".join(b._tail() for b in self.brokers)
