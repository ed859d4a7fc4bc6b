"""KIP-848's consumer group protocol (``group.protocol=consumer``) against a real broker
with librdkafka's consumers (confluent-kafka): the broker assigns, members reconcile
(revoke before assign), a member that leaves hands its partitions over, committed offsets
survive a coordinator restart; ListGroups and ConsumerGroupDescribe show the group."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, ConsumerGroupType, KafkaError, KafkaException, Producer
from confluent_kafka import TopicPartition as CkTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kio.schema.consumer_group_describe.v0 import request as cgd0
from kio.schema.consumer_group_describe.v1 import request as cgd1
from kio.schema.consumer_group_heartbeat.v1 import request as cgh1
from kio.schema.find_coordinator.v1 import request as fc1
from kio.schema.offset_fetch.v9 import request as of9
from kio.static.primitive import i32, i32Timedelta

from tests.integration.cluster import BrokerProcess, Cluster
from tests.integration.conftest import _finish
from tests.integration.kafka.conftest import bootstrap, start_kafka_broker
from tests.integration.kafka.raw import RawClient

pytestmark = pytest.mark.integration

DEADLINE_S = 60.0
# Heartbeats every 300 ms: a reconciliation takes a few of them.
BROKER_CONFIG = (
    "group.consumer.heartbeat.interval.ms = 300\ngroup.consumer.session.timeout.ms = 10000\n"
)


@pytest.fixture(scope="module")
def broker(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[BrokerProcess]:
    process = start_kafka_broker(tmp_path_factory.mktemp("kip848") / "broker", BROKER_CONFIG)
    yield process
    assert "Traceback" not in process.stderr_text(), process.stderr_text()[-3000:]
    _finish([process], failed=request.session.testsfailed > 0)


def consumer(kafka: str, group: str, **extra: Any) -> Consumer:
    return Consumer({
        "bootstrap.servers": kafka, "group.id": group, "group.protocol": "consumer",
        "auto.offset.reset": "earliest", "enable.auto.commit": False, **extra,
    })  # fmt: skip


class Member:
    """One librdkafka consumer: what it read, its partitions, and how often they were
    taken away (revoked, or lost when the member was fenced)."""

    def __init__(self, kafka: str, group: str, topic: str, **extra: Any) -> None:
        self.consumer = consumer(kafka, group, **extra)
        self.records: list[tuple[int, int]] = []
        self.taken: list[str] = []
        self.consumer.subscribe(
            [topic],
            on_revoke=lambda _c, tps: self.taken.append(f"revoked {_parts(tps)}"),
            on_lost=lambda _c, tps: self.taken.append(f"lost {_parts(tps)}"),
        )

    def poll(self) -> None:
        msg = self.consumer.poll(0.1)
        if msg is not None:
            assert msg.error() is None, msg.error()
            self.records.append((msg.partition(), msg.offset()))

    def owned(self) -> set[int]:
        return {tp.partition for tp in self.consumer.assignment()}


def _parts(tps: list[CkTopicPartition]) -> list[int]:
    return sorted(tp.partition for tp in tps)


def until(condition: Callable[[], bool], what: str, *members: Member) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        for m in members:
            m.poll()


def setup_topic(kafka: str, topic: str, partitions: int, records: int) -> None:
    admin = AdminClient({"bootstrap.servers": kafka})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(DEADLINE_S)
    producer = Producer({"bootstrap.servers": kafka, "acks": "all"})
    for i in range(records):
        producer.produce(topic, value=f"v{i}".encode(), partition=i % partitions)
    assert producer.flush(DEADLINE_S) == 0


def _two_members_split(kafka: str, group: str, topic: str) -> tuple[Member, Member]:
    """A 4-partition topic of 40 records; member a owns all of it, then a and b two
    partitions each, and every record is read."""
    setup_topic(kafka, topic, 4, 40)
    a = Member(kafka, group, topic)
    until(lambda: a.owned() == {0, 1, 2, 3}, "a owns every partition", a)
    b = Member(kafka, group, topic)
    until(
        lambda: len(a.owned()) == 2 and len(b.owned()) == 2 and not a.owned() & b.owned(),
        "a and b two partitions each", a, b,
    )  # fmt: skip
    until(lambda: len({*a.records, *b.records}) == 40, "every record read", a, b)
    return a, b


def test_two_consumers_split_the_partitions_and_one_takes_all_when_the_other_leaves(
    broker: BrokerProcess,
) -> None:
    kafka, topic, group = bootstrap(broker), "kip848-split", "g-kip848-split"
    a, b = _two_members_split(kafka, group, topic)
    admin = AdminClient({"bootstrap.servers": kafka})
    described = admin.describe_consumer_groups([group])[group].result(DEADLINE_S)
    assert described.type == ConsumerGroupType.CONSUMER
    assert len(described.members) == 2
    owned = {tp.partition for m in described.members for tp in m.assignment.topic_partitions}
    assert owned == {0, 1, 2, 3}
    listed = admin.list_consumer_groups().result(DEADLINE_S).valid
    (listing,) = [g for g in listed if g.group_id == group]
    assert listing.type == ConsumerGroupType.CONSUMER
    a.consumer.close()  # leaves the group (epoch -1)
    until(lambda: b.owned() == {0, 1, 2, 3}, "b owns every partition", b)
    b.consumer.close()


def test_committed_offsets_survive_a_coordinator_restart(broker: BrokerProcess) -> None:
    kafka, topic, group = bootstrap(broker), "kip848-commit", "g-kip848-commit"
    setup_topic(kafka, topic, 2, 20)
    a = Member(kafka, group, topic)
    until(lambda: len(a.records) == 20, "every record read", a)
    a.consumer.commit(
        offsets=[CkTopicPartition(topic, 0, 4), CkTopicPartition(topic, 1, 7)],
        asynchronous=False,
    )
    a.consumer.close()
    broker.restart()
    kafka = bootstrap(broker)
    b = Member(kafka, group, topic)
    until(lambda: len(b.records) == 20 - 4 - 7, "the records after the commits", b)
    assert min(o for p, o in b.records if p == 0) == 4
    assert min(o for p, o in b.records if p == 1) == 7
    committed = b.consumer.committed(
        [CkTopicPartition(topic, 0), CkTopicPartition(topic, 1)], DEADLINE_S
    )
    assert [c.offset for c in committed] == [4, 7]
    b.consumer.close()


def test_members_keep_their_epochs_and_partitions_across_a_coordinator_restart(
    broker: BrokerProcess,
) -> None:
    """The group is written to __consumer_offsets as Kafka's records: after a restart the
    new coordinator knows both members at their epochs, so they are neither fenced nor
    rejoined -- nothing revoked or lost, and (with no commit at all) nothing read twice."""
    kafka, topic, group = bootstrap(broker), "kip848-restart", "g-kip848-restart"
    a, b = _two_members_split(kafka, group, topic)
    owned_a, owned_b, taken_a, taken_b = a.owned(), b.owned(), list(a.taken), list(b.taken)
    read_a, read_b = len(a.records), len(b.records)  # a partition handed over is read twice
    broker.restart()
    kafka = bootstrap(broker)
    producer = Producer({"bootstrap.servers": kafka, "acks": "all"})
    for i in range(40):
        producer.produce(topic, value=f"after{i}".encode(), partition=i % 4)
    assert producer.flush(DEADLINE_S) == 0
    until(lambda: len({*a.records, *b.records}) == 80, "the new records read", a, b)
    after = a.records[read_a:] + b.records[read_b:]
    again = sorted(
        {r for r in after if after.count(r) > 1}
        | ({*after} & {*a.records[:read_a], *b.records[:read_b]})
    )
    assert len(after) == 40 and not again, f"read again: {again}; taken {a.taken} {b.taken}"
    assert (a.owned(), b.owned()) == (owned_a, owned_b)
    assert (a.taken, b.taken) == (taken_a, taken_b), "partitions revoked or lost"
    a.consumer.close()
    b.consumer.close()


def _create_while_the_cluster_settles(admin: AdminClient, new: NewTopic) -> None:
    """Create ``new``, asking again while three fresh brokers still elect their controller
    (librdkafka: "waiting for controller" timeouts, destroyed handles)."""
    deadline = time.monotonic() + 2 * DEADLINE_S
    while True:
        try:
            admin.create_topics([new])[new.topic].result(DEADLINE_S / 4)
            return
        except TimeoutError as exc:
            assert time.monotonic() < deadline, f"{new.topic} never created: {exc}"
        except KafkaException as exc:
            if exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                return
            assert time.monotonic() < deadline, f"{new.topic} never created: {exc}"


def _coordinator_of(kafka: str, group: str) -> int:
    """The group's coordinator as ConsumerGroupDescribe names it, asked again while a
    killed broker leaves librdkafka's metadata (its requests time out meanwhile)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        admin = AdminClient({"bootstrap.servers": kafka})
        try:
            described = admin.describe_consumer_groups([group], request_timeout=5)[group]
            return int(described.result(10).coordinator.id)
        except (TimeoutError, KafkaException) as exc:
            assert time.monotonic() < deadline, f"no coordinator for {group}: {exc}"


