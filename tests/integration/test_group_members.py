"""Consumer-group members as real processes, and committed offsets across broker deaths.

* Three members of one group share a six-partition topic 2/2/2; one is SIGKILLed and its
  partitions move to the other two once its session times out -- the time that takes is
  measured and printed -- and no record is skipped (a record may come twice: the killed
  member's uncommitted window).
* Committed offsets survive the coordinator's broker being stopped and being killed. With
  one broker the test restarts it; it is written for a cluster too (``SIZES``): once
  partitions replicate (issue 5), add 3 and the killed coordinator is not restarted -- the
  new leader of the group's ``__consumer_offsets`` partition must answer with every offset.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from logd.client import Admin, Consumer, NewTopic, Producer, TopicPartition
from tests.helpers import wait_until
from tests.integration.cluster import BrokerProcess, Cluster
from tests.integration.group_support import SESSION_MS, Member, member_args, write_group_config

pytestmark = pytest.mark.integration

DEADLINE_S = 60.0
PARTITIONS = 6
#: Cluster sizes of the durability test; add 3 when replication lands (module docstring).
SIZES = [1]


def produce(address: str, topic: str, values: list[str], partitions: int = PARTITIONS) -> None:
    with Producer(brokers=address, linger_ms=0) as producer:
        for i, value in enumerate(values):
            producer.produce(topic, value.encode(), partition=i % partitions)
        assert producer.flush(DEADLINE_S) == 0


def describe_text(address: str, group: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "-b", address, "group", "describe", group],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def describe_json(address: str, group: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "-b", address, "group", "describe", group,
         "--format", "json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (described,) = json.loads(result.stdout)
    assert isinstance(described, dict)
    return described


def split_evenly(members: list[Member]) -> bool:
    owned = [m.read().assignment for m in members]
    every = set().union(*owned)
    return sorted(len(o) for o in owned) == [2] * len(members) and len(every) == PARTITIONS


def test_three_members_split_six_partitions_and_a_killed_one_is_replaced(
    broker_factory: Callable[..., BrokerProcess], tmp_path: Path
) -> None:
    broker = broker_factory(config_file=write_group_config(tmp_path))
    with Admin(brokers=broker.address) as admin:
        admin.create_topics([NewTopic("jobs", PARTITIONS, 1)])
    first = [f"a{i}" for i in range(60)]
    produce(broker.address, "jobs", first)
    members = [
        Member(broker.address, "workers", ["jobs"], tmp_path / f"member-{i}.txt") for i in range(3)
    ]
    try:
        wait_until(lambda: split_evenly(members), DEADLINE_S, message="a 2/2/2 split")
        # Every record once committed: lag 0 in `group describe`.
        wait_until(
            lambda: describe_json(broker.address, "workers")["total_lag"] == 0,
            DEADLINE_S,
            interval=0.2,
            message="everything consumed and committed",
        )
        text = describe_text(broker.address, "workers")
        print(f"\n$ logd group describe workers\n{text}")
        assert "STATE        Stable" in text and "MEMBERS      3" in text
        victim, survivors = members[0], members[1:]
        orphaned = victim.read().assignment
        second = [f"b{i}" for i in range(60)]
        produce(broker.address, "jobs", second)
        killed_at = time.monotonic()
        victim.kill()
        wait_until(
            lambda: set().union(*(m.read().assignment for m in survivors)) == {
                ("jobs", p) for p in range(PARTITIONS)},
            DEADLINE_S,
            message="the survivors owning all six partitions",
        )  # fmt: skip
        took = time.monotonic() - killed_at
        print(f"rebalance after SIGKILL: {took:.2f} s (session timeout {SESSION_MS} ms)")
        assert all(len(m.read().assignment) == 3 for m in survivors)
        assert orphaned <= set().union(*(m.read().assignment for m in survivors))

        def seen() -> Counter[str]:
            return Counter(r[3] for m in members for r in m.read().records)

        wait_until(lambda: set(seen()) == set(first + second), DEADLINE_S, message="all")
        # Nothing skipped; only the killed member's partitions may have been read twice.
        twice = {v for v, n in seen().items() if n > 1}
        where = {r[3]: r[1] for m in members for r in m.read().records}
        assert {where[v] for v in twice} <= {p for _, p in orphaned}
        for m in survivors:
            assert m.stop() == 0, m.stderr()
    finally:
        for m in members:
            m.close()


@pytest.mark.parametrize("size", SIZES)
def test_committed_offsets_survive_the_coordinator_being_stopped_and_killed(
    cluster_factory: Callable[..., Cluster], tmp_path: Path, size: int
) -> None:
    config = write_group_config(tmp_path)
    cluster = cluster_factory(size, extra_args=["--config", str(config)])
    bootstrap = cluster.bootstrap
    with Admin(brokers=bootstrap) as admin:
        admin.create_topics([NewTopic("ledger", 2, size)])
    produce(bootstrap, "ledger", [f"v{i}" for i in range(20)], 2)

    def commit(offsets: dict[int, int]) -> None:
        with Consumer(brokers=bootstrap, group_id="durable", **member_args()) as consumer:
            consumer.assign([TopicPartition("ledger", p, 0) for p in offsets])
            consumer.commit(offsets=[TopicPartition("ledger", p, o) for p, o in offsets.items()])

    def committed() -> dict[int, int]:
        with Admin(brokers=bootstrap) as admin:
            (group,) = admin.describe_groups(["durable"])
        return {p.partition: p.committed_offset for p in group.partitions}

    def coordinator() -> BrokerProcess:
        with Admin(brokers=bootstrap) as admin:
            (group,) = admin.describe_groups(["durable"])
        return cluster[group.coordinator_id]

    for clean, offsets in ((True, {0: 7, 1: 3}), (False, {0: 9, 1: 4})):
        commit(offsets)
        broker = coordinator()
        if clean:
            assert broker.stop() == 0
        else:
            broker.kill()
        if size == 1:
            broker.start()  # else the new leader of the offsets partition takes over
        wait_until(lambda o=offsets: committed() == o, DEADLINE_S, interval=0.2)  # type: ignore[misc]
