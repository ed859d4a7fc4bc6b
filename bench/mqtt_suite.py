"""MQTT beside Mosquitto (issue 19), in one run with one client (``bench.mqtt_client``).

Systems: logd's MQTT listener (one broker, ``--fsync always``: QoS 1 answered once
fsynced) and Debian's ``mosquitto`` 2.0 (persistence off: QoS 1 answered from memory), each
on a free loopback port. Workloads, 100-byte payloads to ``bench/dev-<connection>/x``
(logd: topic ``bench``, keyed by device, one partition):

* ``qos0 x1``, ``qos0 x100`` — QoS 0 publishes from 1 and 100 connections, each ending with a
  QoS 1 publish (the broker answers it after everything before it on the connection, so
  the time is to the last one handled, not the last one written);
* ``qos1 x1``, ``qos1 x100`` — QoS 1 with up to the broker's Receive Maximum (at most 256)
  unacknowledged per connection, until the last PUBACK;
* ``pub->sub`` — a QoS 1 subscriber and a publisher at a fixed rate; latency from publish to
  receipt (p50, p99), the send time in the payload;
* ``idle`` — connections opened (CONNECT, CONNACK, then nothing) until the target count or
  the first refusal, and the broker's resident memory per connection (RSS delta / count).

Both brokers run at once and each workload runs on logd then on Mosquitto, ``--repeats``
times (default 2): on a machine shared with other work the load moves within a minute, and
two runs back to back see about the same; the table gives each broker's median and the
median of the pairs' ratios.

Run: ``python -m bench.mqtt_suite [--quick] [--repeats N]`` or as part of ``make bench``. A
benchmark, not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import Service, Unavailable, apt_install, free_port, percentiles, wait_port
from bench.mqtt_client import BenchClient
from logd.frontends.mqtt.codec import encode
from logd.frontends.mqtt.packets import MQTT_3_1_1, Connect

__all__ = ["main", "run_mqtt"]

RESULTS = Path(__file__).parent / "results"
PAYLOAD = 100


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _payloads(n: int) -> list[bytes]:
    return [(b"%012d" % i).ljust(PAYLOAD, b"x") for i in range(n)]


# -- workloads -------------------------------------------------------------------------------


async def _publish(port: int, qos: int, connections: int, per_connection: int) -> float:
    clients = [BenchClient("127.0.0.1", port, f"pub-{qos}-{connections}-{i}")
               for i in range(connections)]  # fmt: skip
    windows = []
    for c in clients:
        connack = await c.connect()
        windows.append(min(256, connack.properties.receive_maximum or 256))
    payloads = _payloads(per_connection)
    started = time.perf_counter()

    async def one(i: int, c: BenchClient) -> None:
        topic = f"bench/dev-{i}/x"
        await c.publish_many(topic, payloads, qos, windows[i])
        if qos == 0:
            await c.publish_many(topic, [b"fence"], 1, 1)

    await asyncio.gather(*(one(i, c) for i, c in enumerate(clients)))
    seconds = time.perf_counter() - started
    for c in clients:
        await c.close()
    refused = sum(c.refused for c in clients)
    if refused:
        why = next(c.refusal for c in clients if c.refused)
        raise Unavailable(f"{refused} publishes refused ({why}): no figure")
    return connections * per_connection / seconds


async def _latency(port: int, rate: int, seconds: float) -> tuple[float, float, int]:
    received: list[float] = []
    sub = BenchClient("127.0.0.1", port, "lat-sub")
    await sub.connect()

    def on_message(p: Any) -> None:
        sent = float(p.payload[:20])
        received.append((time.perf_counter() - sent) * 1000.0)

    sub.on_message = on_message
    await sub.subscribe("latency/#", 1)
    pub = BenchClient("127.0.0.1", port, "lat-pub")
    connack = await pub.connect()
    window = min(256, connack.properties.receive_maximum or 256)
    total = int(rate * seconds)
    tick = 0.001
    per_tick = max(1, rate // 1000)
    started = time.perf_counter()
    sent = 0
    while sent < total:
        due = started + (sent // per_tick) * tick
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        batch = [f"{time.perf_counter():<20.9f}".encode().ljust(PAYLOAD, b"x")
                 for _ in range(per_tick)]  # fmt: skip
        await pub.publish_many("latency/dev-1/x", batch, 1, window)
        sent += per_tick
    deadline = time.monotonic() + 30
    while len(received) < total and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await pub.close()
    await sub.close()
    lat = sorted(received)
    p50, p99 = percentiles(lat, (50, 99))
    return p50 or 0.0, p99 or 0.0, len(lat)


def _idle(port: int, pid: int, target: int) -> tuple[int, float]:
    """Open up to ``target`` idle connections; (held, bytes of broker RSS each)."""
    connect = encode(Connect("", MQTT_3_1_1, True, 0), MQTT_3_1_1)
    before = _rss_bytes(pid)
    socks: list[socket.socket] = []
    try:
        for i in range(target):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                s.sendall(connect)
                if s.recv(4)[:1] != b"\x20":
                    s.close()
                    break
            except OSError:
                break
            socks.append(s)
            if i % 1000 == 999:
                time.sleep(0.05)  # let the broker keep up with the accepts
        time.sleep(1.0)  # allocations settle (buffers, the broker's own bookkeeping)
        after = _rss_bytes(pid)
    finally:
        for s in socks:
            s.close()
    held = len(socks)
    return held, (after - before) / held if held else 0.0


def _workloads(quick: bool) -> list[Callable[[int], dict[str, float]]]:
    """Each workload: a run against a broker's port, giving its rows' figures."""
    n1 = 20_000 if quick else 100_000
    n100 = 200 if quick else 1_000
    seconds = 3.0 if quick else 10.0

    def publish(qos: int, connections: int, per: int) -> Callable[[int], dict[str, float]]:
        row = f"qos{qos} x{connections}"
        return lambda port: {row: asyncio.run(_publish(port, qos, connections, per))}

    def latency(port: int) -> dict[str, float]:
        p50, p99, _ = asyncio.run(_latency(port, 1000, seconds))
        return {"pub->sub p50 ms": p50, "pub->sub p99 ms": p99}

    return [publish(0, 1, n1), publish(0, 100, n100), publish(1, 1, n1), publish(1, 100, n100),
            latency]  # fmt: skip


# -- systems ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _logd(root: Path) -> Iterator[tuple[int, int]]:
    grpc_port, mqtt_port = free_port(), free_port()
    argv = [sys.executable, "-m", "logd.node", "--data-dir", str(root / "logd"), "--listen",
            f"127.0.0.1:{grpc_port}", "--mqtt-listen", f"127.0.0.1:{mqtt_port}",
            "--kafka-listen", "off", "--registry-listen", "off", "--http-listen", "off",
            "--admin-listen", "off", "--log-level", "WARNING"]  # fmt: skip
    service = Service("logd-mqtt", argv, root)
    with service.running():
        assert service.proc is not None
        wait_port(mqtt_port, service.proc, 60)
        yield mqtt_port, service.proc.pid


@contextlib.contextmanager
def _mosquitto(root: Path) -> Iterator[tuple[int, int]]:
    binary = apt_install("mosquitto", "mosquitto")
    port = free_port()
    conf = root / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_connections -1\nmax_inflight_messages 256\nmax_queued_messages 100000\n"
        "log_type error\n"
    )
    service = Service("mosquitto", [binary, "-c", str(conf)], root)
    with service.running():
        assert service.proc is not None
        wait_port(port, service.proc, 30)
        yield port, service.proc.pid


ROWS = ("qos0 x1", "qos0 x100", "qos1 x1", "qos1 x100", "pub->sub p50 ms", "pub->sub p99 ms",
        "idle connections", "bytes/idle connection")  # fmt: skip
_LOWER_IS_BETTER = {"pub->sub p50 ms", "pub->sub p99 ms", "bytes/idle connection"}
RATIO = "logd/mosquitto"  # the results' key of the ratios (median of each pair's ratio)


def _ratio(row: str, ours: float, theirs: float) -> float:
    """logd's figure against Mosquitto's, above 1 when logd does better."""
    return theirs / ours if row in _LOWER_IS_BETTER else ours / theirs


def table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown: each row, logd and Mosquitto (medians), and logd's ratio (above 1: logd
    better; the median of the ratios of runs made back to back, when there are pairs)."""
    lines = ["| MQTT | logd (fsync always) | Mosquitto 2.0 (memory) "
             "| logd vs Mosquitto (>1: logd better) |",
             "| --- | ---: | ---: | ---: |"]  # fmt: skip
    ours, theirs = results.get("logd", {}), results.get("mosquitto", {})
    paired = results.get(RATIO, {})
    for row in ROWS:
        a, b = ours.get(row), theirs.get(row)
        ratio = "—"
        if row in paired:
            ratio = f"{paired[row]:.2f}"
        elif a and b:
            ratio = f"{_ratio(row, a, b):.2f}"
        unit = " msgs/s" if row.startswith("qos") else ""
        lines.append(f"| {row}{unit} | {_fmt(a)} | {_fmt(b)} | {ratio} |")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:,.2f}" if isinstance(value, float) and value < 100 else f"{value:,.0f}"