@pytest.mark.soak
def test_members_keep_their_epochs_when_the_coordinator_moves(tmp_path: Path) -> None:
    """Three brokers: SIGKILL the one coordinating the group; another broker's coordinator
    replays the group's records and both members go on at their epochs -- nothing revoked
    or lost, nothing read again. (soak: three broker start-ups and an election, ~40 s; the
    one-broker restart test above covers the same replay in `make test`.)"""
    config = tmp_path / "broker.toml"
    config.write_text(BROKER_CONFIG)
    cluster = Cluster(tmp_path, size=3, extra_args=["--config", str(config)])
    try:
        cluster.start()
        kafka = ",".join(b.bound()["kafka"] for b in cluster)
        topic, group = "kip848-move", "g-kip848-move"
        admin = AdminClient({"bootstrap.servers": kafka})
        _create_while_the_cluster_settles(admin, NewTopic(topic, 4, 3))
        producer = Producer({"bootstrap.servers": kafka, "acks": "all"})
        for i in range(40):
            producer.produce(topic, value=f"v{i}".encode(), partition=i % 4)
        assert producer.flush(DEADLINE_S) == 0
        a, b = Member(kafka, group, topic), Member(kafka, group, topic)
        until(lambda: len(a.owned()) == 2 and len(b.owned()) == 2, "two partitions each", a, b)
        until(lambda: len({*a.records, *b.records}) == 40, "every record read", a, b)
        owned, taken = (a.owned(), b.owned()), (list(a.taken), list(b.taken))
        read = (len(a.records), len(b.records))
        described = admin.describe_consumer_groups([group])[group].result(DEADLINE_S)
        coordinator = described.coordinator.id
        cluster[coordinator].kill()
        alive = ",".join(b.bound()["kafka"] for b in cluster if b.node_id != coordinator)
        producer = Producer({"bootstrap.servers": alive, "acks": "all"})
        for i in range(40):
            producer.produce(topic, value=f"after{i}".encode(), partition=i % 4)
        assert producer.flush(DEADLINE_S) == 0
        until(lambda: len({*a.records, *b.records}) == 80, "the new records read", a, b)
        after = a.records[read[0] :] + b.records[read[1] :]
        assert len(after) == len(set(after)) == 40, "a record was read again"
        assert (a.owned(), b.owned()) == owned
        assert (a.taken, b.taken) == taken, "partitions revoked or lost"
        assert _coordinator_of(alive, group) != coordinator
        a.consumer.close()
        b.consumer.close()
    finally:
        cluster.stop()
        cluster.close()


