"""Consumer groups through the Kafka listener, with real clients against a real broker:
confluent-kafka (librdkafka 2.16) in both rebalance protocols, static membership, commits
with metadata, the AdminClient's group calls; kafka-python and aiokafka groups; kcat -G; a
group shared by a librdkafka consumer and logd's own consumer (over gRPC)."""

from __future__ import annotations

import asyncio
import datetime
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer as CkConsumer
from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, KafkaException
from confluent_kafka import Producer as CkProducer
from confluent_kafka import TopicPartition as CkTopicPartition
from confluent_kafka.admin import (
    AclOperation,
    AdminClient,
    ConfigResource,
    ConfigSource,
    ResourceType,
)
from confluent_kafka.admin import NewTopic as CkNewTopic
from kafka import TopicPartition as KpTopicPartition
from kafka import errors as kafka_errors
from kafka.admin import KafkaAdminClient, MemberToRemove
from kio.schema.describe_configs.v1 import request as dc1
from kio.schema.find_coordinator.v1 import request as fc1
from kio.schema.join_group.v3 import request as jg3
from kio.schema.join_group.v4 import request as jg4
from kio.schema.leave_group.v0 import request as lg0
from kio.schema.list_groups.v5 import request as ls5
from kio.schema.offset_fetch.v1 import request as of1

from logd.client import Consumer
from partitioning import Subscription, encode_subscription
from tests.integration.cluster import BrokerProcess
from tests.integration.conftest import _finish
from tests.integration.kafka.conftest import bootstrap, start_kafka_broker
from tests.integration.kafka.raw import RawClient

pytestmark = pytest.mark.integration

DEADLINE_S = 60.0
# Groups form at once (no initial delay), members may use short sessions.
BROKER_CONFIG = "group.initial.rebalance.delay.ms = 0\ngroup.min.session.timeout.ms = 1000\n"
# librdkafka: heartbeat (and so notice a rebalance) often, give up on a dead member soon.
FAST = {"heartbeat.interval.ms": 300, "session.timeout.ms": 6000}


