"""Partition moves (issue 23) on four real brokers: a 3-replica partition moves to another
set of brokers (its leader among the leaving ones) under an acks=all producer; every
acknowledged record is readable afterwards, from the new replicas' own files too, and the
leaving broker's copy is deleted. A move to a stopped broker stays in progress, is listed,
and a cancel moves the partition back. A throttled move goes no faster than its throttle
and survives its partition leader and the controller leader being killed (SIGKILL) and
restarted mid-way. The CLI drives it through the public client; kafka-python's admin
client through Kafka's AlterPartitionReassignments / ListPartitionReassignments.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kafka import TopicPartition as KpTopicPartition
from kafka import errors as kafka_errors
from kafka.admin import KafkaAdminClient
from kio.schema.alter_partition_reassignments.v1 import request as apr1
from kio.schema.types import BrokerId
from kio.static.primitive import i32

from logd.client import Admin, NewTopic, Producer, RecordMetadata
from logd.errors import (
    InvalidReplicaAssignmentError,
    LogdError,
    NoReassignmentInProgressError,
    ReassignmentInProgressError,
)
from tests.helpers import wait_until
from tests.integration.cluster import Cluster
from tests.integration.kafka.raw import RawClient
from tests.integration.replicas import partition_info, read_replica, wait_in_sync
from tests.integration.test_cli import logd, ok, one_error_line
from tests.integration.test_transfer_leadership import Writer, _read_all

pytestmark = pytest.mark.integration

NODES = 4
RF = 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("moves") / "cluster", NODES)
    try:
        c.start()
        yield c
    finally:
        c.close()


def _topic(cluster: Cluster, name: str) -> None:
    with Admin(brokers=cluster.bootstrap) as admin:
        admin.create_topics([NewTopic(name, 1, RF)])
    wait_in_sync(cluster.bootstrap, name, 1)


def _settled(cluster: Cluster, topic: str, replicas: tuple[int, ...]) -> bool:
    with Admin(brokers=cluster.bootstrap) as admin:
        if admin.list_partition_moves([topic]):
            return False
    info = partition_info(cluster.bootstrap, topic)
    return sorted(info.replicas) == sorted(replicas) == sorted(info.isr)


def test_a_move_under_acks_all_loses_nothing_and_deletes_the_old_copy(cluster: Cluster) -> None:
    _topic(cluster, "moving")
    before = partition_info(cluster.bootstrap, "moving")
    (new,) = set(range(NODES)) - set(before.replicas)
    leaving = before.leader  # the leader leaves: it hands its leadership over first
    target = (*(r for r in before.replicas if r != leaving), new)
    assert not (cluster[new].data_dir / "moving-0").exists()
    writer = Writer(cluster.bootstrap, "moving", after=300)
    writer.start()
    try:
        with Admin(brokers=cluster.bootstrap) as admin:
            admin.move_partition("moving", 0, target)
            with pytest.raises(ReassignmentInProgressError):
                admin.move_partition("moving", 0, before.replicas)
        wait_until(lambda: _settled(cluster, "moving", target), timeout=90,
                   message=f"moving-0 to move to {target}")  # fmt: skip
    finally:
        writer.stop()
    assert writer.errors == []
    acknowledged = dict(writer.offsets)
    assert len(acknowledged) >= 300
    read = {value: offset for offset, value in _read_all(cluster.bootstrap, "moving")}
    assert {v: read.get(v) for v in acknowledged} == acknowledged
    # The leaving broker deleted its copy once the new configuration was committed.
    wait_until(lambda: not (cluster[leaving].data_dir / "moving-0").exists(), timeout=30,
               message=f"broker {leaving} to delete moving-0")  # fmt: skip
    # The new replica holds every acknowledged record in its own files.
    cluster[new].stop()
    try:
        held = {value: offset for offset, value in read_replica(cluster[new], "moving")}
    finally:
        cluster[new].start()
    assert {v: held.get(v) for v in acknowledged} == acknowledged
    wait_in_sync(cluster.bootstrap, "moving", 1)


def test_a_move_to_a_stopped_broker_is_listed_and_cancelled(cluster: Cluster) -> None:
    _topic(cluster, "stuck")
    with Producer(brokers=cluster.bootstrap, acks="all") as producer:
        for i in range(100):
            producer.produce("stuck", b"s%04d" % i + os.urandom(995), partition=0)
        assert producer.flush(60) == 0
    before = partition_info(cluster.bootstrap, "stuck")
    (new,) = set(range(NODES)) - set(before.replicas)
    target = (*before.replicas[1:], new)
    cluster[new].stop()
    try:
        to = ",".join(map(str, target))
        said = ok(logd(cluster[before.replicas[0]], "cluster", "partitions", "move", "stuck",
                       "-p", "0", "--to", to, "--throttle", "1MB/s"))  # fmt: skip
        assert said.strip() == f"stuck-0: moving to {to} at most 1000000 bytes/s"
        with Admin(brokers=cluster.bootstrap) as admin:
            (move,) = admin.list_partition_moves(["stuck"])
            assert (move.target, move.adding, move.removing) == (
                target, (new,), (before.replicas[0],)
            )  # fmt: skip

            # Bytes left: the leader reports (heartbeat) what the joining replica lacks --
            # here its whole log, every byte of its segments (read as it reports: the
            # move's configuration entries land in the log too).
            def reported() -> list[dict[str, object]] | None:
                out = ok(logd(cluster[before.replicas[0]], "cluster", "partitions", "status",
                              "stuck", "--format", "json"))  # fmt: skip
                moves = list(json.loads(out))
                whole = _log_bytes(cluster, partition_info(cluster.bootstrap, "stuck").leader,
                                   "stuck")  # fmt: skip
                return moves if moves[0]["bytes_left"] == whole > 100_000 else None

            status = wait_until(reported, timeout=30, interval=0.5,
                                message="bytes left = the leader's log bytes")  # fmt: skip
            whole = status[0]["bytes_left"]
            assert status == [{"topic": "stuck", "partition": 0, "target": list(target),
                               "adding": [new], "removing": [before.replicas[0]],
                               "throttle": 1_000_000, "bytes_left": whole}]  # fmt: skip

            def table_agrees() -> str | None:
                """The table shows what the json shows (read again: an election under load
                appends an entry the joining replica lacks too)."""
                table = ok(logd(cluster[before.replicas[0]], "cluster", "partitions", "status"))
                now = reported() or [{"bytes_left": -1}]
                return table if str(now[0]["bytes_left"]) in table.split() else None

            table = wait_until(table_agrees, timeout=30, interval=0.5,
                               message="the table's bytes left = the json's")  # fmt: skip
            assert "BYTES LEFT" in table
            # Kafka's ListPartitionReassignments / AlterPartitionReassignments (null
            # replicas: cancel) see and cancel the same move (kafka-python's admin client:
            # confluent-kafka's AdminClient has neither call).
            tp = KpTopicPartition("stuck", 0)
            kp = KafkaAdminClient(bootstrap_servers=cluster[target[0]].bound()["kafka"])
            try:
                assert kp.list_partition_reassignments({"stuck": [0]}) == {tp: {
                    "replicas": [*target, before.replicas[0]], "adding_replicas": [new],
                    "removing_replicas": [before.replicas[0]],
                }}  # fmt: skip
                assert kp.list_partition_reassignments({"stuck": [1], "nope": [0]}) == {}
                # A new target replaces the move in progress, as in Kafka (logd's own
                # clients are refused: cancel first): here, the way back, without `new`.
                with pytest.raises(ReassignmentInProgressError):
                    admin.move_partition("stuck", 0, before.replicas)
                # First a target that keeps the leaving broker r0 and still wants `new`:
                # r0 was in sync all along, so it is not listed as adding (Kafka's answer;
                # logd's mover still treats it as joining), r2 now leaves.
                r0, r1, r2 = before.replicas
                again = [r0, r1, new]
                assert kp.alter_partition_reassignments({tp: again}) == {tp: None}
                want = {tp: {"replicas": [*again, r2], "adding_replicas": [new],
                             "removing_replicas": [r2]}}  # fmt: skip
                wait_until(lambda: kp.list_partition_reassignments({"stuck": [0]}) == want,
                           timeout=30, interval=0.5, message="r0 not listed as adding")  # fmt: skip
                assert kp.alter_partition_reassignments({tp: before.replicas}) == {tp: None}
                (replaced,) = admin.list_partition_moves(["stuck"])
                assert (replaced.target, replaced.removing) == (tuple(before.replicas), (new,))
                wait_until(lambda: _settled(cluster, "stuck", tuple(before.replicas)),
                           timeout=60, message="the replacing move to end")  # fmt: skip
                assert kp.alter_partition_reassignments({tp: None}) == {
                    tp: kafka_errors.NoReassignmentInProgressError
                }
            finally:
                kp.close()
            with pytest.raises(NoReassignmentInProgressError):
                admin.cancel_partition_move("stuck", 0)
    finally:
        cluster[new].start()
    # The broker that was to join deletes nothing it needs and hosts nothing of it.
    wait_until(lambda: not (cluster[new].data_dir / "stuck-0").exists(), timeout=30,
               message=f"broker {new} not to host stuck-0")  # fmt: skip


def test_bad_moves_are_refused_in_one_line(cluster: Cluster) -> None:
    _topic(cluster, "refused")
    with Admin(brokers=cluster.bootstrap) as admin:
        with pytest.raises(InvalidReplicaAssignmentError):
            admin.move_partition("refused", 0, [1, 99])
        with pytest.raises(InvalidReplicaAssignmentError):
            admin.move_partition("refused", 0, [1, 1])
    broker = cluster[1]
    line = one_error_line(logd(broker, "cluster", "partitions", "move", "refused", "-p", "0",
                               "--to", "1,99"))  # fmt: skip
    assert "unknown brokers [99]" in line
    usage = logd(broker, "cluster", "partitions", "move", "refused", "-p", "0", "--to", "a,b")
    assert usage.returncode == 2 and b"Traceback" not in usage.stderr
    assert b"--to takes broker ids like 1,2,3, got 'a,b'" in usage.stderr
    usage = logd(broker, "cluster", "partitions", "move", "refused", "-p", "0", "--to", "1",
                 "--throttle", "fast")  # fmt: skip
    assert usage.returncode == 2 and b"Traceback" not in usage.stderr
    assert b"--throttle takes bytes a second like 10MB or 500KiB/s, got 'fast'" in usage.stderr
    assert "no partition is moving" in ok(logd(broker, "cluster", "partitions", "status"))


def test_a_kafka_admin_client_moves_a_partition(cluster: Cluster) -> None:
    """AlterPartitionReassignments through kafka-python's KafkaAdminClient: a move that
    completes, and the refusals per partition (listing and cancelling: the test above)."""
    _topic(cluster, "kmoved")
    before = partition_info(cluster.bootstrap, "kmoved")
    (new,) = set(range(NODES)) - set(before.replicas)
    target = [*before.replicas[1:], new]
    tp = KpTopicPartition("kmoved", 0)
    kafka = cluster[before.replicas[0]].bound()["kafka"]
    kp = KafkaAdminClient(bootstrap_servers=kafka)
    try:
        refused = kp.alter_partition_reassignments({
            tp: [1, 99],
            KpTopicPartition("kmoved", 7): [0],
            KpTopicPartition("nope", 0): [0],
        })  # fmt: skip
        assert refused == {
            tp: kafka_errors.InvalidReplicationAssignmentError,
            KpTopicPartition("kmoved", 7): kafka_errors.UnknownTopicOrPartitionError,
            KpTopicPartition("nope", 0): kafka_errors.UnknownTopicOrPartitionError,
        }
        assert kp.alter_partition_reassignments({tp: None}) == {
            tp: kafka_errors.NoReassignmentInProgressError
        }
        assert kp.alter_partition_reassignments({tp: target}) == {tp: None}
        wait_until(lambda: _settled(cluster, "kmoved", tuple(target)), timeout=90,
                   message=f"kmoved-0 to move to {target}")  # fmt: skip
        assert kp.list_partition_reassignments() == {}
    finally:
        kp.close()
    # v1's allow_replication_factor_change=false refuses a target of another size.
    body = apr1.AlterPartitionReassignmentsRequest(
        allow_replication_factor_change=False,
        topics=(apr1.ReassignableTopic(name="kmoved", partitions=(apr1.ReassignablePartition(
            partition_index=i32(0), replicas=tuple(BrokerId(b) for b in target[:2])),)),),
    )  # fmt: skip

    def refusal() -> Any:
        """The answer, once this broker's metadata has the move completed (until then it
        says REASSIGNMENT_IN_PROGRESS: its image lags the controller's a little)."""
        with RawClient(kafka) as raw:
            answer = raw.call(45, 1, body)
        assert answer.allow_replication_factor_change is False
        (partition,) = answer.responses[0].partitions
        return partition if partition.error_code != 60 else None

    partition = wait_until(refusal, timeout=10, interval=0.2, message="the move seen done")
    assert partition.error_code == 38, partition  # INVALID_REPLICATION_FACTOR
    assert "replication factor would change from 3 to 2" in partition.error_message


