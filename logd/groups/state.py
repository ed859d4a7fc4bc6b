"""The consumer-group lifecycle as a table (STYLE.md 4), after Kafka's ``GroupMetadata``.

Theory of operation. A group is always in one of five states. In short (the table below is
the authority)::

    Empty                --member joined-->               PreparingRebalance
    PreparingRebalance   --all rejoined / timeout-->      CompletingRebalance (Empty if none)
    CompletingRebalance  --assignment persisted-->        Stable
    Completing.., Stable --member joined / removed-->     PreparingRebalance
    Stable               --static member replaced-->      Stable
    Empty                --deleted / offsets expired-->   Dead
    any but Dead         --unloaded-->                    Dead

* **Empty**: no members (offsets may remain; a "simple" group that only commits lives here).
* **PreparingRebalance**: JoinGroup requests are parked until every known member has
  rejoined or the rebalance timeout passes; the first rebalance of an empty group waits
  ``group.initial.rebalance.delay.ms`` for more members (Kafka's ``InitialDelayedJoin``).
* **CompletingRebalance** (Kafka's old name: AwaitingSync): the new generation exists; the
  coordinator waits for the leader's SyncGroup with everyone's assignment.
* **Stable**: assignments persisted and handed out; heartbeats answer NONE.
* **Dead**: deleted, expired or unloaded; terminal.

Rule: every state change goes through :func:`next_state`. A ``(state, event)`` pair that is
not in :data:`TRANSITIONS` is a coordinator bug, raised as :class:`IllegalTransitionError`
(an ``AssertionError``: a broken invariant, not a client error — client requests that do
not fit the state are answered with Kafka's error codes before any transition is tried).

Pure data and one pure function; safe from any thread.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "TRANSITIONS",
    "GroupEvent",
    "GroupState",
    "IllegalTransitionError",
    "next_state",
]


class GroupState(enum.Enum):
    """The five states; ``value`` is Kafka's spelling (DescribeGroups, ListGroups)."""

    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"

    @classmethod
    def parse(cls, name: str) -> GroupState | None:
        """The state named ``name`` (case-insensitive, Kafka's spelling), else None."""
        wanted = name.strip().lower()
        for state in cls:
            if state.value.lower() == wanted:
                return state
        return None


class GroupEvent(enum.Enum):
    """What happened to the group. Requests that leave the state alone are not events."""

    # A member joined, or rejoined in a way that needs a new assignment: new metadata, the
    # leader rejoining (Kafka lets the leader force a rebalance), a static member replaced
    # while the assignment is in flight or with a changed subscription.
    MEMBER_JOINED = enum.auto()
    # A member left: LeaveGroup, session timeout, missed SyncGroup after a rebalance.
    MEMBER_REMOVED = enum.auto()
    # A static member restarted with an unchanged subscription: it takes over the old member
    # id's place and assignment, and the group stays Stable (KIP-345).
    STATIC_MEMBER_REPLACED = enum.auto()
    # The join phase ended with at least one member: a new generation and a leader.
    JOIN_COMPLETED = enum.auto()
    # The join phase ended with no member left.
    JOIN_COMPLETED_EMPTY = enum.auto()
    # The leader's assignment was persisted to __consumer_offsets.
    ASSIGNMENT_PERSISTED = enum.auto()
    # Persisting the leader's assignment failed: start over.
    ASSIGNMENT_FAILED = enum.auto()
    # DeleteGroups on an empty group.
    DELETED = enum.auto()
    # Offset retention removed the last offset of an empty group.
    EXPIRED = enum.auto()
    # This broker stopped leading the group's __consumer_offsets partition.
    UNLOADED = enum.auto()


_S = GroupState
_E = GroupEvent

_TABLE: dict[tuple[GroupState, GroupEvent], GroupState] = {
    (_S.EMPTY, _E.MEMBER_JOINED): _S.PREPARING_REBALANCE,
    (_S.EMPTY, _E.DELETED): _S.DEAD,
    (_S.EMPTY, _E.EXPIRED): _S.DEAD,
    (_S.EMPTY, _E.UNLOADED): _S.DEAD,
    (_S.PREPARING_REBALANCE, _E.MEMBER_JOINED): _S.PREPARING_REBALANCE,
    (_S.PREPARING_REBALANCE, _E.MEMBER_REMOVED): _S.PREPARING_REBALANCE,
    (_S.PREPARING_REBALANCE, _E.JOIN_COMPLETED): _S.COMPLETING_REBALANCE,
    (_S.PREPARING_REBALANCE, _E.JOIN_COMPLETED_EMPTY): _S.EMPTY,
    (_S.PREPARING_REBALANCE, _E.UNLOADED): _S.DEAD,
    (_S.COMPLETING_REBALANCE, _E.MEMBER_JOINED): _S.PREPARING_REBALANCE,
    (_S.COMPLETING_REBALANCE, _E.MEMBER_REMOVED): _S.PREPARING_REBALANCE,
    (_S.COMPLETING_REBALANCE, _E.ASSIGNMENT_PERSISTED): _S.STABLE,
    (_S.COMPLETING_REBALANCE, _E.ASSIGNMENT_FAILED): _S.PREPARING_REBALANCE,
    (_S.COMPLETING_REBALANCE, _E.UNLOADED): _S.DEAD,
    (_S.STABLE, _E.MEMBER_JOINED): _S.PREPARING_REBALANCE,
    (_S.STABLE, _E.MEMBER_REMOVED): _S.PREPARING_REBALANCE,
    (_S.STABLE, _E.STATIC_MEMBER_REPLACED): _S.STABLE,
    (_S.STABLE, _E.UNLOADED): _S.DEAD,
}

TRANSITIONS: Mapping[tuple[GroupState, GroupEvent], GroupState] = MappingProxyType(_TABLE)
"""``(state, event) -> next state``; nothing else is allowed. Dead has no way out."""


class IllegalTransitionError(AssertionError):
    """A ``(state, event)`` pair outside a state table: a bug in the machine that owns it
    (the coordinator's :data:`TRANSITIONS` here; the client's member table raises it too)."""


def next_state(state: GroupState, event: GroupEvent) -> GroupState:
    """The state after ``event`` in ``state``; raises :class:`IllegalTransitionError`."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransitionError(
            f"group state {state.value} does not allow event {event.name}"
        ) from None