@pytest.fixture(scope="module")
def broker(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[BrokerProcess]:
    process = start_kafka_broker(tmp_path_factory.mktemp("groups") / "broker", BROKER_CONFIG)
    yield process
    _finish([process], failed=request.session.testsfailed > 0)


@pytest.fixture(scope="module")
def kafka(broker: BrokerProcess) -> str:
    return bootstrap(broker)


def create(kafka: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": kafka})
    admin.create_topics([CkNewTopic(topic, partitions, 1)])[topic].result(DEADLINE_S)


def produce(kafka: str, topic: str, values: list[str]) -> None:
    producer = CkProducer({"bootstrap.servers": kafka, "acks": "all"})
    for i, value in enumerate(values):
        producer.produce(topic, key=str(i).encode(), value=value.encode())
    assert producer.flush(DEADLINE_S) == 0


def ck_consumer(kafka: str, group: str, **extra: Any) -> CkConsumer:
    config = {
        "bootstrap.servers": kafka,
        "group.id": group,
        "auto.offset.reset": "earliest",
        **FAST,
        **extra,
    }
    return CkConsumer(config)


def until(condition: Callable[[], bool], what: str, step: Callable[[], None]) -> None:
    """Run ``step`` until ``condition`` holds, or fail after the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        step()


class Tracker:
    """What one librdkafka consumer saw: records and its rebalance callbacks."""

    def __init__(self, consumer: CkConsumer) -> None:
        self.consumer = consumer
        self.records: list[tuple[int, int, bytes]] = []
        self.assigned: list[set[int]] = []
        self.revoked: list[set[int]] = []

    def subscribe(self, topic: str) -> None:
        self.consumer.subscribe(
            [topic],
            on_assign=lambda c, tps: self.assigned.append({tp.partition for tp in tps}),
            on_revoke=lambda c, tps: self.revoked.append({tp.partition for tp in tps}),
        )

    def poll(self) -> None:
        msg = self.consumer.poll(0.1)
        if msg is not None:
            assert msg.error() is None, msg.error()
            self.records.append((msg.partition(), msg.offset(), msg.value()))

    def owned(self) -> set[int]:
        return {tp.partition for tp in self.consumer.assignment()}


def poll_all(*trackers: Tracker) -> Callable[[], None]:
    def step() -> None:
        for t in trackers:
            t.poll()

    return step


def seen(*trackers: Tracker) -> set[tuple[int, int]]:
    return {(p, o) for t in trackers for p, o, _ in t.records}


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_two_librdkafka_consumers_share_a_topic_and_resume_from_their_commits(
    kafka: str, strategy: str
) -> None:
    topic, group = f"share-{strategy}", f"g-{strategy}"
    create(kafka, topic, 4)
    produce(kafka, topic, [f"v{i}" for i in range(200)])
    a = Tracker(ck_consumer(kafka, group, **{"partition.assignment.strategy": strategy}))
    a.subscribe(topic)
    until(lambda: a.owned() == {0, 1, 2, 3}, "the first member to own every partition", a.poll)
    b = Tracker(ck_consumer(kafka, group, **{"partition.assignment.strategy": strategy}))
    b.subscribe(topic)
    step = poll_all(a, b)
    until(lambda: bool(a.owned()) and bool(b.owned()), "both members to own partitions", step)
    assert a.owned().isdisjoint(b.owned()) and a.owned() | b.owned() == {0, 1, 2, 3}
    until(lambda: len(seen(a, b)) == 200, "every record", step)
    if strategy == "cooperative-sticky":
        # Incremental (KIP-429): the first member gives up only what moves to the second.
        assert {0, 1, 2, 3} not in a.revoked
        assert set().union(*a.revoked) == b.owned()
    else:
        assert {0, 1, 2, 3} in a.revoked, "eager: everything is revoked, then reassigned"
    for t in (a, b):
        t.consumer.close()  # commits what it consumed (auto commit)
    # A newcomer in the same group starts where the group committed.
    produce(kafka, topic, [f"late{i}" for i in range(20)])
    c = Tracker(ck_consumer(kafka, group, **{"partition.assignment.strategy": strategy}))
    c.subscribe(topic)
    until(lambda: len(c.records) >= 20, "the records after the commit", c.poll)
    for _ in range(10):
        c.poll()
    c.consumer.close()
    assert sorted(v.decode() for _, _, v in c.records) == sorted(f"late{i}" for i in range(20))


def test_a_restarted_static_member_takes_its_place_back_without_a_rebalance(kafka: str) -> None:
    topic, group = "static", "g-static"
    create(kafka, topic, 4)
    members = {
        name: Tracker(ck_consumer(kafka, group, **{"group.instance.id": name}))
        for name in ("a", "b")
    }
    for t in members.values():
        t.subscribe(topic)
    a, b = members["a"], members["b"]
    step = poll_all(a, b)
    until(lambda: len(a.owned()) == 2 and len(b.owned()) == 2, "a stable group", step)
    b_owned = b.owned()
    # Counted from the stable group on: a may have held all four before b joined.
    assigned_before, revoked_before = len(a.assigned), len(a.revoked)
    b.consumer.close()  # a static member does not leave (KIP-345)
    b2 = Tracker(ck_consumer(kafka, group, **{"group.instance.id": "b"}))
    b2.subscribe(topic)
    until(lambda: bool(b2.owned()), "the restarted member's assignment", poll_all(a, b2))
    assert b2.owned() == b_owned
    for _ in range(10):
        a.poll()
    assert len(a.assigned) == assigned_before, "no rebalance"
    assert a.revoked[revoked_before:] == [], "no rebalance"
    for t in (a, b2):
        t.consumer.close()


def test_commit_metadata_round_trips_and_the_admin_client_manages_groups(kafka: str) -> None:
    topic, group = "adm-groups", "g-admin"
    create(kafka, topic, 2)
    produce(kafka, topic, [f"v{i}" for i in range(10)])
    admin = AdminClient({"bootstrap.servers": kafka})
    t = Tracker(ck_consumer(kafka, group, **{"enable.auto.commit": False}))
    t.subscribe(topic)
    until(lambda: len(t.records) == 10, "every record", t.poll)
    commit = [
        CkTopicPartition(topic, 0, 3, metadata="ckpt-0"),
        CkTopicPartition(topic, 1, 4, metadata="ckpt \u00e9"),
    ]
    t.consumer.commit(offsets=commit, asynchronous=False)
    committed = t.consumer.committed([CkTopicPartition(topic, p) for p in (0, 1)], DEADLINE_S)
    assert [(c.offset, c.metadata) for c in committed] == [(3, "ckpt-0"), (4, "ckpt \u00e9")]

    listed = admin.list_consumer_groups(states={ConsumerGroupState.STABLE}).result(DEADLINE_S)
    assert group in {g.group_id for g in listed.valid}
    described = admin.describe_consumer_groups([group])[group].result(DEADLINE_S)
    assert described.state == ConsumerGroupState.STABLE
    assert described.partition_assignor == "range"
    (member,) = described.members
    assert {tp.partition for tp in member.assignment.topic_partitions} == {0, 1}
    assert described.authorized_operations is None  # not asked for
    # Without ACLs the authorizer allows everything a group takes (Kafka's answer).
    asked = admin.describe_consumer_groups([group], include_authorized_operations=True)
    operations = asked[group].result(DEADLINE_S).authorized_operations
    assert set(operations) == {AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE}
    # OffsetDelete (kafka-python's admin: confluent-kafka's has none) refuses a topic the
    # live group subscribes to; DeleteGroups refuses a live group.
    kp_admin = KafkaAdminClient(bootstrap_servers=kafka)
    try:
        refused = kp_admin.delete_group_offsets(group, [KpTopicPartition(topic, 0)])
        assert refused == {KpTopicPartition(topic, 0): kafka_errors.GroupSubscribedToTopicError}
        with pytest.raises(KafkaException, match="NON_EMPTY_GROUP"):
            admin.delete_consumer_groups([group])[group].result(DEADLINE_S)
        t.consumer.close()

        offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
        listed_offsets = offsets[group].result(DEADLINE_S).topic_partitions
        assert sorted((p.partition, p.offset, p.metadata) for p in listed_offsets) == [
            (0, 3, "ckpt-0"),
            (1, 4, "ckpt \u00e9"),
        ]
        altered = ConsumerGroupTopicPartitions(group, [CkTopicPartition(topic, 1, 9)])
        admin.alter_consumer_group_offsets([altered])[group].result(DEADLINE_S)
        deleted = kp_admin.delete_group_offsets(group, [KpTopicPartition(topic, 0)])
        assert deleted == {KpTopicPartition(topic, 0): kafka_errors.NoError}
    finally:
        kp_admin.close()
    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
    after = offsets[group].result(DEADLINE_S).topic_partitions
    assert sorted((p.partition, p.offset) for p in after) == [(1, 9)]
    admin.delete_consumer_groups([group])[group].result(DEADLINE_S)
    gone = admin.describe_consumer_groups([group])[group].result(DEADLINE_S)
    assert gone.state in (ConsumerGroupState.DEAD, ConsumerGroupState.UNKNOWN)
    listed = admin.list_consumer_groups().result(DEADLINE_S)
    assert group not in {g.group_id for g in listed.valid}


def test_an_admin_removes_a_static_member_by_its_instance_id(kafka: str) -> None:
    topic, group = "static-removed", "g-static-removed"
    create(kafka, topic, 2)
    a = Tracker(ck_consumer(kafka, group, **{"group.instance.id": "a"}))
    b = Tracker(ck_consumer(kafka, group, **{"group.instance.id": "b"}))
    for t in (a, b):
        t.subscribe(topic)
    step = poll_all(a, b)
    until(lambda: a.owned() == {0} or a.owned() == {1}, "a stable group of two", step)
    b.consumer.close()  # static: it stays a member until its session ends, or an admin says
    kp_admin = KafkaAdminClient(bootstrap_servers=kafka)
    try:
        removed = kp_admin.remove_group_members(group, [MemberToRemove(group_instance_id="b")])
        unknown = kp_admin.remove_group_members(group, [MemberToRemove(group_instance_id="zz")])
    finally:
        kp_admin.close()
    assert removed == {"b": kafka_errors.NoError}
    assert unknown == {"zz": kafka_errors.UnknownMemberIdError}
    until(lambda: a.owned() == {0, 1}, "the remaining member to own everything", a.poll)
    a.consumer.close()


def test_kafka_python_consumers_in_a_group(kafka: str) -> None:
    from kafka import KafkaConsumer

    topic = "kp-group"
    create(kafka, topic, 4)
    produce(kafka, topic, [f"v{i}" for i in range(100)])
    got: list[list[tuple[int, int]]] = [[], []]
    owned: list[frozenset[int]] = [frozenset(), frozenset()]
    stop = threading.Event()

    def run(i: int) -> None:
        consumer = KafkaConsumer(
            bootstrap_servers=kafka,
            group_id="g-kp",
            auto_offset_reset="earliest",
            heartbeat_interval_ms=300,
            session_timeout_ms=6000,
        )
        # Known before joining: a kafka-python leader that assigns before its first
        # metadata of the topic arrived assigns nothing ("No partition metadata").
        assert consumer.partitions_for_topic(topic) == {0, 1, 2, 3}
        consumer.subscribe([topic])
        try:
            while not stop.is_set():
                for records in consumer.poll(timeout_ms=200).values():
                    got[i].extend((r.partition, r.offset) for r in records)
                owned[i] = frozenset(tp.partition for tp in consumer.assignment())
        finally:
            consumer.close()

    def shared() -> bool:
        # The work is judged by the assignment, not by who read what: a member that joins
        # late (a loaded machine) may find its partitions read and committed already.
        a, b = owned
        return bool(a) and bool(b) and not a & b and a | b == {0, 1, 2, 3}

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    try:
        until(
            lambda: len(set(got[0]) | set(got[1])) == 100 and shared(),
            "both kafka-python members to own a share, all records read",
            lambda: time.sleep(0.1),
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(DEADLINE_S)


def test_aiokafka_consumers_in_a_group(kafka: str) -> None:
    from aiokafka import AIOKafkaConsumer

    topic = "aio-group"
    create(kafka, topic, 4)
    produce(kafka, topic, [f"v{i}" for i in range(100)])

    async def main() -> list[set[tuple[int, int]]]:
        consumers = [
            AIOKafkaConsumer(
                topic,
                bootstrap_servers=kafka,
                group_id="g-aio",
                auto_offset_reset="earliest",
                heartbeat_interval_ms=300,
                session_timeout_ms=6000,
            )
            for _ in range(2)
        ]
        got: list[set[tuple[int, int]]] = [set(), set()]
        for c in consumers:
            await c.start()
        try:
            deadline = time.monotonic() + DEADLINE_S
            while not (len(got[0] | got[1]) == 100 and all(got)):
                assert time.monotonic() < deadline, "aiokafka members did not share the work"
                for i, c in enumerate(consumers):
                    batches = await c.getmany(timeout_ms=100)
                    got[i].update((r.partition, r.offset) for rs in batches.values() for r in rs)
            await consumers[0].commit()
            await consumers[1].commit()
        finally:
            for c in consumers:
                await c.stop()
        return got

    got = asyncio.run(main())
    assert all(got) and len(got[0] | got[1]) == 100


def test_kcat_balanced_consumer_commits_what_it_read(kafka: str) -> None:
    topic, group = "kcat-group", "g-kcat"
    create(kafka, topic, 2)
    produce(kafka, topic, [f"v{i}" for i in range(10)])
    done = subprocess.run(
        ["kcat", "-b", kafka, "-G", group, "-o", "beginning", "-e", "-f", "%p %o %s\\n", topic],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split()
    assert sorted(lines[2::3]) == sorted(f"v{i}" for i in range(10)), done.stdout
    admin = AdminClient({"bootstrap.servers": kafka})
    future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
    committed = {p.partition: p.offset for p in future.result(DEADLINE_S).topic_partitions}
    ends = {
        p: CkConsumer({"bootstrap.servers": kafka, "group.id": "x"}).get_watermark_offsets(
            CkTopicPartition(topic, p), DEADLINE_S
        )[1]
        for p in (0, 1)
    }
    assert committed == ends


def test_a_librdkafka_consumer_and_a_logd_consumer_share_one_group(
    broker: BrokerProcess, kafka: str
) -> None:
    topic, group = "mixed", "g-mixed"
    create(kafka, topic, 4)
    produce(kafka, topic, [f"v{i}" for i in range(200)])
    ck = Tracker(ck_consumer(kafka, group, **{"partition.assignment.strategy": "range"}))
    ck.subscribe(topic)
    logd = Consumer(
        brokers=broker.address,
        group_id=group,
        auto_offset_reset="earliest",
        partition_assignment_strategy=["range"],
        heartbeat_interval_ms=300,
        session_timeout_ms=6000,
    )
    logd.subscribe([topic])
    logd_seen: set[tuple[int, int]] = set()

    def step() -> None:
        ck.poll()
        for record in logd.consume(50, 0.1):
            logd_seen.add((record.partition, record.offset))

    def logd_owned() -> set[int]:
        return {tp.partition for tp in logd.assignment()}

    try:
        until(
            lambda: bool(ck.owned()) and bool(logd_owned()) and len(logd_seen | seen(ck)) == 200,
            "both doors' members to share the work and read everything",
            step,
        )
        assert ck.owned().isdisjoint(logd_owned()) and ck.owned() | logd_owned() == {0, 1, 2, 3}
    finally:
        logd.close()
        ck.consumer.close()


def test_the_group_apis_keep_each_versions_rules_on_the_wire(kafka: str) -> None:
    """Through kio's own serializers: JoinGroup before v4 joins at once, from v4 hands out
    the member id first (KIP-394); LeaveGroup v0 answers its one member's error; OffsetFetch
    v1 (no group error field) puts the group's error on each partition asked; ListGroups v5:
    every group here is classic."""
    subscription = encode_subscription(Subscription(("wire",)))
    session = datetime.timedelta(seconds=10)
    with RawClient(kafka) as c:
        found = c.call(10, 1, fc1.FindCoordinatorRequest(key="wire-3", key_type=0))
        assert found.error_code.value == 0
        join = jg3.JoinGroupRequest(
            group_id="wire-3", session_timeout=session, rebalance_timeout=session,
            member_id="", protocol_type="consumer",
            protocols=(jg3.JoinGroupRequestProtocol(name="range", metadata=subscription),),
        )  # fmt: skip
        joined = c.call(11, 3, join)
        deadline = time.monotonic() + DEADLINE_S
        while joined.error_code.value == 14:  # COORDINATOR_LOAD_IN_PROGRESS: clients retry
            assert time.monotonic() < deadline, "the coordinator never loaded"
            joined = c.call(11, 3, join)
        assert joined.error_code.value == 0 and joined.leader == joined.member_id != ""
        first = c.call(11, 4, jg4.JoinGroupRequest(
            group_id="wire-4", session_timeout=session, rebalance_timeout=session,
            member_id="", protocol_type="consumer",
            protocols=(jg4.JoinGroupRequestProtocol(name="range", metadata=subscription),),
        ))  # fmt: skip
        assert first.error_code.value == 79 and first.member_id  # MEMBER_ID_REQUIRED
        left = c.call(13, 0, lg0.LeaveGroupRequest(group_id="wire-3", member_id="nobody"))
        assert left.error_code.value == 25  # UNKNOWN_MEMBER_ID
        asked = (of1.OffsetFetchRequestTopic(name="wire", partition_indexes=(0, 1)),)
        fetched = c.call(9, 1, of1.OffsetFetchRequest(group_id="", topics=asked))
        assert [p.error_code.value for p in fetched.topics[0].partitions] == [24, 24]
        classic = c.call(16, 5, ls5.ListGroupsRequest(states_filter=(), types_filter=("classic",)))
        assert "wire-3" in {g.group_id for g in classic.groups}
        assert {g.group_type for g in classic.groups} == {"classic"}
        other = c.call(16, 5, ls5.ListGroupsRequest(states_filter=(), types_filter=("consumer",)))
        assert other.groups == ()


def test_the_admin_client_reads_the_brokers_group_settings(kafka: str) -> None:
    """DescribeConfigs of a broker: every key, set ones as the broker's static config."""
    admin = AdminClient({"bootstrap.servers": kafka})
    (future,) = admin.describe_configs([ConfigResource(ResourceType.BROKER, "0")]).values()
    configs = future.result(DEADLINE_S)
    delay = configs["group.initial.rebalance.delay.ms"]
    assert (delay.value, delay.source) == ("0", ConfigSource.STATIC_BROKER_CONFIG.value)
    assert delay.is_read_only
    created = configs["auto.create.topics.enable"]
    assert (created.value, created.source) == ("true", ConfigSource.DEFAULT_CONFIG.value)
    assert "offsets.topic.num.partitions" in configs
    # Another broker's config is that broker's to answer (clients send it there).
    other = dc1.DescribeConfigsResource(resource_type=4, resource_name="7", configuration_keys=None)
    with RawClient(kafka) as c:
        answer = c.call(
            32, 1, dc1.DescribeConfigsRequest(resources=(other,), include_synonyms=False)
        )
    assert answer.results[0].error_code.value == 42  # INVALID_REQUEST
