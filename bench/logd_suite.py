"""logd's side of the suite: brokers started here, workloads through the public clients and CLI.

:class:`LogdCluster` starts ``python -m logd.node`` processes on loopback, each with its
own data directory under a temporary directory: one node, or N nodes told every member
with ``--peers`` (the RF=3 mode; it is skipped with one line while the broker cannot
create a topic with three replicas). The workloads:

* ``produce-batch``  ``Producer.produce_batch()`` in slices of 10,000 values, to the end of
  ``flush()``: every record acknowledged under the mode's acks;
* ``produce-record`` ``Producer.produce()`` per record, to the end of ``flush()``;
* ``replay``         ``Consumer.consume()`` of everything produce-batch wrote, from disk
  (a new consumer process side: nothing is cached in the client);
* ``e2e-latency``    per-record ``produce()`` at a fixed rate (10k msgs/s), each value
  carrying its send time; a consumer in another thread, positioned at the end before the
  first send, records receipt minus send (the consumer only sees what is committed, so
  this includes the fsync or the replication round);
* ``1MiB-batches``   ``produce_batch()`` of 1,024 x 1 KiB uncompressed values per call,
  ``batch.size`` 1 MiB (``MIB_BATCH_BYTES``: batches of ~0.98-0.99 MB, within the broker's
  default ``max.message.bytes``; ``MIB_IN_FLIGHT`` requests in flight), MB/s of values;
  in mode acks=all beside the fdatasync ceiling measured around it (half before, half
  after, in the brokers' data directory: issue 22's ratio);
* ``cli-produce`` / ``cli-consume``  ``logd produce TOPIC < file`` of text lines, and
  ``logd consume TOPIC -o :end > /dev/null`` of the same topic;
* ``produce-avro`` / ``replay-avro`` beside ``produce-raw`` / ``replay-raw`` (acks=all
  only): the schema registry's Avro serializer and deserializer against the same records
  as bytes (``bench.avro``).

Owned by the orchestrator's thread (the latency workload starts one consumer thread).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.harness import (
    CpuMeter,
    Result,
    Service,
    Unavailable,
    fdatasync_ms,
    free_port,
    line_values,
    values_of,
)
from bench.issue22 import CEILING_BESIDE, KAFKA_E2E
from bench.peers.ceiling import CHUNK, write_loop
from logd.broker.listeners import LISTENERS
from logd.client import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Admin,
    Consumer,
    NewTopic,
    Producer,
    TopicPartition,
)
from logd.errors import LogdError
from logd.node.listeners import read_listeners

__all__ = [
    "DURABILITY",
    "INTERVAL_NOTE",
    "MIB_BATCH_BYTES",
    "PARTITIONS",
    "LogdCluster",
    "run_logd",
]

PARTITIONS = 8
#: Requests in flight for 1 MiB batches. logd sends one request per batch where a Kafka
#: client packs many partitions' batches into one request, so Kafka's 5 per connection would
#: mean 5 MiB in flight here; 32 keeps the disk busy while the broker copies the next one in
#: (measured: 5 -> ~210 MB/s, 32 -> ~300 MB/s; bench/README.md).
MIB_IN_FLIGHT = 32
#: ``batch.size`` of the 1 MiB row. At most the broker's default ``max.message.bytes``
#: (1 MiB + 12): with 2 MiB, 1,024 x 1 KiB values made batches of 1.06-2.1 MB that the
#: broker refused after receiving them, and the producer sent them again as halves --
#: 109 refusals per 200 calls, ~40 % of the row's MB/s (bench/README.md, "Session 9:
#: 1 MiB batches").
MIB_BATCH_BYTES = 1 << 20
_SLICE = 10_000
_LOGD = "logd"
#: Each mode's durability, as the table states it. ``interval``: the broker's ``--fsync
#: interval`` (its logs flushed every second, as NATS and Redis fsync on a timer), measured
#: for e2e latency only -- the comparison at equal durability issue 22 asks for.
DURABILITY = {
    "acks=1": "1 node, acks=1, fsync always",
    "acks=all": "1 node, acks=all, fsync always",
    "rf3": "3 nodes RF=3, acks=all, fsync always",
    "interval": "1 node, acks=all, fsync interval (1 s)",
    "rf3-interval": "3 nodes RF=3, acks=all, fsync interval (1 s)",
}
#: What ``--fsync interval`` means for acks=all (issue 22, logd/cluster/ready_writer.py):
#: a record commits once written to the page cache, fsynced within the interval -- it
#: survives a broker crash, not a power loss (as NATS's and Redis's timed fsyncs).
INTERVAL_NOTE = "committed in page cache; fsync every 1 s"


class LogdCluster:
    """``size`` brokers on loopback, data under ``root``. Use as a context manager."""

    def __init__(
        self,
        root: Path,
        size: int = 1,
        fsync: str = "always",
        *,
        extra: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        client: Mapping[str, Any] | None = None,
        module: str = "logd.node",
    ) -> None:
        """``extra``: more broker flags (TLS, SASL: bench/tls_cost.py); ``client``: the
        security settings the suite's own admin calls need then; ``module``: what runs a
        broker (``bench.traced_node``: one with latency probes, bench/latency_trace.py)."""
        self.root = root
        self.client = dict(client or {})
        root.mkdir(parents=True, exist_ok=True)
        self.size = size
        self.fsync = fsync
        ports = [free_port() for _ in range(size)]
        self.addresses = [f"127.0.0.1:{p}" for p in ports]
        #: Each node's Kafka listener (Kafka clients' bootstrap addresses).
        self.kafka_addresses = [f"127.0.0.1:{free_port()}" for _ in range(size)]
        # Node ids 0..N-1, as tests/integration/cluster.py numbers them.
        peers = ",".join(f"{i}@{a}" for i, a in enumerate(self.addresses))
        self.services: list[Service] = []
        for i, address in enumerate(self.addresses):
            # Every other listener (Kafka, the registry …) on a free port: never the
            # defaults, which anyone's `make run` on this machine may hold.
            listeners = [a for spec in LISTENERS for a in (spec.flag, f"127.0.0.1:{free_port()}")]
            argv = [sys.executable, "-m", module, "--listen", address,
                    "--data-dir", str(root / f"node{i + 1}"), "--fsync", fsync,
                    "--log-level", "WARNING", *listeners,
                    "--kafka-listen", self.kafka_addresses[i], *extra]  # fmt: skip
            if size > 1:
                argv += ["--node-id", str(i), "--peers", peers]
            self.services.append(
                Service(f"logd-{i + 1}", argv, root, env=dict(env) if env else None)
            )

    @property
    def brokers(self) -> str:
        return ",".join(self.addresses)

    @property
    def registry_url(self) -> str:
        """The first node's schema registry (as it reported binding it)."""
        deadline = time.monotonic() + 30
        while (bound := read_listeners(self.root / "node1").get("registry")) is None:
            if time.monotonic() > deadline:  # written once every listener is bound
                raise Unavailable("the broker serves no schema registry")
            time.sleep(0.1)
        return f"http://{bound}"

    def __enter__(self) -> LogdCluster:
        for service in self.services:
            service.start()
        deadline = time.monotonic() + 60
        while True:
            try:
                Admin(brokers=self.brokers, request_timeout_ms=2000, **self.client).close()
                return self
            except LogdError as exc:
                dead = [
                    s for s in self.services if s.proc is not None and s.proc.poll() is not None
                ]
                if dead or time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    why = dead[0].tail() if dead else str(exc)
                    raise Unavailable(f"the broker did not start: {why}") from None
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        for service in self.services:
            service.stop()

    def create_topic(self, replicas: int) -> str:
        topic = f"bench-{uuid.uuid4().hex[:8]}"
        try:
            with Admin(brokers=self.brokers, **self.client) as admin:
                admin.create_topics([NewTopic(topic, PARTITIONS, replicas)])
        except LogdError as exc:
            raise Unavailable(f"cannot create a topic with {replicas} replicas: {exc}") from None
        return topic


