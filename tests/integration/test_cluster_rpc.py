"""Raft frames between real brokers over the Raft TCP listener (``--rpc-listen``), with the
gRPC stream as the fallback to a broker whose listener is off, and fault injection biting on
the new link as on the old.

One cluster of three: brokers 0 and 1 listen for Raft frames over TCP, broker 2 has
``--rpc-listen off`` (as an older broker would answer: nothing), so every RF=3 record
crosses both kinds of link. (TLS between brokers over the same listener: the three-broker
mTLS cluster of ``test_registry_forwarded_principal`` checks its links too.)
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from logd.client import OFFSET_BEGINNING, Admin, Consumer, NewTopic, Producer, TopicPartition
from logd.v1 import cluster_pb2, cluster_pb2_grpc
from tests.helpers import wait_until
from tests.integration.cluster import BrokerProcess, Cluster
from tests.integration.replicas import partition_info, read_replica, wait_in_sync

pytestmark = pytest.mark.integration

TOPIC = "raft-tcp"


def _inject(broker: BrokerProcess, **fields: object) -> None:
    with grpc.insecure_channel(broker.address) as channel:
        stub = cluster_pb2_grpc.ClusterInternalStub(channel)  # type: ignore[no-untyped-call]
        stub.InjectFault(
            cluster_pb2.FaultRequest(**fields),
            timeout=10,  # type: ignore[arg-type]
            metadata=broker.internal_metadata(),
        )


def _produce(bootstrap: str, values: list[bytes]) -> None:
    with Producer(brokers=bootstrap, acks="all", linger_ms=2) as producer:
        for value in values:
            producer.produce(TOPIC, value, partition=0)
        assert producer.flush(60) == 0


def _consume(bootstrap: str, count: int) -> list[bytes]:
    out: list[bytes] = []
    with Consumer(brokers=bootstrap) as consumer:
        consumer.assign([TopicPartition(TOPIC, 0, OFFSET_BEGINNING)])
        while len(out) < count:
            record = consumer.poll(10.0)
            assert record is not None, f"no record after {len(out)} of {count}"
            out.append(record.value or b"")
    return out


def test_rf3_over_tcp_links_and_the_grpc_fallback_with_faults_biting_on_the_listener(
    cluster_factory: Callable[..., Cluster],
) -> None:
    cluster = cluster_factory(3, extra_args=["--enable-fault-injection"], rpc_off=(2,))
    with Admin(brokers=cluster.bootstrap) as admin:
        admin.create_topics([NewTopic(TOPIC, 1, 3)])
    wait_in_sync(cluster.bootstrap, TOPIC)
    first = [b"a%04d" % i for i in range(500)]
    _produce(cluster.bootstrap, first)
    assert _consume(cluster.bootstrap, len(first)) == first

    # Every link as chosen: TCP to the brokers that listen, gRPC to broker 2.
    expected = {
        b.node_id: {p.node_id: "the gRPC stream" if p.node_id == 2 else "tcp" for p in cluster
                    if p.node_id != b.node_id}
        for b in cluster
    }  # fmt: skip
    wait_until(lambda: {b.node_id: b.raft_links() for b in cluster} == expected,
               timeout=30, message=f"links {expected}")  # fmt: skip
    assert "rpc" not in cluster[2].bound() and "rpc" in cluster[0].bound()

    # A follower that listens drops what the others send (blocked_from, on its listener):
    # the records acknowledged meanwhile (by the other two, whichever leads) are not in its
    # log. Were the listener to skip the fault hook, they would be.
    leader = partition_info(cluster.bootstrap, TOPIC).leader
    cut = 1 if leader == 0 else 0
    _inject(cluster[cut], block_from=[b.node_id for b in cluster if b.node_id != cut])
    during = [b"b%04d" % i for i in range(300)]
    _produce(cluster.bootstrap, during)
    assert cluster[cut].stop() == 0, cluster[cut]._tail()
    held = {value for _, value in read_replica(cluster[cut], TOPIC)}
    assert set(first) <= held and not held & set(during), "the cut follower got none of them"

    # Healed (a restart clears the hook): it catches up over its listener again.
    cluster[cut].start()
    wait_in_sync(cluster.bootstrap, TOPIC)
    after = [b"c%04d" % i for i in range(200)]
    _produce(cluster.bootstrap, after)
    assert _consume(cluster.bootstrap, 1000) == first + during + after
    for b in cluster:
        assert "Traceback" not in b.stderr_text(), b._tail()
