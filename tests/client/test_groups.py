"""The client's pure group pieces: config keys, topic patterns, subscriptions and the leader's
assignment, applying rebalance steps to the subscription state, and the auto-commit clock."""

from __future__ import annotations

import asyncio

import pytest

from logd.client.config import ConsumerConfig, parse_config
from logd.client.consumer.fetch_buffer import FetchBuffer, RecordReader
from logd.client.consumer.group_side import GroupSide, Mode, topic_matcher
from logd.client.consumer.subscription import RESET_EARLIEST, SubscriptionState
from logd.client.group.assign import (
    assigned_partitions,
    compute_assignment,
    group_topics,
    is_cooperative,
    subscription_protocols,
)
from logd.client.group.events import RebalanceEvent
from logd.client.group.steps import EventKind
from logd.client.types import OFFSET_INVALID, OFFSET_STORED, TopicPartition
from logd.clock import ManualClock
from logd.errors import InvalidConfigError, InvalidRequestError
from logd.groups.messages import JoinGroupMember
from partitioning import decode_subscription


def config(**options: object) -> ConsumerConfig:
    return parse_config(ConsumerConfig, None, {"group_id": "g", **options})


def test_group_config_takes_kafka_names_and_checks_them() -> None:
    c = parse_config(
        ConsumerConfig,
        {
            "group.id": "g",
            "group.instance.id": "host-1",
            "session.timeout.ms": "10000",
            "enable.auto.commit": "false",
            "partition.assignment.strategy": "org.apache.kafka.clients.consumer.RangeAssignor",
        },
        {},
    )
    assert (c.group_instance_id, c.session_timeout_ms, c.enable_auto_commit) == (
        "host-1", 10_000, False)  # fmt: skip
    assert c.partition_assignment_strategy == ("range",)
    assert config().partition_assignment_strategy == ("cooperative-sticky", "range")
    with pytest.raises(InvalidConfigError, match="unknown assignor 'sticky'"):
        config(partition_assignment_strategy=["sticky"])
    with pytest.raises(InvalidConfigError, match="heartbeat_interval_ms"):
        config(session_timeout_ms=1000, heartbeat_interval_ms=1000)
    with pytest.raises(InvalidConfigError, match="needs a group_id"):
        parse_config(ConsumerConfig, None, {"group_instance_id": "x"})


def test_topic_patterns_whole_names_and_librdkafka_prefixes() -> None:
    assert topic_matcher(["b", "a"], None) == (["a", "b"], None)
    plain, match = topic_matcher([], r"metrics\..*")
    assert plain == [] and match is not None
    assert match("metrics.cpu") and not match("old.metrics.cpu")  # the whole name
    plain, match = topic_matcher(["^logs-", "audit"], None)
    assert plain == ["audit"] and match is not None
    assert match("logs-eu") and match("audit") and not match("xlogs-")
    with pytest.raises(InvalidRequestError, match="bad topic pattern"):
        topic_matcher([], "(")
    with pytest.raises(InvalidRequestError, match="needs topics"):
        topic_matcher([], None)


def test_subscriptions_carry_owned_partitions_and_the_leader_assigns_everyone() -> None:
    ((name, data),) = subscription_protocols(["cooperative-sticky"], ["t"], [("t", 1)], 7)
    sub = decode_subscription(data)
    assert name == "cooperative-sticky"
    assert (sub.topics, [tuple(tp) for tp in sub.owned_partitions], sub.generation_id) == (
        ("t",), [("t", 1)], 7)  # fmt: skip
    fresh = subscription_protocols(["range"], ["t"], [], -1)[0][1]
    members = [JoinGroupMember("m1", None, data), JoinGroupMember("m2", None, fresh)]
    assert group_topics(members) == {"t"}
    out = compute_assignment("cooperative-sticky", members, {"t": 4})
    got = {m: assigned_partitions(b) for m, b in out.items()}
    assert sorted(got["m1"] + got["m2"]) == [("t", p) for p in range(4)]
    assert ("t", 1) in got["m1"]  # sticky: it keeps what it owned
    assert is_cooperative("cooperative-sticky") and not is_cooperative("range")
    # A member whose bytes cannot be read gets nothing; the others are served.
    out = compute_assignment("range", [*members, JoinGroupMember("m3", None, b"\xff")], {"t": 4})
    assert assigned_partitions(out["m3"]) == []


def side(**options: object) -> tuple[GroupSide, SubscriptionState, ManualClock]:
    clock = ManualClock()
    subs = SubscriptionState(RESET_EARLIEST)
    buffer = FetchBuffer(1 << 20)
    reader = RecordReader(subs, buffer, 1 << 20)
    return GroupSide(config(**options), subs, reader, None, clock), subs, clock


def event(kind: EventKind, *tps: TopicPartition) -> RebalanceEvent:
    loop = asyncio.new_event_loop()
    try:
        return RebalanceEvent(kind, list(tps), loop.create_future())
    finally:
        loop.close()


def test_rebalance_steps_add_at_committed_offsets_and_remove_without_moving_the_rest() -> None:
    group, subs, _ = side()
    group.apply(
        event(EventKind.ASSIGN, TopicPartition("t", 0, 5), TopicPartition("t", 1, OFFSET_STORED))
    )
    assert subs.partitions[("t", 0)].position == 5
    assert subs.partitions[("t", 1)].reset == RESET_EARLIEST  # no committed offset: reset
    subs.partitions[("t", 0)].position = 9  # the application read on
    added = group.apply(event(EventKind.ASSIGN, TopicPartition("t", 2, 3)))
    assert added == [TopicPartition("t", 2, OFFSET_INVALID)]
    assert subs.partitions[("t", 0)].position == 9  # kept partitions keep their place
    removed = group.apply(event(EventKind.REVOKE, TopicPartition("t", 0)))
    assert removed == [TopicPartition("t", 0)]
    assert sorted(subs.partitions) == [("t", 1), ("t", 2)]


def test_auto_commit_takes_changed_positions_every_interval() -> None:
    group, subs, clock = side(auto_commit_interval_ms=1000)
    group.mode = Mode.SUBSCRIBE
    group.apply(event(EventKind.ASSIGN, TopicPartition("t", 0, 5), TopicPartition("t", 1, 7)))
    assert group.auto_commit_due() is None  # not yet
    clock.advance(10_000)
    due = group.auto_commit_due()
    assert due == {("t", 0): 5, ("t", 1): 7}
    group.note_committed(due)
    subs.partitions[("t", 1)].position = 8
    clock.advance(10_000)
    assert group.auto_commit_due() == {("t", 1): 8}  # only what moved
    revoke = event(EventKind.REVOKE, TopicPartition("t", 0), TopicPartition("t", 1))
    assert group.commit_on_revoke(revoke) == {("t", 1): 8}
    group.commit_failed = True  # an asynchronous commit failed: send everything again
    assert group.changed(group.positions()) == {("t", 0): 5, ("t", 1): 8}
    manual, _, clock = side(enable_auto_commit=False)
    manual.mode = Mode.SUBSCRIBE
    clock.advance(10_000)
    assert manual.auto_commit_due() is None
    assert manual.commit_on_revoke(revoke) == {}


def test_assign_and_subscribe_exclude_each_other() -> None:
    group, _, _ = side()
    group.use(Mode.ASSIGN)
    with pytest.raises(InvalidRequestError, match="unsubscribe"):
        group.use(Mode.SUBSCRIBE)
    with pytest.raises(InvalidRequestError, match="on_assign must be callable"):
        group.set_callbacks(on_assign=42, on_revoke=None, on_lost=None)  # type: ignore[arg-type]
