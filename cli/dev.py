"""``logd dev [--nodes 3] [--data-dir DIR] [--port 7070]``: a local cluster in the foreground.

One ``python -m logd.node`` process per node on consecutive ports from ``--port`` (node
ids 0..N-1, every node told every other with ``--peers``; node i's other listeners -- Kafka,
registry, HTTP, admin, MQTT -- on their default ports + i, and the address of each listener
that exists is printed beside the node), data under ``DIR/node-<id>``,
logs under ``DIR/node-<id>.log``. It prints how to connect, and each node's pid, once
every node serves; Ctrl-C (or SIGTERM) stops them all cleanly -- SIGTERM to each, then
waiting for it.

A node that dies meanwhile is reported in one line and the others keep serving: a dev
cluster is where people try failover (``kill -9`` a leader and watch the partition move),
so one death must not end the demo. When every node is gone there is nothing left to run,
and ``logd dev`` exits.

Exit codes: 0 after a clean stop, 1 when a node failed to start or died.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final

from cli import status
from cli.app import App
from cli.dev_pki import ADMIN, DevPki, write_pki

__all__ = ["add_arguments", "run"]

#: The bootstrap user's variable, as logd.broker.security.services reads it.
BOOTSTRAP_USER_ENV: Final = "LOGD_BOOTSTRAP_USER"
#: A client certificate's CN is its user name (Kafka's default would take the whole DN).
CN_RULE: Final = "RULE:^CN=([^,]+)(,.*)?$/$1/,DEFAULT"
_READY_TIMEOUT_S: Final = 60.0
_STOP_TIMEOUT_S: Final = 30.0
_POLL_S: Final = 0.1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, default=3, metavar="N", help="nodes (default 3)")
    parser.add_argument(
        "--data-dir", default="logd-dev", metavar="DIR", help="data root (default ./logd-dev)"
    )
    parser.add_argument(
        "--port", type=int, default=7070, metavar="PORT", help="first node's port (default 7070)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--racks",
        metavar="A,B,...",
        help="node i's --rack: the i-th name, round robin (a,b: nodes 0, 2, ... on a)",
    )
    parser.add_argument(
        "--secure",
        action="store_true",
        help="mTLS everywhere (a CA and certificates under DIR/tls), SASL on, an admin user",
    )
    from logd.node.args import add_listener_arguments

    add_listener_arguments(parser, per_node=True)


def _commands(args: argparse.Namespace, root: Path, pki: DevPki | None) -> list[list[str]]:
    from logd.node.args import listener_arguments, listeners_given

    addresses = [f"{args.host}:{args.port + i}" for i in range(args.nodes)]
    peers = ",".join(f"{i}@{a}" for i, a in enumerate(addresses))
    first = listeners_given(args)
    racks = args.racks.split(",") if args.racks else []
    return [
        [sys.executable, "-m", "logd.node", "--node-id", str(i), "--listen", address,
         "--data-dir", str(_node_dir(root, i)), "--peers", peers,
         *(["--rack", racks[i % len(racks)]] if racks else []),
         *listener_arguments(args.host, i, first), *_secure_flags(pki, i)]
        for i, address in enumerate(addresses)
    ]  # fmt: skip


def _secure_flags(pki: DevPki | None, node: int) -> list[str]:
    """mTLS with the node's certificate, SASL on, the admin a super user."""
    if pki is None:
        return []
    name = f"broker-{node}"
    return [
        "--tls-cert", str(pki.cert(name)), "--tls-key", str(pki.key(name)),
        "--tls-ca", str(pki.ca), "--tls-client-auth", "required",
        "--auth", "sasl", "--super-users", f"User:{ADMIN}", "--cluster-id", pki.cluster_id,
        "--ssl-principal-mapping-rules", CN_RULE,
    ]  # fmt: skip


def _node_dir(root: Path, node: int) -> Path:
    return root / f"node-{node}"


def _node_log(root: Path, node: int) -> Path:
    """Where node ``node``'s stdout and stderr go."""
    return root / f"node-{node}.log"


def _channel(address: str, pki: DevPki | None) -> Any:
    import grpc

    if pki is None:
        return grpc.insecure_channel(address)
    credentials = grpc.ssl_channel_credentials(
        pki.ca.read_bytes(), pki.key(ADMIN).read_bytes(), pki.cert(ADMIN).read_bytes()
    )
    return grpc.secure_channel(address, credentials)


def _serving(address: str, pki: DevPki | None = None) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with _channel(address, pki) as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1.0
            )
        except grpc.RpcError:
            return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


