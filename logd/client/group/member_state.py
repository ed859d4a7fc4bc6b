"""A consumer's membership of its group as a table (STYLE.md 4), after Kafka's
``AbstractCoordinator.MemberState`` -- with every step of a rebalance round a state of its own.

Theory of operation. A subscribed member is always in one of these states (the table below
is the authority)::

    Unsubscribed --subscribe-->  JoinDue
    JoinDue      --give up-->    GivingUp  --given up-->  JoinDue      (eager revoke, or lost)
    JoinDue      --join-->       Joining   --sync-->      Syncing      (a follower)
                                 Joining   --elected-->   Assigning --sync--> Syncing (leader)
    Syncing      --revoke/fetch/add--> Revoking --> Fetching --> Adding --added--> Stable
    Stable       --rejoin-->     JoinDue
    Joining, Syncing --retry-->  JoinDue   (the answer says "join again now")
    any step of a round --fail-> JoinDue   (after a backoff)
    in the group --poll timeout--> PollTimedOut --polled--> JoinDue
    in the group --fatal-->      Fatal     (terminal)
    any          --unsubscribe--> Unsubscribed

* **JoinDue**: the next round is due (first subscription, a heartbeat answered
  REBALANCE_IN_PROGRESS, a changed subscription, the leader seeing partitions added, a
  cooperative follow-up round, membership lost). The member may still hold a generation:
  it heartbeats with it until the JoinGroup goes out.
* **GivingUp**: before the JoinGroup, the application hands its partitions back -- all of
  them under the eager protocol (REVOKE: commit, ``on_revoke``), or the partitions of a
  generation the group went on without (LOST: ``on_lost``, no commit).
* **Joining** / **Syncing**: a JoinGroup / SyncGroup is in flight (no heartbeats meanwhile:
  the coordinator holds the member's session while it parks the request).
* **Assigning**: the leader looks up the partition counts of the group's topics.
* **Revoking** / **Fetching** / **Adding**: the new generation's assignment is installed --
  the application gives up what was taken away, the committed offsets of what was added
  are fetched, and the application takes the added partitions (at those offsets).
* **Stable**: member of a generation with nothing due; heartbeats.
* **PollTimedOut**: the application stopped polling for ``max_poll_interval_ms``; the member
  left the group and rejoins when the application polls again.
* **Fatal**: FENCED_INSTANCE_ID, INCONSISTENT_GROUP_PROTOCOL, ...: the application's next
  poll raises the error; nothing leaves this state.

A rejoin asked for during a round (Joining .. Adding) does not stop it: the round ends, then
the member joins again (``REJOIN`` keeps the state; the machine notes it).

Rule: every state change goes through :func:`next_state`. A ``(state, event)`` pair that is
not in :data:`TRANSITIONS` is a bug of the machine, raised as :class:`IllegalTransitionError`
(an ``AssertionError``: a broken invariant). Answers that arrive for a step the machine no
longer waits for are dropped before any transition is tried.

Pure data and one pure function; safe from any thread.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from logd.groups.state import IllegalTransitionError

__all__ = [
    "HEARTBEATING",
    "IN_GROUP",
    "ROUND",
    "TRANSITIONS",
    "IllegalTransitionError",
    "MemberEvent",
    "MemberState",
    "next_state",
]


class MemberState(enum.Enum):
    UNSUBSCRIBED = "Unsubscribed"
    JOIN_DUE = "JoinDue"
    GIVING_UP = "GivingUp"
    JOINING = "Joining"
    ASSIGNING = "Assigning"
    SYNCING = "Syncing"
    REVOKING = "Revoking"
    FETCHING = "Fetching"
    ADDING = "Adding"
    STABLE = "Stable"
    POLL_TIMED_OUT = "PollTimedOut"
    FATAL = "Fatal"


class MemberEvent(enum.Enum):
    """What happened: the application, the coordinator's answers, or a step begun."""

    SUBSCRIBE = enum.auto()  # the application subscribes (first time)
    UNSUBSCRIBE = enum.auto()  # the application leaves the group
    REJOIN = enum.auto()  # a new round is needed
    GIVE_UP = enum.auto()  # a round begins by handing partitions back
    GIVEN_UP = enum.auto()  # the application has handed them back
    JOIN = enum.auto()  # JoinGroup sent
    ELECTED = enum.auto()  # JoinGroup answered: this member leads the new generation
    SYNC = enum.auto()  # SyncGroup sent
    REVOKE = enum.auto()  # the new assignment takes partitions away: the application gives them up
    FETCH = enum.auto()  # the committed offsets of the added partitions are asked for
    ADD = enum.auto()  # the application takes the added partitions
    ADDED = enum.auto()  # ... and has: the generation is installed
    RETRY = enum.auto()  # JoinGroup/SyncGroup answered "join again now"
    FAIL = enum.auto()  # a step failed retriably: join again after a backoff
    FATAL = enum.auto()  # an error no retry mends
    POLL_TIMEOUT = enum.auto()  # the application stopped polling: the member leaves
    POLLED = enum.auto()  # ... and polled again


