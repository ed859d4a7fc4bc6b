"""Real Kafka clients against a real broker: confluent-kafka (librdkafka 2.16: idempotent
producer with acks=all, every codec, AdminClient topics), kafka-python 3.x and its command,
aiokafka; one log whatever the door (Kafka in, gRPC out and back); control batches never
reach a Kafka application."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer as CkConsumer
from confluent_kafka import KafkaException
from confluent_kafka import Producer as CkProducer
from confluent_kafka import TopicPartition as CkTopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions
from confluent_kafka.admin import NewTopic as CkNewTopic

from logd.client import Consumer, Producer, TopicPartition
from tests.integration.cluster import BrokerProcess
from tests.integration.kafka.conftest import bootstrap

pytestmark = pytest.mark.integration

DEADLINE_S = 30.0


def ck_create(kafka: str, topic: str, partitions: int) -> None:
    """Through the Kafka listener's CreateTopics (one client, generous deadlines)."""
    admin = AdminClient({"bootstrap.servers": kafka})
    admin.create_topics([CkNewTopic(topic, partitions, 1)])[topic].result(DEADLINE_S)


def ck_read(kafka: str, topic: str, partitions: int, count: int) -> list[Any]:
    """Every message of ``topic`` from the beginning, with librdkafka (no group)."""
    consumer = CkConsumer(
        {"bootstrap.servers": kafka, "group.id": "unused", "enable.auto.commit": False}
    )
    consumer.assign([CkTopicPartition(topic, p, 0) for p in range(partitions)])
    got: list[Any] = []
    deadline = time.monotonic() + DEADLINE_S
    try:
        while len(got) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got.append(msg)
        # Nothing more comes (no control record, no duplicate).
        assert consumer.poll(1.0) is None
    finally:
        consumer.close()
    return got


def logd_read(broker: BrokerProcess, topic: str, partitions: int, count: int) -> list[Any]:
    out: list[Any] = []
    with Consumer(brokers=broker.address) as consumer:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        deadline = time.monotonic() + DEADLINE_S
        while len(out) < count and time.monotonic() < deadline:
            out.extend(consumer.consume(count - len(out), 0.5))
    return out


@pytest.mark.parametrize("codec", ["none", "snappy", "zstd"])  # gzip, lz4: test_kcat
def test_idempotent_acks_all_producer_every_record_once_in_order(
    kafka_broker: BrokerProcess, codec: str
) -> None:
    kafka = bootstrap(kafka_broker)
    topic = f"idem-{codec}"
    ck_create(bootstrap(kafka_broker), topic, 3)
    acked: list[tuple[int, int, bytes]] = []
    errors: list[Any] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(err)
        else:
            acked.append((msg.partition(), msg.offset(), msg.value()))

    producer = CkProducer(
        {
            "bootstrap.servers": kafka,
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": codec,
            "linger.ms": 5,
        }
    )
    for i in range(600):
        producer.produce(topic, key=f"k{i % 11}", value=f"{codec}-{i}", on_delivery=on_delivery)
    assert producer.flush(DEADLINE_S) == 0
    assert errors == []
    assert len(acked) == 600
    for reader in (ck_read(bootstrap(kafka_broker), topic, 3, 600),):
        by_partition: dict[int, list[int]] = {}
        for msg in reader:
            by_partition.setdefault(msg.partition(), []).append(int(msg.value().split(b"-")[1]))
        assert sorted(n for ns in by_partition.values() for n in ns) == list(range(600))
        for numbers in by_partition.values():
            assert numbers == sorted(numbers), "order kept within a partition"
    # logd's own consumer reads what librdkafka wrote, every codec (snappy included).
    assert sorted(r.value for r in logd_read(kafka_broker, topic, 3, 600)) == sorted(
        f"{codec}-{i}".encode() for i in range(600)
    )


