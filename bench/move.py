"""Moving a partition (issue 23): how long a move takes, at what throughput, with and
without a throttle, and what it costs the producer writing to the partition meanwhile.

    python -m bench.move [--mib N] [--throttle BYTES_S] [--rate R] [--dir D]

On one local four-broker cluster, one partition of replication factor 3 is preloaded with
N MiB (default 256; the issue asks for 1 GiB: ``--mib 1024``) of 1 KiB half-random records
(acks=all). A producer then writes R records/s (default 500) of 1 KiB to that partition,
linger 0, acks=all, and each record's produce -> acknowledgement time is kept. Three
windows, in the same run:

* ``no move`` -- the producer alone for a few seconds: its p50 / p99, the baseline;
* ``move`` -- the partition's first follower is replaced by the spare broker, unthrottled
  (``Admin.move_partition``): the time from the request to the move's completion (the
  controller has the new placement), the bytes of the partition's log divided by it, and
  the producer's p50 / p99 meanwhile;
* ``move, throttled`` -- the same for the next follower, at ``--throttle`` bytes/s
  (default: half the throughput the unthrottled move reached).

Ratios are against the same run's unthrottled move and no-move window. A benchmark, not a
test: nothing here asserts; a table and a JSON go to stdout and
``bench/results/move-<time>.json``.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.cluster import topic_in_sync
from bench.harness import percentiles, values_of, write_report
from bench.logd_suite import LogdCluster
from logd.client import Admin, Producer
from logd.errors import LogdError

__all__ = ["main"]

VALUE_BYTES = 1024
BASELINE_S = 5.0


class Writer:
    """Writes ``rate`` records/s to partition 0 of ``topic``; keeps (sent, latency ms)."""

    def __init__(self, brokers: str, topic: str, rate: int) -> None:
        self.brokers, self.topic, self.rate = brokers, topic, rate
        self.acks: list[tuple[float, float]] = []
        self.errors = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-move-writer")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def between(self, start: float, end: float) -> list[float]:
        return sorted(ms for sent, ms in list(self.acks) if start <= sent < end)

    def _run(self) -> None:
        values = values_of(VALUE_BYTES, 100, seed=11)
        with Producer(brokers=self.brokers, acks="all", linger_ms=0) as producer:
            interval = 1.0 / self.rate
            next_at = time.monotonic()
            i = 0
            while not self._done.is_set():
                sent = time.monotonic()

                def done(err: LogdError | None, md: Any, sent: float = sent) -> None:
                    if err is None:
                        self.acks.append((sent, (time.monotonic() - sent) * 1000))
                    else:
                        self.errors += 1

                producer.produce(self.topic, values[i % 100], partition=0, on_delivery=done)
                producer.poll(0)
                i += 1
                next_at += interval
                pause = next_at - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            producer.flush(60)


def _log_bytes(cluster: LogdCluster, node: int, topic: str) -> int:
    folder = cluster.root / f"node{node + 1}" / f"{topic}-0"
    return sum(f.stat().st_size for f in folder.glob("*.log")) if folder.exists() else 0


def _move(admin: Admin, cluster: LogdCluster, topic: str, throttle: int) -> dict[str, Any]:
    """Replace the partition's first follower by the broker not holding it; time it."""
    (described,) = admin.describe_topics([topic])
    p = described.partitions[0]
    (spare,) = set(range(cluster.size)) - set(p.replicas)
    follower = next(r for r in p.replicas if r != p.leader)
    target = [spare if r == follower else r for r in p.replicas]
    size = _log_bytes(cluster, p.leader, topic)
    start = time.monotonic()
    admin.move_partition(topic, 0, target, throttle=throttle)
    while admin.list_partition_moves([topic]):
        time.sleep(0.05)
    end = time.monotonic()
    seconds = end - start
    return {"from": follower, "to": spare, "bytes": size, "seconds": seconds,
            "mib_s": size / seconds / 2**20, "throttle": throttle, "start": start,
            "end": end}  # fmt: skip