def produce_batch(
    brokers: str, topic: str, acks: str, values: list[bytes], n: int,
    meter: CpuMeter | None = None, **client: Any,
) -> float:  # fmt: skip
    """Seconds to produce ``n`` records through produce_batch() and flush (``meter``:
    started and stopped with the clock)."""
    batch = [values[i % len(values)] for i in range(_SLICE)]
    with Producer(brokers=brokers, acks=acks, **client) as producer:
        producer.produce(topic, b"warm-up")
        producer.flush()
        if meter is not None:
            meter.start()
        start = time.perf_counter()
        for _ in range(n // _SLICE):
            producer.produce_batch(topic, batch)
        left = producer.flush()
        seconds = time.perf_counter() - start
        if meter is not None:
            meter.stop()
    if left:
        raise Unavailable(f"{left} records undelivered")
    return seconds


def produce_records(brokers: str, topic: str, acks: str, values: list[bytes], n: int) -> float:
    """Seconds to produce ``n`` records one produce() call each, and flush."""
    with Producer(brokers=brokers, acks=acks) as producer:
        producer.produce(topic, b"warm-up")
        producer.flush()
        produce = producer.produce
        k = len(values)
        start = time.perf_counter()
        for i in range(n):
            produce(topic, values[i % k])
        left = producer.flush()
        seconds = time.perf_counter() - start
    if left:
        raise Unavailable(f"{left} records undelivered")
    return seconds


def replay(
    brokers: str, topic: str, total: int, meter: CpuMeter | None = None, **client: Any
) -> tuple[int, float]:
    """(records, seconds) to read ``total`` records from the beginning of every partition
    (``meter``: started and stopped with the clock)."""
    with Consumer(brokers=brokers, **client) as consumer:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        got = 0
        if meter is not None:
            meter.start()
        start = time.perf_counter()
        while got < total:
            records = consumer.consume(100_000, 10)
            if not records:
                break
            got += len(records)
        seconds = time.perf_counter() - start
        if meter is not None:
            meter.stop()
        return got, seconds


def e2e_latency(
    brokers: str,
    topic: str,
    acks: str,
    size: int,
    rate: int,
    seconds: float,
    *,
    seen: list[tuple[int, int, int, int]] | None = None,
) -> list[float]:
    """Milliseconds from produce() to a consumer's receipt, at ``rate`` msgs/s. ``seen``
    collects ``(partition, offset, sent ns, received ns)`` of every record as well."""
    pad = b"x" * (size - 8)
    lat: list[float] = []
    done = threading.Event()
    with Consumer(brokers=brokers, fetch_max_wait_ms=100) as consumer:
        tps = [TopicPartition(topic, p, OFFSET_END) for p in range(PARTITIONS)]
        consumer.assign(tps)
        consumer.position(tps)  # resolved before the first send

        def read() -> None:
            now = time.perf_counter_ns
            while not done.is_set():
                for r in consumer.consume(10_000, 0.05):
                    t, sent = now(), int.from_bytes(r.value[:8], "big")  # type: ignore[index]
                    lat.append((t - sent) / 1e6)
                    if seen is not None:
                        seen.append((r.partition, r.offset, sent, t))

        reader = threading.Thread(target=read, name="bench-e2e-reader")
        reader.start()
        try:
            # linger 0: each tick's records go out at once, as every peer here sends them.
            with Producer(brokers=brokers, acks=acks, linger_ms=0) as producer:
                _paced(producer, topic, pad, rate, seconds)
                producer.flush()
            deadline = time.monotonic() + 10
            while len(lat) < rate * seconds and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            done.set()
            reader.join()
    return lat


def _paced(producer: Producer, topic: str, pad: bytes, rate: int, seconds: float) -> None:
    """produce() at ``rate`` msgs/s for ``seconds`` (in ticks of 1 ms), values stamped."""
    per_tick = max(1, rate // 1000)
    ticks = int(seconds * 1000)
    start = time.perf_counter()
    for tick in range(ticks):
        wait = start + tick / 1000 - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        for _ in range(per_tick):
            producer.produce(topic, time.perf_counter_ns().to_bytes(8, "big") + pad)


def mib_batches(brokers: str, topic: str, acks: str, n_batches: int) -> float:
    """Seconds to produce ``n_batches`` batches of 1,024 x 1 KiB (uncompressed) and flush.

    One batch to every partition first, outside the clock: the row is a sub-second run
    (100 batches in a quick suite) and each partition's first batch and the stream's
    first megabytes cost extra (16-25 % of the row when only partition 0 was warmed:
    bench/README.md, "Session 9: 1 MiB batches") -- the ceiling beside it has none."""
    values = values_of(1024, 1024)
    with Producer(brokers=brokers, acks=acks, compression="none", batch_size=MIB_BATCH_BYTES,
                  max_in_flight=MIB_IN_FLIGHT) as p:  # fmt: skip
        for partition in range(PARTITIONS):
            p.produce_batch(topic, values, partition=partition)
        p.flush()
        start = time.perf_counter()
        for i in range(n_batches):
            p.produce_batch(topic, values, partition=i % PARTITIONS)
        left = p.flush()
        seconds = time.perf_counter() - start
    if left:
        raise Unavailable(f"{left} records undelivered")
    return seconds


def _cli(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name(_LOGD)), *args]


def cli_produce(brokers: str, topic: str, acks: str, path: Path) -> float:
    start = time.perf_counter()
    with path.open("rb") as stdin:
        done = subprocess.run(
            _cli("produce", topic, "-b", brokers, "--acks", acks), stdin=stdin,
            capture_output=True, check=False,
        )  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise Unavailable(f"logd produce failed: {done.stderr.decode().strip()}")
    return seconds


def cli_consume(brokers: str, topic: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        _cli("consume", topic, "-b", brokers, "-o", ":end"), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise Unavailable(f"logd consume failed: {done.stderr.decode().strip()}")
    return seconds


@contextlib.contextmanager
def _quiet_unavailable(what: str) -> Iterator[None]:
    """One workload's failure is one line; the others still run."""
    try:
        yield
    except (Unavailable, LogdError) as exc:
        print(f"  skipped {what}: {exc}", flush=True)


def run_logd(
    root: Path, *, mode: str, sizes: tuple[int, ...], n: int, latency_s: float, rate: int,
    cli_lines: int, mib_count: int, ceiling_s: float = 2.0,
) -> list[Result]:  # fmt: skip
    """Every logd workload in ``mode`` ("acks=1", "acks=all", "rf3"; "interval" and
    "rf3-interval": the e2e-latency row only); rows as they come. ``ceiling_s``: seconds of
    the fdatasync ceiling measured around acks=all's 1 MiB row (half before, half after)."""
    acks = "1" if mode == "acks=1" else "all"
    size = 3 if mode in ("rf3", "rf3-interval") else 1
    timed = mode in ("interval", "rf3-interval")
    durability = DURABILITY[mode]
    results: list[Result] = []

    def add(r: Result) -> None:
        results.append(r)
        who = "" if r.system == _LOGD else f"  ({r.system}, {r.durability})"
        print(f"  {r.workload:<15} {r.value_bytes:>5} B  " + _brief(r) + who, flush=True)

    fsync = "interval" if timed else "always"
    with LogdCluster(root / mode.replace("=", ""), size, fsync) as cluster:
        b = cluster.brokers
        if timed:  # the latency row beside the peers' timed fsyncs, nothing else
            with _quiet_unavailable("e2e latency"):
                add(_e2e_row(cluster, acks, size, rate, latency_s, durability, INTERVAL_NOTE))
            with _quiet_unavailable("e2e latency through confluent-kafka"):
                add(_kafka_e2e_row(cluster, size, rate, latency_s, durability, INTERVAL_NOTE))
            return results
        for vsize in sizes:
            values = values_of(vsize)
            count = n if vsize <= 100 else max(n // 5, _SLICE)
            with _quiet_unavailable(f"produce {vsize} B"):
                topic = cluster.create_topic(size)
                secs = produce_batch(b, topic, acks, values, count)
                add(Result.throughput(_LOGD, durability, "produce-batch", vsize, count, secs))
                got, secs = replay(b, topic, count + 1)
                add(Result.throughput(_LOGD, durability, "replay", vsize, got, secs))
                rec_topic = cluster.create_topic(size)
                rec_n = count // 2
                secs = produce_records(b, rec_topic, acks, values, rec_n)
                add(Result.throughput(_LOGD, durability, "produce-record", vsize, rec_n, secs))
        with _quiet_unavailable("e2e latency"):
            add(_e2e_row(cluster, acks, size, rate, latency_s, durability))
        if acks == "all":
            with _quiet_unavailable("e2e latency through confluent-kafka"):
                add(_kafka_e2e_row(cluster, size, rate, latency_s, durability))
        with _quiet_unavailable("1 MiB batches"):
            # acks=all's row is read against the disk's ceiling measured around it (issue 22)
            for row in _mib_rows(cluster, acks, durability, mib_count,
                                 ceiling_s if mode == "acks=all" else 0.0):  # fmt: skip
                add(row)
        if mode == "acks=all":
            with _quiet_unavailable("Avro"):
                from bench.avro import avro_rows

                for row in avro_rows(cluster, max(n // 10, _SLICE), durability):
                    add(row)
        with _quiet_unavailable("CLI"):
            path = root / "lines.txt"
            if not path.exists():
                path.write_bytes(line_values(100, cli_lines))
            topic = cluster.create_topic(size)
            secs = cli_produce(b, topic, acks, path)
            add(Result.throughput(_LOGD, durability, "cli-produce", 100, cli_lines, secs))
            secs = cli_consume(b, topic)
            add(Result.throughput(_LOGD, durability, "cli-consume", 100, cli_lines, secs,
                                  note="-f json > /dev/null"))  # fmt: skip
    return results


def _mib_rows(
    cluster: LogdCluster, acks: str, durability: str, count: int, ceiling_s: float
) -> list[Result]:
    """The ``1MiB-batches`` row; with ``ceiling_s``, the fdatasync ceiling's row as well,
    its write loop run for half of ``ceiling_s`` just before logd's batches and half just
    after, in the brokers' data directory: the disk's speed swings several-fold within
    minutes here, so the ratio is only honest against a ceiling of the same minute."""
    before = _ceiling(cluster.root, ceiling_s / 2) if ceiling_s else 0.0
    secs = mib_batches(cluster.brokers, cluster.create_topic(cluster.size), acks, count)
    rows = [Result.throughput(_LOGD, durability, "1MiB-batches", 1024, count * 1024, secs,
                              note=f"uncompressed, {MIB_IN_FLIGHT} in flight")]  # fmt: skip
    if ceiling_s:
        after = _ceiling(cluster.root, ceiling_s / 2)
        mb_s = (before + after) / 2
        rows.append(Result("ceiling", CEILING_BESIDE, "1MiB-batches", 1024, mb_s * 1e6 / 1024,
                           mb_s, note=f"os.write loop; {before:.0f} MB/s before logd's row, "
                           f"{after:.0f} after"))  # fmt: skip
    return rows


def _ceiling(root: Path, seconds: float) -> float:
    return write_loop(root / "ceiling.dat", CHUNK, True, seconds)


def _e2e_row(
    cluster: LogdCluster, acks: str, size: int, rate: int, seconds: float, durability: str,
    *notes: str,
) -> Result:  # fmt: skip
    """The e2e-latency row; its note gives the disk's fdatasync median just before it (in
    the brokers' data directory): a row whose every record pays an fsync is read against it."""
    topic = cluster.create_topic(size)
    fsync_ms = fdatasync_ms(cluster.root)
    lat = e2e_latency(cluster.brokers, topic, acks, 100, rate, seconds)
    note = "; ".join((f"{rate:,} msgs/s, linger 0", f"fdatasync p50 {fsync_ms:.2f} ms", *notes))
    return Result.latency(_LOGD, durability, "e2e-latency", 100, lat, seconds, note=note)


def _kafka_e2e_row(
    cluster: LogdCluster, size: int, rate: int, seconds: float, durability: str, *notes: str
) -> Result:
    """The same e2e workload through the Kafka listener with confluent-kafka (librdkafka; an
    idempotent producer, acks=all, linger 0) -- issue 22 asks for its RF=1 figures "through
    the logd client over gRPC and through a Kafka client"."""
    from bench.kafka_latency import kafka_e2e_latency  # it imports this module

    topic = cluster.create_topic(size)
    lat = kafka_e2e_latency(",".join(cluster.kafka_addresses), topic, rate, seconds)
    note = "; ".join((f"{rate:,} msgs/s, linger 0, confluent-kafka", *notes))
    return Result.latency(_LOGD, durability, KAFKA_E2E, 100, lat, seconds, note=note)


def _brief(r: Result) -> str:
    if r.p50_ms is not None:
        return f"p50 {r.p50_ms:.2f} ms  p99 {r.p99_ms:.2f} ms  p99.9 {r.p999_ms:.2f} ms"
    return f"{r.msgs_s or 0:>12,.0f} msgs/s {r.mb_s or 0:>8,.1f} MB/s"