def run_mqtt(root: Path, quick: bool, repeats: int = 2) -> dict[str, dict[str, Any]]:
    """Both brokers up at once; each row run on logd then on Mosquitto, ``repeats`` times:
    on a machine shared with other work the load moves within a minute, and a pair run back
    to back sees about the same. Figures: medians; ratios: the median of the pairs'."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the idle workload's sockets
    results: dict[str, dict[str, Any]] = {"logd": {}, "mosquitto": {}, RATIO: {}}
    runs: dict[str, dict[str, list[float]]] = {"logd": {}, "mosquitto": {}}
    with contextlib.ExitStack() as stack:
        brokers: dict[str, tuple[int, int]] = {}
        for name, start in (("logd", _logd), ("mosquitto", _mosquitto)):
            (root / name).mkdir(exist_ok=True)
            try:
                brokers[name] = stack.enter_context(start(root / name))
            except Unavailable as exc:
                print(f"  skipped {name}: {exc}", flush=True)
        # Idle connections first, on fresh brokers: after the other workloads a heap has
        # room freed by them, and the RSS growth per connection would read too low.
        for name, (port, pid) in brokers.items():
            held, per = _idle(port, pid, 2_000 if quick else 10_000)
            results[name]["idle connections"], results[name]["bytes/idle connection"] = held, per
            print(f"  {name} idle: {held} held, {per:,.0f} B of broker RSS each", flush=True)
        for run in _workloads(quick):
            for _ in range(repeats):
                for name, (port, _pid) in brokers.items():
                    for row, value in run(port).items():
                        runs[name].setdefault(row, []).append(value)
                        print(f"  {name} {row}: {_fmt(value)}", flush=True)
    for name, rows in runs.items():
        for row, values in rows.items():
            results[name][row] = statistics.median(values)
    if len(brokers) == 2:
        for row, values in runs["logd"].items():
            pairs = zip(values, runs["mosquitto"].get(row, []), strict=False)
            results[RATIO][row] = statistics.median(_ratio(row, a, b) for a, b in pairs)
    results["runs"] = runs
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mqtt_suite", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each row per broker")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with tempfile.TemporaryDirectory(prefix="logd-bench-mqtt-") as tmp:
        results = run_mqtt(Path(tmp), args.quick, args.repeats)
    print()
    print(table(results))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"mqtt-{stamp}.json"
    path.write_text(json.dumps({"utc": stamp, "quick": args.quick, "results": results}, indent=1))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