def run(app: App, args: argparse.Namespace) -> int:
    if not 1 <= args.nodes <= 32:
        app.abort("--nodes must be between 1 and 32", status.USAGE)
    if not 1 <= args.port <= 65535 - args.nodes:
        app.abort(f"--port {args.port} leaves no room for {args.nodes} nodes", status.USAGE)
    if args.racks is not None and not all(args.racks.split(",")):
        app.abort(f"--racks takes names like a,b,c, got {args.racks!r}", status.USAGE)
    root = Path(args.data_dir).expanduser().absolute()
    root.mkdir(parents=True, exist_ok=True)
    pki = write_pki(root, args.nodes) if args.secure else None
    procs: list[subprocess.Popen[bytes]] = []
    interrupted = False
    dead: set[int] = set()  # nodes that exited on their own

    def on_signal(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted = True

    # Ctrl-C too, explicitly: a process started in the background by a non-interactive
    # shell inherits SIGINT ignored, and Python then raises no KeyboardInterrupt -- `logd
    # serve` handles both signals itself for the same reason.
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        env = dict(os.environ)
        if pki is not None:  # the admin user, created once the cluster serves
            env[BOOTSTRAP_USER_ENV] = f"{ADMIN}:{pki.admin_password}"
        for i, command in enumerate(_commands(args, root, pki)):
            with _node_log(root, i).open("ab") as log:
                procs.append(
                    subprocess.Popen(
                        command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                        start_new_session=True,  # Ctrl-C reaches us; we stop them in order
                        env=env,
                    )
                )  # fmt: skip
        addresses = [f"{args.host}:{args.port + i}" for i in range(args.nodes)]
        if not _wait_ready(app, procs, addresses, root, lambda: interrupted, pki):
            return status.ERROR if not interrupted else status.OK
        _announce(app, addresses, root, procs, pki)
        while not interrupted and len(dead) < len(procs):
            for i, proc in enumerate(procs):
                if i not in dead and proc.poll() is not None:
                    dead.add(i)
                    alive = len(procs) - len(dead)
                    _fail(app, f"node {i} exited ({proc.returncode}); see {_node_log(root, i)}; "
                               f"{alive} node(s) still serving")  # fmt: skip
            time.sleep(_POLL_S)  # a foreground supervisor: polling its children is the job
        return status.ERROR if dead else status.OK
    finally:
        _stop_all(app, procs)  # ignores SIGINT first: a second Ctrl-C cannot orphan a node
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _wait_ready(
    app: App,
    procs: list[subprocess.Popen[bytes]],
    addresses: list[str],
    root: Path,
    interrupted: object,
    pki: DevPki | None,
) -> bool:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    pending = set(range(len(procs)))
    while pending:
        if interrupted():  # type: ignore[operator]
            return False
        for i in sorted(pending):
            if procs[i].poll() is not None:
                _fail(app, f"node {i} did not start; see {_node_log(root, i)}")
                return False
            if _serving(addresses[i], pki):
                pending.discard(i)
        if time.monotonic() > deadline:
            _fail(app, f"nodes {sorted(pending)} not serving after {_READY_TIMEOUT_S:.0f} s")
            return False
        time.sleep(_POLL_S)
    return True


def _fail(app: App, message: str) -> None:
    app.info(f"error: {message}")


def _announce(
    app: App,
    addresses: list[str],
    root: Path,
    procs: list[subprocess.Popen[bytes]],
    pki: DevPki | None,
) -> None:
    brokers = ",".join(addresses)
    app.print(f"logd dev: {len(addresses)} nodes serving on {brokers}; data in {root}")
    from logd.node.listeners import read_listeners

    kafka: list[str] = []
    for i, (address, proc) in enumerate(zip(addresses, procs, strict=True)):
        app.print(f"  node {i}  {address}  pid {proc.pid}  log {_node_log(root, i)}")
        others = {k: v for k, v in read_listeners(_node_dir(root, i)).items() if k != "grpc"}
        if others:
            app.print("          " + "  ".join(f"{k} {v}" for k, v in others.items()))
        if "kafka" in others:
            kafka.append(others["kafka"])
    app.print("connect with:")
    app.print(f"  export LOGD_BROKERS={brokers}")
    registry = read_listeners(_node_dir(root, 0)).get("registry")
    if registry is not None:  # node 0's; `logd registry …` and produce --value-schema use it
        app.print(f"  export LOGD_REGISTRY_URL={'https' if pki else 'http'}://{registry}")
    if pki is not None:
        _announce_secure(app, pki, read_listeners(_node_dir(root, 0)).get("kafka"))
    app.print("  logd cluster info")
    app.print(f"  logd topic create demo -p 3 -r {min(3, len(addresses))}")
    if kafka:
        app.print(f"Kafka clients: bootstrap.servers={','.join(kafka)}")
        app.print(f"  kcat -b {kafka[0]} -L")
    app.print("press Ctrl-C to stop every node")
    app.stdout.flush()


def _announce_secure(app: App, pki: DevPki, kafka: str | None) -> None:
    """The settings of the admin user: logd's environment, kcat's and confluent-kafka's."""
    settings = {
        "LOGD_TLS_CA": pki.ca, "LOGD_TLS_CERT": pki.cert(ADMIN), "LOGD_TLS_KEY": pki.key(ADMIN),
        "LOGD_USER": ADMIN, "LOGD_PASSWORD": pki.admin_password,
    }  # fmt: skip
    for key, value in settings.items():
        app.print(f"  export {key}={value}")
    if kafka is None:
        return
    kafka_settings = {
        "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-256",
        "sasl.username": ADMIN, "sasl.password": pki.admin_password,
        "ssl.ca.location": str(pki.ca), "ssl.certificate.location": str(pki.cert(ADMIN)),
        "ssl.key.location": str(pki.key(ADMIN)),
    }  # fmt: skip
    flags = " ".join(f"-X {k}={v}" for k, v in kafka_settings.items())
    app.print("kcat (Kafka listener):")
    app.print(f"  seq 5 | kcat -b {kafka} {flags} -t demo -P")
    app.print(f"  kcat -b {kafka} {flags} -t demo -C -e")
    app.print("confluent-kafka:")
    app.print(f"  Producer({{'bootstrap.servers': '{kafka}', **{kafka_settings!r}}})")


def _stop_all(app: App, procs: list[subprocess.Popen[bytes]]) -> None:
    # A second Ctrl-C must not leave nodes running behind us: stop them all first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_TIMEOUT_S
    for i, proc in enumerate(procs):
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _fail(app, f"node {i} ignored SIGTERM; killing it")
            proc.kill()
            proc.wait()
