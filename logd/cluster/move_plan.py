"""The next step of a partition move, decided from the leader's Raft status (issue 23).

A move takes a partition's Raft group from its voters to a *target* set in steps, each
one safe on its own, so that the leader may crash, lose leadership or restart between any
two and its successor picks up where the group is (the plan reads only the configuration
in force and the leader's view of its followers, never a remembered state):

1. joining replicas are added as learners (no voter changes: a simple change);
2. they catch up (a learner becomes a voter only once it holds every committed entry:
   ``replication`` refuses the change before that);
3. a leader that is leaving hands its leadership to a staying voter first (a leader that
   removes itself would leave the group leaderless for an election timeout);
4. one configuration change swaps the voters: joint consensus when more than one voter
   changes (``confchange.apply_changes``), left by the leader on its own once committed;
5. the group's voters are the target: the move is done (the controller then drops the
   leaving replicas, whose brokers delete their data).

The controller quorum changes the same way (:func:`quorum_step`, KRaft's AddVoter and
RemoveVoter): every broker stays a member of the metadata group, so a voter that leaves
the quorum is demoted to a learner rather than removed, and a broker that is no member yet
joins as a learner first.

Pure: no I/O, no clock; owned by nobody (the movers call :func:`next_step` and
:func:`quorum_step`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Set
from dataclasses import dataclass

from replication import ConfChange, ConfChangeType, Status

__all__ = ["Step", "StepKind", "bytes_left", "next_step", "quorum_step"]


class StepKind(enum.Enum):
    WAIT = "wait"  # a configuration change in flight, or learners catching up
    CHANGE = "change"  # propose ``changes``
    TRANSFER = "transfer"  # hand leadership to ``to``
    DONE = "done"  # the voters are the target


@dataclass(frozen=True, slots=True)
class Step:
    kind: StepKind
    why: str
    changes: tuple[ConfChange, ...] = ()
    to: int | None = None


def next_step(status: Status, target: Set[int]) -> Step:
    """What the leader ``status.id`` does next to move its group's voters to ``target``."""
    assert target, "a move needs a target"
    conf = status.conf
    if status.conf_pending or conf.joint:
        return Step(StepKind.WAIT, "a configuration change is being committed")
    voters, learners = conf.voters, conf.learners
    stray = learners - target
    if stray:
        changes = tuple(ConfChange(ConfChangeType.REMOVE, n) for n in sorted(stray))
        return Step(StepKind.CHANGE, f"drop learners {sorted(stray)}", changes)
    missing = target - voters - learners
    if missing:
        changes = tuple(ConfChange(ConfChangeType.ADD_LEARNER, n) for n in sorted(missing))
        return Step(StepKind.CHANGE, f"add learners {sorted(missing)}", changes)
    if voters == target:
        return Step(StepKind.DONE, "the voters are the target")
    behind = [n for n in sorted(target - voters) if _match(status, n) < status.commit]
    if behind:
        return Step(StepKind.WAIT, f"learners {behind} catching up")
    if status.id not in target:
        successor = _successor(status, voters & target)
        if successor is not None:
            return Step(StepKind.TRANSFER, f"leader leaves: hand over to {successor}", to=successor)
    changes = tuple(ConfChange(ConfChangeType.ADD_VOTER, n) for n in sorted(target - voters))
    changes += tuple(ConfChange(ConfChangeType.REMOVE, n) for n in sorted(voters - target))
    return Step(StepKind.CHANGE, f"voters {sorted(voters)} -> {sorted(target)}", changes)


def quorum_step(
    status: Status, voters: Set[int], members: Set[int], unregistered: Set[int] = frozenset()
) -> Step:
    """What the controller leader ``status.id`` does next so that its group's voters are
    ``voters`` and every other broker of ``members`` is a learner; a learner
    ``unregistered`` for good leaves the group."""
    assert voters, "a quorum needs a voter"
    conf = status.conf
    if status.conf_pending or conf.joint:
        return Step(StepKind.WAIT, "a configuration change is being committed")
    gone = (conf.learners & unregistered) - voters
    if gone:
        changes = tuple(ConfChange(ConfChangeType.REMOVE, n) for n in sorted(gone))
        return Step(StepKind.CHANGE, f"remove unregistered learners {sorted(gone)}", changes)
    missing = (voters | members) - conf.voters - conf.learners
    if missing:
        changes = tuple(ConfChange(ConfChangeType.ADD_LEARNER, n) for n in sorted(missing))
        return Step(StepKind.CHANGE, f"add learners {sorted(missing)}", changes)
    if conf.voters == voters:
        return Step(StepKind.DONE, "the voters are the target")
    behind = [n for n in sorted(voters - conf.voters) if _match(status, n) < status.commit]
    if behind:
        return Step(StepKind.WAIT, f"learners {behind} catching up")
    if status.id not in voters:
        successor = _successor(status, conf.voters & voters)
        if successor is not None:
            return Step(StepKind.TRANSFER, f"leader leaves: hand over to {successor}", to=successor)
    changes = tuple(ConfChange(ConfChangeType.ADD_VOTER, n) for n in sorted(voters - conf.voters))
    changes += tuple(
        ConfChange(ConfChangeType.ADD_LEARNER, n) for n in sorted(conf.voters - voters)
    )  # demoted: it keeps the metadata
    return Step(StepKind.CHANGE, f"voters {sorted(conf.voters)} -> {sorted(voters)}", changes)


def bytes_left(status: Status, target: Set[int], bytes_from: Callable[[int], int]) -> int:
    """The bytes of the leader's log the joining replicas of a move to ``target`` still
    lack, summed: for each, ``bytes_from(offset)`` (the log's bytes from ``offset`` on)
    past what its progress says it holds. 0 once every joining replica is a voter."""
    return sum(bytes_from(_match(status, n) + 1) for n in sorted(target - status.conf.voters))


def _match(status: Status, node: int) -> int:
    pr = status.progress.get(node)
    return pr.match if pr is not None else -1


def _successor(status: Status, candidates: Set[int]) -> int | None:
    """The staying voter most caught up and heard from lately (None: none is)."""
    best: tuple[int, int] | None = None
    for node in candidates:
        pr = status.progress.get(node)
        if pr is None or not pr.recent_active:
            continue
        if best is None or (pr.match, -node) > (best[0], -best[1]):
            best = (pr.match, node)
    return best[1] if best is not None else None
