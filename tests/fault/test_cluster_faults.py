"""Fault runs that need a replicated cluster (issue 5): collected only with 3 or more nodes
(``--fault-nodes 3`` or ``LOGD_FAULT_NODES=3``; ``tests/fault/conftest.py``), so that until
replication is on main they are neither run nor skipped.

* a short run on three brokers with every fault kind, network partitions included, whose
  final reads of every replica must agree (under ``-m soak``: ``test_fault_run.py`` is the
  default suite's run of the same kinds, with another seed);
* a run on four brokers with partition moves and decommissions (issue 23) between kills;
* a follower whose files were damaged while it was down (active segment cut, a bit
  flipped in a sealed segment, an index deleted) must be repaired from the leader: after
  it rejoins, every replica holds every acknowledged record, byte for byte the same
  records at the same offsets.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from logd.client import Admin, NewTopic, Producer, RecordMetadata
from logd.errors import LogdError
from tests.fault.checker import assert_valid, check
from tests.fault.conftest import fault_nodes, fault_seed
from tests.fault.disk import (
    cut_active_segment,
    delete_index,
    flip_sealed_segment,
    partition_dir,
    read_replica,
)
from tests.fault.harness import BROKER_CONFIG, RunConfig, run
from tests.fault.history import History, Kind, Op, Outcome
from tests.helpers import wait_until
from tests.integration.cluster import Cluster

pytestmark = [pytest.mark.fault, pytest.mark.integration]

TOPIC = "repair"


@pytest.mark.soak  # test_fault_run.py is make test's short run: the same kinds on three brokers
def test_a_short_cluster_fault_run_loses_nothing(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    config = RunConfig(nodes=fault_nodes(request.config), faults=20,
                       seed=fault_seed(request.config, 3))  # fmt: skip
    result = run(tmp_path / "run", config)
    request.node.user_properties.append(("summary", result.summary()))
    result.assert_ok()
    kinds = {f.kind.value for f in result.faults}
    assert kinds == {"kill", "pause", "partition", "transfer", "disk"}
    # Every replica of every partition was read at the end (and agreed: the checker).
    assert result.check.stats["final_read"] >= 5 * (1 + 3)


def test_a_cluster_run_with_full_and_slow_disks_loses_nothing(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Issue 24: brokers on their own small filesystems; one at a time fills below its
    reserve (then the ballast goes) or fsyncs slowly, with kills between -- each kill
    while that broker's fsyncs are slow (issue 22: it dies with Readys written and their
    fsyncs in flight). Every settle needs the cluster healthy again (no broker degraded)
    and more acknowledged."""
    kinds = ("disk-full", "slow-disk", "kill-syncing")
    config = RunConfig(
        nodes=fault_nodes(request.config), faults=8,
        seed=fault_seed(request.config, 20), kinds=kinds,
        hold=(50, 600), disk_bytes=256 << 20,
    )  # fmt: skip
    result = run(tmp_path / "run", config)
    request.node.user_properties.append(("summary", result.summary()))
    result.assert_ok()
    assert {f.kind.value for f in result.faults} == set(kinds)
    assert result.outcomes.get("disk-full filled", 0) >= 1


def test_a_run_with_moves_and_decommissions_loses_nothing(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Issue 23: four brokers (one more than the replicas, so a move has somewhere to go);
    partitions move off or onto brokers and brokers are decommissioned (recommissioned when
    healed), with kills between. 0 lost, 0 duplicated, every replica agreeing."""
    config = RunConfig(nodes=max(4, fault_nodes(request.config)), faults=10,
                       seed=fault_seed(request.config, 23),
                       kinds=("move", "decommission", "kill"), hold=(50, 800))  # fmt: skip
    result = run(tmp_path / "run", config)
    request.node.user_properties.append(("summary", result.summary()))
    result.assert_ok()
    assert {f.kind.value for f in result.faults} == {"move", "decommission", "kill"}
    assert result.outcomes.get("move started", 0) >= 1, result.summary()
    started = result.outcomes.get("decommission started", 0)
    assert started >= 1, result.summary()
    # Each decommission that started was undone (its drain moves of __consumer_offsets too).
    assert result.outcomes.get("recommission done", 0) == started, result.summary()


# A cut active segment is make test's in tests/integration/test_cluster.py (cut and
# scribbled); here under soak.
@pytest.mark.parametrize(
    "damage", [pytest.param("cut", marks=pytest.mark.soak), "flip", "delete-index"]
)
def test_a_damaged_follower_is_repaired_from_the_leader(tmp_path: Path, damage: str) -> None:
    nodes = 3
    config_file = tmp_path / "broker.toml"
    config_file.write_text(BROKER_CONFIG)
    cluster = Cluster(tmp_path / "cluster", nodes, extra_args=["--config", str(config_file)])
    history = History(time.monotonic)
    try:
        cluster.start()
        with Admin(brokers=cluster.bootstrap) as admin:
            admin.create_topics([NewTopic(TOPIC, 1, nodes, {"segment.bytes": "4096"})])
            _produce(cluster.bootstrap, history, "before", 600)
            (described,) = admin.describe_topics([TOPIC])
            leader = described.partitions[0].leader
            follower = next(r for r in described.partitions[0].replicas if r != leader)
            assert cluster[follower].stop() == 0
            directory = partition_dir(cluster[follower].data_dir, TOPIC, 0)
            rng = random.Random(damage)
            fault = {"cut": cut_active_segment, "flip": flip_sealed_segment,
                     "delete-index": delete_index}[damage](directory, rng)  # fmt: skip
            print(f"damaged broker {follower} (leader {leader}): {fault}")
            cluster[follower].start()
            _produce(cluster.bootstrap, history, "after", 300)
            wait_until(lambda: _healthy(admin), timeout=60, message="every replica in sync")
        for broker in cluster:
            assert broker.stop() == 0
        for broker in cluster:
            replica = read_replica(partition_dir(broker.data_dir, TOPIC, 0))
            history.add(Op("final", Kind.FINAL_READ, 0.0, 0.0,
                           Outcome.FAILED if replica.error else Outcome.OK, topic=TOPIC,
                           partition=0, replica=f"broker-{broker.node_id}",
                           records=tuple(replica.records), offset=replica.end,
                           error=replica.error))  # fmt: skip
    finally:
        cluster.close()
    result = check(history)
    print(result.summary())
    assert_valid(result)  # nothing lost, every replica the same
    assert result.stats["final_read"] == nodes


def _produce(brokers: str, history: History, prefix: str, count: int) -> None:
    """``count`` unique values with acks=all (idempotent), each recorded in ``history``."""
    with Producer(brokers=brokers, acks="all", linger_ms=2) as producer:
        for i in range(count):
            value = f"{prefix}-{i:05d}".encode()
            pending = history.invoke("p", Kind.PRODUCE, topic=TOPIC, partition=0, value=value)

            def done(err: LogdError | None, md: RecordMetadata | None, pending=pending) -> None:  # type: ignore[no-untyped-def]
                if err is None:
                    assert md is not None
                    pending.complete(Outcome.OK, offset=md.offset)
                else:
                    pending.complete(Outcome.UNKNOWN, error=str(err))

            producer.produce(TOPIC, value, partition=0, on_delivery=done)
        assert producer.flush(60) == 0


def _healthy(admin: Admin) -> bool:
    from cli.cluster.health import assess

    try:
        return assess(admin).healthy
    except LogdError:
        return False
