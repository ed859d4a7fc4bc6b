"""Consumer-protocol groups (KIP-848) inside the coordinator: heartbeats, their deadlines,
and what ConsumerGroupDescribe shows. The group's own rules live in ``consumer_group.py``;
this module hosts it in a :class:`~logd.groups.group.Group` (which keeps the committed
offsets, whatever the group's type) and drives its timer.

A group id belongs to one type at a time: a consumer-protocol heartbeat for a classic group
that has members is refused (GROUP_ID_NOT_FOUND, "not a consumer group", as Kafka); an
empty classic group -- one known only by its committed offsets, say after a coordinator
restart -- becomes a consumer group and keeps its offsets.

A write of the group's records that the log refuses (the append failed: a full disk, a
lost leadership) takes the group back to what it was before the heartbeat or expiry that
made it -- members, epochs, target, what was persisted, and whether the group existed --
so that memory never holds what the log does not (Kafka reverts its timeline state the
same way). The member that sent the heartbeat is told the error and retries from its old
epoch. A refused expiry is retried :data:`EXPIRY_RETRY_MS` later.

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
    SavedConsumerGroup,
)
from logd.groups.core import Core, group_store_error
from logd.groups.group import Group
from logd.groups.outbox import OffsetsRecord, OnDurable
from logd.groups.reconcile import ConsumerMember
from logd.groups.state import GroupState
from logd.groups.timers import TimerKey, TimerKind

__all__ = [
    "EXPIRY_RETRY_MS",
    "Before",
    "DescribedConsumerGroup",
    "before_change",
    "consumer_group_heartbeat",
    "describe_consumer_group",
    "drop_consumer_group",
    "on_consumer_deadline",
    "rearm",
    "settle",
]


#: A member's session that ended while the log refused the write fencing it is looked at
#: again this much later.
EXPIRY_RETRY_MS = 1_000


@dataclass(frozen=True, slots=True)
class Before:
    """The hosting group before an operation on its consumer group: what a refused write
    restores."""

    listed: bool  # the group was in ``core.groups``
    protocol_type: str
    had_consumer: bool
    saved: SavedConsumerGroup


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
    topics_version: int | None = None,
) -> None:
    """Serve one heartbeat; it is answered once the records it changed are durable.
    ``topics_version`` moves when a topic comes or goes (regexes are matched again)."""
    group = core.groups.get(req.group_id)
    listed = group is not None
    if group is None:
        group = core.groups[req.group_id] = Group(req.group_id, core.now_ms)
    protocol_type, had_consumer = group.protocol_type, group.consumer is not None
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
    before = Before(listed, protocol_type, had_consumer, group.consumer.save())
    answer = group.consumer.heartbeat(
        req, partitions_per_topic, core.now_ms, core.new_consumer_member_id, topics_version
    )
    if answer.error is not ErrorCode.NONE:
        core.outbox.respond(request_id, answer)
        settle(core, group, before)
        return

    def respond(error: ErrorCode) -> None:
        if error is not ErrorCode.NONE:
            failed = ConsumerHeartbeatAnswer(group_store_error(error), req.member_id)
            core.outbox.respond(request_id, failed)
        else:
            core.outbox.respond(request_id, answer)

    if not settle(core, group, before, respond):
        core.outbox.respond(request_id, answer)


def before_change(group: Group) -> Before:
    """A listed consumer group as it is now: what a refused write of the change about to
    be made restores."""
    assert group.consumer is not None
    return Before(True, group.protocol_type, True, group.consumer.save())


def on_consumer_deadline(core: Core, group: Group) -> None:
    """A member's session or revocation deadline passed: fence it."""
    if group.consumer is not None:
        before = before_change(group)
        group.consumer.expire(core.now_ms)
        settle(core, group, before)


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
    # Not taken back if refused: the classic member's join goes on (the next leader
    # replays an empty consumer group, which the next classic join turns classic again).
    _write(core, group, consumer, {}, None, None)
    group.consumer = None


def settle(core: Core, group: Group, before: Before, then: OnDurable | None = None) -> bool:
    """Write what changed in the group's records (``then`` runs once they are durable;
    ``before`` comes back if the log refuses them), re-arm its timer, and forget a group
    left with nothing. False: nothing to write."""
    consumer = group.consumer
    assert consumer is not None
    from logd.groups.consumer_records import group_records  # loads kio: see loader.py

    forget = not consumer.members and not group.has_offsets() and not group.pending_commits
    wanted = {} if forget else group_records(consumer, core.topic_id)
    wrote = _write(core, group, consumer, wanted, before, then)
    _rearm_consumer(core, group)
    if forget and consumer.next_deadline_ms() is None and core.groups.get(group.group_id) is group:
        del core.groups[group.group_id]
    return wrote


def _rearm_consumer(core: Core, group: Group) -> None:
    key = TimerKey(TimerKind.CONSUMER, group.group_id)
    deadline = group.consumer.next_deadline_ms() if group.consumer is not None else None
    if deadline is not None:
        core.timers.arm(key, deadline)
    else:
        core.timers.cancel(key)


def _write(
    core: Core,
    group: Group,
    consumer: ConsumerGroup,
    wanted: dict[bytes, bytes],
    before: Before | None,
    then: OnDurable | None,
) -> bool:
    """Write the records that differ from what was persisted. A write the log refuses
    takes the group back to ``before`` -- unless an earlier refused write of the group
    already took it back further (every write made after a refused one was made on top
    of it, and is refused too: the driver appends nothing after a refusal)."""
    from logd.groups.consumer_records import changes

    records = tuple(OffsetsRecord(k, v) for k, v in changes(consumer.persisted, wanted))
    if not records:
        return False
    consumer.persisted = wanted
    consumer.writes_made += 1
    seq = consumer.writes_made
    if before is not None:
        consumer.unwritten[seq] = before.saved

    def on_refused(error: ErrorCode) -> None:
        saved = consumer.unwritten.get(seq)
        if saved is None or before is None:
            return
        for later in [s for s in consumer.unwritten if s >= seq]:
            del consumer.unwritten[later]
        _take_back(core, group, consumer, before, saved)

    def on_durable(error: ErrorCode) -> None:
        # Durable, or in the log and not committed in time (it may still commit, and a
        # lost leadership unloads the coordinator): memory keeps what the log holds.
        consumer.unwritten.pop(seq, None)
        if then is not None:
            then(error)

    core.outbox.write(records, on_durable, on_refused)
    return True


def _take_back(
    core: Core, group: Group, consumer: ConsumerGroup, before: Before, saved: SavedConsumerGroup
) -> None:
    """The log refused a write of the group's records: back to ``before``."""
    consumer.restore(saved, core.now_ms + EXPIRY_RETRY_MS)
    group.consumer = consumer if before.had_consumer else None
    group.protocol_type = before.protocol_type
    listed = core.groups.get(group.group_id)
    if before.listed and listed is None:
        core.groups[group.group_id] = group
    elif not before.listed and listed is group and group.consumer is None:
        core.maybe_drop(group)
    _rearm_consumer(core, group)


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