def test_logd_client_in_kafka_client_out_and_back(kafka_broker: BrokerProcess) -> None:
    kafka = bootstrap(kafka_broker)
    ck_create(bootstrap(kafka_broker), "both-ways", 1)
    with Producer(brokers=kafka_broker.address) as producer:
        producer.produce("both-ways", b"from-grpc", key=b"k1", headers=[("h", b"v")])
        assert producer.flush(DEADLINE_S) == 0
    producer2 = CkProducer({"bootstrap.servers": kafka})
    producer2.produce("both-ways", key=b"k2", value=b"from-kafka", headers=[("h2", b"v2")])
    assert producer2.flush(DEADLINE_S) == 0
    seen = ck_read(kafka, "both-ways", 1, 2)
    assert [(m.key(), m.value(), m.headers()) for m in seen] == [
        (b"k1", b"from-grpc", [("h", b"v")]),
        (b"k2", b"from-kafka", [("h2", b"v2")]),
    ]
    records = logd_read(kafka_broker, "both-ways", 1, 2)
    assert [(r.key, r.value, r.headers) for r in records] == [
        (b"k1", b"from-grpc", [("h", b"v")]),
        (b"k2", b"from-kafka", [("h2", b"v2")]),
    ]
    assert [m.offset() for m in seen] == [r.offset for r in records]


def test_control_batches_never_reach_a_kafka_application(
    tmp_path: Path, broker_factory: Any
) -> None:
    # Each leadership writes a LEADER_CHANGE control batch: restarts put them mid-log.
    broker = broker_factory()
    for round_ in range(3):
        kafka = bootstrap(broker)
        producer = CkProducer({"bootstrap.servers": kafka, "acks": "all"})
        for i in range(5):
            producer.produce("ctl", value=f"r{round_}-{i}")
        assert producer.flush(DEADLINE_S) == 0
        broker.stop()
        broker.start()
    values = [m.value() for m in ck_read(bootstrap(broker), "ctl", 1, 15)]
    assert values == [f"r{r}-{i}".encode() for r in range(3) for i in range(5)]
    del tmp_path


def test_admin_client_topics_partitions_and_cluster(kafka: str) -> None:
    admin = AdminClient({"bootstrap.servers": kafka})
    checked = admin.create_topics([CkNewTopic("adm-a", 2, 1)], validate_only=True)
    checked["adm-a"].result(DEADLINE_S)
    assert "adm-a" not in admin.list_topics(timeout=DEADLINE_S).topics
    for future in admin.create_topics(
        [CkNewTopic("adm-a", 2, 1), CkNewTopic("adm-b", 1, 1)]
    ).values():
        future.result(DEADLINE_S)
    with pytest.raises(KafkaException, match="TOPIC_ALREADY_EXISTS"):
        admin.create_topics([CkNewTopic("adm-a", 2, 1)])["adm-a"].result(DEADLINE_S)
    admin.create_partitions([NewPartitions("adm-a", 4)])["adm-a"].result(DEADLINE_S)
    meta = admin.list_topics(timeout=DEADLINE_S)
    assert len(meta.topics["adm-a"].partitions) == 4
    cluster = admin.describe_cluster().result(DEADLINE_S)
    assert [n.id for n in cluster.nodes] == [0]
    assert f"{cluster.nodes[0].host}:{cluster.nodes[0].port}" == kafka
    admin.delete_topics(["adm-b"])["adm-b"].result(DEADLINE_S)
    deadline = time.monotonic() + DEADLINE_S
    while "adm-b" in admin.list_topics(timeout=DEADLINE_S).topics:
        assert time.monotonic() < deadline, "adm-b still listed"
        time.sleep(0.05)


