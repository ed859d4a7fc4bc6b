"""DeleteRecords (Kafka API 21) through confluent-kafka's AdminClient against real brokers:
the low watermark moves, consumers and ListOffsets start there, Kafka's errors per
partition -- and, on three brokers, the log start is replicated: every leader after the
one that answered (the old one killed, then restarted and leading again) starts there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, KafkaError, KafkaException
from confluent_kafka import Consumer as CkConsumer
from confluent_kafka import Producer as CkProducer
from confluent_kafka import TopicPartition as CkTopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin import NewTopic as CkNewTopic

from tests.helpers import wait_until
from tests.integration.cluster import Cluster

pytestmark = pytest.mark.integration

DEADLINE_S = 60.0


def _create(kafka: str, topic: str, partitions: int, rf: int = 1, **config: str) -> None:
    admin = AdminClient({"bootstrap.servers": kafka})
    new = CkNewTopic(topic, partitions, rf, config=config)
    admin.create_topics([new])[topic].result(DEADLINE_S)


def _produce(kafka: str, topic: str, count: int, partition: int = 0) -> None:
    producer = CkProducer({"bootstrap.servers": kafka, "acks": "all", "linger.ms": 5})
    for i in range(count):
        producer.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode(),
                         partition=partition)  # fmt: skip
    assert producer.flush(DEADLINE_S) == 0


def _delete(kafka: str, topic: str, offset: int, partition: int = 0) -> int:
    """The new low watermark; raises the partition's KafkaException."""
    admin = AdminClient({"bootstrap.servers": kafka})
    tp = CkTopicPartition(topic, partition, offset)
    futures = admin.delete_records([tp], request_timeout=DEADLINE_S, operation_timeout=30)
    deleted = futures[tp].result(DEADLINE_S)
    return int(deleted.low_watermark)


def _error_of(kafka: str, topic: str, offset: int) -> KafkaError:
    with pytest.raises(KafkaException) as raised:
        _delete(kafka, topic, offset)
    error: KafkaError = raised.value.args[0]
    return error


def _consumer(kafka: str) -> CkConsumer:
    return CkConsumer({"bootstrap.servers": kafka, "group.id": "dr-reader",
                       "enable.auto.commit": False, "auto.offset.reset": "earliest"})  # fmt: skip


def _watermarks(kafka: str, topic: str, partition: int = 0) -> tuple[int, int]:
    consumer = _consumer(kafka)
    try:
        low, high = consumer.get_watermark_offsets(
            CkTopicPartition(topic, partition), timeout=DEADLINE_S
        )
        return int(low), int(high)
    finally:
        consumer.close()


#: What a query may meet while a killed broker leaves the metadata: librdkafka destroys the
#: broker handle a request was using, or the leader is not known yet.
_TRANSIENT = {
    KafkaError._DESTROY_BROKER,
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._TIMED_OUT,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    # librdkafka's cache right after the failover may not hold the partition yet (seen in
    # a quiet full run); asked again, as for the others. Why its metadata lacked the
    # partition is open (issue 14 note).
    KafkaError._UNKNOWN_PARTITION,
}


def _watermarks_after_failover(kafka: str, topic: str) -> tuple[int, int]:
    """The watermarks once a query gets an answer (asked again after a transient error)."""
    found: list[tuple[int, int]] = []

    def answered() -> bool:
        try:
            found.append(_watermarks(kafka, topic))
        except KafkaException as exc:
            if exc.args[0].code() not in _TRANSIENT:
                raise
            return False
        return True

    wait_until(answered, timeout=DEADLINE_S, message=f"the watermarks of {topic}")
    return found[-1]


def _first_read(kafka: str, topic: str, offset: int) -> int:
    """The offset of the first record a consumer assigned at ``offset`` reads."""
    consumer = _consumer(kafka)
    try:
        consumer.assign([CkTopicPartition(topic, 0, offset)])
        read: list[int] = []

        def polled() -> bool:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                read.append(message.offset())
            return bool(read)

        wait_until(polled, timeout=DEADLINE_S, message=f"a record of {topic}")
        return read[0]
    finally:
        consumer.close()


