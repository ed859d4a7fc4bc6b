"""A real Prometheus server (Debian's) scrapes the admin listeners of a 3-broker cluster;
PromQL over what it stored gives the rate of produced records and the cluster's state."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.integration.admin.prometheus import prometheus
from tests.integration.admin.support import logd

pytestmark = pytest.mark.integration

RECORDS = 600


def test_prometheus_scrapes_three_brokers_and_sees_the_produce_rate(
    cluster_factory,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    cluster = cluster_factory(3)
    b0 = cluster[0]
    assert logd(b0, "topic", "create", "scraped", "-p", "3", "-r", "3").returncode == 0
    targets = [b.listeners["admin"] for b in cluster]
    with prometheus(tmp_path / "prometheus", targets) as server:
        wait_until(lambda: set(server.targets_up().values()) == {"up"}, 60, 0.2,
                   message="all three brokers scraped")  # fmt: skip
        # Records produced in several rounds, so the counters rise over several scrapes.
        for round_ in range(6):
            lines = b"".join(b"r%d-%d\n" % (round_, i) for i in range(RECORDS // 6))
            produced = logd(b0, "produce", "scraped", "--acks", "all", stdin=lines)
            assert produced.returncode == 0, produced.stderr

        def total() -> float:
            result = server.query("sum(logd_kafka_records_produced_total)")
            return float(result[0]["value"][1]) if result else 0.0

        # Each record is counted once, by the broker that led its partition.
        wait_until(lambda: total() == RECORDS, 60, 0.5, message="prometheus to see every record")
        rate = server.query("sum(rate(logd_kafka_records_produced_total[1m]))")
        assert rate and float(rate[0]["value"][1]) > 0
        brokers = server.query("max(logd_cluster_brokers)")
        assert float(brokers[0]["value"][1]) == 3
        healthy = server.query("min(logd_cluster_healthy)")
        assert float(healthy[0]["value"][1]) == 1
        by_instance = server.query("count by (instance) (logd_cluster_controller_id)")
        assert len(by_instance) == 3