def test_a_static_member_restarting_gets_its_partitions_back_without_a_rebalance(
    broker: BrokerProcess,
) -> None:
    """With ``group.instance.id`` a closing member leaves with epoch -2: its partitions
    wait for it (nobody else is given them), and the restarted consumer with the same
    instance id gets them back at once -- the other member revokes nothing."""
    kafka, topic, group = bootstrap(broker), "kip848-static", "g-kip848-static"
    setup_topic(kafka, topic, 4, 4)
    a = Member(kafka, group, topic, **{"group.instance.id": "static-a"})
    until(lambda: a.owned() == {0, 1, 2, 3}, "a owns every partition", a)
    b = Member(kafka, group, topic, **{"group.instance.id": "static-b"})
    until(
        lambda: len(a.owned()) == 2 and len(b.owned()) == 2 and not a.owned() & b.owned(),
        "a and b two partitions each", a, b,
    )  # fmt: skip
    owned_a, owned_b, taken_b = a.owned(), b.owned(), list(b.taken)
    a.consumer.close()  # a static leave: epoch -2
    admin = AdminClient({"bootstrap.servers": kafka})
    described = admin.describe_consumer_groups([group])[group].result(DEADLINE_S)
    away = {m.group_instance_id: m for m in described.members}
    assert set(away) == {"static-a", "static-b"}  # a is still in the group...
    assert {tp.partition for tp in away["static-a"].assignment.topic_partitions} == owned_a
    again = Member(kafka, group, topic, **{"group.instance.id": "static-a"})
    until(lambda: again.owned() == owned_a, "the restarted a owns its partitions", again, b)
    assert b.owned() == owned_b and b.taken == taken_b, "b revoked something"
    again.consumer.close()
    b.consumer.close()


