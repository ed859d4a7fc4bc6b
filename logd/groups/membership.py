"""SyncGroup, Heartbeat and LeaveGroup — Kafka's ``handleSyncGroup``, ``handleHeartbeat``
and ``handleLeaveGroup``.

Functions over a :class:`~logd.groups.core.Core`; not thread-safe.
"""

from __future__ import annotations

from logd.errors import ErrorCode
from logd.groups.core import Core, group_store_error, validate_current_member
from logd.groups.group import Group, Member
from logd.groups.messages import (
    HeartbeatRequest,
    HeartbeatResponse,
    LeaveGroupMember,
    LeaveGroupRequest,
    LeaveGroupResponse,
    LeaveMemberResult,
    SyncGroupRequest,
    SyncGroupResponse,
)
from logd.groups.rebalance import (
    prepare_rebalance,
    propagate_assignment,
    remove_member,
    try_complete_join,
)
from logd.groups.state import GroupEvent, GroupState
from logd.groups.timers import TimerKey, TimerKind

__all__ = ["heartbeat", "leave_group", "sync_group"]

_S = GroupState
_E = GroupEvent


def _validate_sync(group: Group | None, req: SyncGroupRequest) -> ErrorCode:
    if group is None:
        return ErrorCode.UNKNOWN_MEMBER_ID
    error = validate_current_member(group, req.member_id, req.group_instance_id)
    if error is not ErrorCode.NONE:
        return error
    if req.generation_id != group.generation_id:
        return ErrorCode.ILLEGAL_GENERATION
    if (req.protocol_type and req.protocol_type != group.protocol_type) or (
        req.protocol_name and req.protocol_name != group.protocol_name
    ):
        return ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    if group.is_(_S.EMPTY):
        return ErrorCode.UNKNOWN_MEMBER_ID
    if group.is_(_S.PREPARING_REBALANCE):
        return ErrorCode.REBALANCE_IN_PROGRESS
    return ErrorCode.NONE


def sync_group(core: Core, request_id: int, req: SyncGroupRequest) -> None:
    """Followers wait for the leader's assignment; the leader's is persisted first, then
    handed to everyone (Kafka: ``storeGroup`` before ``setAndPropagateAssignment``)."""
    group = core.groups.get(req.group_id)
    error = _validate_sync(group, req)
    if error is not ErrorCode.NONE:
        core.outbox.respond(request_id, SyncGroupResponse(error))
        return
    assert group is not None
    member = group.members[req.member_id]
    _synced(core, group, req.member_id)
    if group.is_(_S.STABLE):
        response = SyncGroupResponse(
            ErrorCode.NONE, member.assignment, group.protocol_type, group.protocol_name
        )
        core.outbox.respond(request_id, response)
        core.arm_heartbeat(group, member)
        return
    core.park_sync(member, request_id)
    if req.member_id == group.leader_id and not group.assignment_in_flight:
        _store_assignment(core, group, req)


def _synced(core: Core, group: Group, member_id: str) -> None:
    group.pending_sync.pop(member_id, None)
    if not group.pending_sync:
        core.timers.cancel(TimerKey(TimerKind.SYNC, group.group_id))


def _store_assignment(core: Core, group: Group, req: SyncGroupRequest) -> None:
    given = {a.member_id: a.assignment for a in req.assignments}
    # Members the leader left out get an empty assignment; assignments for ids that are
    # not members are dropped (Kafka does both).
    assignments = {member_id: given.get(member_id, b"") for member_id in group.members}
    generation = group.generation_id
    group.assignment_in_flight = True

    def on_durable(error: ErrorCode) -> None:
        if not (
            core.groups.get(group.group_id) is group
            and group.is_(_S.COMPLETING_REBALANCE)
            and group.generation_id == generation
        ):
            return  # the group moved on; whoever waited was answered then
        group.assignment_in_flight = False
        if error is not ErrorCode.NONE:
            propagate_assignment(core, group, group_store_error(error))
            prepare_rebalance(core, group, _E.ASSIGNMENT_FAILED)
            return
        for member_id, member in group.members.items():
            member.assignment = assignments[member_id]
        group.transition(_E.ASSIGNMENT_PERSISTED, core.now_ms)
        propagate_assignment(core, group, ErrorCode.NONE)

    core.persist_group(group, assignments, on_durable)


def heartbeat(core: Core, request_id: int, req: HeartbeatRequest) -> None:
    """Restart the member's session; REBALANCE_IN_PROGRESS tells it to rejoin."""
    group = core.groups.get(req.group_id)
    if group is None:
        error = ErrorCode.UNKNOWN_MEMBER_ID
    else:
        error = validate_current_member(group, req.member_id, req.group_instance_id)
        if error is ErrorCode.NONE and req.generation_id != group.generation_id:
            error = ErrorCode.ILLEGAL_GENERATION
        if error is ErrorCode.NONE:
            if group.is_(_S.EMPTY):
                error = ErrorCode.UNKNOWN_MEMBER_ID
            else:
                core.arm_heartbeat(group, group.members[req.member_id])
                if group.is_(_S.PREPARING_REBALANCE):
                    error = ErrorCode.REBALANCE_IN_PROGRESS
    core.outbox.respond(request_id, HeartbeatResponse(error))


def leave_group(core: Core, request_id: int, req: LeaveGroupRequest) -> None:
    """Members leave (or an admin removes static members by instance id); each gets its
    own result and the group rebalances without them."""
    group = core.groups.get(req.group_id)
    results = tuple(_leave_one(core, group, who) for who in req.members)
    if group is not None:
        core.maybe_drop(group)
    core.outbox.respond(request_id, LeaveGroupResponse(ErrorCode.NONE, results))


def _leave_one(core: Core, group: Group | None, who: LeaveGroupMember) -> LeaveMemberResult:
    def result(error: ErrorCode) -> LeaveMemberResult:
        return LeaveMemberResult(who.member_id, who.group_instance_id, error)

    if group is None:
        return result(ErrorCode.UNKNOWN_MEMBER_ID)
    member: Member | None
    if not who.member_id:
        current = group.static_members.get(who.group_instance_id or "")
        if current is None:
            return result(ErrorCode.UNKNOWN_MEMBER_ID)
        member = group.members[current]
    elif who.member_id in group.pending_members:
        del group.pending_members[who.member_id]
        core.cancel_member_timers(group, who.member_id)
        try_complete_join(core, group)
        return result(ErrorCode.NONE)
    else:
        error = validate_current_member(group, who.member_id, who.group_instance_id)
        if error is not ErrorCode.NONE:
            return result(error)
        member = group.members[who.member_id]
    remove_member(core, group, member, ErrorCode.UNKNOWN_MEMBER_ID)
    return result(ErrorCode.NONE)