def test_delete_records_moves_the_low_watermark_and_readers_start_there(kafka: str) -> None:
    _create(kafka, "dr", 2)
    _produce(kafka, "dr", 50)
    low, high = _watermarks(kafka, "dr")
    assert low == 0 and high > 50  # offset 0 is the leader's control batch
    assert _delete(kafka, "dr", 20) == 20
    # The deletion is a record of the log (a control record: readers skip it) at `high`.
    assert _watermarks(kafka, "dr") == (20, high + 1)
    assert _first_read(kafka, "dr", OFFSET_BEGINNING) == 20
    assert _first_read(kafka, "dr", 5) == 20  # out of range: auto.offset.reset earliest
    assert _delete(kafka, "dr", 10) == 20  # behind the log start: nothing to do
    assert _watermarks(kafka, "dr") == (20, high + 1)
    assert _delete(kafka, "dr", OFFSET_END) == high + 1  # -1: up to the high watermark
    assert _watermarks(kafka, "dr") == (high + 1, high + 2)
    assert _watermarks(kafka, "dr", 1) == (0, 1)  # the other partition untouched


def test_delete_records_answers_kafkas_errors(kafka: str) -> None:
    _create(kafka, "dr-errors", 1)
    _produce(kafka, "dr-errors", 5)
    _, high = _watermarks(kafka, "dr-errors")
    assert _error_of(kafka, "dr-errors", high + 1).code() == KafkaError.OFFSET_OUT_OF_RANGE
    _create(kafka, "dr-compacted", 1, **{"cleanup.policy": "compact"})
    _produce(kafka, "dr-compacted", 5)
    assert _error_of(kafka, "dr-compacted", 1).code() == KafkaError.POLICY_VIOLATION
    assert _watermarks(kafka, "dr-compacted")[0] == 0


@pytest.fixture
def three(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, size=3)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        cluster.close()


def _kafka(cluster: Cluster, *alive: int) -> str:
    return ",".join(cluster[i].bound()["kafka"] for i in alive)


def _leader(kafka: str, topic: str, not_in: tuple[int, ...] = ()) -> int:
    admin = AdminClient({"bootstrap.servers": kafka})
    found: list[int] = []

    def led() -> bool:
        topics = admin.list_topics(topic, timeout=10).topics
        leader = topics[topic].partitions[0].leader if topic in topics else -1
        found[:] = [leader]
        return leader >= 0 and leader not in not_in

    wait_until(led, timeout=DEADLINE_S, message=f"a leader of {topic} outside {not_in}")
    return found[0]


def test_the_log_start_is_replicated_every_later_leader_starts_there(three: Cluster) -> None:
    everyone = _kafka(three, 0, 1, 2)
    _create(everyone, "dr3", 1, rf=3)
    _produce(everyone, "dr3", 100)
    first = _leader(everyone, "dr3")
    assert _delete(everyone, "dr3", 40) == 40
    three[first].kill()  # the leader that answered
    others = tuple(i for i in range(3) if i != first)
    second = _leader(_kafka(three, *others), "dr3", not_in=(first,))
    wait_until(lambda: _watermarks_after_failover(_kafka(three, *others), "dr3")[0] == 40,
               timeout=DEADLINE_S, message="the new leader's log start")  # fmt: skip
    assert _first_read(_kafka(three, *others), "dr3", OFFSET_BEGINNING) == 40
    three[first].start()  # back, from its files; then the second leader goes
    three[second].kill()
    rest = tuple(i for i in range(3) if i != second)
    _leader(_kafka(three, *rest), "dr3", not_in=(second,))
    low, high = _watermarks_after_failover(_kafka(three, *rest), "dr3")
    assert low == 40 and high > 100
    assert _first_read(_kafka(three, *rest), "dr3", OFFSET_BEGINNING) == 40
