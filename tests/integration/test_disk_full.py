"""A disk that fills, for real (issue 24): brokers on small tmpfs filesystems the test mounts
(as root; skipped with one line where mounting is impossible).

Each test checks what users rely on: the write that does not fit is refused at once with a
line naming the disk and the setting; what is stored is still served; health says the broker
is degraded and why; when space returns, writes resume without a restart; every
acknowledged record is stored exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from confluent_kafka import KafkaError
from confluent_kafka import Producer as KafkaProducer

from logd.client import Producer
from logd.v1 import cluster_pb2, cluster_pb2_grpc
from tests.helpers import wait_until
from tests.integration.admin.support import admin_url, get, samples
from tests.integration.cluster import BrokerProcess, Cluster
from tests.integration.http_support import JSON_V2, url_of
from tests.integration.replicas import partition_info, wait_in_sync, wait_leader
from tests.integration.small_disk import fill, free_bytes, small_disk

pytestmark = pytest.mark.integration

_MIB = 1024 * 1024


def logd(
    bootstrap: str, *args: str, stdin: bytes = b"", timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "-b", bootstrap, *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def _lines(count: int, tag: str) -> bytes:
    """``count`` incompressible lines (lz4 would shrink repeated ones to nothing)."""
    return b"".join(f"{tag}-{i}-{os.urandom(300).hex()}\n".encode() for i in range(count))


def _consume_all(bootstrap: str, topic: str) -> list[str]:
    result = logd(bootstrap, "consume", topic, "-o", "start:end", "-f", "%v\\n")
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode().splitlines()


def _metrics(broker: BrokerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body, _ = get(admin_url(broker, "/metrics"))
    assert status == 200, body
    return samples(body.decode())


def _kafka_produce(kafka: str, topic: str, value: bytes) -> KafkaError | None:
    """One record through the Kafka listener (confluent-kafka, acks=all, no retries: the
    broker's own answer is what the delivery report carries); its error, or None."""
    reports: list[KafkaError | None] = []
    producer = KafkaProducer({
        "bootstrap.servers": kafka, "acks": "all", "retries": 0,
        "enable.idempotence": False, "message.timeout.ms": 10_000,
    })  # fmt: skip
    producer.produce(topic, value, on_delivery=lambda err, _msg: reports.append(err))
    assert producer.flush(15) == 0, "no delivery report"
    (report,) = reports
    return report


def test_a_single_broker_on_a_full_disk_refuses_at_once_serves_reads_and_resumes(
    broker_factory: Callable[..., BrokerProcess], tmp_path: Path
) -> None:
    """The issue's reproduction: one broker on a 40 MiB filesystem, more produced than fits."""
    with small_disk(tmp_path / "disk", 40 * _MIB) as disk:
        broker = broker_factory("disk")
        address = broker.address
        assert logd(address, "topic", "create", "t").returncode == 0
        # Leave the reserve (5 % of 40 MiB = 2 MiB) and ~6 MiB more, then send 12 MiB.
        ballast = fill(disk, 8 * _MIB)
        started = time.monotonic()
        result = logd(address, "produce", "t", stdin=_lines(20_000, "a"))
        took = time.monotonic() - started
        err = result.stderr.decode()
        assert result.returncode == 1, err
        assert "Traceback" not in err
        (line,) = err.strip().splitlines()
        assert line.startswith("error: ") and f"disk {disk}" in line, line
        assert "storage.min.free.percent=5" in line, line
        assert took < 30, took  # it stops at the first refusal, never the delivery timeout
        acked = int(line.removeprefix("error: ").split(" of ")[0])
        assert 0 < acked < 20_000

        stored = _consume_all(address, "t")
        assert len(stored) == acked and len(set(stored)) == acked

        health = logd(address, "cluster", "health")
        assert health.returncode == 10, (health.stdout + health.stderr).decode()
        assert f"node 0 degraded: disk {disk}" in health.stdout.decode()
        info = logd(address, "cluster", "info", "--format", "json")
        (me,) = json.loads(info.stdout)["brokers"]
        assert me["disk_total_bytes"] == 40 * _MIB and me["log_bytes"] > 4 * _MIB
        # A Kafka client is answered the same way, at once: KAFKA_STORAGE_ERROR (56).
        kafka = broker.bound()["kafka"]
        started = time.monotonic()
        refused = _kafka_produce(kafka, "t", b"k")
        assert refused is not None and refused.code() == KafkaError.KAFKA_STORAGE_ERROR, refused
        assert time.monotonic() - started < 5  # at once, not at message.timeout.ms
        # ... and a REST proxy client: Confluent's retriable per-record error (2), naming why.
        with httpx.Client(base_url=url_of(broker), timeout=10) as rest:
            answer = rest.post("/topics/t", json={"records": [{"value": "h"}]},
                               headers={"Content-Type": JSON_V2})  # fmt: skip
        assert answer.status_code == 200, answer.text
        (offset,) = answer.json()["offsets"]
        assert offset["error_code"] == 2 and f"disk {disk}" in offset["error"], offset
        # ... and the admin listener's metrics say so.
        figures = _metrics(broker)
        assert figures[("logd_storage_disk_writes_refused", ())] == 1
        assert figures[("logd_storage_disk_reserve_bytes", ())] == 2 * _MIB

        ballast.unlink()  # space returns: no restart
        wait_until(lambda: logd(address, "cluster", "health").returncode == 0, timeout=15,
                   message="health back to ok")  # fmt: skip
        result = logd(address, "produce", "t", stdin=b"x\n")
        assert result.returncode == 0, result.stderr.decode()
        assert _kafka_produce(kafka, "t", b"k") is None
        assert _metrics(broker)[("logd_storage_disk_writes_refused", ())] == 0
        stored = _consume_all(address, "t")
        assert len(stored) == acked + 2 and stored[-2:] == ["x", "k"]
        assert broker.stop() == 0


def test_a_topic_created_on_a_full_disk_refuses_clearly_and_works_once_space_returns(
    broker_factory: Callable[..., BrokerProcess], tmp_path: Path
) -> None:
    """Creating a partition's directory fails (ENOSPC): the broker says so per request and
    tries again by itself; no traceback, no hang."""
    with small_disk(tmp_path / "disk", 16 * _MIB) as disk:
        broker = broker_factory("disk")
        ballast = fill(disk, 0)
        assert free_bytes(disk) == 0
        created = logd(broker.address, "topic", "create", "late")
        assert created.returncode == 0, created.stderr.decode()
        refused = logd(broker.address, "produce", "late", stdin=b"a\n", timeout=30)
        assert refused.returncode == 1 and "Traceback" not in refused.stderr.decode()
        line = refused.stderr.decode()
        assert f"{disk}/late-0" in line and "the disk is full (ENOSPC)" in line, line
        ballast.unlink()
        wait_until(
            lambda: logd(broker.address, "produce", "late", stdin=b"b\n").returncode == 0,
            timeout=20, message="the new topic takes writes",
        )  # fmt: skip
        assert _consume_all(broker.address, "late") == ["b"]
        assert "Traceback" not in broker.stderr_path.read_text()
        assert broker.stop() == 0


class _Writer:
    """Produces unique values with acks=all until stopped; remembers what was acknowledged."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.acked: list[str] = []
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._producer = Producer(brokers=bootstrap, acks="all", linger_ms=5)
        self._topic = topic
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            for _ in range(20):
                value = f"v{n}-{os.urandom(200).hex()}"
                n += 1
                self._producer.produce(self._topic, value=value.encode(),
                                       on_delivery=self._delivered(value))  # fmt: skip
            self._producer.poll(0.02)

    def _delivered(self, value: str) -> Callable[[Exception | None, object], None]:
        def done(err: Exception | None, _: object) -> None:
            (self.failed if err is not None else self.acked).append(value)

        return done

    def __enter__(self) -> _Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._producer.flush(60)
        self._producer.close()


def _back_in_sync_and_acknowledging(bootstrap: str, topic: str, writer: _Writer) -> None:
    """The fault healed: every replica back in the ISR, producers still acknowledged."""
    wait_in_sync(bootstrap, topic, timeout=60)
    after = len(writer.acked)
    wait_until(lambda: len(writer.acked) > after + 200, timeout=30, message="acks")


def _healthy_and_nothing_lost(bootstrap: str, topic: str, writer: _Writer) -> None:
    """After the writer stopped: no send failed, health ok, every acknowledged record
    stored exactly once."""
    assert not writer.failed, writer.failed[:3]
    wait_until(lambda: logd(bootstrap, "cluster", "health").returncode == 0, timeout=30,
               message="health back to ok")  # fmt: skip
    stored = _consume_all(bootstrap, topic)
    assert len(stored) == len(set(stored)), "a record is stored twice"
    assert set(writer.acked) <= set(stored), "an acknowledged record is lost"


def test_three_brokers_keep_acknowledging_while_the_leaders_disk_is_full(
    tmp_path: Path,
) -> None:
    """RF=3: the leader's disk fills; it steps down, a replica with space leads, producers
    keep being acknowledged; the full broker is degraded in health; space back, it catches
    up. Nothing acknowledged is lost or stored twice."""
    cluster = Cluster(tmp_path, size=3)
    disks = [small_disk(b.data_dir, 48 * _MIB) for b in cluster]
    mounted = [d.__enter__() for d in disks]
    try:
        cluster.start()
        bootstrap = cluster.bootstrap
        created = logd(bootstrap, "topic", "create", "r", "-r", "3")
        assert created.returncode == 0, created.stderr.decode()
        wait_in_sync(bootstrap, "r")
        leader = wait_leader(bootstrap, "r").leader
        with _Writer(bootstrap, "r") as writer:
            wait_until(lambda: len(writer.acked) > 200, timeout=30, message="first acks")
            ballast = fill(mounted[leader], 512 * 1024)  # below its 2.4 MiB reserve
            moved = wait_leader(bootstrap, "r", not_in=(leader,), timeout=20)
            assert moved.leader != leader
            before = len(writer.acked)
            wait_until(lambda: len(writer.acked) > before + 500, timeout=30,
                       message="acknowledged after the leader's disk filled")  # fmt: skip
            health = logd(bootstrap, "cluster", "health")
            assert health.returncode == 10
            assert f"node {leader} degraded: disk {mounted[leader]}" in health.stdout.decode()
            ballast.unlink()
            _back_in_sync_and_acknowledging(bootstrap, "r", writer)
        _healthy_and_nothing_lost(bootstrap, "r", writer)
        assert partition_info(bootstrap, "r").leader >= 0
        assert cluster.stop() == {0: 0, 1: 0, 2: 0}
    finally:
        cluster.stop()
        cluster.close()
        for d in disks:
            d.__exit__(None, None, None)


def _replicated_topic(cluster: Cluster, topic: str) -> int:
    """Start the brokers, create ``topic`` on all three and wait until it is in sync; its
    leader."""
    cluster.start()
    assert logd(cluster.bootstrap, "topic", "create", topic, "-r", "3").returncode == 0
    wait_in_sync(cluster.bootstrap, topic)
    return wait_leader(cluster.bootstrap, topic).leader


def _inject(broker: BrokerProcess, **fields: object) -> cluster_pb2.FaultResponse:
    """Arm a disk fault on ``broker`` (``InjectFault``; it runs --enable-fault-injection)."""
    stub = cluster_pb2_grpc.ClusterInternalStub(broker.channel())
    return stub.InjectFault(cluster_pb2.FaultRequest(**fields), timeout=10,
                            metadata=broker.internal_metadata())  # fmt: skip


@pytest.mark.parametrize("error", [28, 5])  # ENOSPC, EIO
def test_failed_segment_writes_are_retried_and_nothing_acknowledged_is_lost_or_doubled(
    broker_factory: Callable[..., BrokerProcess], error: int
) -> None:
    """The next writes of the partition's segment fail (the fault hook): the log undoes
    each, the Raft write is retried, the broker logs one line (no traceback), and every
    record a producer had acknowledged is stored exactly once."""
    broker = broker_factory(extra_args=["--enable-fault-injection"])
    assert logd(broker.address, "topic", "create", "f").returncode == 0
    with _Writer(broker.address, "f") as writer:
        wait_until(lambda: len(writer.acked) > 100, timeout=30, message="first acks")
        armed = _inject(broker, disk_fail_path="f-0/", disk_fail_errno=error,
                        disk_fail_count=5)  # fmt: skip
        assert armed.disk_faults_pending == 5
        wait_until(lambda: _inject(broker).disk_faults_pending == 0, timeout=30,
                   message="the faults fired")  # fmt: skip
        before = len(writer.acked)
        wait_until(lambda: len(writer.acked) > before + 200, timeout=30,
                   message="acknowledged after the faults")  # fmt: skip
    assert not writer.failed, writer.failed[:3]
    stored = _consume_all(broker.address, "f")
    assert len(stored) == len(set(stored)) and set(writer.acked) <= set(stored)
    log = broker.stderr_path.read_text()
    assert "Traceback" not in log and "the Raft log is not written" in log


def test_a_failed_fsync_takes_a_follower_offline_and_it_rejoins_through_raft(
    tmp_path: Path,
) -> None:
    """RF=3: a follower's fsync of the partition fails (EIO). Its log goes offline -- no
    retry after a failed fsync --, is reopened from its files and the replica rejoins as one
    that lost data; the leader repairs it and it is back in the ISR, without a restart.
    Producers keep being acknowledged throughout; nothing is lost or doubled."""
    cluster = Cluster(tmp_path, size=3, extra_args=["--enable-fault-injection"])
    try:
        leader = _replicated_topic(cluster, "s")
        bootstrap = cluster.bootstrap
        follower = cluster[(leader + 1) % 3]
        with _Writer(bootstrap, "s") as writer:
            wait_until(lambda: len(writer.acked) > 200, timeout=30, message="first acks")
            _inject(follower, disk_fail_path="s-0/", disk_fail_errno=5, disk_fail_count=1,
                    disk_fail_fsync=True)  # fmt: skip
            wait_until(lambda: "reopened from its files" in follower.stderr_path.read_text(),
                       timeout=30, message="the follower reopens its log")  # fmt: skip
            before = len(writer.acked)
            wait_until(lambda: len(writer.acked) > before + 300, timeout=30, message="acks")
            wait_in_sync(bootstrap, "s", timeout=60)
        assert not writer.failed, writer.failed[:3]
        stored = _consume_all(bootstrap, "s")
        assert len(stored) == len(set(stored)) and set(writer.acked) <= set(stored)
        assert "Traceback" not in follower.stderr_path.read_text()
        assert cluster.stop() == {0: 0, 1: 0, 2: 0}
    finally:
        cluster.stop()
        cluster.close()


def test_leadership_moves_off_a_broker_whose_disk_fails_and_it_rejoins(tmp_path: Path) -> None:
    """RF=3: every write of the leader's partition files fails with EIO (the fault hook, a
    disk that has gone bad). The leader steps down at once -- it cannot hold the partition
    while its disk fails -- a replica with a working disk is elected, producers keep being
    acknowledged, and health names the failing log. The disk mended, the broker catches up
    and is back in the ISR without a restart. Nothing acknowledged is lost or doubled."""
    cluster = Cluster(tmp_path, size=3, extra_args=["--enable-fault-injection"])
    try:
        leader = _replicated_topic(cluster, "e")
        bootstrap = cluster.bootstrap
        failing = cluster[leader]
        with _Writer(bootstrap, "e") as writer:
            wait_until(lambda: len(writer.acked) > 200, timeout=30, message="first acks")
            _inject(failing, disk_fail_path="e-0/", disk_fail_errno=5,
                    disk_fail_count=1 << 30)  # fmt: skip
            started = time.monotonic()
            moved = wait_leader(bootstrap, "e", not_in=(leader,), timeout=20)
            took = time.monotonic() - started
            assert moved.leader != leader
            before = len(writer.acked)
            wait_until(lambda: len(writer.acked) > before + 300, timeout=30,
                       message="acknowledged after the leader's disk failed")  # fmt: skip
            health = logd(bootstrap, "cluster", "health")
            out = health.stdout.decode()
            assert health.returncode == 10, out
            assert f"node {leader} degraded: writes to log e-0 are failing" in out, out
            assert "(EIO)" in out, out
            _inject(failing, clear=True)  # the disk works again
            _back_in_sync_and_acknowledging(bootstrap, "e", writer)
        _healthy_and_nothing_lost(bootstrap, "e", writer)
        log = failing.stderr_path.read_text()
        assert "stepping down so that a replica with a working disk leads" in log
        assert "Traceback" not in log
        print(f"leadership moved off the failing disk in {took:.2f} s")
        assert cluster.stop() == {0: 0, 1: 0, 2: 0}
    finally:
        cluster.stop()
        cluster.close()


def test_the_metadata_log_and_the_vote_journal_recover_from_a_failed_fsync_by_themselves(
    tmp_path: Path,
) -> None:
    """RF=3: one broker's fsync of the metadata log fails (EIO): the log goes offline, is
    reopened from its files and the controller group restarts over it -- the broker follows
    the metadata again without a restart (it hosts a topic created afterwards, in sync).
    Then its Raft hard-state journal's fsyncs fail, twice (the append's, and the rewrite's
    that follows at once): the journal is rewritten from memory at the next flush, votes
    go on, and a topic created afterwards elects and is in sync. Health ends ok, producers
    were acknowledged throughout, nothing lost or doubled, no traceback."""
    cluster = Cluster(tmp_path, size=3, extra_args=["--enable-fault-injection"])
    try:
        leader = _replicated_topic(cluster, "w")
        bootstrap = cluster.bootstrap
        broker = cluster[(leader + 1) % 3]
        with _Writer(bootstrap, "w") as writer:
            wait_until(lambda: len(writer.acked) > 100, timeout=30, message="first acks")
            _inject(broker, disk_fail_path="__cluster_metadata-0/", disk_fail_errno=5,
                    disk_fail_count=1, disk_fail_fsync=True)  # fmt: skip
            assert logd(bootstrap, "topic", "create", "m1", "-r", "3").returncode == 0
            wait_until(lambda: "the metadata log was reopened from its files"
                       in broker.stderr_path.read_text(), timeout=30,
                       message="the metadata log reopened")  # fmt: skip
            assert logd(bootstrap, "topic", "create", "m2", "-r", "3").returncode == 0
            wait_in_sync(bootstrap, "m2", timeout=60)
            _inject(broker, disk_fail_path="raft-hardstate.log", disk_fail_errno=5,
                    disk_fail_count=2, disk_fail_fsync=True)  # fmt: skip
            assert logd(bootstrap, "topic", "create", "m3", "-r", "3", "-p", "4").returncode == 0
            wait_until(lambda: "rewritten after a failed fsync"
                       in broker.stderr_path.read_text(), timeout=30,
                       message="the journal rewritten")  # fmt: skip
            wait_in_sync(bootstrap, "m3", partitions=4, timeout=60)
            before = len(writer.acked)
            wait_until(lambda: len(writer.acked) > before + 200, timeout=30, message="acks")
        _healthy_and_nothing_lost(bootstrap, "w", writer)
        log = broker.stderr_path.read_text()
        assert "Traceback" not in log
        assert "fsync of the hard-state journal" in log
        assert cluster.stop() == {0: 0, 1: 0, 2: 0}
    finally:
        cluster.stop()
        cluster.close()
