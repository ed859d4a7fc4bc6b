"""Consumer-protocol groups (KIP-848) inside the coordinator: heartbeats, their deadlines,
and what ConsumerGroupDescribe shows. The group's own rules live in ``consumer_group.py``;
this module hosts it in a :class:`~logd.groups.group.Group` (which keeps the committed
offsets, whatever the group's type) and drives its timer.

A group id belongs to one type at a time: a consumer-protocol heartbeat for a classic group
that has members is refused (GROUP_ID_NOT_FOUND, "not a consumer group", as Kafka); an
empty classic group -- one known only by its committed offsets, say after a coordinator
restart -- becomes a consumer group and keeps its offsets.

Functions over a :class:`~logd.groups.core.Core`; not thread-safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from logd.errors import ErrorCode
from logd.groups.consumer_group import (
    ConsumerGroup,
    ConsumerGroupConfig,
    ConsumerGroupState,
    ConsumerHeartbeat,
    ConsumerHeartbeatAnswer,
)
from logd.groups.core import Core, group_store_error
from logd.groups.group import Group
from logd.groups.outbox import OffsetsRecord, OnDurable
from logd.groups.reconcile import ConsumerMember
from logd.groups.state import GroupState
from logd.groups.timers import TimerKey, TimerKind

__all__ = [
    "DescribedConsumerGroup",
    "consumer_group_heartbeat",
    "describe_consumer_group",
    "drop_consumer_group",
    "on_consumer_deadline",
    "rearm",
]


@dataclass(frozen=True, slots=True)
class DescribedConsumerGroup:
    """A consumer group as ConsumerGroupDescribe shows it."""

    group_id: str
    error: ErrorCode
    state: ConsumerGroupState = ConsumerGroupState.DEAD
    group_epoch: int = 0
    assignment_epoch: int = 0
    assignor: str = ""
    members: tuple[ConsumerMember, ...] = ()
    #: Each member's target partitions, by member id.
    targets: Mapping[str, frozenset[tuple[str, int]]] | None = None
    message: str = ""


def consumer_group_heartbeat(
    core: Core,
    request_id: int,
    req: ConsumerHeartbeat,
    partitions_per_topic: Mapping[str, int],
    config: ConsumerGroupConfig,
) -> None:
    """Serve one heartbeat; it is answered once the records it changed are durable."""
    group = core.groups.get(req.group_id)
    if group is None:
        group = core.groups[req.group_id] = Group(req.group_id, core.now_ms)
    if group.consumer is None:
        if group.members or not group.is_(GroupState.EMPTY):
            message = f"group {req.group_id} is a classic group with members"
            answer = ConsumerHeartbeatAnswer(
                ErrorCode.GROUP_ID_NOT_FOUND, req.member_id, message=message
            )
            core.outbox.respond(request_id, answer)
            return
        group.consumer = ConsumerGroup(req.group_id, config)
        group.protocol_type = "consumer"
    answer = group.consumer.heartbeat(
        req, partitions_per_topic, core.now_ms, core.new_consumer_member_id
    )
    if answer.error is not ErrorCode.NONE:
        core.outbox.respond(request_id, answer)
        _settle(core, group)
        return

    def respond(error: ErrorCode) -> None:
        if error is not ErrorCode.NONE:
            failed = ConsumerHeartbeatAnswer(group_store_error(error), req.member_id)
            core.outbox.respond(request_id, failed)
        else:
            core.outbox.respond(request_id, answer)

    if not _settle(core, group, respond):
        core.outbox.respond(request_id, answer)


def on_consumer_deadline(core: Core, group: Group) -> None:
    """A member's session or revocation deadline passed: fence it."""
    if group.consumer is not None:
        group.consumer.expire(core.now_ms)
        _settle(core, group)


def rearm(core: Core, group: Group) -> None:
    """Arm the timer of a consumer group just loaded (its members' sessions)."""
    if group.consumer is not None:
        deadline = group.consumer.next_deadline_ms()
        if deadline is not None:
            core.timers.arm(TimerKey(TimerKind.CONSUMER, group.group_id), deadline)


def drop_consumer_group(core: Core, group: Group) -> None:
    """The group stops being a consumer-protocol group (a classic member joins it once it
    is empty): its consumer records go."""
    consumer = group.consumer
    if consumer is None:
        return
    core.timers.cancel(TimerKey(TimerKind.CONSUMER, group.group_id))
    _write(core, consumer, {}, None)
    group.consumer = None


def _settle(core: Core, group: Group, then: OnDurable | None = None) -> bool:
    """Write what changed in the group's records (``then`` runs once they are durable),
    re-arm its timer, and forget a group left with nothing. False: nothing to write."""
    consumer = group.consumer
    assert consumer is not None
    from logd.groups.consumer_records import group_records  # loads kio: see loader.py

    forget = not consumer.members and not group.has_offsets() and not group.pending_commits
    wanted = {} if forget else group_records(consumer, core.topic_id)
    wrote = _write(core, consumer, wanted, then)
    key = TimerKey(TimerKind.CONSUMER, group.group_id)
    deadline = consumer.next_deadline_ms()
    if deadline is not None:
        core.timers.arm(key, deadline)
    else:
        core.timers.cancel(key)
        if forget and core.groups.get(group.group_id) is group:
            del core.groups[group.group_id]
    return wrote


def _write(
    core: Core, consumer: ConsumerGroup, wanted: dict[bytes, bytes], then: OnDurable | None
) -> bool:
    from logd.groups.consumer_records import changes

    before = consumer.persisted
    records = tuple(OffsetsRecord(k, v) for k, v in changes(before, wanted))
    if not records:
        return False
    consumer.persisted = wanted

    def on_durable(error: ErrorCode) -> None:
        if error is not ErrorCode.NONE and consumer.persisted is wanted:
            # Unknown what reached the log: the next change rewrites every key.
            consumer.persisted = dict.fromkeys({*before, *wanted}, b"")
        if then is not None:
            then(error)

    core.outbox.write(records, on_durable)
    return True


def describe_consumer_group(core: Core, group_id: str) -> DescribedConsumerGroup:
    group = core.groups.get(group_id)
    if group is None or group.consumer is None:
        error = ErrorCode.GROUP_ID_NOT_FOUND
        kind = "a classic group" if group is not None else "not known here"
        return DescribedConsumerGroup(group_id, error, message=f"group {group_id} is {kind}")
    consumer = group.consumer
    return DescribedConsumerGroup(
        group_id=group_id,
        error=ErrorCode.NONE,
        state=consumer.state,
        group_epoch=consumer.group_epoch,
        assignment_epoch=consumer.assignment_epoch,
        assignor=consumer.assignor(),
        members=tuple(consumer.members.values()),
        targets={m: frozenset(tps) for m, tps in consumer.target.items()},
    )
