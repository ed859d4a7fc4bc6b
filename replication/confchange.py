"""Configuration changes: from the configuration in force and a list of changes to the
configuration a CONF_CHANGE entry installs (etcd ``confchange/``; Raft §6, thesis §4).

A *simple* change alters at most one voter and takes effect directly (thesis §4.1).  More
than that goes through a *joint* configuration C_old,new (Raft §6); the leader leaves it
on its own, with a second CONF_CHANGE entry, once the joint one is committed.  Demoting a
voter to learner in a joint change parks it in ``learners_next`` until the joint
configuration is left, because a node cannot be a voter and a learner at once.

Pure functions; they raise ``ConfChangeError`` for invalid changes.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from replication.errors import ConfChangeError
from replication.types import ConfState

__all__ = ["ConfChange", "ConfChangeType", "apply_changes", "leave_joint"]


class ConfChangeType(enum.Enum):
    ADD_VOTER = "add-voter"  # add a node as voter, or promote a learner
    ADD_LEARNER = "add-learner"  # add a node as learner, or demote a voter
    REMOVE = "remove"  # remove a node, whatever its role


@dataclass(frozen=True, slots=True)
class ConfChange:
    type: ConfChangeType
    node_id: int


def apply_changes(
    conf: ConfState, changes: Sequence[ConfChange], *, joint: bool | None = None
) -> ConfState:
    """The configuration after ``changes``.

    ``joint=None`` makes a simple change when at most one voter changes and a joint one
    otherwise; ``True`` forces joint consensus; ``False`` refuses to change more than one
    voter.  An empty list is refused: leaving a joint configuration is the leader's job.
    """
    if not changes:
        raise ConfChangeError("a configuration change needs at least one change")
    if conf.joint:
        raise ConfChangeError(f"configuration {conf} is joint: wait until it is left")
    voters, learners, learners_next = _apply(conf, changes, outgoing=frozenset())
    changed = len(voters ^ conf.voters)
    if joint is None:
        joint = changed > 1
    if not joint:
        if changed > 1:
            raise ConfChangeError("more than one voter changed: use a joint change")
        return _checked(ConfState(voters, frozenset(), learners, frozenset()))
    if not conf.voters:
        raise ConfChangeError("a configuration without voters cannot become joint")
    voters, learners, learners_next = _apply(conf, changes, outgoing=conf.voters)
    return _checked(ConfState(voters, conf.voters, learners, learners_next))


def leave_joint(conf: ConfState) -> ConfState:
    """C_new of a joint C_old,new: outgoing voters go, demoted voters become learners."""
    assert conf.joint, f"leave_joint of a simple configuration {conf}"
    return _checked(ConfState(conf.voters, frozenset(), conf.learners | conf.learners_next))


def _apply(
    conf: ConfState, changes: Sequence[ConfChange], *, outgoing: frozenset[int]
) -> tuple[frozenset[int], frozenset[int], frozenset[int]]:
    voters, learners, learners_next = set(conf.voters), set(conf.learners), set()
    for change in changes:
        node = change.node_id
        voters.discard(node)
        learners.discard(node)
        learners_next.discard(node)
        if change.type is ConfChangeType.ADD_VOTER:
            voters.add(node)
        elif change.type is ConfChangeType.ADD_LEARNER:
            # A voter of C_old stays a voter there until the joint configuration is left.
            (learners_next if node in outgoing else learners).add(node)
    if not voters:
        raise ConfChangeError("the change would remove every voter")
    return frozenset(voters), frozenset(learners), frozenset(learners_next)


def _checked(conf: ConfState) -> ConfState:
    assert not conf.learners & conf.all_voters(), f"learner and voter at once: {conf}"
    assert conf.learners_next <= conf.voters_outgoing, f"bad learners_next: {conf}"
    return conf
