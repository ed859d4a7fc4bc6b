"""Partition moves (issue 23) on four real brokers: a 3-replica partition moves to another
set of brokers (its leader among the leaving ones) under an acks=all producer; every
acknowledged record is readable afterwards, from the new replicas' own files too, and the
leaving broker's copy is deleted. A move to a stopped broker stays in progress, is listed,
and a cancel moves the partition back. The CLI drives it through the public client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from logd.client import Admin, NewTopic
from logd.errors import (
    InvalidReplicaAssignmentError,
    NoReassignmentInProgressError,
    ReassignmentInProgressError,
)
from tests.helpers import wait_until
from tests.integration.cluster import Cluster
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
    before = partition_info(cluster.bootstrap, "stuck")
    (new,) = set(range(NODES)) - set(before.replicas)
    target = (*before.replicas[1:], new)
    cluster[new].stop()
    try:
        with Admin(brokers=cluster.bootstrap) as admin:
            admin.move_partition("stuck", 0, target)
            (move,) = admin.list_partition_moves(["stuck"])
            assert (move.target, move.adding, move.removing) == (
                target, (new,), (before.replicas[0],)
            )  # fmt: skip
            status = json.loads(ok(logd(cluster[before.replicas[0]], "cluster", "partitions",
                                        "status", "stuck", "--format", "json")))  # fmt: skip
            assert status == [{"topic": "stuck", "partition": 0, "target": list(target),
                               "adding": [new], "removing": [before.replicas[0]]}]  # fmt: skip
            admin.cancel_partition_move("stuck", 0)
            wait_until(lambda: _settled(cluster, "stuck", tuple(before.replicas)), timeout=60,
                       message="the cancelled move to go back")  # fmt: skip
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
    assert "no partition is moving" in ok(logd(broker, "cluster", "partitions", "status"))