def test_offset_fetch_v9_is_fenced_by_the_member_epoch(broker: BrokerProcess) -> None:
    """OffsetFetch v9 from a KIP-848 member carries its id and epoch (Kafka 4): the current
    epoch reads, another one is STALE_MEMBER_EPOCH, an unknown member UNKNOWN_MEMBER_ID; a
    fetch without a member (an admin's) is not checked."""
    kafka, topic, group = bootstrap(broker), "kip848-fetch", "g-kip848-fetch"
    setup_topic(kafka, topic, 1, 0)
    member = "kip848-fetch-member-1"
    with RawClient(kafka) as c:
        # As a client: find the coordinator first (which makes __consumer_offsets).
        found = c.call(10, 1, fc1.FindCoordinatorRequest(key=group, key_type=0))
        assert found.error_code.value in (0, 15)
        join = cgh1.ConsumerGroupHeartbeatRequest(
            group_id=group, member_id=member, member_epoch=i32(0),
            rebalance_timeout=i32Timedelta.parse(datetime.timedelta(seconds=10)),
            subscribed_topic_names=(topic,), topic_partitions=(),
        )  # fmt: skip
        joined = c.call(68, 1, join)
        deadline = time.monotonic() + DEADLINE_S
        while joined.error_code.value in (14, 15):  # loading, or __consumer_offsets made
            assert time.monotonic() < deadline, "the coordinator never loaded"
            time.sleep(0.1)  # a client's retry backoff
            joined = c.call(68, 1, join)
        assert joined.error_code.value == 0 and joined.member_epoch > 0

        def fetch(member_id: str | None, epoch: int) -> int:
            asked = (of9.OffsetFetchRequestTopics(name=topic, partition_indexes=(i32(0),)),)
            request = of9.OffsetFetchRequest(groups=(of9.OffsetFetchRequestGroup(
                group_id=group, member_id=member_id, member_epoch=i32(epoch), topics=asked,
            ),), require_stable=False)  # fmt: skip
            (answer,) = c.call(9, 9, request).groups
            return int(answer.error_code.value)

        epoch = int(joined.member_epoch)
        assert fetch(member, epoch) == 0
        assert fetch(member, epoch - 1) == fetch(member, epoch + 1) == 113  # STALE_MEMBER_EPOCH
        assert fetch("nobody-of-this-group-00", epoch) == 25  # UNKNOWN_MEMBER_ID
        assert fetch(None, -1) == 0  # an admin's
        leave = cgh1.ConsumerGroupHeartbeatRequest(
            group_id=group, member_id=member, member_epoch=i32(-1), topic_partitions=None
        )
        assert c.call(68, 1, leave).error_code.value == 0


