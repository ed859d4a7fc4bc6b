"""Classic members inside a consumer-protocol group (KIP-848's upgrade path, Kafka 4's
``classicGroupJoinToConsumerGroup`` and friends): a consumer still on
``group.protocol=classic`` joins a group whose other members speak the consumer protocol,
and the broker's assignor gives it its share like any member.

* **JoinGroup** (protocol type ``consumer``): the member's subscription (topics, owned
  partitions, rack) is read from its ConsumerProtocolSubscription and it goes through the
  consumer group's heartbeat logic -- a new member joins at epoch 0, a known one
  reconciles with the partitions it says it owns. The answer names no leader (nobody
  assigns on the client side); its generation is the member epoch, its protocol the first
  one of the member's that every classic member supports (none: INCONSISTENT_GROUP_PROTOCOL).
* **SyncGroup** answers the member's assigned partitions as a ConsumerProtocolAssignment.
* **Heartbeat** restarts its session (the one it joined with); REBALANCE_IN_PROGRESS while
  it is not at the group epoch or has partitions to give up -- it rejoins, which is how a
  classic member reconciles.
* **LeaveGroup** removes it (the group epoch moves, the others share its partitions).

Persistence: a classic member is written as any member (subscription, epoch, partitions);
Kafka's ``ClassicMemberMetadata`` (tag 0 of ConsumerGroupMemberMetadataValue) is not --
kio, the codec the records are generated for, cannot read a tagged nullable struct. After
a coordinator restart or move the member is known without its classic part: its next
Heartbeat or SyncGroup is answered REBALANCE_IN_PROGRESS, its JoinGroup (same member id)
makes it classic again at its epoch with its partitions, and until then its session is the
consumer protocol's.

Not done (as Kafka's ``group.consumer.migration.policy`` would): turning a classic group
with members into a consumer group when a consumer-protocol member arrives, or back.

Functions over a :class:`~logd.groups.core.Core`; not thread-safe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from logd.errors import ErrorCode
from logd.groups import consumer_ops
from logd.groups.consumer_group import ConsumerGroup, ConsumerHeartbeat
from logd.groups.core import Core, group_store_error
from logd.groups.group import Group
from logd.groups.messages import (
    HeartbeatRequest,
    HeartbeatResponse,
    JoinGroupRequest,
    JoinGroupResponse,
    LeaveGroupRequest,
    LeaveGroupResponse,
    LeaveMemberResult,
    SyncGroupRequest,
    SyncGroupResponse,
)
from logd.groups.reconcile import ClassicProtocols, ConsumerMember, MemberState
from partitioning import (
    PROTOCOL_TYPE,
    Assignment,
    PartitioningError,
    decode_subscription,
    encode_assignment,
)

__all__ = ["heartbeat", "join", "leave", "sync"]


def join(
    core: Core,
    request_id: int,
    req: JoinGroupRequest,
    group: Group,
    partitions_per_topic: Mapping[str, int],
    topics_version: int | None,
) -> None:
    """A classic JoinGroup into a consumer group with members; answered once durable."""
    consumer = group.consumer
    assert consumer is not None
    error, message, protocol = _protocol(consumer, req)
    if error is not ErrorCode.NONE:
        core.outbox.respond(
            request_id, JoinGroupResponse(error, req.member_id, error_message=message)
        )
        return
    member_id = req.member_id
    if not member_id:
        member_id = core.new_consumer_member_id()
        if req.require_known_member_id:  # KIP-394: come back with this id
            core.outbox.respond(
                request_id, JoinGroupResponse(ErrorCode.MEMBER_ID_REQUIRED, member_id)
            )
            return
    subscription = decode_subscription(req.protocols[0].metadata)
    known = consumer.members.get(member_id)
    request = ConsumerHeartbeat(
        group_id=req.group_id,
        member_id=member_id,
        member_epoch=0 if known is None else known.member_epoch,
        instance_id=req.group_instance_id,
        rack_id=subscription.rack_id,
        rebalance_timeout_ms=req.rebalance_timeout_ms,
        subscribed_topics=subscription.topics,
        subscribed_regex="",
        owned=frozenset() if known is None else frozenset(subscription.owned_partitions),
        client_id=req.client_id,
        client_host=req.client_host,
    )
    before = consumer_ops.before_change(group)
    answer = consumer.heartbeat(
        request, partitions_per_topic, core.now_ms, lambda: member_id, topics_version
    )
    if answer.error is not ErrorCode.NONE:
        failed = JoinGroupResponse(answer.error, req.member_id, error_message=answer.message)
        core.outbox.respond(request_id, failed)
        consumer_ops.settle(core, group, before)
        return
    classic = ClassicProtocols(
        req.session_timeout_ms, tuple((p.name, p.metadata) for p in req.protocols)
    )
    member = dataclasses.replace(consumer.members[answer.member_id], classic=classic)
    consumer.members[member.member_id] = member
    consumer.touch(member.member_id, core.now_ms)
    joined = JoinGroupResponse(
        ErrorCode.NONE,
        member.member_id,
        generation_id=member.member_epoch,
        protocol_type=PROTOCOL_TYPE,
        protocol_name=protocol,
    )
    _answer_when_durable(
        core, request_id, group, before, joined, JoinGroupResponse(ErrorCode.NONE, member_id)
    )


def _protocol(consumer: ConsumerGroup, req: JoinGroupRequest) -> tuple[ErrorCode, str, str]:
    """Kafka's ``throwIfClassicProtocolIsNotSupported``: protocol type ``consumer``, a
    subscription that reads, and a protocol every classic member supports; (error, why,
    the protocol)."""
    bad = ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    if req.protocol_type != PROTOCOL_TYPE or not req.protocols:
        return bad, f"group {req.group_id} is a consumer group: protocol type must be consumer", ""
    try:
        decode_subscription(req.protocols[0].metadata)
    except PartitioningError as exc:
        return bad, f"the subscription does not read: {exc}", ""
    others = [
        set(m.classic.names())
        for m in consumer.members.values()
        if m.classic is not None and m.member_id != req.member_id
    ]
    for protocol in req.protocols:
        if all(protocol.name in names for names in others):
            return ErrorCode.NONE, "", protocol.name
    return bad, "no protocol in common with the group's classic members", ""


def sync(core: Core, request_id: int, req: SyncGroupRequest, group: Group) -> None:
    """The member's assigned partitions (no leader assigns in a consumer group)."""
    error, member = _classic_member(group, req.member_id, req.generation_id)
    if error is ErrorCode.NONE and member is not None and member.classic is not None:
        protocol = req.protocol_name or member.classic.protocols[0][0]
        if (
            req.protocol_type and req.protocol_type != PROTOCOL_TYPE
        ) or protocol not in member.classic.names():
            error = ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    if error is not ErrorCode.NONE or member is None:
        core.outbox.respond(request_id, SyncGroupResponse(error))
        return
    assert group.consumer is not None
    group.consumer.touch(member.member_id, core.now_ms)
    consumer_ops.rearm(core, group)
    data = encode_assignment(Assignment(tuple(sorted(member.assigned))))
    core.outbox.respond(
        request_id, SyncGroupResponse(ErrorCode.NONE, data, PROTOCOL_TYPE, protocol)
    )


