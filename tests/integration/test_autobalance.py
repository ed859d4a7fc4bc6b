"""The continuous balancer (issue 23; ``partition.autobalancing.enable``, Redpanda's
``partition_autobalancing_mode: continuous``) on four real brokers on two racks (0, 1 on
``a``; 2, 3 on ``b``): a topic placed while rack ``b`` takes nothing (both its brokers
decommissioned) sits on rack ``a`` alone; once they are back (recommissioned) the
controller, on its own -- no `balance` command --, gives every partition a replica on each
rack (Kafka's rack rule), evens out the replica counts and the preferred leaders, and the
leaderships follow (the leader rebalance transfers them), every partition in sync.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from kio.schema.metadata.v12 import request as metadata_v12

from logd.client import Admin, NewTopic, TopicDescription
from tests.helpers import wait_until
from tests.integration.cluster import Cluster
from tests.integration.kafka.raw import RawClient
from tests.integration.replicas import wait_in_sync

pytestmark = pytest.mark.integration

RACKS = ("a", "a", "b", "b")
PARTITIONS = 8


def _spread(counts: Counter[int]) -> int:
    values = [counts[b] for b in range(len(RACKS))]
    return max(values) - min(values)


def test_returning_brokers_get_their_share_rack_aware_without_being_asked(
    tmp_path: Path,
) -> None:
    config = tmp_path / "autobalance.toml"
    config.write_text(
        '"partition.autobalancing.enable" = true\n"leader.imbalance.check.interval.ms" = 1000\n'
    )
    cluster = Cluster(tmp_path / "cluster", 4, extra_args=["--config", str(config)],
                      racks=RACKS)  # fmt: skip
    try:
        cluster.start()
        with Admin(brokers=cluster.bootstrap) as admin:
            assert {b.node_id: b.rack for b in admin.describe_cluster().brokers} == dict(
                enumerate(RACKS)
            )

            # Kafka clients see the racks in Metadata (v12) too, once broker 0 has heard of
            # all four (its image may lag the broker that answered above).
            def metadata_racks() -> dict[int, str] | None:
                with RawClient(cluster[0].bound()["kafka"]) as raw:
                    answer = raw.call(3, 12, metadata_v12.MetadataRequest(
                        topics=(), allow_auto_topic_creation=False,
                        include_topic_authorized_operations=False,
                    ))  # fmt: skip
                seen = {b.node_id: b.rack for b in answer.brokers}
                return seen if len(seen) == len(RACKS) else None

            seen = wait_until(metadata_racks, timeout=30, interval=0.2,
                              message="broker 0's Metadata to list the four brokers")  # fmt: skip
            assert seen == dict(enumerate(RACKS))
            admin.decommission_broker(2)  # they host nothing yet: drained at once
            admin.decommission_broker(3)
            for broker in cluster:  # the broker that places the topic must know it

                def drains_seen(address: str = broker.address) -> bool:
                    with Admin(brokers=address) as one:
                        brokers = one.describe_cluster().brokers
                    return {b.node_id for b in brokers if b.draining} == {2, 3}

                wait_until(drains_seen, timeout=30, interval=0.2, message="the drains seen")
            admin.create_topics([NewTopic("lopsided", PARTITIONS, 2)])
            wait_in_sync(cluster.bootstrap, "lopsided", PARTITIONS)
            (described,) = admin.describe_topics(["lopsided"])
            assert all(set(p.replicas) == {0, 1} for p in described.partitions)
            admin.recommission_broker(2)
            admin.recommission_broker(3)

            def balanced() -> TopicDescription | None:
                if admin.list_partition_moves():
                    return None
                (d,) = admin.describe_topics(["lopsided"])
                on_racks = all({RACKS[b] for b in p.replicas} == {"a", "b"} for p in d.partitions)
                replicas = Counter(b for p in d.partitions for b in p.replicas)
                preferred = Counter(p.replicas[0] for p in d.partitions)
                leaders = Counter(p.leader for p in d.partitions)
                led = all(p.leader in range(len(RACKS)) for p in d.partitions)
                even = max(map(_spread, (replicas, preferred, leaders))) <= 1
                return d if on_racks and led and even else None

            d = wait_until(balanced, timeout=120, interval=0.5,
                           message="one replica a rack, replicas and leaders even")  # fmt: skip
            assert d is not None
            # 16 replicas and 8 leaders over 4 brokers: 4 and 2 each.
            assert Counter(b for p in d.partitions for b in p.replicas) == dict.fromkeys(
                range(4), 4
            )
            assert Counter(p.leader for p in d.partitions) == dict.fromkeys(range(4), 2)
        wait_in_sync(cluster.bootstrap, "lopsided", PARTITIONS)
    finally:
        cluster.close()
