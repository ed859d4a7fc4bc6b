"""One broker process over raw gRPC: produce and fetch throughput, produce latency.

Run: ``.venv/bin/python -m bench.broker [--seconds S] [--fsync always|interval|never]``.

Starts ``python -m logd.node`` on a free loopback port with a temporary data directory,
then, from one asyncio client in this process:

* ``produce`` — one Produce stream, 64 requests in flight, batches of 100 x 100 B records
  (~11 KB) and of 1000 x 1000 B records (~1 MB), with acks=1 and acks=all; batches/s,
  records/s, MB/s and the latency of an answer (p50, p99);
* ``fetch`` — the ~1 MB-batch log read back from offset 0 with 1 MiB and 4 MiB fetches
  (its "batches/s" column counts fetch calls).

Client and broker share the machine's cores, so these are figures of the pair. Prints a
markdown table and writes JSON to ``bench/results/broker-<UTC timestamp>.json``. A
benchmark, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from logd.records import build_value_batch, parse_header, split_batches
from logd.v1 import admin_pb2, admin_pb2_grpc, broker_pb2, broker_pb2_grpc

__all__ = ["main"]

RESULTS = Path(__file__).parent / "results"
IN_FLIGHT = 64
_OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]


@dataclass
class Row:
    workload: str
    batch: str
    acks: str
    batches_s: float
    records_s: float
    mb_s: float
    p50_ms: float | None = None
    p99_ms: float | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _ready(address: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"the broker exited with {proc.returncode}")
            try:
                answer = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.05)
    raise SystemExit("the broker did not become ready")


async def _produce(
    channel: grpc.aio.Channel, topic: str, acks: int, count: int, size: int, seconds: float
) -> tuple[Row, int]:
    stub = broker_pb2_grpc.LogBrokerStub(channel)
    records = build_value_batch([b"x" * size] * count, int(time.time() * 1000))
    call = stub.Produce()
    slots = asyncio.Semaphore(IN_FLIGHT)
    sent_at: dict[int, float] = {}
    latencies: list[float] = []

    async def read_answers() -> None:
        async for answer in call:
            assert answer.error.code == 0, answer
            latencies.append(time.perf_counter() - sent_at.pop(answer.correlation_id))
            slots.release()

    reader = asyncio.ensure_future(read_answers())
    start = time.perf_counter()
    cid = 0
    while time.perf_counter() - start < seconds:
        await slots.acquire()
        cid += 1
        sent_at[cid] = time.perf_counter()
        request = broker_pb2.ProduceRequest(
            correlation_id=cid, topic=topic, acks=acks, records=records
        )
        await call.write(request)
    await call.done_writing()
    await reader
    elapsed = time.perf_counter() - start
    latencies.sort()
    done = len(latencies)
    row = Row(
        "produce",
        f"{count} x {size} B ({len(records) / 1000:.0f} kB)",
        "all" if acks == -1 else str(acks),
        done / elapsed,
        done * count / elapsed,
        done * len(records) / elapsed / 1e6,
        latencies[done // 2] * 1000,
        latencies[int(done * 0.99)] * 1000,
    )
    return row, done * count


async def _fetch(channel: grpc.aio.Channel, topic: str, max_bytes: int, records: int) -> Row:
    stub = broker_pb2_grpc.LogBrokerStub(channel)
    offset = total = batches = 0
    start = time.perf_counter()
    while True:
        answer = await stub.Fetch(
            broker_pb2.FetchRequest(
                max_bytes=max_bytes,
                partitions=[
                    broker_pb2.FetchPartition(topic=topic, offset=offset, max_bytes=max_bytes)
                ],
            )
        )
        data = answer.partitions[0].records
        if not data:
            break
        total += len(data)
        batches += 1
        whole = split_batches(data).batches
        offset = parse_header(whole[-1]).next_offset
    elapsed = time.perf_counter() - start
    return Row(
        "fetch", f"{max_bytes >> 20} MiB", "-", batches / elapsed, records / elapsed,
        total / elapsed / 1e6,
    )  # fmt: skip


async def _run(address: str, seconds: float) -> list[Row]:
    rows: list[Row] = []
    async with grpc.aio.insecure_channel(address, options=_OPTIONS) as channel:
        admin = admin_pb2_grpc.LogAdminStub(channel)
        for count, size in ((100, 100), (1000, 1000)):
            topic = f"bench-{count}x{size}"
            await admin.CreateTopics(
                admin_pb2.CreateTopicsRequest(topics=[admin_pb2.NewTopic(name=topic)])
            )
            produced = 0
            for acks in (1, -1):
                row, n = await _produce(channel, topic, acks, count, size, seconds)
                rows.append(row)
                produced += n
            if size == 1000:
                for max_bytes in (1 << 20, 4 << 20):
                    rows.append(await _fetch(channel, topic, max_bytes, produced))
    return rows


def _table(rows: list[Row]) -> str:
    lines = [
        "| workload | batch | acks | batches/s | records/s | MB/s | p50 ms | p99 ms |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        p50 = f"{r.p50_ms:.1f}" if r.p50_ms is not None else "-"
        p99 = f"{r.p99_ms:.1f}" if r.p99_ms is not None else "-"
        lines.append(
            f"| {r.workload} | {r.batch} | {r.acks} | {r.batches_s:,.0f} | "
            f"{r.records_s:,.0f} | {r.mb_s:,.1f} | {p50} | {p99} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.broker", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per produce workload")
    parser.add_argument("--fsync", default="always", choices=("always", "interval", "never"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    address = f"127.0.0.1:{_free_port()}"
    with tempfile.TemporaryDirectory(prefix="logd-bench-") as tmp:
        data_dir = str(Path(tmp) / "data")
        cmd = [sys.executable, "-m", "logd.node", "--listen", address, "--data-dir", data_dir,
               "--fsync", args.fsync, "--log-level", "WARNING",
               "--admin-listen", "off"]  # fmt: skip
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        try:
            asyncio.run(_ready(address, proc))
            rows = asyncio.run(_run(address, args.seconds))
        finally:
            proc.terminate()
            proc.wait(60)
    print(f"broker: fsync {args.fsync}, {IN_FLIGHT} requests in flight on one stream\n")
    print(_table(rows))
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"broker-{stamp}.json"
    path.write_text(
        json.dumps({"fsync": args.fsync, "in_flight": IN_FLIGHT, "rows": [asdict(r) for r in rows]})
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
