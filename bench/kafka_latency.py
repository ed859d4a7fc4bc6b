"""End-to-end latency through the Kafka listener, beside logd's own client (issue 22).

    python -m bench.kafka_latency [--seconds S] [--rate R] [--rounds K] [--rf N]

One broker (or ``--rf 3``: three), one 8-partition topic per run, the suite's e2e-latency
workload (``produce()`` at a fixed rate in 1 ms ticks, each value stamped with
``perf_counter_ns()``, a consumer thread of the same process subtracting it at receipt;
acks=all, linger 0): first through logd's client over gRPC
(``bench.logd_suite.e2e_latency``), then through confluent-kafka (librdkafka) against the
node's Kafka listener, alternated ``--rounds`` times on the same brokers so that both see
the same machine. The Kafka consumer is assigned every partition at its end before the
first send (``OFFSET_END``) and fetches with librdkafka's defaults except
``fetch.wait.max.ms`` 100 (as the logd consumer's ``fetch_max_wait_ms`` here).

A benchmark, not a test: nothing here asserts; a table, and
``bench/results/kafka-latency-<UTC>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.cluster import topic_in_sync
from bench.harness import percentiles, pip_import
from bench.logd_suite import PARTITIONS, LogdCluster, e2e_latency

__all__ = ["kafka_e2e_latency", "main"]

RESULTS = Path(__file__).with_name("results")


def kafka_e2e_latency(bootstrap: str, topic: str, rate: int, seconds: float) -> list[float]:
    """Milliseconds from ``Producer.produce()`` to the consumer's ``poll()``, confluent-kafka."""
    ck = pip_import("confluent_kafka", "confluent-kafka")
    consumer = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-e2e",
                            "enable.auto.commit": False, "fetch.wait.max.ms": 100,
                            "socket.nagle.disable": True})  # fmt: skip
    consumer.assign([ck.TopicPartition(topic, p, ck.OFFSET_END) for p in range(PARTITIONS)])
    lat: list[float] = []
    done = threading.Event()
    ready = threading.Event()

    def read() -> None:
        now = time.perf_counter_ns
        while not done.is_set():
            for m in consumer.consume(10_000, 0.05):
                if m.error() is None:
                    lat.append((now() - int.from_bytes(m.value()[:8], "big")) / 1e6)
            ready.set()

    reader = threading.Thread(target=read, name="bench-kafka-reader")
    reader.start()
    producer = ck.Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0,
                            "enable.idempotence": True, "socket.nagle.disable": True})  # fmt: skip
    try:
        ready.wait(30)
        time.sleep(1.0)  # the assignment's OFFSET_END resolved (librdkafka looks it up)
        pad = b"x" * 92
        per_tick, start = rate // 1000, time.perf_counter()
        for tick in range(int(seconds * 1000)):
            wait = start + tick / 1000 - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            for _ in range(per_tick):
                producer.produce(topic, time.perf_counter_ns().to_bytes(8, "big") + pad)
            producer.poll(0)
        producer.flush(30)
        deadline = time.monotonic() + 10
        while len(lat) < rate * seconds and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        done.set()
        reader.join()
        consumer.close()
    return lat


def _summary(lat: list[float]) -> dict[str, Any]:
    lat = sorted(lat)
    p50, p99, p999 = percentiles(lat, (50, 99, 99.9))
    return {"n": len(lat), "p50": p50, "p99": p99, "p999": p999}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.kafka_latency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rf", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    rows: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="logd-kafka-lat-") as tmp,
        LogdCluster(Path(tmp), args.rf) as cluster,
    ):
        for _ in range(args.rounds):
            for client in ("logd (gRPC)", "confluent-kafka"):
                topic = topic_in_sync(cluster, PARTITIONS, args.rf)
                load = os.getloadavg()[0]
                if client == "confluent-kafka":
                    bootstrap = ",".join(cluster.kafka_addresses)
                    lat = kafka_e2e_latency(bootstrap, topic, args.rate, args.seconds)
                else:
                    lat = e2e_latency(cluster.brokers, topic, "all", 100, args.rate,
                                      args.seconds)  # fmt: skip
                row = {"client": client, "load": round(load, 1), **_summary(lat)}
                rows.append(row)
                print(f"{client:<16} load {load:4.1f}  n={row['n']:,}  p50 {row['p50']:.2f} "
                      f"ms  p99 {row['p99']:.2f} ms  p99.9 {row['p999']:.2f} ms",
                      flush=True)  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"kafka-latency-{stamp}.json"
    meta = {"utc": stamp, "rf": args.rf, "rate": args.rate, "seconds": args.seconds}
    path.write_text(json.dumps({**meta, "rows": rows}, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