THROTTLE = 300_000  # bytes/s
PRELOAD = 3000  # records of 1,000 bytes: ~10 s of catch-up at the throttle


def _log_bytes(cluster: Cluster, node: int, topic: str) -> int:
    """The bytes of ``topic``-0's segments on broker ``node`` (no preallocation: what it
    was sent and wrote)."""
    folder = cluster[node].data_dir / f"{topic}-0"
    return sum(f.stat().st_size for f in folder.glob("*.log")) if folder.exists() else 0


def _preload(cluster: Cluster, topic: str) -> dict[bytes, int]:
    acked: dict[bytes, int] = {}
    errors: list[LogdError] = []

    def report(value: bytes) -> Callable[[LogdError | None, RecordMetadata | None], None]:
        def on_delivery(err: LogdError | None, md: RecordMetadata | None) -> None:
            if err is not None or md is None:
                errors.append(err or LogdError("no metadata"))
            else:
                acked[value] = md.offset

        return on_delivery

    # Batches of 16 KiB: the throttle's grain is one Raft entry (one batch) at least.
    with Producer(
        brokers=cluster.bootstrap, acks="all", linger_ms=5, batch_size=16_384
    ) as producer:
        for i in range(PRELOAD):
            value = b"p%06d" % i + os.urandom(993)  # incompressible
            producer.produce(topic, value, partition=0, on_delivery=report(value))
        assert producer.flush(120) == 0
    assert errors == []
    assert len(acked) == PRELOAD
    return acked


