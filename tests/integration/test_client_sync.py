"""The sync clients against a real broker: round trips, replay, keys, offsets, errors, admin."""

from __future__ import annotations

import time
from typing import Any

import pytest

from logd.client import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Admin,
    Consumer,
    ConsumerRecord,
    NewTopic,
    Producer,
    RecordMetadata,
    TopicPartition,
)
from logd.errors import (
    BrokerUnavailableError,
    InvalidTopicError,
    LogdError,
    OffsetOutOfRangeError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from partitioning import partition_for
from tests.integration.client_helpers import create_topic
from tests.integration.cluster import BrokerProcess

pytestmark = pytest.mark.integration


def read_all(consumer: Consumer, count: int, timeout: float = 20.0) -> list[ConsumerRecord]:
    out: list[ConsumerRecord] = []
    deadline = time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        out.extend(consumer.consume(count - len(out), 0.5))
    return out


class Reports:
    def __init__(self) -> None:
        self.ok: list[RecordMetadata] = []
        self.failed: list[LogdError] = []

    def __call__(self, err: LogdError | None, md: RecordMetadata | None) -> None:
        if err is not None:
            self.failed.append(err)
        else:
            assert md is not None
            self.ok.append(md)


def test_round_trip_keys_land_on_partition_for_key(broker: BrokerProcess) -> None:
    create_topic(broker.address, "orders", 4)
    reports = Reports()
    keys = [b"customer-%d" % (i % 13) for i in range(200)]
    with Producer(brokers=broker.address, linger_ms=2) as producer:
        assert producer.partitions_for("orders") == [0, 1, 2, 3]
        for i, key in enumerate(keys):
            producer.produce("orders", b"order-%d" % i, key=key, on_delivery=reports)
        assert producer.flush(30) == 0
    assert reports.failed == []
    assert len(reports.ok) == 200
    landed = {(md.partition, md.offset) for md in reports.ok}
    assert len(landed) == 200, "every record got its own offset"
    with Consumer(brokers=broker.address) as consumer:
        consumer.assign([TopicPartition("orders", p, OFFSET_BEGINNING) for p in range(4)])
        records = read_all(consumer, 200)
    assert sorted(r.value for r in records if r.value) == sorted(
        b"order-%d" % i for i in range(200)
    )
    for record in records:
        assert record.key is not None
        assert record.partition == partition_for(record.key, 4)
    by_partition: dict[int, list[int]] = {}
    for record in records:
        by_partition.setdefault(record.partition, []).append(int(record.value[6:]))  # type: ignore[index]
    for numbers in by_partition.values():
        assert numbers == sorted(numbers), "order kept within a partition"


def test_batch_api_headers_and_timestamps_round_trip(broker: BrokerProcess) -> None:
    create_topic(broker.address, "events", 1)
    with Producer(brokers=broker.address) as producer:
        producer.produce_batch("events", [b"a", b"b", b"c"])
        producer.produce("events", "text", headers=[("h", b"1"), ("n", None)], timestamp=1234)
        assert producer.flush(30) == 0
    with Consumer(brokers=broker.address) as consumer:
        consumer.assign([TopicPartition("events", 0, 0)])
        records = read_all(consumer, 4)
        assert consumer.get_watermark_offsets(TopicPartition("events", 0)) == (0, 5)
    # Offset 0 is the leader's LEADER_CHANGE control batch (DESIGN.md principle 3).
    assert [r.offset for r in records] == [1, 2, 3, 4]
    assert [r.value for r in records] == [b"a", b"b", b"c", b"text"]
    assert records[3].headers == [("h", b"1"), ("n", None)]
    assert records[3].timestamp == 1234
    assert abs(records[0].timestamp - time.time() * 1000) < 60_000


def test_replay_from_an_offset_and_from_a_time(broker: BrokerProcess) -> None:
    create_topic(broker.address, "replay", 1)
    base = 1_700_000_000_000
    with Producer(brokers=broker.address) as producer:
        for i in range(10):
            producer.produce("replay", b"%d" % i, timestamp=base + i * 1000)
        assert producer.flush(30) == 0
    tp = TopicPartition("replay", 0)
    with Consumer(brokers=broker.address) as consumer:
        # Record i is at offset i + 1: offset 0 holds the leader's LEADER_CHANGE batch.
        consumer.assign([TopicPartition("replay", 0, 7)])
        assert [r.value for r in read_all(consumer, 4)] == [b"6", b"7", b"8", b"9"]
        (found,) = consumer.offsets_for_times([TopicPartition("replay", 0, base + 3500)])
        assert found == TopicPartition("replay", 0, 5)
        (none,) = consumer.offsets_for_times([TopicPartition("replay", 0, base + 10**9)])
        assert none.offset == -1
        consumer.seek(found)
        assert consumer.position([tp]) == [TopicPartition("replay", 0, 5)]
        assert [r.offset for r in read_all(consumer, 6)] == [5, 6, 7, 8, 9, 10]
        consumer.seek_to_beginning()
        assert read_all(consumer, 1)[0].offset == 1


def test_auto_offset_reset(broker: BrokerProcess) -> None:
    create_topic(broker.address, "reset", 1)
    with Producer(brokers=broker.address) as producer:
        producer.produce_batch("reset", [b"old-%d" % i for i in range(5)])
        producer.flush(30)
    tp = TopicPartition("reset", 0)
    with Consumer(brokers=broker.address, auto_offset_reset="earliest") as earliest:
        earliest.assign([tp])
        assert len(read_all(earliest, 5)) == 5
    with Consumer(brokers=broker.address, auto_offset_reset="latest") as latest:
        latest.assign([tp])
        assert latest.position([tp]) == [TopicPartition("reset", 0, 6)]  # 0: LEADER_CHANGE
        with Producer(brokers=broker.address) as producer:
            producer.produce("reset", b"new")
            producer.flush(30)
        assert [r.value for r in read_all(latest, 1)] == [b"new"]
    with Consumer(brokers=broker.address, auto_offset_reset="earliest") as beyond:
        beyond.assign([TopicPartition("reset", 0, 500)])
        # The earliest record is at 1: offset 0 holds the leader's LEADER_CHANGE batch.
        assert read_all(beyond, 1)[0].offset == 1, "out of range: back to the earliest"
    with Consumer(brokers=broker.address, auto_offset_reset="error") as strict:
        strict.assign([TopicPartition("reset", 0, 500)])
        with pytest.raises(OffsetOutOfRangeError) as info:
            read_all(strict, 1)
        assert "offset 500 is out of range for reset/0: valid offsets are 0..7" in str(info.value)
        strict.seek(TopicPartition("reset", 0, OFFSET_END))
        assert strict.poll(0.2) is None
    with Consumer(brokers=broker.address, auto_offset_reset="error") as no_offset:
        no_offset.assign([tp])
        with pytest.raises(OffsetOutOfRangeError, match="no offset to start reset/0 from"):
            read_all(no_offset, 1)


def test_admin_calls(broker: BrokerProcess) -> None:
    with Admin(brokers=broker.address) as admin:
        admin.create_topics([NewTopic("a", 2, 1, {"retention.ms": "60000"}), NewTopic("b", 1, 1)])
        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics([NewTopic("a", 1, 1)])
        with pytest.raises(InvalidTopicError):
            admin.create_topics([NewTopic("../x", 1, 1)])
        with pytest.raises(InvalidTopicError):
            admin.create_topics([NewTopic("x" * 250, 1, 1)])
        assert [(t.name, t.partitions) for t in admin.list_topics()] == [("a", 2), ("b", 1)]
        (a,) = admin.describe_topics(["a"])
        assert [p.partition for p in a.partitions] == [0, 1]
        assert a.configs["retention.ms"].value == "60000"
        assert not a.configs["retention.ms"].is_default
        admin.alter_configs("a", set={"retention.ms": "120000"})
        assert admin.describe_topics(["a"])[0].configs["retention.ms"].value == "120000"
        admin.alter_configs("a", delete=["retention.ms"])
        assert admin.describe_topics(["a"])[0].configs["retention.ms"].is_default
        admin.create_partitions("a", 3)
        assert len(admin.describe_topics(["a"])[0].partitions) == 3
        cluster = admin.describe_cluster()
        assert [b.address for b in cluster.brokers] == [broker.address]
        md = admin.metadata(["a"])
        assert [p.leader for p in md.topics["a"].partitions] == [cluster.brokers[0].node_id] * 3
        admin.delete_topics(["b"])
        assert [t.name for t in admin.list_topics()] == ["a"]
        with pytest.raises(UnknownTopicOrPartitionError):
            admin.describe_topics(["b"])


def test_errors_are_typed_and_one_line(broker: BrokerProcess) -> None:
    create_topic(broker.address, "t", 2)
    with Producer(brokers=broker.address) as producer:
        with pytest.raises(UnknownTopicOrPartitionError, match="unknown topic 'missing'"):
            producer.produce("missing", b"x")
        with pytest.raises(UnknownTopicOrPartitionError, match="has no partition 2"):
            producer.produce("t", b"x", partition=2)
        with pytest.raises(LogdError, match="partition must be an int >= 0, got -1"):
            producer.produce("t", b"x", partition=-1)
        with pytest.raises(LogdError, match="a record value must be bytes, str or None"):
            producer.produce("t", 42)  # type: ignore[arg-type]
    with (
        Consumer(brokers=broker.address) as consumer,
        pytest.raises(UnknownTopicOrPartitionError, match="unknown topic 'missing'"),
    ):
        consumer.assign([TopicPartition("missing", 0)])
    port = broker.port
    broker.stop()
    with pytest.raises(BrokerUnavailableError) as info:
        Producer(brokers=f"127.0.0.1:{port}")
    assert f"no broker answered at 127.0.0.1:{port}" in str(info.value)
    assert "\n" not in str(info.value)


def test_iteration_and_pause(broker: BrokerProcess) -> None:
    create_topic(broker.address, "it", 2)
    with Producer(brokers=broker.address) as producer:
        producer.produce_batch("it", [b"p0-%d" % i for i in range(3)], partition=0)
        producer.produce_batch("it", [b"p1-%d" % i for i in range(3)], partition=1)
        producer.flush(30)
    with Consumer(brokers=broker.address) as consumer:
        consumer.assign([TopicPartition("it", p, OFFSET_BEGINNING) for p in (0, 1)])
        consumer.pause([TopicPartition("it", 1)])
        seen: list[Any] = []
        for record in consumer:
            seen.append(record.value)
            if len(seen) == 3:
                break
        assert seen == [b"p0-0", b"p0-1", b"p0-2"]
        assert consumer.poll(0.3) is None, "partition 1 is paused"
        consumer.resume([TopicPartition("it", 1)])
        assert [r.value for r in read_all(consumer, 3)] == [b"p1-0", b"p1-1", b"p1-2"]


def test_a_closed_producer_refuses_records(broker: BrokerProcess) -> None:
    create_topic(broker.address, "closed", 1)
    producer = Producer(brokers=broker.address)
    producer.produce("closed", b"x")
    assert producer.close() == 0
    with pytest.raises(LogdError, match="the producer is closed"):
        producer.produce("closed", b"y")
