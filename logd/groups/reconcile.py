"""A consumer-protocol member's way to its target assignment (KIP-848; Kafka's
``CurrentAssignmentBuilder``): revoke before assign.

A member moves from what it owns to what the group's target assignment gives it in steps,
each answered in a heartbeat:

1. it owns partitions the target no longer gives it: it is told to give them up
   (``UNREVOKED_PARTITIONS``; its epoch stays) and keeps the rest;
2. once a heartbeat shows it no longer owns them, it takes the target's epoch and every
   target partition no other member still owns; those another member still owns wait
   (``UNRELEASED_PARTITIONS``) and are handed over in a later heartbeat, once released;
3. it owns its whole target at the target's epoch: ``STABLE``.

So no partition is ever owned by two members at once. Pure: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable

from partitioning import TopicPartition

__all__ = ["ClassicProtocols", "ConsumerMember", "MemberState", "Partitions", "reconcile"]

Partitions = frozenset[TopicPartition]
_NONE: Partitions = frozenset()


class MemberState(enum.Enum):
    """Kafka's ``MemberState`` of a consumer-protocol member."""

    STABLE = "stable"
    UNREVOKED_PARTITIONS = "unrevoked_partitions"
    UNRELEASED_PARTITIONS = "unreleased_partitions"


@dataclasses.dataclass(frozen=True, slots=True)
class ClassicProtocols:
    """What a classic member joined with (Kafka's ``ClassicMemberMetadata``)."""

    session_timeout_ms: int
    #: (name, metadata) of each protocol it supports, in its order of preference.
    protocols: tuple[tuple[str, bytes], ...]

    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.protocols)


@dataclasses.dataclass(frozen=True, slots=True)
class ConsumerMember:
    """One member of a consumer-protocol group: who it is, what it subscribes to, and where
    it stands in its reconciliation. Immutable: every change makes a new one."""

    member_id: str
    instance_id: str | None = None
    rack_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    #: Sorted topic names, as the member named them.
    subscribed_topics: tuple[str, ...] = ()
    #: Its topic regular expression (``topic_regex.py``), None without one.
    subscribed_regex: str | None = None
    #: The existing topics the regex matches, sorted (the broker resolves it).
    regex_topics: tuple[str, ...] = ()
    #: The server-side assignor it asked for (None: the group's default).
    server_assignor: str | None = None
    rebalance_timeout_ms: int = 0
    member_epoch: int = 0
    previous_member_epoch: int = -1
    state: MemberState = MemberState.STABLE
    #: What it owns (and may use) now.
    assigned: Partitions = _NONE
    #: What it was told to give up and has not confirmed yet.
    revoking: Partitions = _NONE
    #: A classic member (JoinGroup/SyncGroup/Heartbeat) inside the consumer group: its
    #: session timeout and protocols (``classic_members.py``); None for a consumer-protocol
    #: member. Kept in memory only (see ``classic_members.py``).
    classic: ClassicProtocols | None = None

    @property
    def topics(self) -> tuple[str, ...]:
        """Every topic it subscribes to: named, or matched by its regex (sorted)."""
        if not self.regex_topics:
            return self.subscribed_topics
        return tuple(sorted({*self.subscribed_topics, *self.regex_topics}))

    @property
    def owns(self) -> Partitions:
        """Everything no other member may take yet: assigned and still being revoked."""
        return self.assigned | self.revoking


def reconcile(
    member: ConsumerMember,
    target_epoch: int,
    target: Partitions,
    owner_of: Callable[[TopicPartition], str | None],
    owned: Partitions | None,
) -> ConsumerMember:
    """The member after one heartbeat towards ``target`` (at ``target_epoch``).

    ``owner_of`` names the member that owns a partition now (assigned or being revoked),
    None when nobody does; ``owned`` is what the heartbeat says the member owns (None: it
    did not say, i.e. nothing changed since its last heartbeat)."""
    if member.state is MemberState.UNREVOKED_PARTITIONS:
        if owned is None or owned & member.revoking:
            return member  # still giving them up
        member = dataclasses.replace(member, revoking=_NONE)
    elif member.state is MemberState.STABLE and member.member_epoch == target_epoch:
        return member
    kept = member.assigned & target
    to_revoke = member.assigned - target
    if to_revoke:
        return dataclasses.replace(
            member, state=MemberState.UNREVOKED_PARTITIONS, assigned=kept, revoking=to_revoke
        )
    free = frozenset(tp for tp in target - kept if owner_of(tp) in (None, member.member_id))
    assigned = kept | free
    previous = member.previous_member_epoch
    if member.member_epoch != target_epoch:
        previous = member.member_epoch
    return dataclasses.replace(
        member,
        state=MemberState.STABLE if assigned == target else MemberState.UNRELEASED_PARTITIONS,
        assigned=assigned,
        revoking=_NONE,
        member_epoch=target_epoch,
        previous_member_epoch=previous,
    )
