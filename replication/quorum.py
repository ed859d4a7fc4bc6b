"""Quorum arithmetic for simple and joint configurations (etcd ``quorum/``; Raft §6).

A joint configuration C_old,new needs a majority of each half for every decision: the
committed offset is the smaller of the two halves' offsets, an election is won only when
both halves grant it.  An empty half never constrains (so a simple configuration is the
joint configuration with an empty outgoing half).

Pure functions; no state.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Set

from replication.types import ConfState

__all__ = [
    "NO_LIMIT",
    "VoteResult",
    "committed_offset",
    "majority_committed",
    "majority_vote",
    "vote_result",
]

# What an empty majority "commits": anything, so that min() with the other half decides.
NO_LIMIT = 1 << 62


class VoteResult(enum.Enum):
    PENDING = "pending"
    WON = "won"
    LOST = "lost"


def majority_committed(voters: Set[int], match: Mapping[int, int]) -> int:
    """The largest offset that a majority of ``voters`` have (missing voters have -1)."""
    if not voters:
        return NO_LIMIT
    offsets = sorted((match.get(v, -1) for v in voters), reverse=True)
    return offsets[len(offsets) // 2]


def committed_offset(conf: ConfState, match: Mapping[int, int]) -> int:
    """The offset a quorum of ``conf`` has; NO_LIMIT only if ``conf`` has no voter."""
    return min(
        majority_committed(conf.voters, match),
        majority_committed(conf.voters_outgoing, match),
    )


def majority_vote(voters: Set[int], votes: Mapping[int, bool]) -> VoteResult:
    """WON once a majority granted, LOST once a majority can no longer be reached."""
    if not voters:
        return VoteResult.WON
    granted = rejected = 0
    for v in voters:
        vote = votes.get(v)
        if vote is True:
            granted += 1
        elif vote is False:
            rejected += 1
    need = len(voters) // 2 + 1
    if granted >= need:
        return VoteResult.WON
    if len(voters) - rejected >= need:
        return VoteResult.PENDING
    return VoteResult.LOST


def vote_result(conf: ConfState, votes: Mapping[int, bool]) -> VoteResult:
    """The joint result: both halves must win; either losing loses."""
    incoming = majority_vote(conf.voters, votes)
    outgoing = majority_vote(conf.voters_outgoing, votes)
    if incoming is outgoing:
        return incoming
    if VoteResult.LOST in (incoming, outgoing):
        return VoteResult.LOST
    return VoteResult.PENDING
