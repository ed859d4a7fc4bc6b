"""The metadata image: pure, deterministic, snapshots that restore the same state."""

from __future__ import annotations

import dataclasses
import time

import pytest

from logd.cluster.controller.image import (
    MetadataImage,
    broker_record,
    change_records,
    cluster_config_record,
    drain_record,
    topic_records,
    unregister_record,
    voters_record,
)
from logd.cluster.controller.records import decode_records, encode_batch
from logd.errors import CorruptRecordError
from logd.metadata.store import PartitionAssignment, TopicRecord
from logd.metadata.types import BrokerMeta
from logd.v1 import cluster_pb2


def topic(
    name: str = "t", partitions: int = 2, replicas: tuple[int, ...] = (0, 1, 2)
) -> TopicRecord:
    parts = tuple(
        PartitionAssignment(p, replicas[p % 3 :] + replicas[: p % 3], 0, 0, ())
        for p in range(partitions)
    )
    fixed = tuple(dataclasses.replace(a, leader_id=a.replicas[0], isr=a.replicas) for a in parts)
    return TopicRecord(name, f"id-{name}", fixed, {"retention.ms": "1000"})


def test_a_created_topic_arrives_whole_in_one_delta() -> None:
    image = MetadataImage()
    t = topic()
    deltas = image.apply(topic_records(t), offset=5)
    assert deltas == [(None, t)]
    assert image.topic("t") == t
    assert image.versions["t"] == 5


def test_changes_and_deletion_give_before_and_after() -> None:
    image = MetadataImage()
    t = topic()
    image.apply(topic_records(t), 1)
    grown = topic(partitions=3)
    changed = dataclasses.replace(grown, configs={"segment.bytes": "4096"})
    assert image.apply(change_records(t, changed), 2) == [(t, changed)]
    assert image.versions["t"] == 2
    remove = cluster_pb2.MetadataRecord(remove_topic=cluster_pb2.RemoveTopicRecord(topic_id="id-t"))
    assert image.apply([remove], 3) == [(changed, None)]
    assert image.topic("t") is None and "t" not in image.versions


def test_records_for_unknown_topics_are_ignored_the_same_everywhere() -> None:
    image = MetadataImage()
    stray = cluster_pb2.MetadataRecord(
        partition=cluster_pb2.PartitionRecordProto(topic_id="nope", partition=0, replicas=[1])
    )
    assert image.apply([stray], 1) == []
    assert dict(image.topics) == {}


def test_a_snapshot_restores_an_equal_image() -> None:
    image = MetadataImage()
    image.apply(
        [cluster_pb2.MetadataRecord(cluster_id=cluster_pb2.ClusterIdRecord(cluster_id="c1"))], 0
    )
    image.apply(
        [
            cluster_pb2.MetadataRecord(
                broker=cluster_pb2.RegisterBrokerRecord(node_id=2, host="h", port=9, rack="r")
            )
        ],
        1,
    )
    image.apply(topic_records(topic("a")) + topic_records(topic("b", 1, (2, 0, 1))), 2)
    image.apply(
        [
            cluster_pb2.MetadataRecord(
                producer_ids=cluster_pb2.ProducerIdsRecord(node_id=0, first_id=0, count=1000)
            )
        ],
        3,
    )
    moving = dataclasses.replace(
        topic("c"),
        partitions=(PartitionAssignment(0, (0, 1), 0, 0, (0, 1)).moving_to((1, 2), 7, True),),
    )
    image.apply(topic_records(moving), 4)
    image.apply([drain_record(2, draining=True), drain_record(5, draining=True)], 5)
    image.apply([drain_record(5, draining=False), voters_record([3, 1, 2])], 6)
    image.apply([cluster_config_record("partition.move.throttle", "5"),
                 cluster_config_record("a", "1"), cluster_config_record("a", None)], 6)  # fmt: skip
    restored = MetadataImage.restore(image.snapshot())
    assert restored.cluster_id == "c1"
    assert restored.brokers == image.brokers
    assert dict(restored.topics) == dict(image.topics)
    moving = restored.topics["c"].partitions[0]
    assert (moving.throttle, moving.throttle_follows) == (7, True)  # a move and its throttle
    assert restored.draining == image.draining == {2}
    assert restored.controller_voters == (1, 2, 3)
    assert restored.cluster_configs == image.cluster_configs == {"partition.move.throttle": "5"}
    assert restored.next_producer_id == 1000
    assert restored.applied == 6


@pytest.mark.parametrize("cut", [0, 5, 17, 20])
def test_a_damaged_snapshot_is_a_typed_error(cut: int) -> None:
    image = MetadataImage()
    image.apply(topic_records(topic()), 1)
    data = image.snapshot()
    with pytest.raises(CorruptRecordError):
        MetadataImage.restore(data[:cut] if cut < 16 else data[:-cut])


def test_records_round_trip_through_a_stamped_batch() -> None:
    records = topic_records(topic())
    batch = encode_batch(records, base_offset=7, term=3, now_ms=1)
    assert decode_records(batch) == records


def test_a_topic_of_ten_thousand_partitions_applies_in_linear_time() -> None:
    # One entry of 10,001 records (issue 21): rebuilding the topic's tuple per partition
    # record was quadratic -- ~15 s of a blocked event loop on every broker, so the
    # controller lost its leadership and the create timed out. Linear: well under 1 s.
    image = MetadataImage()
    big = topic("big", partitions=10_000)
    records = topic_records(big)
    started = time.process_time()
    assert image.apply(records, 7) == [(None, big)]
    assert time.process_time() - started < 3.0
    assert image.topic("big") == big
    restored = MetadataImage.restore(image.snapshot())
    assert restored.topic("big") == big


def test_one_entry_removing_and_recreating_a_topic_keeps_only_the_new_one() -> None:
    image = MetadataImage()
    old = topic("t", partitions=3)
    image.apply(topic_records(old), 1)
    remove = cluster_pb2.MetadataRecord(remove_topic=cluster_pb2.RemoveTopicRecord(topic_id="id-t"))
    new = dataclasses.replace(topic("t", partitions=2), topic_id="id-t2")
    deltas = image.apply([remove, *topic_records(new)], 2)
    assert deltas == [(old, new)]
    assert image.topic("t") == new


def test_a_cluster_config_touches_no_topic() -> None:
    """A config record with no topic id is the cluster's (issue 23): no topic delta, and a
    topic's configs stay its own."""
    image = MetadataImage()
    t = topic()
    image.apply(topic_records(t), offset=1)
    deltas = image.apply([cluster_config_record("partition.move.throttle", "100")], offset=2)
    assert deltas == []
    assert image.cluster_configs == {"partition.move.throttle": "100"}
    assert image.topic("t") == t
    image.apply([cluster_config_record("partition.move.throttle", None)], offset=3)
    assert image.cluster_configs == {}


def test_an_unregistered_broker_is_gone_until_it_registers_again() -> None:
    image = MetadataImage()
    image.apply([broker_record(BrokerMeta(4, "h", 1)), drain_record(4, draining=True)], 1)
    image.apply([unregister_record(4), unregister_record(7)], 2)  # 7: a configured peer
    assert (image.brokers, image.draining, image.unregistered) == ({}, set(), {4, 7})
    restored = MetadataImage.restore(image.snapshot())
    assert (restored.brokers, restored.unregistered) == ({}, {4, 7})
    restored.apply([broker_record(BrokerMeta(4, "h", 2))], 3)  # it came back
    assert set(restored.brokers) == {4} and restored.unregistered == {7}