def test_kafka_python_producer_consumer_and_command(kafka: str) -> None:
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KpTopicPartition

    producer = KafkaProducer(bootstrap_servers=kafka, acks="all", compression_type="snappy")
    for i in range(50):
        producer.send("kp", key=b"k", value=f"kp-{i}".encode())
    producer.flush(DEADLINE_S)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=kafka, consumer_timeout_ms=3000)
    consumer.assign([KpTopicPartition("kp", 0)])
    consumer.seek_to_beginning()
    assert [m.value for m in consumer] == [f"kp-{i}".encode() for i in range(50)]
    consumer.close()
    command = str(Path(sys.executable).with_name("kafka-python"))
    done = subprocess.run(
        [command, "producer", "-b", kafka, "-t", "kp-cli"],
        input="one\ntwo\n",
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    consumer = KafkaConsumer(bootstrap_servers=kafka, consumer_timeout_ms=3000)
    consumer.assign([KpTopicPartition("kp-cli", 0)])
    consumer.seek_to_beginning()
    assert [m.value for m in consumer] == [b"one", b"two"]
    consumer.close()


def test_aiokafka_producer_and_consumer(kafka: str) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.structs import TopicPartition as AioTopicPartition

    async def run() -> list[bytes]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", compression_type="lz4")
        await producer.start()
        try:
            for i in range(40):
                await producer.send_and_wait("aio", f"aio-{i}".encode())
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
        await consumer.start()
        got: list[bytes] = []
        try:
            consumer.assign([AioTopicPartition("aio", 0)])
            await consumer.seek_to_beginning()
            deadline = time.monotonic() + DEADLINE_S
            while len(got) < 40 and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=500)
                got.extend(m.value for ms in batches.values() for m in ms)
        finally:
            await consumer.stop()
        return got

    assert asyncio.run(run()) == [f"aio-{i}".encode() for i in range(40)]


def test_murmur2_puts_keys_where_a_kafka_client_puts_them(kafka_broker: BrokerProcess) -> None:
    kafka = bootstrap(kafka_broker)
    ck_create(bootstrap(kafka_broker), "same-keys", 6)
    keys = [f"user-{i}".encode() for i in range(60)]
    producer = CkProducer({"bootstrap.servers": kafka, "partitioner": "murmur2_random"})
    for key in keys:
        producer.produce("same-keys", key=key, value=b"kafka")
    assert producer.flush(DEADLINE_S) == 0
    with Producer(brokers=kafka_broker.address, partitioner="murmur2") as ours:
        for key in keys:
            ours.produce("same-keys", b"logd", key=key)
        assert ours.flush(DEADLINE_S) == 0
    placed: dict[bytes, set[int]] = {}
    for msg in ck_read(kafka, "same-keys", 6, 120):
        placed.setdefault(msg.key(), set()).add(msg.partition())
    assert all(len(parts) == 1 for parts in placed.values()), placed
    assert len({p for parts in placed.values() for p in parts}) > 1


def test_admin_client_describes_and_alters_topic_configs(kafka: str) -> None:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    admin = AdminClient({"bootstrap.servers": kafka})
    admin.create_topics([CkNewTopic("cfg", 1, 1, config={"retention.ms": "1000000"})])[
        "cfg"
    ].result(DEADLINE_S)
    res = ConfigResource(ResourceType.TOPIC, "cfg")

    def described() -> dict[str, Any]:
        return dict(admin.describe_configs([res])[res].result(DEADLINE_S))

    configs = described()
    # Every config, with its value and whether it is a default (source 5) or set (1).
    assert {"cleanup.policy", "retention.bytes", "segment.bytes"} <= set(configs)
    assert (configs["retention.ms"].value, configs["retention.ms"].source) == ("1000000", 1)
    assert (configs["retention.bytes"].is_default, configs["retention.bytes"].source) == (True, 5)
    changes = [
        ConfigEntry("retention.bytes", "12345", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
    ]
    incremental = ConfigResource(ResourceType.TOPIC, "cfg", incremental_configs=changes)
    admin.incremental_alter_configs([incremental])[res].result(DEADLINE_S)
    configs = described()
    assert configs["retention.bytes"].value == "12345"
    assert configs["retention.ms"].is_default
    append = [ConfigEntry("retention.bytes", "1", incremental_operation=AlterConfigOpType.APPEND)]
    with pytest.raises(KafkaException, match="not a list config"):
        admin.incremental_alter_configs(
            [ConfigResource(ResourceType.TOPIC, "cfg", incremental_configs=append)]
        )[res].result(DEADLINE_S)
    # The legacy AlterConfigs replaces the overrides: retention.bytes goes back to default.
    legacy = ConfigResource(ResourceType.TOPIC, "cfg", set_config={"segment.ms": "600000"})
    admin.alter_configs([legacy])[res].result(DEADLINE_S)
    configs = described()
    assert configs["segment.ms"].value == "600000"
    assert configs["retention.bytes"].is_default
