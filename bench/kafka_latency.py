"""End-to-end latency through the Kafka listener, beside logd's own client (issue 22).

    python -m bench.kafka_latency [--seconds S] [--rate R] [--rounds K] [--rf N]
                                  [--trace] [--reader poll|batch-wait]
                                  [--producer-config K=V ...] [--consumer-config K=V ...]

One broker (or ``--rf 3``: three), one 8-partition topic per run, the suite's e2e-latency
workload (``produce()`` at a fixed rate in 1 ms ticks, each value stamped with
``perf_counter_ns()``, a consumer thread of the same process subtracting it at receipt;
acks=all, linger 0): first through logd's client over gRPC
(``bench.logd_suite.e2e_latency``), then through confluent-kafka (librdkafka) against the
node's Kafka listener, alternated ``--rounds`` times on the same brokers so that both see
the same machine. The Kafka consumer is assigned every partition at its end before the
first send (``OFFSET_END``) and fetches with librdkafka's defaults except
``fetch.wait.max.ms`` 100 (as the logd consumer's ``fetch_max_wait_ms`` here).

How the Kafka consumer reads (``--reader``). ``poll`` (default): ``poll(0.05)`` for the
first record, then ``consume(10000, 0)`` for what librdkafka already holds -- what logd's
``consume(10000, 0.05)`` does. ``batch-wait``: ``consume(10000, 0.05)``, which in
librdkafka (rd_kafka_q_serve_rkmessages) waits until it has 10,000 records or the 50 ms
are over, so at 10,000 msgs/s every record waits up to 50 ms in the consumer's queue (the
first figures of this bench were taken that way: p50 77-186 ms).

``--trace``: the brokers run as ``bench.traced_node`` (bench/latency_probes.py) and only
confluent-kafka is run; each record is joined by (partition, offset) to the broker's
stages -- Kafka request handled, proposed, written, fsynced (RF=3: the quickest
follower's stages), committed, read by a fetch, Fetch answer written to the socket -- and
the consumer's receipt, as bench/latency_trace.py does for logd's client. librdkafka's
insides are not probed: "broker recv" holds the producer's queue, batching and the wire;
"handed over" the answer's way back, librdkafka's parsing and its queues.

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
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.cluster import topic_in_sync
from bench.harness import percentiles, pip_import
from bench.latency_trace import (
    WARM_UP_NS,
    Broker,
    load_brokers,
    markdown,
    quorum_stages,
    table,
    wake_split,
)
from bench.logd_suite import PARTITIONS, LogdCluster, e2e_latency

__all__ = [
    "STAGES_RF1",
    "STAGES_RF3",
    "kafka_e2e_latency",
    "kafka_rows",
    "librdkafka_stages",
    "main",
]

RESULTS = Path(__file__).with_name("results")
STAGES_RF1 = ("broker recv", "proposed", "written", "fsynced", "committed", "fetch read",
              "answer out", "handed over")  # fmt: skip
STAGES_RF3 = ("broker recv", "proposed", "written", "follower recv", "follower written",
              "follower fsynced", "ack at leader", "committed", "fetch read", "answer out",
              "handed over")  # fmt: skip


def kafka_e2e_latency(
    bootstrap: str,
    topic: str,
    rate: int,
    seconds: float,
    *,
    reader: str = "poll",
    producer_config: dict[str, str] | None = None,
    consumer_config: dict[str, str] | None = None,
    seen: list[tuple[int, int, int, int]] | None = None,
    stats: dict[str, list[dict[str, Any]]] | None = None,
) -> list[float]:
    """Milliseconds from ``Producer.produce()`` to the consumer's receipt, confluent-kafka;
    ``seen`` collects ``(partition, offset, sent ns, received ns)`` of every record,
    ``stats`` librdkafka's statistics (each second; "producer" and "consumer")."""
    ck = pip_import("confluent_kafka", "confluent-kafka")
    producer_extra: dict[str, Any] = dict(producer_config or {})
    consumer_extra: dict[str, Any] = dict(consumer_config or {})
    if stats is not None:
        for role, config in (("producer", producer_extra), ("consumer", consumer_extra)):
            config["statistics.interval.ms"] = 1000
            config["stats_cb"] = _collect(stats.setdefault(role, []))
    consumer = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-e2e",
                            "enable.auto.commit": False, "fetch.wait.max.ms": 100,
                            "socket.nagle.disable": True, **consumer_extra})  # fmt: skip
    consumer.assign([ck.TopicPartition(topic, p, ck.OFFSET_END) for p in range(PARTITIONS)])
    lat: list[float] = []
    done = threading.Event()
    ready = threading.Event()

    def take() -> list[Any]:
        if reader == "batch-wait":
            return list(consumer.consume(10_000, 0.05))
        first = consumer.poll(0.05)
        return [] if first is None else [first, *consumer.consume(10_000, 0)]

    def read() -> None:
        now = time.perf_counter_ns
        while not done.is_set():
            for m in take():
                if m.error() is None:
                    t, sent = now(), int.from_bytes(m.value()[:8], "big")
                    lat.append((t - sent) / 1e6)
                    if seen is not None:
                        seen.append((m.partition(), m.offset(), sent, t))
            ready.set()

    thread = threading.Thread(target=read, name="bench-kafka-reader")
    thread.start()
    producer = ck.Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0,
                            "enable.idempotence": True, "socket.nagle.disable": True,
                            **producer_extra})  # fmt: skip
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
        thread.join()
        consumer.close()
    return lat


