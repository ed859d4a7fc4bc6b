"""JoinGroup: new members, returning members, static members (KIP-345), member ids handed
out first (KIP-394) — Kafka's ``handleJoinGroup`` and its helpers.

Functions over a :class:`~logd.groups.core.Core`; not thread-safe.
"""

from __future__ import annotations

import re

from logd.errors import ErrorCode
from logd.groups.core import Core, group_store_error, validate_current_member
from logd.groups.group import Group, Member
from logd.groups.log_format import MAX_STRING_BYTES
from logd.groups.messages import JoinGroupMember, JoinGroupRequest, JoinGroupResponse
from logd.groups.rebalance import prepare_rebalance, try_complete_join
from logd.groups.state import GroupEvent, GroupState
from logd.groups.timers import TimerKey, TimerKind

__all__ = ["join_group", "validate_join"]

_S = GroupState
_E = GroupEvent
_INT32_MAX = 2**31 - 1
# Kafka's rule for group.instance.id (JoinGroupRequest.validateGroupInstanceId): the legal
# characters and length of a topic name.
_INSTANCE_ID = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def _too_long(*values: str) -> bool:
    return any(
        len(v) > MAX_STRING_BYTES // 4 and len(v.encode()) > MAX_STRING_BYTES for v in values
    )


def validate_join(core: Core, req: JoinGroupRequest) -> tuple[ErrorCode, str]:
    """Checks that need no group: (NONE, "") or the error and a one-line reason."""
    cfg = core.config
    if not cfg.min_session_timeout_ms <= req.session_timeout_ms <= cfg.max_session_timeout_ms:
        return ErrorCode.INVALID_SESSION_TIMEOUT, (
            f"session timeout {req.session_timeout_ms} ms is outside "
            f"[{cfg.min_session_timeout_ms}, {cfg.max_session_timeout_ms}] ms"
        )
    if req.rebalance_timeout_ms > _INT32_MAX:
        return ErrorCode.INVALID_REQUEST, "rebalance timeout does not fit 32 bits"
    if not req.protocol_type or not req.protocols:
        return ErrorCode.INCONSISTENT_GROUP_PROTOCOL, "a protocol type and protocols are required"
    names = [p.name for p in req.protocols]
    if len(set(names)) != len(names) or not all(names):
        return ErrorCode.INVALID_REQUEST, "protocol names must be non-empty and distinct"
    if req.group_instance_id is not None and not _INSTANCE_ID.fullmatch(req.group_instance_id):
        return ErrorCode.INVALID_REQUEST, "group.instance.id must match [a-zA-Z0-9._-]{1,249}"
    if _too_long(req.member_id, req.client_id, req.client_host, req.protocol_type, *names):
        return ErrorCode.INVALID_REQUEST, f"a string is longer than {MAX_STRING_BYTES} bytes"
    return ErrorCode.NONE, ""


def join_group(core: Core, request_id: int, req: JoinGroupRequest) -> None:
    """Handle a validated JoinGroup; the answer is now or when the join phase ends."""
    group = core.groups.get(req.group_id)
    if not req.member_id:
        if group is None:
            group = Group(req.group_id, core.now_ms)
            core.groups[req.group_id] = group
        _join_new_member(core, request_id, group, req)
    elif group is None:
        core.outbox.respond(
            request_id, JoinGroupResponse(ErrorCode.UNKNOWN_MEMBER_ID, req.member_id)
        )
    else:
        _join_known_member(core, request_id, group, req)
    if group is not None:
        try_complete_join(core, group)
        core.maybe_drop(group)


def _rebalance_timeout(req: JoinGroupRequest) -> int:
    return req.rebalance_timeout_ms if req.rebalance_timeout_ms > 0 else req.session_timeout_ms