def run(root: Path, mib: int, throttle: int, rate: int) -> dict[str, Any]:
    with LogdCluster(root, 4) as cluster:
        topic = topic_in_sync(cluster, 1, 3)
        records = mib * 2**20 // VALUE_BYTES
        preload_s = _preload(cluster, topic, records)
        writer = Writer(cluster.brokers, topic, rate)
        writer.start()
        try:
            time.sleep(BASELINE_S)  # the no-move window (a benchmark: a fixed window is the point)
            baseline_end = time.monotonic()
            with Admin(brokers=cluster.brokers) as admin:
                free = _move(admin, cluster, topic, 0)
                limit = throttle or max(1, int(free["mib_s"] * 2**20 / 2))
                throttled = _move(admin, cluster, topic, limit)
        finally:
            writer.stop()
    windows = {"no move": (baseline_end - BASELINE_S, baseline_end),
               "move": (free["start"], free["end"]),
               "move, throttled": (throttled["start"], throttled["end"])}  # fmt: skip
    latency = {}
    for name, (start, end) in windows.items():
        lat = writer.between(start, end)
        p50, p99 = percentiles(lat, (50, 99))
        latency[name] = {"acks": len(lat), "p50_ms": p50, "p99_ms": p99}
    return {"mib": mib, "records": records, "preload_s": preload_s, "rate": rate,
            "writer_errors": writer.errors, "moves": {"move": free, "move, throttled": throttled},
            "latency": latency}  # fmt: skip


def _preload(cluster: LogdCluster, topic: str, records: int) -> float:
    values = values_of(VALUE_BYTES)
    start = time.perf_counter()
    with Producer(brokers=cluster.brokers, acks="all", linger_ms=5) as producer:
        for i in range(records):
            producer.produce(topic, values[i % len(values)], partition=0)
            if i % 1000 == 0:
                producer.poll(0)
        if producer.flush(300):
            raise RuntimeError("preload: records undelivered")
    return time.perf_counter() - start


def _table(report: dict[str, Any]) -> str:
    lines = ["| window | throttle B/s | moved MiB | seconds | MiB/s | producer p50 ms | "
             "producer p99 ms |", "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    base = report["latency"]["no move"]
    for name, lat in report["latency"].items():
        move = report["moves"].get(name)
        cells = ["-", "-", "-", "-"]
        if move is not None:
            cells = [f"{move['throttle']:,}" if move["throttle"] else "none",
                     f"{move['bytes'] / 2**20:.1f}", f"{move['seconds']:.1f}",
                     f"{move['mib_s']:.1f}"]  # fmt: skip
        p50 = f"{lat['p50_ms']:.1f}" if lat["p50_ms"] is not None else "-"
        p99 = f"{lat['p99_ms']:.1f}" if lat["p99_ms"] is not None else "-"
        lines.append(f"| {name} | {' | '.join(cells)} | {p50} | {p99} |")
    free, slow = report["moves"]["move"], report["moves"]["move, throttled"]
    lines.append("")
    lines.append(f"throttled / unthrottled move time: {slow['seconds'] / free['seconds']:.2f}x; "
                 f"throttled MiB/s / throttle: "
                 f"{slow['mib_s'] * 2**20 / slow['throttle']:.2f}")  # fmt: skip
    for name in ("move", "move, throttled"):
        if base["p99_ms"] and report["latency"][name]["p99_ms"]:
            ratio = report["latency"][name]["p99_ms"] / base["p99_ms"]
            lines.append(f"producer p99 during '{name}' / no move: {ratio:.2f}x")
    lines.append(f"preload {report['mib']} MiB in {report['preload_s']:.1f} s; producer "
                 f"{report['rate']} records/s of {VALUE_BYTES} B, errors "
                 f"{report['writer_errors']}")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.move", description=__doc__)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--throttle", type=int, default=0, help="bytes/s (0: half the free rate)")
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="logd-bench-move-") as tmp:
        report = run(args.dir or Path(tmp), args.mib, args.throttle, args.rate)
    print(_table(report), flush=True)
    write_report("move", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
