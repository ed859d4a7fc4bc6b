"""Operating a cluster: leadership goes back to the preferred replica once its broker
returns and catches up; the fault hook cuts a leader off (and is refused unless enabled)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from logd.client import Admin, NewTopic, Producer
from logd.v1 import cluster_pb2, cluster_pb2_grpc
from tests.helpers import wait_until
from tests.integration.cluster import BrokerProcess, Cluster
from tests.integration.replicas import partition_info, wait_in_sync, wait_leader

pytestmark = pytest.mark.integration


def test_leadership_returns_to_the_preferred_replica_after_its_broker_comes_back(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    config = tmp_path / "rebalance.toml"
    config.write_text("leader.imbalance.check.interval.ms = 300\n")
    cluster = cluster_factory(3, extra_args=["--config", str(config)])
    with Admin(brokers=cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("pref", 3, 3)])
    wait_in_sync(cluster.bootstrap, "pref", 3)
    preferred = {p: partition_info(cluster.bootstrap, "pref", p).replicas[0] for p in range(3)}
    assert sorted(preferred.values()) == [0, 1, 2], "placement spreads the leaders"
    moved = next(p for p, b in preferred.items() if b == 0)
    cluster[0].kill()
    others = ",".join(b.address for b in cluster if b.node_id != 0)
    wait_leader(others, "pref", moved, not_in=(0,))
    with Producer(brokers=others, acks="all") as producer:
        for i in range(100):
            producer.produce("pref", b"%d" % i, partition=moved)
        assert producer.flush(60) == 0
    cluster[0].start()
    wait_until(
        lambda: partition_info(cluster.bootstrap, "pref", moved).leader == 0,
        timeout=60, interval=0.1, message="leadership back on broker 0",
    )  # fmt: skip
    assert 0 in partition_info(cluster.bootstrap, "pref", moved).isr  # it had caught up


def _inject(broker: BrokerProcess, **fields: object) -> cluster_pb2.FaultResponse:
    with grpc.insecure_channel(broker.address) as channel:
        stub = cluster_pb2_grpc.ClusterInternalStub(channel)  # type: ignore[no-untyped-call]
        answer: cluster_pb2.FaultResponse = stub.InjectFault(
            cluster_pb2.FaultRequest(**fields),
            timeout=10,  # type: ignore[arg-type]
            metadata=broker.internal_metadata(),
        )
    return answer


def test_the_fault_hook_cuts_a_leader_off_and_heals(
    cluster_factory: Callable[..., Cluster],
) -> None:
    cluster = cluster_factory(3, extra_args=["--enable-fault-injection"])
    with Admin(brokers=cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("cut", 1, 3)])
    wait_in_sync(cluster.bootstrap, "cut")
    old = partition_info(cluster.bootstrap, "cut")
    peers = [b.node_id for b in cluster if b.node_id != old.leader]
    answer = _inject(cluster[old.leader], block_to=peers, block_from=peers)
    assert sorted(answer.blocked_to) == sorted(peers) == sorted(answer.blocked_from)
    others = ",".join(cluster[p].address for p in peers)
    new = wait_leader(others, "cut", not_in=(old.leader,))
    assert new.leader_epoch > old.leader_epoch
    assert list(_inject(cluster[old.leader], clear=True).blocked_to) == []
    wait_until(
        lambda: partition_info(cluster[old.leader].address, "cut").leader == new.leader,
        timeout=60, interval=0.1, message="the cut-off leader to follow the new one",
    )  # fmt: skip


def test_the_fault_hook_is_off_unless_enabled(cluster_factory: Callable[..., Cluster]) -> None:
    cluster = cluster_factory(1)
    with pytest.raises(grpc.RpcError) as caught:
        _inject(cluster[0], block_to=[1])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "fault injection is off" in (caught.value.details() or "")
