"""The rebalance engine: start a join phase, end it, hand out a new generation, remove
members — Kafka's ``prepareRebalance``/``onCompleteJoin``/``removeMemberAndUpdateGroup``
and the delayed operations (``DelayedJoin``, ``InitialDelayedJoin``, ``DelayedSync``,
``DelayedHeartbeat``) as timers.

Invariant: a group is in PreparingRebalance exactly when its JOIN timer is armed (a fresh
group's first round runs on the initial-delay timer, the others on the rebalance timeout).
Invariant: the SYNC timer is armed exactly while ``pending_sync`` is not empty.
Invariant: every member has a HEARTBEAT timer, every pending member id a PENDING_MEMBER one.

Functions over a :class:`~logd.groups.core.Core`; not thread-safe.
"""

from __future__ import annotations

from logd.errors import ErrorCode
from logd.groups.core import Core
from logd.groups.group import Group, Member
from logd.groups.messages import JoinGroupMember, JoinGroupResponse, SyncGroupResponse
from logd.groups.state import GroupEvent, GroupState
from logd.groups.timers import TimerKey, TimerKind

__all__ = [
    "complete_join",
    "on_heartbeat_expired",
    "on_join_deadline",
    "on_pending_member_expired",
    "on_sync_deadline",
    "prepare_rebalance",
    "propagate_assignment",
    "remove_member",
    "try_complete_join",
]

_S = GroupState
_E = GroupEvent


def prepare_rebalance(core: Core, group: Group, event: GroupEvent) -> None:
    """Start a join phase (from Empty, CompletingRebalance or Stable)."""
    if group.is_(_S.COMPLETING_REBALANCE):
        # Whoever waits for an assignment of the generation being abandoned must rejoin.
        propagate_assignment(core, group, ErrorCode.REBALANCE_IN_PROGRESS)
    group.pending_sync.clear()
    group.assignment_in_flight = False  # its write's outcome no longer matters
    core.timers.cancel(TimerKey(TimerKind.SYNC, group.group_id))
    join_key = TimerKey(TimerKind.JOIN, group.group_id)
    if group.is_(_S.EMPTY):
        # Kafka's InitialDelayedJoin: wait for more members to arrive before the first
        # generation, extending while they keep coming, up to the rebalance timeout.
        delay = core.config.initial_rebalance_delay_ms
        group.initial_delay_remaining_ms = max(group.rebalance_timeout_ms() - delay, 0)
        group.new_member_added = False
        core.timers.arm(join_key, core.now_ms + delay)
    else:
        group.initial_delay_remaining_ms = None
        core.timers.arm(join_key, core.now_ms + group.rebalance_timeout_ms())
    group.transition(event, core.now_ms)


def try_complete_join(core: Core, group: Group) -> None:
    """End the join phase early when every member has rejoined (Kafka's DelayedJoin
    ``tryComplete``). The initial delay is never cut short, as in Kafka."""
    if (
        group.is_(_S.PREPARING_REBALANCE)
        and group.initial_delay_remaining_ms is None
        and group.has_all_members_joined()
    ):
        complete_join(core, group)


def on_join_deadline(core: Core, group: Group) -> None:
    assert group.is_(_S.PREPARING_REBALANCE), group.state
    remaining = group.initial_delay_remaining_ms
    if remaining is not None and group.new_member_added and remaining > 0:
        delay = min(core.config.initial_rebalance_delay_ms, remaining)
        group.initial_delay_remaining_ms = remaining - delay
        group.new_member_added = False
        core.timers.arm(TimerKey(TimerKind.JOIN, group.group_id), core.now_ms + delay)
        return
    complete_join(core, group)


def complete_join(core: Core, group: Group) -> None:
    """End the join phase: drop dynamic members that did not rejoin, then start the next
    generation with a leader and a protocol (or go Empty when nobody is left)."""
    core.timers.cancel(TimerKey(TimerKind.JOIN, group.group_id))
    group.initial_delay_remaining_ms = None
    group.new_member_added = False
    laggards = [
        m for m in group.members.values() if m.awaiting_join is None and m.group_instance_id is None
    ]
    for member in laggards:
        _drop_member(core, group, member, ErrorCode.UNKNOWN_MEMBER_ID)
    if not group.members:
        group.generation_id += 1
        group.protocol_name = ""
        group.transition(_E.JOIN_COMPLETED_EMPTY, core.now_ms)
        # Persisted so that a new coordinator does not resurrect the last generation's
        # members; nobody waits for it (Kafka only logs a failure here).
        core.persist_group(group, None, _ignore)
        return
    if not group.elect_joined_leader():
        # Only static members that have not rejoined are left: they keep their place until
        # their session times out (KIP-345), so wait another rebalance timeout.
        key = TimerKey(TimerKind.JOIN, group.group_id)
        core.timers.arm(key, core.now_ms + group.rebalance_timeout_ms())
        return
    _start_generation(core, group)