def _join_new_member(core: Core, request_id: int, group: Group, req: JoinGroupRequest) -> None:
    names = [p.name for p in req.protocols]
    if not group.supports_protocols(req.protocol_type, names, ""):
        core.outbox.respond(
            request_id,
            JoinGroupResponse(
                ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
                "",
                error_message=f"group {group.group_id} members support none of {names}",
            ),
        )
        return
    member_id = core.new_member_id(group, req.group_instance_id or req.client_id)
    if req.group_instance_id is not None:
        old_id = group.static_members.get(req.group_instance_id)
        if old_id is not None:
            _replace_static_member(core, request_id, group, req, old_id, member_id)
        else:
            _add_member(core, request_id, group, req, member_id)
    elif req.require_known_member_id:
        # KIP-394: a dynamic member gets its id first and joins with it, so a client that
        # times out and retries does not leave a ghost member behind.
        group.pending_members[member_id] = None
        key = TimerKey(TimerKind.PENDING_MEMBER, group.group_id, member_id)
        core.timers.arm(key, core.now_ms + req.session_timeout_ms)
        core.outbox.respond(request_id, JoinGroupResponse(ErrorCode.MEMBER_ID_REQUIRED, member_id))
    else:
        _add_member(core, request_id, group, req, member_id)


def _join_known_member(core: Core, request_id: int, group: Group, req: JoinGroupRequest) -> None:
    member_id = req.member_id
    names = [p.name for p in req.protocols]
    if not group.supports_protocols(req.protocol_type, names, member_id):
        error = ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        core.outbox.respond(request_id, JoinGroupResponse(error, member_id))
        return
    if member_id in group.pending_members:
        if req.group_instance_id is not None:
            error = ErrorCode.INVALID_REQUEST  # pending ids are only handed to dynamic members
            core.outbox.respond(request_id, JoinGroupResponse(error, member_id))
            return
        _add_member(core, request_id, group, req, member_id)
        return
    error = validate_current_member(group, member_id, req.group_instance_id)
    if error is not ErrorCode.NONE:
        core.outbox.respond(request_id, JoinGroupResponse(error, member_id))
        return
    member = group.members[member_id]
    if group.is_(_S.PREPARING_REBALANCE):
        _update_member(core, request_id, member, req)
        group.transition(_E.MEMBER_JOINED, core.now_ms)
    elif group.is_(_S.COMPLETING_REBALANCE, _S.STABLE):
        # Nothing changed: a follower that lost its JoinGroup answer gets it again (the
        # leader too while the assignment is pending). A leader rejoining a Stable group
        # forces a rebalance: that is how it reacts to topic metadata changes (Kafka).
        is_leader = member_id == group.leader_id
        if member.matches(req.protocols) and not (is_leader and group.is_(_S.STABLE)):
            core.outbox.respond(request_id, _current_generation(group, member_id))
        else:
            _update_member(core, request_id, member, req)
            prepare_rebalance(core, group, _E.MEMBER_JOINED)
    else:
        core.outbox.respond(request_id, JoinGroupResponse(ErrorCode.UNKNOWN_MEMBER_ID, member_id))


def _current_generation(group: Group, member_id: str) -> JoinGroupResponse:
    members: tuple[JoinGroupMember, ...] = ()
    if member_id == group.leader_id:
        members = tuple(
            JoinGroupMember(m.member_id, m.group_instance_id, m.metadata_for(group.protocol_name))
            for m in group.members.values()
        )
    return JoinGroupResponse(
        ErrorCode.NONE,
        member_id,
        generation_id=group.generation_id,
        protocol_type=group.protocol_type,
        protocol_name=group.protocol_name,
        leader_id=group.leader_id,
        members=members,
    )


def _update_member(core: Core, request_id: int, member: Member, req: JoinGroupRequest) -> None:
    member.protocols = req.protocols
    member.session_timeout_ms = req.session_timeout_ms
    member.rebalance_timeout_ms = _rebalance_timeout(req)
    core.park_join(member, request_id)


