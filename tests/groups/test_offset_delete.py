"""OffsetDelete (KIP-496) in the coordinator core: an empty group loses the offsets asked
for, a live consumer group only those of topics its members do not subscribe to, anything
else is refused; answered when the tombstones are durable; a group left with nothing is
buried (Kafka's ``handleDeleteOffsets`` and ``cleanupGroupMetadata``)."""

from __future__ import annotations

from logd.errors import ErrorCode
from logd.groups.log_format import GroupMetadataKey, OffsetCommitKey, decode_key
from logd.groups.messages import (
    JoinGroupProtocol,
    JoinGroupRequest,
    LeaveGroupMember,
    OffsetDeletePartitionResult,
    OffsetDeleteRequest,
    OffsetDeleteResponse,
    TopicPartition,
)
from logd.groups.state import GroupState
from partitioning import Subscription, encode_subscription
from tests.groups.harness import Harness, Member

NONE = ErrorCode.NONE
SUBSCRIBED = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC


def _consumer(client_id: str, *topics: str) -> Member:
    metadata = encode_subscription(Subscription(topics))
    return Member(client_id, protocols=(JoinGroupProtocol("range", metadata),))


def _delete(h: Harness, group: str, *tps: tuple[str, int]) -> OffsetDeleteResponse | None:
    rid = 1000 + len(h.responses)
    req = OffsetDeleteRequest(group, tuple(TopicPartition(*tp) for tp in tps))
    h.coord.delete_offsets(rid, req, h.now)
    h.drain()
    body = h.answer(rid)
    assert body is None or isinstance(body, OffsetDeleteResponse)
    return body


def test_an_unknown_group_is_not_found() -> None:
    h = Harness()
    assert _delete(h, "nope", ("t", 0)) == OffsetDeleteResponse(ErrorCode.GROUP_ID_NOT_FOUND)


def test_a_live_consumer_group_keeps_the_offsets_of_topics_it_subscribes_to() -> None:
    h = Harness()
    a, b = _consumer("a", "orders"), _consumer("b", "orders", "audit")
    h.form("g", a, b)
    h.commit("g", {("orders", 0): 5, ("audit", 0): 6, ("old", 0): 7, ("old", 1): 8}, a)
    answer = _delete(h, "g", ("orders", 0), ("audit", 0), ("old", 0), ("never", 3))
    assert answer == OffsetDeleteResponse(
        NONE,
        (
            OffsetDeletePartitionResult("orders", 0, SUBSCRIBED),
            OffsetDeletePartitionResult("audit", 0, SUBSCRIBED),  # b subscribes to it
            OffsetDeletePartitionResult("old", 0, NONE),
            OffsetDeletePartitionResult("never", 3, NONE),  # nothing to delete: no error
        ),
    )
    assert h.committed("g") == {("orders", 0): 5, ("audit", 0): 6, ("old", 1): 8}
    assert decode_key(h.log[-1].key) == OffsetCommitKey("g", "old", 0)
    assert h.log[-1].value is None


def test_a_subscription_that_cannot_be_read_protects_every_topic() -> None:
    h = Harness()
    a = Member("a")  # its metadata is not a consumer-protocol subscription
    h.form("g", a)
    h.commit("g", {("t", 0): 1}, a)
    answer = _delete(h, "g", ("t", 0))
    assert answer is not None and answer.partitions[0].error is SUBSCRIBED
    assert h.committed("g") == {("t", 0): 1}


def test_a_live_group_of_another_protocol_type_is_refused() -> None:
    h = Harness()
    join = JoinGroupRequest(
        group_id="g",
        member_id="",
        protocol_type="connect",  # a Kafka Connect group, say
        protocols=(JoinGroupProtocol("default", b"opaque"),),
        session_timeout_ms=10_000,
        rebalance_timeout_ms=10_000,
        require_known_member_id=False,
    )
    h.coord.join_group(500, join, h.now)
    h.run_until_answered(500)
    assert h.coord.group_state("g") is GroupState.COMPLETING_REBALANCE
    assert _delete(h, "g", ("t", 0)) == OffsetDeleteResponse(ErrorCode.NON_EMPTY_GROUP)


def test_an_empty_group_left_without_offsets_is_buried_when_the_tombstones_are_durable() -> None:
    h = Harness()
    a = _consumer("a", "t")
    h.form("g", a)
    h.commit("g", {("t", 0): 1, ("t", 1): 2}, a)
    h.leave("g", LeaveGroupMember(a.member_id))
    assert h.coord.group_state("g") is GroupState.EMPTY
    assert _delete(h, "g", ("t", 0)) == OffsetDeleteResponse(
        NONE, (OffsetDeletePartitionResult("t", 0, NONE),)
    )
    assert h.coord.group_state("g") is GroupState.EMPTY
    h.auto_persist = False
    assert _delete(h, "g", ("t", 1)) is None, "answered only once durable"
    h.persist_next()
    assert h.answer(max(h.responses)) == OffsetDeleteResponse(
        NONE, (OffsetDeletePartitionResult("t", 1, NONE),)
    )
    keys = [decode_key(r.key) for r in h.log[-3:]]
    assert keys[-1] == GroupMetadataKey("g") and all(r.value is None for r in h.log[-3:])
    assert h.coord.group_state("g") is None


def test_a_failed_write_is_told_to_the_caller() -> None:
    h = Harness()
    h.commit("simple", {("t", 0): 1})
    h.auto_persist = False
    rid = 77
    h.coord.delete_offsets(rid, OffsetDeleteRequest("simple", (TopicPartition("t", 0),)), h.now)
    h.drain()
    h.persist_next(ErrorCode.NOT_LEADER_OR_FOLLOWER)
    answer = h.answer(rid)
    assert isinstance(answer, OffsetDeleteResponse)
    assert answer.partitions[0].error is ErrorCode.NOT_COORDINATOR
