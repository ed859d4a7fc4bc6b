"""Compacted topics through real Kafka clients on the Kafka listener (issue 16): a record
without a key is refused with INVALID_RECORD (librdkafka through confluent-kafka, and
kafka-python), and a topic created, written and read by confluent-kafka ends with one
record per key, the tombstoned key gone, offsets unchanged."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import kafka
import kafka.errors
import pytest
from confluent_kafka import Consumer as CkConsumer
from confluent_kafka import KafkaError
from confluent_kafka import Producer as CkProducer
from confluent_kafka import TopicPartition as CkTopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin import NewTopic as CkNewTopic

from tests.helpers import wait_until
from tests.integration.cluster import BrokerProcess
from tests.integration.conftest import _finish
from tests.integration.kafka.conftest import bootstrap, start_kafka_broker

pytestmark = pytest.mark.integration

DEADLINE_S = 60.0
COMPACT = {
    "cleanup.policy": "compact",
    "segment.bytes": "4096",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "100",
}


@pytest.fixture(scope="module")
def kafka_fast_cleaner(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A broker whose cleaner looks for work every 100 ms (the default is 15 s)."""
    data = tmp_path_factory.mktemp("kafka-compaction") / "broker"
    broker: BrokerProcess = start_kafka_broker(data, "log.cleaner.backoff.ms = 100\n")
    yield bootstrap(broker)
    _finish([broker], failed=request.session.testsfailed > 0)


def _create(kafka_address: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_address})
    admin.create_topics([CkNewTopic(topic, 1, 1, config=COMPACT)])[topic].result(DEADLINE_S)


def _ck_send(kafka_address: str, topic: str, pairs: list[tuple[bytes | None, Any]]) -> list[Any]:
    """Produce ``(key, value)`` pairs (acks=all) with librdkafka; the delivery errors."""
    producer = CkProducer({"bootstrap.servers": kafka_address, "acks": "all", "linger.ms": 5})
    errors: list[Any] = []

    def delivered(err: Any, _: Any) -> None:
        if err is not None:
            errors.append(err)

    for key, value in pairs:
        producer.produce(topic, key=key, value=value, partition=0, on_delivery=delivered)
    assert producer.flush(DEADLINE_S) == 0
    return errors


def _ck_read_all(kafka_address: str, topic: str) -> list[tuple[int, bytes | None, Any]]:
    """(offset, key, value) of every record up to the high watermark, with librdkafka."""
    consumer = CkConsumer(
        {"bootstrap.servers": kafka_address, "group.id": "unused", "enable.auto.commit": False}
    )
    try:
        tp = CkTopicPartition(topic, 0)
        _, high = consumer.get_watermark_offsets(tp, timeout=DEADLINE_S)
        consumer.assign([CkTopicPartition(topic, 0, 0)])
        out: list[tuple[int, bytes | None, Any]] = []
        deadline = time.monotonic() + DEADLINE_S
        while (not out or out[-1][0] < high - 1) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None:
                assert msg.error() is None, msg.error()
                out.append((msg.offset(), msg.key(), msg.value()))
        return out
    finally:
        consumer.close()


def test_kafka_clients_get_invalid_record_for_a_keyless_record_on_a_compacted_topic(
    kafka_fast_cleaner: str,
) -> None:
    _create(kafka_fast_cleaner, "keyless")
    errors = _ck_send(kafka_fast_cleaner, "keyless", [(None, b"no key")])
    assert [e.code() for e in errors] == [KafkaError.INVALID_RECORD]
    # As Kafka: the batch holding a keyless record is refused whole; a keyed one is taken.
    assert _ck_send(kafka_fast_cleaner, "keyless", [(b"k", b"v")]) == []
    producer = kafka.KafkaProducer(bootstrap_servers=kafka_fast_cleaner, acks="all", retries=0)
    try:
        with pytest.raises(kafka.errors.InvalidRecordError):
            producer.send("keyless", value=b"no key", partition=0).get(timeout=DEADLINE_S)
        producer.send("keyless", key=b"k", value=b"w", partition=0).get(timeout=DEADLINE_S)
    finally:
        producer.close()
    assert [(k, v) for _, k, v in _ck_read_all(kafka_fast_cleaner, "keyless")] == [
        (b"k", b"v"),
        (b"k", b"w"),
    ]


def test_a_compacted_topic_written_and_read_by_librdkafka_keeps_one_record_per_key(
    kafka_fast_cleaner: str,
) -> None:
    _create(kafka_fast_cleaner, "state")
    last: dict[bytes, bytes | None] = {}
    for r in range(20):
        pairs: list[tuple[bytes | None, Any]] = [
            (b"key%02d" % k, b"r%d-%d" % (r, k)) for k in range(50)
        ]
        assert _ck_send(kafka_fast_cleaner, "state", pairs) == []
        last.update(pairs)  # type: ignore[arg-type]
    # A tombstone for key07, then enough filler to roll its segment twice.
    tail: list[tuple[bytes | None, Any]] = [(b"key07", None), (b"filler", os.urandom(4000))]
    assert _ck_send(kafka_fast_cleaner, "state", tail) == []
    assert _ck_send(kafka_fast_cleaner, "state", [(b"filler", b"end")]) == []
    last.pop(b"key07")
    last[b"filler"] = b"end"

    def compacted() -> list[tuple[int, bytes | None, Any]] | None:
        records = _ck_read_all(kafka_fast_cleaner, "state")
        keys = [k for _, k, _ in records]
        return records if len(records) <= 60 and b"key07" not in keys else None

    records = wait_until(compacted, timeout=DEADLINE_S, interval=0.3, message="the cleaner")
    assert records is not None
    assert {k: v for _, k, v in records if k is not None} == last
    offsets = [offset for offset, _, _ in records]
    assert offsets == sorted(offsets) and offsets[-1] >= 1002  # offsets never change
