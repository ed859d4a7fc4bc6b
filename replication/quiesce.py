"""Quiescence: a group with nothing to replicate stops ticking (CockroachDB's model).

An idle Raft group still costs a tick per node and a heartbeat per follower every few
ticks; a broker with thousands of partitions burns a core doing nothing.  So, with
``Config.quiesce``:

* a **leader** whose group is fully caught up at a heartbeat tick (:func:`leader_may_quiesce`:
  everything committed, durable and applied, every live follower holding exactly the log,
  no transfer or configuration change under way, a live quorum) sends its last heartbeat
  with ``quiesce=True`` and stops ticking;
* a **follower** that gets such a heartbeat from its leader and holds exactly the
  committed log (:func:`follower_may_quiesce`) stops ticking too and does not answer; one
  that cannot answers as usual, which wakes the leader;
* **anything wakes** a quiet node -- any other message (but see below), a proposal, a
  transfer, a configuration change, an unreachable or data-loss report, and a change of the
  failure detector's view (``RawNode.set_down_peers``) that concerns it
  (:func:`down_news_wakes`): a follower's leader, a member back up, a leader's live
  quorum lost.  News about the other followers wakes nobody: when a broker dies, the
  groups it only followed have nothing to do, and waking them (two thirds of a survivor's
  groups at RF=3) made them heartbeat and go quiet again while the groups it led were
  electing -- the largest share of a failover's work (issue 21).  A quiet follower does
  not time out, so when its leader dies it learns so from that view (in logd: the per-broker
  liveness the controller tracks, and lost connections): it wakes, tells its leader, and
  -- hearing nothing back -- campaigns within two election timeouts.  (It keeps its lease:
  a detector's false alarm, common under overload, must not become an election.) A woken
  follower always tells its leader, which would otherwise sleep on while a learner, which
  never campaigns, ticks alone.  Followers the view says are down do not hold a leader
  awake (it would otherwise tick for as long as a broker is down).
* **stale answers wake nobody** (:func:`sleeps_through`): a follower's answer to a heartbeat
  sent before its leader went quiet arrives after it when the machine is loaded; waking for
  it made the leader heartbeat again, which woke its quiet followers, whose answers then
  arrived late again -- at 10,000 partitions thousands of groups a second kept each other
  awake for ever (issue 21). So a quiet leader sleeps through a ``HeartbeatResponse`` of
  its term without ``wake``, and an ``AppendResponse`` that acknowledges (or, stale, rejects)
  no more than it knows -- a resent append's second answer -- from a follower it knows
  holds its whole log; a follower
  that *wants* the leader awake (it woke, it cannot go quiet, a learner ticking alone)
  says so with ``wake``.

Quiescence changes only *when* a node ticks and whether it answers a heartbeat, i.e. the
timing of elections and messages that may be lost anyway: safety does not depend on it.
Liveness does, and the simulator checks it: after healing, every quiet group elects a
leader all its voters agree on without any proposal, then goes quiet again.

Pure functions over the node's state; owned by the node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from replication.messages import AppendResponse, Heartbeat, HeartbeatResponse
from replication.progress import ProgressState
from replication.quorum import VoteResult, vote_result

if TYPE_CHECKING:
    from replication.leader import LeaderState
    from replication.messages import Message
    from replication.raft import Raft

__all__ = ["down_news_wakes", "follower_may_quiesce", "leader_may_quiesce", "sleeps_through"]


def leader_may_quiesce(leader: LeaderState) -> bool:
    """Nothing left to do in this term until a proposal: see the module doc."""
    raft = leader.raft
    log = raft.log
    last = log.last_offset()
    if leader.transferee is not None or log.commit != last or log.applied != last:
        return False
    if log.persisted_last() != last or raft.conf.joint or raft.confs.pending(last):
        return False
    down = raft.down_peers
    live: dict[int, bool] = {raft.id: True}
    for node, pr in leader.progress.items():
        if node == raft.id or node in down:
            continue
        if pr.match != last or pr.state is not ProgressState.REPLICATE:
            return False
        live[node] = True
    # A leader cut off from its quorum keeps ticking, so that check-quorum deposes it.
    return vote_result(raft.conf, live) is VoteResult.WON


def follower_may_quiesce(raft: Raft, commit: int) -> bool:
    """The leader's quiesce heartbeat says ``commit``: we may go quiet if our log ends
    exactly there and all of it is committed (we then hold the leader's whole log) --
    and if the failure detector does not say the leader is down (a heartbeat that was
    on its way when the leader died must not silence the follower that should replace
    it: nothing would wake it again)."""
    log = raft.log
    return (
        raft.cfg.quiesce
        and raft.leader_id not in raft.down_peers
        and log.commit == commit == log.last_offset()
        and log.unstable.snapshot is None
    )


def down_news_wakes(raft: Raft, changed: frozenset[int]) -> bool:
    """The failure detector's view of the members ``changed`` (``raft.down_peers`` is the
    new view): whether a quiet node must wake. A leader wakes for a member back up (it may
    have missed entries; heartbeats find out) or when it no longer has a live quorum (it
    ticks, so that check-quorum deposes it); a follower when its leader went down or came
    back (or it knows none). A follower going down, as seen by another follower or by a
    leader that keeps its quorum, changes nothing a quiet group has to do."""
    down = raft.down_peers
    if raft.leader is not None:
        if changed - down:
            return True
        live = {node: True for node in raft.conf.members() if node not in down}
        live[raft.id] = True
        return vote_result(raft.conf, live) is not VoteResult.WON
    return raft.leader_id is None or raft.leader_id in changed


def sleeps_through(raft: Raft, m: Message) -> bool:
    """Whether a quiet node stays quiet on ``m``: its leader's quiesce heartbeat, or (a
    leader) a follower's answer of this term that asks for nothing -- a heartbeat answer
    without ``wake``, or an append answer at or below what the follower is known to match
    (a duplicate: an append resent while the first was on its way; a late rejection, which
    an awake leader ignores as stale too) -- from a follower known to hold its whole log and
    not taken as down: an answer to something sent before the leader went quiet (see the
    module doc)."""
    if isinstance(m, Heartbeat):
        return m.quiesce
    leader = raft.leader
    if leader is None or m.term != raft.term:
        return False
    if isinstance(m, HeartbeatResponse):
        if m.wake:
            return False
    elif not isinstance(m, AppendResponse) or m.match_offset > raft.log.last_offset():
        return False
    pr = leader.progress.get(m.src)
    return (
        pr is not None
        and m.src not in raft.down_peers
        and pr.state is ProgressState.REPLICATE
        and pr.match == raft.log.last_offset()
    )