def _collect(into: list[dict[str, Any]]) -> Any:
    return lambda raw: into.append(json.loads(raw))


def librdkafka_stages(stats: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """librdkafka's own view of the way (its statistics, microseconds -> ms): per
    one-second window the p50 and p99 of, at the partition leader's broker, the producer's
    ``int_latency`` (produce() -> the message in a request), ``outbuf_latency`` (a request
    waiting to be sent) and ``rtt`` (a request sent -> its answer: the broker's whole
    part), and the consumer's Fetch ``rtt`` (the long poll included); the median window."""
    out: dict[str, Any] = {}
    for role, metrics in (("producer", ("int_latency", "outbuf_latency", "rtt")),
                          ("consumer", ("rtt",))):  # fmt: skip
        windows = stats.get(role, [])[1:]  # the first second: connecting
        for metric in metrics:
            p50s, p99s = [], []
            for w in windows:
                for b in w.get("brokers", {}).values():
                    h = b.get(metric, {})
                    if b.get("nodeid", -1) >= 0 and h.get("cnt", 0) > 0:
                        p50s.append(h["p50"] / 1000)
                        p99s.append(h["p99"] / 1000)
            p50 = sorted(p50s)[len(p50s) // 2] if p50s else None
            p99 = sorted(p99s)[len(p99s) // 2] if p99s else None
            out[f"{role} {metric}"] = {"p50": p50, "p99": p99}
    return out


def kafka_rows(
    topic: str,
    seen: Sequence[tuple[int, int, int, int]],
    brokers: Sequence[Broker],
    warm_up_ns: int = WARM_UP_NS,
) -> tuple[list[list[int]], int]:
    """Each record's stage times (ns; the producer call, then STAGES_RF1 or STAGES_RF3), and
    how many could not be joined; records sent in the first ``warm_up_ns`` are left out."""
    rows: list[list[int]] = []
    missing = 0
    start = min((s[2] for s in seen), default=0) + warm_up_ns
    for partition, offset, sent, handed in seen:
        if sent < start:
            continue
        name = f"{topic}-{partition}"
        leader = next((b for b in brokers if b.proposed.find(name, offset) is not None), None)
        if leader is None:
            missing += 1
            continue
        recv, proposed = leader.proposed.find(name, offset)
        times = [sent, recv, proposed, leader.written.find(name, offset)]
        if len(brokers) > 1:
            times += quorum_stages(name, offset, leader, brokers)
        else:
            times.append(leader.fsynced.first_past(name, offset))
        times.append(leader.committed.first_past(name, offset))
        read = leader.reads.find(name, offset)
        times += [None, None] if read is None else [read[0], leader.answer_after(read[1], read[0])]
        times.append(handed)
        if any(t is None for t in times):
            missing += 1
        else:
            rows.append(times)
    return rows, missing


def _trace(args: argparse.Namespace, producer: dict[str, str], consumer: dict[str, str]) -> Any:
    """One traced confluent-kafka run on probed brokers: the stage table."""
    seen: list[tuple[int, int, int, int]] = []
    stats: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="logd-kafka-trace-") as tmp:
        root = Path(tmp)
        (root / "trace").mkdir()
        env = {**os.environ, "LOGD_TRACE_DIR": str(root / "trace")}
        with LogdCluster(root, args.rf, env=env, module="bench.traced_node") as cluster:
            topic = topic_in_sync(cluster, PARTITIONS, args.rf)
            load = os.getloadavg()[0]
            lat = kafka_e2e_latency(",".join(cluster.kafka_addresses), topic, args.rate,
                                    args.seconds, reader=args.reader, producer_config=producer,
                                    consumer_config=consumer, seen=seen,
                                    stats=stats)  # fmt: skip
        brokers = load_brokers(root / "trace")
    rows, missing = kafka_rows(topic, seen, brokers)
    stages = table(rows, STAGES_RF3 if args.rf > 1 else STAGES_RF1) if rows else []
    reads = wake_split(topic, seen, brokers)
    summary = {"client": "confluent-kafka (traced)", "load": round(load, 1), **_summary(lat)}
    print(f"confluent-kafka traced, RF={args.rf}, load {load:.1f}: e2e p50 "
          f"{summary['p50']:.2f} ms, p99 {summary['p99']:.2f} ms; {len(rows):,} records "
          f"traced, {missing} not joined\n", flush=True)  # fmt: skip
    if stages:
        print(markdown(stages), flush=True)
    print(f"\nread by a waiting fetch, woken: {reads['woken_share']:.0%} (commit -> read p50 "
          f"{reads['woken_p50'] or 0:.2f} ms); by a fetch that came later: "
          f"{1 - reads['woken_share']:.0%} ({reads['late_p50'] or 0:.2f} ms)",
          flush=True)  # fmt: skip
    inside = librdkafka_stages(stats)
    print("\nlibrdkafka's statistics (median one-second window), p50 / p99 ms:")
    for name, h in inside.items():
        if h["p50"] is not None:
            print(f"  {name:<26} {h['p50']:8.3f} / {h['p99']:8.3f}")
    return {"rows": [summary], "stages": stages, "reads": reads, "joined": len(rows),
            "librdkafka": inside}  # fmt: skip


def _summary(lat: list[float]) -> dict[str, Any]:
    lat = sorted(lat)
    p50, p99, p999 = percentiles(lat, (50, 99, 99.9))
    return {"n": len(lat), "p50": p50, "p99": p99, "p999": p999}


def _side_by_side(args: argparse.Namespace, producer: dict[str, str],
                  consumer: dict[str, str]) -> list[dict[str, Any]]:  # fmt: skip
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
                    lat = kafka_e2e_latency(",".join(cluster.kafka_addresses), topic, args.rate,
                                            args.seconds, reader=args.reader,
                                            producer_config=producer,
                                            consumer_config=consumer)  # fmt: skip
                else:
                    lat = e2e_latency(cluster.brokers, topic, "all", 100, args.rate,
                                      args.seconds)  # fmt: skip
                row = {"client": client, "load": round(load, 1), **_summary(lat)}
                rows.append(row)
                print(f"{client:<16} load {load:4.1f}  n={row['n']:,}  p50 {row['p50']:.2f} "
                      f"ms  p99 {row['p99']:.2f} ms  p99.9 {row['p999']:.2f} ms",
                      flush=True)  # fmt: skip
    return rows


def _pairs(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"expected KEY=VALUE, got {item!r}")
        out[key] = value
    return out


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
    parser.add_argument("--trace", action="store_true", help="stage trace (confluent-kafka)")
    parser.add_argument("--reader", choices=("poll", "batch-wait"), default="poll")
    parser.add_argument("--producer-config", nargs="*", default=[], metavar="K=V")
    parser.add_argument("--consumer-config", nargs="*", default=[], metavar="K=V")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    producer, consumer = _pairs(args.producer_config), _pairs(args.consumer_config)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    meta = {"utc": stamp, "rf": args.rf, "rate": args.rate, "seconds": args.seconds,
            "reader": args.reader, "producer_config": producer,
            "consumer_config": consumer}  # fmt: skip
    if args.trace:
        result = {**meta, **_trace(args, producer, consumer)}
    else:
        result = {**meta, "rows": _side_by_side(args, producer, consumer)}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"kafka-latency-{stamp}.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
