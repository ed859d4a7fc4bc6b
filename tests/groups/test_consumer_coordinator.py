"""Consumer-protocol groups (KIP-848) inside the coordinator core: heartbeats answered,
sessions expired by the coordinator's timer, offset commits fenced by member epoch, the
group type kept apart from classic groups, ListGroups and ConsumerGroupDescribe, and an
empty classic group (known by its offsets, after a restart) taken over with its offsets."""

from __future__ import annotations

from logd.errors import ErrorCode
from logd.groups.config import CoordinatorConfig
from logd.groups.consumer_group import (
    ConsumerGroupConfig,
    ConsumerGroupState,
    ConsumerHeartbeat,
    ConsumerHeartbeatAnswer,
)
from logd.groups.messages import JoinGroupProtocol
from logd.groups.state import GroupState
from partitioning import TopicPartition
from tests.groups.harness import Harness, Member

TOPICS = {"t": 2}
CONFIG = CoordinatorConfig(
    min_session_timeout_ms=1_000,
    consumer=ConsumerGroupConfig(session_timeout_ms=2_000, heartbeat_interval_ms=100),
)


def beat(h: Harness, member: str, epoch: int, owned: frozenset[TopicPartition] | None = None,
         group: str = "g") -> ConsumerHeartbeatAnswer:  # fmt: skip
    rid = 10_000 + len(h.responses)
    joining = epoch == 0
    req = ConsumerHeartbeat(
        group_id=group, member_id=member, member_epoch=epoch,
        rebalance_timeout_ms=5_000 if joining else -1,
        subscribed_topics=("t",) if joining else None,
        owned=frozenset() if joining else owned,
    )  # fmt: skip
    h.coord.consumer_group_heartbeat(rid, req, TOPICS, h.now)
    h.drain()
    body = h.answer(rid)
    assert isinstance(body, ConsumerHeartbeatAnswer)
    return body


def test_heartbeats_commits_and_an_expired_session() -> None:
    h = Harness(CONFIG)
    a = beat(h, "a", 0)
    assert (a.error, a.member_epoch, a.heartbeat_interval_ms) == (ErrorCode.NONE, 1, 100)
    assert a.assignment == {TopicPartition("t", 0), TopicPartition("t", 1)}
    consumer = Member("c")
    consumer.member_id, consumer.generation = "a", 1
    assert h.commit("g", {("t", 0): 3}, consumer) == [ErrorCode.NONE]
    consumer.generation = 0
    assert h.commit("g", {("t", 0): 4}, consumer) == [ErrorCode.STALE_MEMBER_EPOCH]
    assert h.commit("g", {("t", 0): 4}) == [ErrorCode.UNKNOWN_MEMBER_ID]  # not while live
    (listing,) = h.coord.list_groups().groups
    assert (listing.group_type, listing.protocol_type, listing.state) == (
        "consumer", "consumer", ConsumerGroupState.STABLE,
    )  # fmt: skip
    assert h.coord.list_groups([GroupState.STABLE]).groups == (listing,)  # by state name
    (described,) = h.coord.describe_consumer_groups(["g"])
    assert (described.group_epoch, described.assignor, len(described.members)) == (1, "uniform", 1)
    assert h.coord.describe_groups(["g"]).groups[0].error is ErrorCode.GROUP_ID_NOT_FOUND
    h.run_timers(h.now + 2_000)  # a never heartbeats again
    assert beat(h, "a", 1, frozenset()).error is ErrorCode.UNKNOWN_MEMBER_ID
    assert h.committed("g") == {("t", 0): 3}  # the offsets stay
    assert h.commit("g", {("t", 1): 9}) == [ErrorCode.NONE]  # an admin's, group empty


def test_a_classic_subscription_that_does_not_read_is_refused_and_types_take_turns() -> None:
    """(Classic members that read join a live consumer group: test_classic_members.py.)"""
    h = Harness(CONFIG)
    beat(h, "a", 0)
    classic = Member("k", protocols=(JoinGroupProtocol("range", b""),))
    rid = h.send_join("g", classic)
    body = h.join_response(rid, classic)
    assert body is not None and body.error is ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    assert beat(h, "a", -1, frozenset()).error is ErrorCode.NONE  # a leaves: group empty
    h.form("g", classic)  # an empty consumer group turns classic
    assert beat(h, "b", 0).error is ErrorCode.GROUP_ID_NOT_FOUND  # a live classic group


def test_an_empty_classic_group_with_offsets_becomes_a_consumer_group() -> None:
    h = Harness(CONFIG)
    assert h.commit("g", {("t", 0): 7}) == [ErrorCode.NONE]  # as replayed after a restart
    answer = beat(h, "a", 0)
    assert answer.error is ErrorCode.NONE and answer.member_epoch == 1
    assert h.committed("g") == {("t", 0): 7}