def test_a_regex_subscription_gets_the_matching_topics_and_new_ones(
    broker: BrokerProcess,
) -> None:
    """librdkafka sends a ``^``-pattern as ``subscribed_topic_regex``: the broker resolves
    it (whole names); a matching topic created later is assigned too, and a deleted one
    taken away (the broker matches again when topics come and go, not on every
    heartbeat)."""
    kafka = bootstrap(broker)
    setup_topic(kafka, "kip848-re-a", 1, 1)
    setup_topic(kafka, "kip848-re-b", 1, 1)
    setup_topic(kafka, "kip848-re-other", 1, 1)
    m = Member(kafka, "g-kip848-re", "^kip848-re-[ab]$|^kip848-re-c$")
    owned = lambda: {tp.topic for tp in m.consumer.assignment()}  # noqa: E731
    until(lambda: owned() == {"kip848-re-a", "kip848-re-b"}, "the matching topics", m)
    setup_topic(kafka, "kip848-re-c", 1, 1)
    until(lambda: owned() == {"kip848-re-a", "kip848-re-b", "kip848-re-c"}, "the new one", m)
    until(lambda: len(m.records) == 3, "a record of each", m)
    admin = AdminClient({"bootstrap.servers": kafka})
    admin.delete_topics(["kip848-re-b"])["kip848-re-b"].result(DEADLINE_S)
    until(lambda: owned() == {"kip848-re-a", "kip848-re-c"}, "the deleted one gone", m)
    with RawClient(kafka) as c:  # the broker resolved it: librdkafka sent the regex
        described = c.call(69, 0, cgd0.ConsumerGroupDescribeRequest(
            group_ids=("g-kip848-re",), include_authorized_operations=False))  # fmt: skip
    (member,) = described.groups[0].members
    assert member.subscribed_topic_regex and not member.subscribed_topic_names
    m.consumer.close()


def test_a_classic_consumer_and_a_consumer_protocol_one_share_a_group(
    broker: BrokerProcess,
) -> None:
    """Kafka 4's upgrade path: a librdkafka consumer still on ``group.protocol=classic``
    joins a group whose member speaks the consumer protocol; the broker's assignor gives
    each two of the four partitions (the classic one reconciles by rejoining), every record
    is read once, ConsumerGroupDescribe shows one member of each type; when the classic
    one leaves, the other owns everything again."""
    kafka, topic, group = bootstrap(broker), "kip848-mixed", "g-kip848-mixed"
    setup_topic(kafka, topic, 4, 40)
    a = Member(kafka, group, topic)
    until(lambda: a.owned() == {0, 1, 2, 3}, "a owns every partition", a)
    k = Member(kafka, group, topic, **{"group.protocol": "classic",
                                       "heartbeat.interval.ms": 300})  # fmt: skip
    until(
        lambda: len(a.owned()) == 2 and len(k.owned()) == 2 and not a.owned() & k.owned(),
        "a and the classic k two partitions each", a, k,
    )  # fmt: skip
    until(lambda: len({*a.records, *k.records}) == 40, "every record read", a, k)
    with RawClient(kafka) as c:
        described = c.call(69, 1, cgd1.ConsumerGroupDescribeRequest(
            group_ids=(group,), include_authorized_operations=False))  # fmt: skip
    kinds = sorted(int(m.member_type) for m in described.groups[0].members)
    assert kinds == [0, 1], kinds  # one classic, one consumer-protocol member
    k.consumer.close()  # LeaveGroup
    until(lambda: a.owned() == {0, 1, 2, 3}, "a owns every partition again", a)
    a.consumer.close()
