"""HTTP produce beside gRPC (issue 18): the REST Proxy's v2 produce (binary embedded format,
aiohttp client) with 1 and 500 records per request and 1 and 64 requests in flight, beside the
same records through logd's gRPC ``Producer`` in the same run: one record or one 500-record
``produce_batch`` and a ``flush`` per call (1 in flight), and the producer's own pipelining
(every call queued, one ``flush`` at the end: the "64" rows). One broker, acks=all, fsync
always, 100 B values, one topic of 8 partitions.

Run: ``.venv/bin/python -m bench.http_produce [--quick] [--shape 500x64 ...]`` (``make
bench`` runs it; quick: a quarter of the requests, ~1 min here; ``--shape``: only those
shapes). Prints a markdown table (records/s, request latency p50/p99, and HTTP's ratio to
gRPC for the same shape) and writes
``bench/results/http-<UTC>.json``. Beside wall-time rates, the broker's own CPU time per
record (user + system, from /proc) for each system: on a shared, loaded machine the rates
move with the load, the CPU cost much less. A benchmark, not a test: nothing asserts a speed.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.harness import values_of
from bench.logd_suite import LogdCluster
from logd.client import Producer
from logd.node.listeners import read_listeners

__all__ = ["main"]

RESULTS = Path(__file__).parent / "results"
#: (records per request, requests in flight) -> requests sent (full run; quick: a quarter)
SHAPES = {(1, 1): 2000, (1, 64): 8000, (500, 1): 200, (500, 64): 800}
BINARY = "application/vnd.kafka.binary.v2+json"


def _http_url(cluster: LogdCluster) -> str:
    deadline = time.monotonic() + 30
    while (bound := read_listeners(cluster.root / "node1").get("http")) is None:
        if time.monotonic() > deadline:
            raise SystemExit("the broker serves no HTTP listener")
        time.sleep(0.1)
    return f"http://{bound}"


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _http(url: str, topic: str, per_request: int, in_flight: int, requests: int
                ) -> tuple[float, list[float]]:  # fmt: skip
    """(seconds, each request's latency) for ``requests`` POSTs, ``in_flight`` at a time."""
    values = values_of(100)
    body = json.dumps({"records": [
        {"value": base64.b64encode(values[i % len(values)]).decode()} for i in range(per_request)
    ]}).encode()  # fmt: skip
    latencies: list[float] = []
    left = requests
    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post() -> None:
            began = time.perf_counter()
            async with session.post(f"{url}/topics/{topic}", data=body,
                                    headers={"Content-Type": BINARY}) as answer:  # fmt: skip
                answer.raise_for_status()
                offsets = (await answer.json())["offsets"]
                if any(o["error_code"] is not None for o in offsets):
                    raise SystemExit(f"a record was refused: {offsets[0]}")
            latencies.append(time.perf_counter() - began)

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await post()

        await post()  # warm-up: the connection and the topic's metadata
        latencies.clear()
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        return time.perf_counter() - start, latencies


def _grpc(brokers: str, topic: str, per_call: int, pipelined: bool, calls: int
          ) -> tuple[float, list[float]]:  # fmt: skip
    values = values_of(100)
    batch = [values[i % len(values)] for i in range(per_call)]
    latencies: list[float] = []
    with Producer(brokers=brokers, acks="all") as producer:
        producer.produce(topic, b"warm-up")
        producer.flush()
        start = time.perf_counter()
        for _ in range(calls):
            began = time.perf_counter()
            producer.produce_batch(topic, batch)
            if not pipelined:
                if producer.flush(60) != 0:
                    raise SystemExit("gRPC records not acknowledged")
                latencies.append(time.perf_counter() - began)
        if producer.flush(120) != 0:
            raise SystemExit("gRPC records not acknowledged")
        return time.perf_counter() - start, latencies


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used: a cost that a shared, loaded
    machine does not distort as it distorts wall time (Linux's /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _row(system: str, shape: tuple[int, int], records: int, seconds: float,
         latencies: list[float], cpu_s: float) -> dict[str, object]:  # fmt: skip
    return {
        "system": system, "records/request": shape[0], "in flight": shape[1],
        "records/s": records / seconds, "broker cpu us/record": cpu_s / records * 1e6,
        "p50 ms": _percentile(latencies, 0.5) * 1e3 if latencies else None,
        "p99 ms": _percentile(latencies, 0.99) * 1e3 if latencies else None,
    }  # fmt: skip


def _shapes(argv: list[str]) -> dict[tuple[int, int], int]:
    """The shapes ``--shape PERxFLIGHT`` names (any number of them), else all."""
    named = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--shape"]
    chosen: dict[tuple[int, int], int] = {}
    for name in named:
        per, flight = (int(n) for n in name.split("x"))
        chosen[(per, flight)] = SHAPES.get((per, flight), 200)
    return chosen or SHAPES


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="logd-http-bench-") as tmp, \
            LogdCluster(Path(tmp), 1) as cluster:  # fmt: skip
        url = _http_url(cluster)
        broker = cluster.services[0].proc
        assert broker is not None
        for shape, full in _shapes(argv).items():
            requests = full // 4 if quick else full
            per, flight = shape
            records = per * requests
            topic = cluster.create_topic(1)
            cpu = _cpu_s(broker.pid)
            seconds, lat = asyncio.run(_http(url, topic, per, flight, requests))
            rows.append(_row("http", shape, records, seconds, lat, _cpu_s(broker.pid) - cpu))
            topic = cluster.create_topic(1)
            cpu = _cpu_s(broker.pid)
            seconds, lat = _grpc(cluster.brokers, topic, per, flight > 1, requests)
            rows.append(_row("grpc", shape, records, seconds, lat, _cpu_s(broker.pid) - cpu))
            print(f"{per:>3} x {flight:>2}: http {rows[-2]['records/s']:,.0f}/s, "
                  f"grpc {rows[-1]['records/s']:,.0f}/s", flush=True)  # fmt: skip
    _table(rows)
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"http-{stamp}.json"
    out.write_text(json.dumps({"quick": quick, "rows": rows}, indent=1))
    print(f"\nwritten {out}")


def _table(rows: list[dict[str, object]]) -> None:
    print("\n| records/request | in flight | HTTP records/s | p50 ms | p99 ms "
          "| gRPC records/s | p50 ms | p99 ms | HTTP ÷ gRPC | broker CPU µs/record HTTP "
          "| gRPC | CPU gRPC ÷ HTTP |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for http, grpc in zip(rows[::2], rows[1::2], strict=True):

        def ms(v: object) -> str:
            return "-" if v is None else f"{v:.1f}"

        cpu_http, cpu_grpc = http["broker cpu us/record"], grpc["broker cpu us/record"]
        print(f"| {http['records/request']} | {http['in flight']} "
              f"| {http['records/s']:,.0f} | {ms(http['p50 ms'])} | {ms(http['p99 ms'])} "
              f"| {grpc['records/s']:,.0f} | {ms(grpc['p50 ms'])} | {ms(grpc['p99 ms'])} "
              f"| {_ratio(http['records/s'], grpc['records/s'])} "
              f"| {cpu_http:.1f} | {cpu_grpc:.1f} | {_ratio(cpu_grpc, cpu_http)} |")  # fmt: skip


def _ratio(a: object, b: object) -> str:
    return f"{float(a) / float(b):.2f}" if float(b) else "-"  # type: ignore[arg-type]


if __name__ == "__main__":
    main(sys.argv[1:])