def _add_member(
    core: Core, request_id: int, group: Group, req: JoinGroupRequest, member_id: str
) -> None:
    """Kafka's ``addMemberAndRebalance``."""
    member = Member(
        member_id=member_id,
        group_instance_id=req.group_instance_id,
        client_id=req.client_id,
        client_host=req.client_host,
        rebalance_timeout_ms=_rebalance_timeout(req),
        session_timeout_ms=req.session_timeout_ms,
        protocols=req.protocols,
    )
    member.is_new = True
    if group.initial_delay_remaining_ms is not None:
        group.new_member_added = True  # extends the initial delay once more
    if member_id in group.pending_members:
        del group.pending_members[member_id]
        core.timers.cancel(TimerKey(TimerKind.PENDING_MEMBER, group.group_id, member_id))
    group.add(member, req.protocol_type)
    core.park_join(member, request_id)
    # A new member cannot heartbeat until its join completes; it is dropped only if its
    # parked JoinGroup lingers this long (the client gave up and will retry).
    core.arm_heartbeat(group, member, core.config.new_member_join_timeout_ms)
    if group.is_(_S.PREPARING_REBALANCE):
        group.transition(_E.MEMBER_JOINED, core.now_ms)
    else:
        prepare_rebalance(core, group, _E.MEMBER_JOINED)


def _replace_static_member(
    core: Core, request_id: int, group: Group, req: JoinGroupRequest, old_id: str, new_id: str
) -> None:
    """A static member rejoins without its member id (it restarted): it takes over the old
    id's place under ``new_id`` and the old id is fenced (KIP-345, Kafka's
    ``updateStaticMemberAndRebalance``)."""
    instance_id = req.group_instance_id
    assert instance_id is not None
    leader_before = group.leader_id
    old = group.members[old_id]
    core.fail_parked(old, ErrorCode.FENCED_INSTANCE_ID, old_id)
    core.cancel_member_timers(group, old_id)
    saved = (old.protocols, old.session_timeout_ms, old.rebalance_timeout_ms)
    member = group.replace_static_member(instance_id, old_id, new_id)
    member.client_id, member.client_host = req.client_id, req.client_host
    _update_member(core, request_id, member, req)
    core.arm_heartbeat(group, member)
    if group.is_(_S.PREPARING_REBALANCE):
        group.transition(_E.MEMBER_JOINED, core.now_ms)
    elif group.is_(_S.STABLE) and group.select_protocol() == group.protocol_name:
        # The group's protocol stays, so the assignment stays: no rebalance. (Subscriptions
        # are opaque and carry what the member owned, which a restart forgets; like Kafka,
        # only the protocol choice is compared.) The new id is persisted before the member
        # hears of it, so a new coordinator knows it too.
        group.transition(_E.STATIC_MEMBER_REPLACED, core.now_ms)
        generation = group.generation_id

        def on_durable(error: ErrorCode) -> None:
            if not (
                core.groups.get(group.group_id) is group
                and group.members.get(new_id) is member
                and member.awaiting_join == request_id
                and group.is_(_S.STABLE)
                and group.generation_id == generation
            ):
                return  # gone, or a rebalance started: it answers the parked JoinGroup
            if error is ErrorCode.NONE:
                core.answer_join(member, _static_rejoin_answer(group, new_id, leader_before))
                core.arm_heartbeat(group, member)
                return
            # Undo: the old member id is the one on record.
            core.answer_join(member, JoinGroupResponse(group_store_error(error), ""))
            core.cancel_member_timers(group, new_id)
            restored = group.replace_static_member(instance_id, new_id, old_id)
            restored.protocols, restored.session_timeout_ms, restored.rebalance_timeout_ms = saved
            core.arm_heartbeat(group, restored)

        core.persist_group(group, None, on_durable)
    else:
        # The assignment in the making (Completing) or the protocol (Stable) would be wrong
        # for the new member id: rebalance.
        prepare_rebalance(core, group, _E.MEMBER_JOINED)


def _static_rejoin_answer(group: Group, member_id: str, leader_before: str) -> JoinGroupResponse:
    # Kafka answers with the leader id from before the replacement: if the restarted member
    # was the leader, its new id differs from it, so it does not compute an assignment a
    # Stable group would not hand out anyway.
    return JoinGroupResponse(
        ErrorCode.NONE,
        member_id,
        generation_id=group.generation_id,
        protocol_type=group.protocol_type,
        protocol_name=group.protocol_name,
        leader_id=leader_before,
    )
