"""The suite's ``1MiB-batches`` workload: its batches fit the broker's default
``max.message.bytes`` (a bigger ``batch.size`` made batches the broker refused and the
producer re-sent as halves), and every partition gets its first batch before the
clock starts (bench/README.md, "Session 9: 1 MiB batches": a sub-second row paid each
partition's first batch and the stream's first megabytes, which the ceiling beside it
does not). Against one real broker, as the suite runs it."""

from __future__ import annotations

from pathlib import Path

from bench.harness import values_of
from bench.logd_suite import MIB_BATCH_BYTES, PARTITIONS, LogdCluster, mib_batches
from logd.client import Consumer, TopicPartition
from logd.records import build_value_batch
from logd.storage.config import LogConfig


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


def test_its_batches_fit_the_brokers_default_max_message_bytes() -> None:
    """The producer fills a batch up to ``batch.size``; a batch above the topic's
    ``max.message.bytes`` is refused by the broker and sent again in halves -- the row
    would measure that, not 1 MiB batches. One call's values alone are over the limit."""
    assert LogConfig().max_message_bytes >= MIB_BATCH_BYTES
    assert len(build_value_batch(values_of(1024, 1024), 0)) > LogConfig().max_message_bytes