_S = MemberState
_E = MemberEvent

#: The steps of a rebalance round, after the JoinDue state that starts one.
ROUND: frozenset[MemberState] = frozenset(
    {_S.GIVING_UP, _S.JOINING, _S.ASSIGNING, _S.SYNCING, _S.REVOKING, _S.FETCHING, _S.ADDING}
)
#: States of a member in the group (or on its way in).
IN_GROUP: frozenset[MemberState] = ROUND | {_S.JOIN_DUE, _S.STABLE}
#: States in which a member that holds a generation heartbeats.
HEARTBEATING: frozenset[MemberState] = IN_GROUP - {_S.JOINING, _S.SYNCING}

_TABLE: dict[tuple[MemberState, MemberEvent], MemberState] = {
    (_S.UNSUBSCRIBED, _E.SUBSCRIBE): _S.JOIN_DUE,
    # A round, step by step.
    (_S.JOIN_DUE, _E.GIVE_UP): _S.GIVING_UP,
    (_S.GIVING_UP, _E.GIVEN_UP): _S.JOIN_DUE,
    (_S.JOIN_DUE, _E.JOIN): _S.JOINING,
    (_S.JOINING, _E.ELECTED): _S.ASSIGNING,
    (_S.JOINING, _E.SYNC): _S.SYNCING,
    (_S.ASSIGNING, _E.SYNC): _S.SYNCING,
    (_S.SYNCING, _E.REVOKE): _S.REVOKING,
    (_S.SYNCING, _E.FETCH): _S.FETCHING,
    (_S.SYNCING, _E.ADD): _S.ADDING,
    (_S.REVOKING, _E.FETCH): _S.FETCHING,
    (_S.REVOKING, _E.ADD): _S.ADDING,
    (_S.FETCHING, _E.ADD): _S.ADDING,
    (_S.ADDING, _E.ADDED): _S.STABLE,
    # A round cut short.
    (_S.JOINING, _E.RETRY): _S.JOIN_DUE,
    (_S.SYNCING, _E.RETRY): _S.JOIN_DUE,
    **{(s, _E.FAIL): _S.JOIN_DUE for s in ROUND},
    # Asking for a round: at once when stable, after the round in progress otherwise.
    (_S.STABLE, _E.REJOIN): _S.JOIN_DUE,
    (_S.JOIN_DUE, _E.REJOIN): _S.JOIN_DUE,
    **{(s, _E.REJOIN): s for s in ROUND},
    (_S.UNSUBSCRIBED, _E.REJOIN): _S.UNSUBSCRIBED,
    (_S.POLL_TIMED_OUT, _E.REJOIN): _S.POLL_TIMED_OUT,
    (_S.FATAL, _E.REJOIN): _S.FATAL,
    # Leaving: the application stops polling, an error no retry mends, or unsubscribe().
    **{(s, _E.POLL_TIMEOUT): _S.POLL_TIMED_OUT for s in HEARTBEATING},
    (_S.POLL_TIMED_OUT, _E.POLLED): _S.JOIN_DUE,
    **{(s, _E.FATAL): _S.FATAL for s in IN_GROUP},
    **{(s, _E.UNSUBSCRIBE): _S.UNSUBSCRIBED for s in IN_GROUP | {_S.POLL_TIMED_OUT}},
    (_S.FATAL, _E.UNSUBSCRIBE): _S.FATAL,
    (_S.FATAL, _E.SUBSCRIBE): _S.FATAL,
}

TRANSITIONS: Mapping[tuple[MemberState, MemberEvent], MemberState] = MappingProxyType(_TABLE)
"""``(state, event) -> next state``; nothing else is allowed. Fatal has no way out."""


def next_state(state: MemberState, event: MemberEvent) -> MemberState:
    """The state after ``event`` in ``state``; raises :class:`IllegalTransitionError`."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransitionError(
            f"member state {state.value} does not allow event {event.name}"
        ) from None
