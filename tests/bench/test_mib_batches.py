"""The suite's ``1MiB-batches`` workload: every partition gets its first batch before the
clock starts (bench/README.md, "Session 9: 1 MiB batches": a sub-second row paid each
partition's first batch and the stream's first megabytes, which the ceiling beside it
does not). Against one real broker, as the suite runs it."""

from __future__ import annotations

from pathlib import Path

from bench.logd_suite import PARTITIONS, LogdCluster, mib_batches
from logd.client import Consumer, TopicPartition


def test_every_partition_takes_a_batch_before_the_clock(tmp_path: Path) -> None:
    with LogdCluster(tmp_path / "node", 1) as cluster:
        topic = cluster.create_topic(1)
        with Consumer(brokers=cluster.brokers) as consumer:

            def ends() -> list[int]:
                return [
                    consumer.get_watermark_offsets(TopicPartition(topic, p))[1]
                    for p in range(PARTITIONS)
                ]

            before = ends()
            mib_batches(cluster.brokers, topic, "all", 0)  # the warm-up alone
            after = ends()
    assert [a - b for a, b in zip(after, before, strict=True)] == [1024] * PARTITIONS
