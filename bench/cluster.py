"""RF=1 against RF=3 on one local three-broker cluster, and the failover time (issue 5).

    python -m bench.cluster [--records N] [--latency-s S] [--rate R] [--failovers K] [--dir D]

In the same run, on the same three brokers (default timeouts: 50 ms ticks, elections after
0.75-1.5 s, heartbeats every 150 ms):

* ``produce-batch`` -- ``Producer.produce_batch()`` of N 100-byte records, acks=all, to an
  8-partition topic with replication factor 1, then to one with replication factor 3: msgs/s;
* ``e2e-latency`` -- records at a fixed rate (10,000 msgs/s unless ``--rate``: issue 8's
  target is set at that rate; 2,000 before), linger 0, acks=all; a consumer positioned at
  the end measures produce -> receipt (consumers read below the high watermark, so this
  includes the replication round): p50 / p99;
* ``failover`` -- one producer thread writes one acks=all record at a time to a
  one-partition RF=3 topic; the partition's leader is SIGKILLed; the figure is the time
  from the kill to the first write *sent after it* being acknowledged (the client finds the
  new leader on its own). Repeated K times, restarting the killed broker and waiting until
  it is back in sync in between.

A benchmark, not a test: nothing here asserts; the table and a JSON go to stdout and
``bench/results/cluster-<time>.json``.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench.harness import Result, values_of, write_report
from bench.logd_suite import PARTITIONS, LogdCluster, e2e_latency, produce_batch
from logd.client import Admin, NewTopic, Producer

__all__ = ["main", "topic_in_sync"]


def topic_in_sync(cluster: LogdCluster, partitions: int, replicas: int) -> str:
    name = f"bench-rf{replicas}-{uuid.uuid4().hex[:6]}"
    with Admin(brokers=cluster.brokers) as admin:
        admin.create_topics([NewTopic(name, partitions, replicas)])
    _wait(lambda: _in_sync(cluster.brokers, name), 60, f"{name} in sync")
    return name


def _in_sync(brokers: str, topic: str) -> bool:
    try:
        with Admin(brokers=brokers, request_timeout_ms=3000) as admin:
            (t,) = admin.describe_topics([topic])
    except Exception:
        return False
    return all(p.leader >= 0 and sorted(p.isr) == sorted(p.replicas) for p in t.partitions)


def _leader(brokers: str, topic: str) -> tuple[int, int]:
    with Admin(brokers=brokers, request_timeout_ms=3000) as admin:
        (t,) = admin.describe_topics([topic])
    return t.partitions[0].leader, t.partitions[0].leader_epoch


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.05)


def failover_once(cluster: LogdCluster, topic: str) -> float:
    """Seconds from SIGKILL of the leader to the first acknowledged write sent after it."""
    leader, epoch = _leader(cluster.brokers, topic)
    others = ",".join(a for i, a in enumerate(cluster.addresses) if i != leader)
    done = threading.Event()
    acks: list[tuple[float, float]] = []  # (sent, acknowledged)

    def write() -> None:
        with Producer(brokers=cluster.brokers, acks="all", linger_ms=0,
                      retry_backoff_ms=20) as producer:  # fmt: skip
            while not done.is_set():
                sent = time.monotonic()
                producer.produce(topic, b"x" * 100, partition=0)
                if producer.flush(60) == 0:
                    acks.append((sent, time.monotonic()))

    writer = threading.Thread(target=write, name="bench-failover-writer")
    writer.start()
    _wait(lambda: len(acks) >= 20, 60, "writes before the kill")
    proc = cluster.services[leader].proc
    assert proc is not None
    killed = time.monotonic()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _wait(lambda: any(s >= killed for s, _ in acks), 60, "a write after the kill")
    done.set()
    writer.join()
    took = min(a for s, a in acks if s >= killed) - killed
    new, new_epoch = _leader(others, topic)
    assert new != leader and new_epoch > epoch, (leader, new, epoch, new_epoch)
    cluster.services[leader].start()
    _wait(lambda: _in_sync(cluster.brokers, topic), 120, "the killed broker back in sync")
    return took


def run(root: Path, records: int, latency_s: float, rate: int, failovers: int) -> dict[str, object]:
    values = values_of(100)
    rows: list[Result] = []
    with LogdCluster(root, 3) as cluster:
        for rf in (1, 3):
            topic = topic_in_sync(cluster, PARTITIONS, rf)
            seconds = produce_batch(cluster.brokers, topic, "all", values, records)
            durability = f"3 nodes, RF={rf}, acks=all"
            rows.append(Result.throughput("logd", durability, "produce-batch", 100, records,
                                          seconds))  # fmt: skip
        for rf in (1, 3):
            topic = topic_in_sync(cluster, PARTITIONS, rf)
            lat = e2e_latency(cluster.brokers, topic, "all", 100, rate, latency_s)
            note = f"{rate:,} msgs/s, linger 0"
            rows.append(Result.latency("logd", f"3 nodes, RF={rf}, acks=all", "e2e-latency",
                                       100, lat, latency_s, note=note))  # fmt: skip
        topic = topic_in_sync(cluster, 1, 3)
        times = [failover_once(cluster, topic) for _ in range(failovers)]
    by = {(r.workload, r.durability): r for r in rows}
    rf1 = by[("produce-batch", "3 nodes, RF=1, acks=all")].msgs_s or 0.0
    rf3 = by[("produce-batch", "3 nodes, RF=3, acks=all")].msgs_s or 0.0
    return {
        "rows": [{k: v for k, v in r.__dict__.items() if k != "cdf_ms"} for r in rows],
        "rf3_over_rf1": rf3 / rf1 if rf1 else None,
        "failover_s": times,
        "failover_median_s": statistics.median(times) if times else None,
    }


def _table(report: dict[str, object]) -> str:
    lines = ["| workload | durability | msgs/s | p50 ms | p99 ms |", "|---|---|---:|---:|---:|"]
    for row in report["rows"]:  # type: ignore[attr-defined]
        p50 = f"{row['p50_ms']:.2f}" if row["p50_ms"] is not None else ""
        p99 = f"{row['p99_ms']:.2f}" if row["p99_ms"] is not None else ""
        lines.append(f"| {row['workload']} | {row['durability']} | {row['msgs_s']:,.0f} | "
                     f"{p50} | {p99} |")  # fmt: skip
    ratio = report["rf3_over_rf1"]
    lines.append("")
    lines.append(f"RF=3 / RF=1 produce-batch: {ratio:.0%}" if ratio else "RF=3 / RF=1: n/a")
    failovers = ", ".join(f"{t:.2f}" for t in report["failover_s"])  # type: ignore[attr-defined]
    lines.append(f"failover (leader SIGKILL -> writes accepted again), s: {failovers}; "
                 f"median {report['failover_median_s']:.2f}")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--latency-s", type=float, default=5.0)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--failovers", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="logd-bench-cluster-") as tmp:
        root = args.dir or Path(tmp)
        report = run(root, args.records, args.latency_s, args.rate, args.failovers)
    print(_table(report), flush=True)
    write_report("cluster", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