def heartbeat(core: Core, request_id: int, req: HeartbeatRequest, group: Group) -> None:
    """Restart the session; REBALANCE_IN_PROGRESS until the member has reconciled."""
    error, member = _classic_member(group, req.member_id, req.generation_id)
    if error is ErrorCode.NONE and member is not None:
        consumer = group.consumer
        assert consumer is not None
        consumer.touch(member.member_id, core.now_ms)
        consumer_ops.rearm(core, group)
        if member.member_epoch != consumer.group_epoch or member.state is not MemberState.STABLE:
            error = ErrorCode.REBALANCE_IN_PROGRESS
    core.outbox.respond(request_id, HeartbeatResponse(error))


def _classic_member(
    group: Group, member_id: str, generation: int
) -> tuple[ErrorCode, ConsumerMember | None]:
    """The member a classic request names, checked: unknown -> UNKNOWN_MEMBER_ID; known
    without its classic part (a coordinator replayed it) -> REBALANCE_IN_PROGRESS, so that
    it rejoins; another generation than its epoch -> ILLEGAL_GENERATION."""
    assert group.consumer is not None
    member = group.consumer.members.get(member_id)
    if member is None:
        return ErrorCode.UNKNOWN_MEMBER_ID, None
    if member.classic is None:
        return ErrorCode.REBALANCE_IN_PROGRESS, None
    if generation != member.member_epoch:
        return ErrorCode.ILLEGAL_GENERATION, None
    return ErrorCode.NONE, member


def leave(core: Core, request_id: int, req: LeaveGroupRequest, group: Group) -> None:
    """Remove the named classic members; answered once durable."""
    consumer = group.consumer
    assert consumer is not None
    before = consumer_ops.before_change(group)
    results = []
    for who in req.members:
        member_id = who.member_id
        if not member_id and who.group_instance_id is not None:
            member_id = next(
                (
                    m.member_id
                    for m in consumer.members.values()
                    if m.instance_id == who.group_instance_id
                ),
                "",
            )
        known = consumer.members.get(member_id)
        if known is None or (
            who.group_instance_id is not None and known.instance_id != who.group_instance_id
        ):
            results.append(
                LeaveMemberResult(who.member_id, who.group_instance_id, ErrorCode.UNKNOWN_MEMBER_ID)
            )
            continue
        consumer.remove(member_id)
        results.append(LeaveMemberResult(member_id, who.group_instance_id, ErrorCode.NONE))
    left = LeaveGroupResponse(ErrorCode.NONE, tuple(results))
    _answer_when_durable(core, request_id, group, before, left, LeaveGroupResponse(ErrorCode.NONE))


def _answer_when_durable(
    core: Core,
    request_id: int,
    group: Group,
    before: consumer_ops.Before,
    answer: JoinGroupResponse | LeaveGroupResponse,
    failed: JoinGroupResponse | LeaveGroupResponse,
) -> None:
    def respond(error: ErrorCode) -> None:
        if error is ErrorCode.NONE:
            core.outbox.respond(request_id, answer)
        else:
            core.outbox.respond(
                request_id, dataclasses.replace(failed, error=group_store_error(error))
            )

    if not consumer_ops.settle(core, group, before, respond):
        core.outbox.respond(request_id, answer)