def _start_generation(core: Core, group: Group) -> None:
    group.generation_id += 1
    group.protocol_name = group.select_protocol()
    group.transition(_E.JOIN_COMPLETED, core.now_ms)
    everyone = tuple(
        JoinGroupMember(m.member_id, m.group_instance_id, m.metadata_for(group.protocol_name))
        for m in group.members.values()
    )
    for member in group.members.values():
        core.answer_join(
            member,
            JoinGroupResponse(
                ErrorCode.NONE,
                member.member_id,
                generation_id=group.generation_id,
                protocol_type=group.protocol_type,
                protocol_name=group.protocol_name,
                leader_id=group.leader_id,
                members=everyone if member.member_id == group.leader_id else (),
            ),
        )
        member.is_new = False
        core.arm_heartbeat(group, member)
        group.pending_sync[member.member_id] = None
    # Kafka's DelayedSync: everyone must send SyncGroup within the rebalance timeout.
    key = TimerKey(TimerKind.SYNC, group.group_id)
    core.timers.arm(key, core.now_ms + group.rebalance_timeout_ms())


def propagate_assignment(core: Core, group: Group, error: ErrorCode) -> None:
    """Answer every parked SyncGroup: with its assignment, or (on ``error``) with the error
    and no assignment. Each answered member's session restarts (Kafka does the same: its
    heartbeats were not expected while it waited)."""
    for member in group.members.values():
        if error is not ErrorCode.NONE:
            member.assignment = b""
            response = SyncGroupResponse(error)
        else:
            response = SyncGroupResponse(
                ErrorCode.NONE, member.assignment, group.protocol_type, group.protocol_name
            )
        if core.answer_sync(member, response):
            core.arm_heartbeat(group, member)


def remove_member(core: Core, group: Group, member: Member, error: ErrorCode) -> None:
    """A member leaves (LeaveGroup, session timeout): answer what it parked with ``error``,
    then rebalance the others."""
    _drop_member(core, group, member, error)
    if group.is_(_S.STABLE, _S.COMPLETING_REBALANCE):
        prepare_rebalance(core, group, _E.MEMBER_REMOVED)
    elif group.is_(_S.PREPARING_REBALANCE):
        group.transition(_E.MEMBER_REMOVED, core.now_ms)
        try_complete_join(core, group)


def _drop_member(core: Core, group: Group, member: Member, error: ErrorCode) -> None:
    core.fail_parked(member, error)
    core.cancel_member_timers(group, member.member_id)
    group.remove(member.member_id)


def on_heartbeat_expired(core: Core, group: Group, member_id: str) -> None:
    """Kafka's ``onExpireHeartbeat``. A member with a parked JoinGroup or SyncGroup is not
    expected to heartbeat (the rebalance and sync timeouts cover it), unless it is new."""
    member = group.members.get(member_id)
    if member is None:
        return
    if not member.is_new and (member.awaiting_join is not None or member.awaiting_sync is not None):
        # Look again one session later: whatever answers the parked request restarts the
        # session anyway, and this way no member is ever left without a timer.
        core.arm_heartbeat(group, member)
        return
    remove_member(core, group, member, ErrorCode.UNKNOWN_MEMBER_ID)


def on_pending_member_expired(core: Core, group: Group, member_id: str) -> None:
    """A member id handed out with MEMBER_ID_REQUIRED was not used within the session
    timeout: forget it, so it no longer holds up the join phase."""
    if member_id in group.pending_members:
        del group.pending_members[member_id]
        try_complete_join(core, group)
        core.maybe_drop(group)


def on_sync_deadline(core: Core, group: Group) -> None:
    """Kafka's ``onExpirePendingSync``: members of the new generation that never sent their
    SyncGroup are removed and the group rebalances without them."""
    if not group.is_(_S.COMPLETING_REBALANCE, _S.STABLE) or not group.pending_sync:
        return
    for member_id in list(group.pending_sync):
        _drop_member(core, group, group.members[member_id], ErrorCode.UNKNOWN_MEMBER_ID)
    prepare_rebalance(core, group, _E.MEMBER_REMOVED)


def _ignore(error: ErrorCode) -> None:
    del error
