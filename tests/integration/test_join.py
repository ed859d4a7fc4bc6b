"""A broker that no peer list names joins a running cluster (issue 23): three real brokers
serve a topic; a fourth, started with ``--join`` (its own peer list names the three and
itself), is let in through the internal service's Join, becomes a learner of the metadata
group and a broker like the others, and ``logd cluster partitions balance`` gives it
replicas, which catch up: every acknowledged record is then read back, and a restarted
broker of the first three finds the newcomer again from the metadata alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from logd.client import Admin, NewTopic, Producer
from tests.helpers import free_port, wait_until
from tests.integration.cluster import BrokerProcess, Cluster
from tests.integration.replicas import wait_in_sync
from tests.integration.test_cli import logd, ok
from tests.integration.test_transfer_leadership import _read_all

pytestmark = pytest.mark.integration

CLUSTER_ID = ["--cluster-id", "joined-cluster"]  # a joining broker presents the same id
TOPIC = "growing"
PARTITIONS = 4


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path / "cluster", 3, extra_args=CLUSTER_ID)
    try:
        c.start()
        yield c
    finally:
        c.close()


def _hosts(cluster: Cluster, node: int) -> int:
    with Admin(brokers=cluster.bootstrap) as admin:
        (described,) = admin.describe_topics([TOPIC])
    return sum(node in p.replicas and node in p.isr for p in described.partitions)


def test_a_broker_in_no_peer_list_joins_and_takes_replicas_by_balance(
    cluster: Cluster, tmp_path: Path
) -> None:
    with Admin(brokers=cluster.bootstrap) as admin:
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3)])
    wait_in_sync(cluster.bootstrap, TOPIC, PARTITIONS)
    acked: dict[bytes, int] = {}
    with Producer(brokers=cluster.bootstrap, acks="all") as producer:
        for i in range(400):
            value = b"v%04d" % i
            producer.produce(TOPIC, value, partition=i % PARTITIONS,
                             on_delivery=lambda err, md, v=value: acked.__setitem__(v, md.offset)
                             if err is None and md is not None else None)  # fmt: skip
        assert producer.flush(60) == 0
    assert len(acked) == 400
    port = free_port()
    peers = ",".join([*(f"{b.node_id}@{b.address}" for b in cluster), f"3@127.0.0.1:{port}"])
    newcomer = BrokerProcess(tmp_path / "broker-3", node_id=3, port=port, peers=peers,
                             extra_args=[*CLUSTER_ID, "--join"])  # fmt: skip
    try:
        newcomer.start()  # serves once it holds the metadata: it joined
        with Admin(brokers=cluster.bootstrap) as admin:
            wait_until(lambda: {b.node_id: b.alive for b in admin.describe_cluster().brokers}
                       == {0: True, 1: True, 2: True, 3: True}, timeout=30,
                       message="broker 3 registered and alive")  # fmt: skip
        quorum = json.loads(ok(logd(cluster[0], "cluster", "controller", "status",
                                    "--format", "json")))  # fmt: skip
        assert 3 in quorum["learners"], quorum
        moves = json.loads(ok(logd(cluster[0], "cluster", "partitions", "balance",
                                   "--format", "json")))  # fmt: skip
        moved = [m for m in moves if m["change"] == "replicas"]
        assert moved and all(3 in m["target"] for m in moved), moves
        wait_until(lambda: _hosts(cluster, 3) >= 3, timeout=90,
                   message="broker 3 to hold 3 in-sync replicas")  # fmt: skip
        wait_in_sync(cluster.bootstrap, TOPIC, PARTITIONS)
        assert any((newcomer.data_dir / f"{TOPIC}-{p}").is_dir() for p in range(PARTITIONS))
        # A broker of the first three, restarted, finds broker 3 from the metadata alone.
        cluster[1].stop()
        cluster[1].start()
        wait_in_sync(cluster.bootstrap, TOPIC, PARTITIONS, timeout=90)
        read: dict[bytes, int] = {}
        for p in range(PARTITIONS):
            read.update({v: o for o, v in _read_all(newcomer.address, TOPIC, partition=p)})
        assert {v: read.get(v) for v in acked} == acked
    finally:
        newcomer.close()
    assert "Traceback" not in newcomer.stderr_text()