# Soak (~70 s alone, the slowest test of the module): moves under killed leaders run in the
# default suite's fault runs (tests/fault, kinds move/decommission/kill), the throttle's
# arithmetic in tests/replication/test_rawnode.py; this checks both at once, end to end.
@pytest.mark.soak
def test_a_throttled_move_survives_killed_leaders_and_keeps_to_its_throttle(
    cluster: Cluster,
) -> None:
    _topic(cluster, "surviving")
    preloaded = _preload(cluster, "surviving")
    before = partition_info(cluster.bootstrap, "surviving")
    (new,) = set(range(NODES)) - set(before.replicas)
    target = (*(r for r in before.replicas if r != before.leader), new)
    samples: list[tuple[float, int]] = []

    def sample() -> int:
        samples.append((time.monotonic(), _log_bytes(cluster, new, "surviving")))
        return samples[-1][1]

    writer = Writer(cluster.bootstrap, "surviving", after=300)
    writer.start()
    try:
        with Admin(brokers=cluster.bootstrap) as admin:
            admin.move_partition("surviving", 0, target, throttle=THROTTLE)
            (move,) = admin.list_partition_moves(["surviving"])
            assert move.throttle == THROTTLE
            controller = admin.describe_cluster().controller_id
        # Mid-way: the new replica holds some of the log, far from all of it.
        wait_until(lambda: sample() > THROTTLE, timeout=60, interval=0.2,
                   message=f"broker {new} to catch up part of surviving-0")  # fmt: skip
        leader = partition_info(cluster.bootstrap, "surviving").leader
        with Admin(brokers=cluster.bootstrap) as admin:
            moving = admin.list_partition_moves(["surviving"])
        assert moving, f"the move ended before the kills: {samples}"
        assert sample() < PRELOAD * 1000 // 2
        victims = sorted({leader, controller})
        for victim in victims:
            cluster[victim].kill()
        for victim in victims:
            cluster[victim].start(wait=False)
        for victim in victims:
            cluster[victim].wait_ready()

        def settled() -> bool:
            sample()
            return _settled(cluster, "surviving", target)

        wait_until(settled, timeout=180, interval=0.2,
                   message=f"surviving-0 to move to {target} after killing {victims}")  # fmt: skip
    finally:
        writer.stop()
    assert writer.errors == []
    read = {value: offset for offset, value in _read_all(cluster.bootstrap, "surviving")}
    acknowledged = {**preloaded, **writer.offsets}
    assert {v: read.get(v) for v in acknowledged} == acknowledged
    # The throttle held whoever led: never more than its rate (a tick's credit and one
    # batch of slack), and the move took at least as long as the throttle says.
    slack = THROTTLE // 2 + 64 * 1024
    for i, (t0, b0) in enumerate(samples):
        for t1, b1 in samples[i + 1 :]:
            assert b1 - b0 <= THROTTLE * (t1 - t0) + slack, (t1 - t0, b1 - b0)
    assert samples[-1][0] - samples[0][0] >= (PRELOAD * 1000 - 2 * slack) / THROTTLE
    wait_in_sync(cluster.bootstrap, "surviving", 1)
