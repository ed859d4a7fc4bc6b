"""The continuous balancer (issue 23; ``partition.autobalancing.enable``, Redpanda's
``partition_autobalancing_mode: continuous``) on four real brokers: a topic placed while
broker 3 takes nothing (decommissioned) is spread over all four by the controller on its
own once broker 3 is back (recommissioned) -- no `balance` command -- and the replica
counts end within one of each other, every partition in sync.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from logd.client import Admin, NewTopic
from tests.helpers import wait_until
from tests.integration.cluster import Cluster
from tests.integration.replicas import wait_in_sync

pytestmark = pytest.mark.integration


def _loads(admin: Admin) -> Counter[int]:
    (described,) = admin.describe_topics(["lopsided"])
    return Counter(b for p in described.partitions for b in p.replicas)


def test_a_returning_broker_gets_its_share_without_being_asked(tmp_path: Path) -> None:
    config = tmp_path / "autobalance.toml"
    config.write_text('"partition.autobalancing.enable" = true\n')
    cluster = Cluster(tmp_path / "cluster", 4, extra_args=["--config", str(config)])
    try:
        cluster.start()
        with Admin(brokers=cluster.bootstrap) as admin:
            admin.decommission_broker(3)  # it hosts nothing yet: drained at once
            admin.create_topics([NewTopic("lopsided", 6, 3)])
            wait_in_sync(cluster.bootstrap, "lopsided", 6)
            assert _loads(admin)[3] == 0
            admin.recommission_broker(3)

            def even() -> bool:
                loads = _loads(admin)
                counts = [loads[b] for b in range(4)]
                return not admin.list_partition_moves() and max(counts) - min(counts) <= 1

            wait_until(even, timeout=120, interval=0.5, message="the replicas to even out")
            assert _loads(admin)[3] >= 4  # 18 replicas over 4 brokers
        wait_in_sync(cluster.bootstrap, "lopsided", 6)
    finally:
        cluster.close()
