"""Tests named after the sections of the Raft paper (Ongaro & Ousterhout, 2014) and of
Ongaro's thesis where the paper is silent (§3.10 transfer, §4 membership, §6.2 check-
quorum, §9.6 pre-vote), in the manner of etcd's ``raft_paper_test.go``.

Offsets play the part of the paper's indexes; an entry covers an offset range.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from replication import (
    AppendRequest,
    AppendResponse,
    ConfChange,
    ConfChangeError,
    ConfChangeType,
    Entry,
    EntryKind,
    Heartbeat,
    Message,
    NotLeaderError,
    ProposalDroppedError,
    Role,
    VoteRequest,
    VoteResponse,
)
from replication.leader import LeaderState
from replication.quorum import committed_offset
from tests.replication.cluster import Cluster

QUIET: dict[str, Any] = {"pre_vote": False, "check_quorum": False}  # plain Raft, as in the paper


def cluster(n: int = 3, **settings: Any) -> Cluster:
    c = Cluster()
    ids = list(range(1, n + 1))
    c.add_nodes(ids, ids, **{**QUIET, **settings})
    return c


def data(c: Cluster, node: int) -> list[bytes]:
    return [bytes(e.data) for e in c.entries(node) if e.kind == EntryKind.NORMAL]


# -- §5.1 Raft basics ------------------------------------------------------------------


def test_5_1_a_higher_term_turns_leader_and_candidate_into_followers() -> None:
    c = cluster()
    c.elect(1)
    c.raw(1).step(Heartbeat(term=5, src=2, dst=1, commit=-1))
    assert (c.raw(1).role, c.raw(1).term, c.raw(1).leader) == (Role.FOLLOWER, 5, 2)
    c.raw(3).campaign()
    assert c.raw(3).role is Role.CANDIDATE
    c.raw(3).step(VoteResponse(term=9, src=2, dst=3, granted=False))
    assert (c.raw(3).role, c.raw(3).term) == (Role.FOLLOWER, 9)


def test_5_1_requests_from_an_older_term_are_rejected() -> None:
    c = cluster()
    c.elect(1)
    c.elect(2)  # term 2
    stale = AppendRequest(1, 1, 3, 0, 1, (Entry(1, 1, 1, EntryKind.NORMAL, b"x"),), 0)
    before = c.raw(3).last_offset
    c.raw(3).step(stale)
    assert c.raw(3).last_offset == before and c.raw(3).term == 2


# -- §5.2 Leader election --------------------------------------------------------------


def test_5_2_a_follower_campaigns_after_a_randomized_election_timeout() -> None:
    timeouts = set()
    for seed in range(20):
        c = Cluster()
        c.add_nodes([1, 2, 3], [1, 2, 3], seed=100 * seed, election_ticks=10, **QUIET)
        ticks = 0
        while c.raw(1).role is Role.FOLLOWER:
            c.tick(1)
            ticks += 1
        assert 10 <= ticks < 20
        timeouts.add(ticks)
    assert len(timeouts) > 3  # randomized, so that split votes do not repeat forever


def test_5_2_election_timeouts_replay_exactly_from_the_seed() -> None:
    def first_timeouts(seed: int) -> list[int]:
        out = []
        for node in (1, 2, 3):
            c = Cluster()
            c.add_nodes([node], [1, 2, 3], seed=seed, **QUIET)
            ticks = 0
            while c.raw(node).role is Role.FOLLOWER:
                c.tick(node)
                ticks += 1
            out.append(ticks)
        return out

    assert first_timeouts(5) == first_timeouts(5)


@pytest.mark.parametrize("size", [1, 3, 5])
def test_5_2_a_candidate_with_a_majority_of_votes_becomes_leader(size: int) -> None:
    c = cluster(size)
    c.elect(1)
    assert c.raw(1).term == 1
    assert all(c.raw(i).leader == 1 for i in c.nodes)


def test_5_2_a_candidate_without_a_majority_stays_candidate_then_retries() -> None:
    c = cluster(5)
    c.raw(1).campaign()
    c.handle_ready(1)
    c.deliver([2], drop=False)
    c.deliver([3, 4, 5], drop=True)
    c.stabilize([1, 2])
    assert c.raw(1).role is Role.CANDIDATE
    c.tick(1, 20)  # a new election timeout: a new term
    assert c.raw(1).role is Role.CANDIDATE and c.raw(1).term == 2


def _unanswered_candidate(**settings: Any) -> Cluster:
    """Node 1 of 3 a candidate (timeout 10-19 ticks) whose vote requests are still
    unanswered -- on a loaded disk, its voters' fsyncs."""
    c = cluster(3, pre_vote=False, election_ticks=10, **settings)
    c.raw(1).campaign()
    c.handle_ready(1)
    c.deliver([2, 3], drop=True)
    return c


def test_5_2_vote_wait_a_candidate_waits_longer_for_votes_still_on_their_way() -> None:
    c = _unanswered_candidate(vote_wait=2)
    c.tick(1, 29)  # plain Raft: a new term after at most 19 ticks
    assert c.raw(1).role is Role.CANDIDATE and c.raw(1).term == 1
    c.tick(1, 31)  # bounded: a lost request costs at most vote_wait more timeouts
    assert c.raw(1).term == 2


def test_5_2_vote_wait_does_not_wait_for_voters_taken_as_down() -> None:
    c = _unanswered_candidate(vote_wait=2)
    c.raw(1).set_down_peers(frozenset({2, 3}))
    c.tick(1, 19)
    assert c.raw(1).term == 2
    c = _unanswered_candidate(vote_wait=0)  # off: Raft's plain timeout
    c.tick(1, 19)
    assert c.raw(1).term == 2


def test_5_2_each_node_votes_at_most_once_per_term() -> None:
    c = cluster()
    node = c.raw(3)
    node.step(VoteRequest(term=1, src=1, dst=3, last_offset=-1, last_term=0))
    node.step(VoteRequest(term=1, src=2, dst=3, last_offset=-1, last_term=0))
    node.step(VoteRequest(term=1, src=1, dst=3, last_offset=-1, last_term=0))  # repeated
    votes = [m for m in node.ready().messages_after_persist if isinstance(m, VoteResponse)]
    assert [(m.dst, m.granted) for m in votes] == [(1, True), (2, False), (1, True)]


def test_5_2_a_candidate_hearing_from_the_leader_of_its_term_steps_down() -> None:
    c = cluster()
    c.raw(2).campaign()
    c.raw(2).step(Heartbeat(term=1, src=1, dst=2, commit=-1))
    assert (c.raw(2).role, c.raw(2).leader) == (Role.FOLLOWER, 1)


def test_5_2_the_vote_is_persisted_before_the_answer_leaves() -> None:
    c = cluster()
    node = c.raw(2)
    node.step(VoteRequest(term=1, src=1, dst=2, last_offset=-1, last_term=0))
    rd = node.ready()
    assert rd.hard_state is not None and (rd.hard_state.term, rd.hard_state.vote) == (1, 1)
    assert rd.must_sync
    assert not rd.messages and len(rd.messages_after_persist) == 1


# -- §5.3 Log replication --------------------------------------------------------------


def test_5_3_the_leader_commits_once_a_majority_persisted_the_entry() -> None:
    c = cluster(5)
    c.elect(1)
    entry = c.raw(1).propose(b"x", 3)
    c.handle_ready(1)
    c.deliver([2, 3], drop=False)
    c.deliver([4, 5], drop=True)
    c.handle_ready(2)  # only 2 persisted: leader + 1 of 5 is no majority
    c.deliver([1])
    c.handle_ready(1)
    assert c.raw(1).commit < entry.last_offset
    c.handle_ready(3)
    c.deliver([1])
    c.handle_ready(1)
    assert c.raw(1).commit == entry.last_offset == 3


def test_5_3_offsets_are_assigned_by_record_count_and_never_reused() -> None:
    c = cluster()
    c.elect(1)
    ids = [c.raw(1).propose(b"r", n) for n in (1, 5, 2)]
    assert [(e.base_offset, e.last_offset) for e in ids] == [(1, 1), (2, 6), (7, 8)]
    c.stabilize()
    for node in c.nodes:
        assert [(e.base_offset, e.last_offset) for e in c.entries(node)][1:] == [
            (1, 1),
            (2, 6),
            (7, 8),
        ]


def test_5_3_a_follower_rejects_an_append_that_does_not_match_prev() -> None:
    c = cluster()
    follower = c.raw(2)
    follower.step(AppendRequest(1, 1, 2, 4, 1, (Entry(1, 5, 5, EntryKind.NORMAL, b"x"),), -1))
    (resp,) = follower.ready().messages_after_persist
    assert isinstance(resp, AppendResponse) and resp.reject
    assert (resp.match_offset, resp.hint_offset, resp.hint_term) == (4, -1, 0)
    assert follower.last_offset == -1


def test_5_3_conflicting_follower_entries_are_replaced_by_the_leaders() -> None:
    """Figure 7 in small: followers missing entries, or holding extra ones of older terms,
    all end with the leader's log; a committed entry is never touched."""
    c = cluster(3, max_append_entries=1)
    c.elect(1)
    c.raw(1).propose(b"a")
    c.stabilize()  # offsets 0-1 committed everywhere
    c.isolated.add(1)
    for text in (b"old1", b"old2", b"old3"):
        c.raw(1).propose(text, 2)  # term 1, reaches nobody
    c.stabilize()
    c.isolated.clear()
    c.isolated.add(1)
    c.elect(2)  # term 2
    c.raw(2).propose(b"new", 4)
    c.stabilize([2, 3])
    c.isolated.clear()
    c.tick(2, 1)
    c.stabilize()
    assert data(c, 1) == data(c, 2) == data(c, 3) == [b"a", b"new"]
    assert c.entries(1) == c.entries(2)


def test_5_3_duplicated_and_reordered_appends_change_nothing() -> None:
    c = cluster()
    c.elect(1)
    c.raw(1).propose(b"one")
    c.handle_ready(1)
    first = [m for m in c.outbox if m.dst == 2]
    c.stabilize()
    c.raw(1).propose(b"two")
    c.stabilize()
    log_before = c.entries(2)
    for m in first:  # the old append arrives again, late
        c.raw(2).step(m)
    c.stabilize()
    assert c.entries(2) == log_before
    assert data(c, 2) == [b"one", b"two"]


def test_5_3_the_leader_skips_a_whole_divergent_term_per_round_trip() -> None:
    c = cluster(3)
    c.elect(1)
    c.isolated.add(1)
    for _ in range(10):
        c.raw(1).propose(b"lost")  # ten entries of term 1 that only node 1 has
    c.stabilize()
    c.isolated = {1}
    c.elect(2)  # term 2
    c.raw(2).propose(b"new", 5)
    c.stabilize([2, 3])
    c.isolated = {2}
    c.raw(1).step(Heartbeat(term=2, src=2, dst=1, commit=0))  # 1 steps down ...
    c.outbox.clear()
    c.raw(3).campaign()  # ... and votes for 3 (term 3), whose log is newer
    c.lines.clear()
    c.stabilize([1, 3])
    rejects = [line for line in c.lines if "receives" in line and "REJECT" in line]
    assert len(rejects) == 1  # the probe at 6 fails once, the next one matches
    assert "hint=(6,1)" in rejects[0]
    assert data(c, 1) == [b"new"]


# -- §5.4 Safety -----------------------------------------------------------------------


def test_5_4_1_a_voter_refuses_a_candidate_whose_log_is_behind() -> None:
    c = cluster()
    c.elect(1)
    c.raw(1).propose(b"x")
    c.stabilize()
    voter = c.raw(2)
    voter.step(VoteRequest(term=5, src=3, dst=2, last_offset=0, last_term=1))  # behind
    (resp,) = voter.ready().messages_after_persist
    assert isinstance(resp, VoteResponse) and not resp.granted


def _exchange(c: Cluster, nodes: list[int], *, strip_term: int | None = None) -> None:
    """Handle Readys and deliver among ``nodes``; appends lose their entries of
    ``strip_term`` (what remains is still a valid, shorter, AppendRequest)."""

    def strip(m: Message) -> Message:
        if isinstance(m, AppendRequest) and any(e.term == strip_term for e in m.entries):
            kept = tuple(e for e in m.entries if e.term != strip_term)
            return dataclasses.replace(m, entries=kept)
        return m

    for _ in range(50):
        for node in nodes:
            c.handle_ready(node)
        c.outbox = [strip(m) for m in c.outbox if m.dst in nodes]
        if not c.deliver(nodes):
            return
    raise AssertionError("the exchange does not settle")


def test_5_4_2_an_entry_of_an_older_term_is_not_committed_by_counting_replicas() -> None:
    """Figure 8 with offsets.  (a) S1 leads term 1 and puts X at offset 1 on S1, S2.
    (b) S5 leads term 2 with S3, S4's votes; its entry at offset 1 stays on S5.
    (c) S1 leads term 3 and copies X to S3, S4: X is on a majority, but it is of term 1
    and S1's own entry reached nobody, so X must not be committed -- because (d) S5 can
    still win term 4 and replace X everywhere."""
    c = cluster(5, max_append_entries=1)
    c.elect(1)  # term 1; offset 0 committed everywhere
    c.raw(1).propose(b"X")
    _exchange(c, [1, 2])
    c.outbox.clear()
    # (b)
    c.raw(5).campaign()
    _exchange(c, [3, 4, 5], strip_term=2)
    assert (c.raw(5).role, c.raw(5).term) == (Role.LEADER, 2)
    # (c)
    c.outbox.clear()
    c.raw(1).step(Heartbeat(term=2, src=5, dst=1, commit=0))
    c.raw(1).campaign()
    _exchange(c, [1, 2, 3, 4], strip_term=3)
    assert (c.raw(1).role, c.raw(1).term) == (Role.LEADER, 3)
    holders = [i for i in c.nodes if b"X" in data(c, i)]
    assert holders == [1, 2, 3, 4]  # a majority of 5 holds X ...
    assert all(c.raw(i).commit < 1 for i in c.nodes)  # ... and still nobody commits it
    # (d)
    c.outbox.clear()
    c.raw(5).step(Heartbeat(term=3, src=1, dst=5, commit=0))
    c.raw(5).campaign()
    _exchange(c, [2, 3, 4, 5])
    assert (c.raw(5).role, c.raw(5).term) == (Role.LEADER, 4)
    assert [i for i in c.nodes if b"X" in data(c, i)] == [1]  # replaced on S2..S5
    assert c.raw(5).commit == c.raw(5).last_offset


def test_5_4_2_the_figure_8_test_fails_a_leader_that_commits_by_counting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def count_replicas(self: LeaderState) -> bool:
        log = self.raft.log
        offset = committed_offset(self.raft.conf, {n: p.match for n, p in self.progress.items()})
        if offset <= log.commit:
            return False
        log.commit_to(offset)  # no check that the entry is of the current term
        return True

    monkeypatch.setattr(LeaderState, "maybe_commit", count_replicas)
    with pytest.raises(AssertionError):
        test_5_4_2_an_entry_of_an_older_term_is_not_committed_by_counting_replicas()


def test_5_4_2_once_its_own_entry_commits_the_older_ones_commit_with_it() -> None:
    c = cluster(5)
    c.elect(1)
    c.raw(1).propose(b"X")
    c.handle_ready(1)
    c.deliver([2])
    c.deliver([3, 4, 5], drop=True)
    c.stabilize([1, 2])
    c.outbox.clear()
    c.raw(1).step(Heartbeat(term=3, src=4, dst=1, commit=-1))  # S1 learns of term 3 ...
    c.raw(1).campaign()  # ... and leads term 4, copying X with its own entry
    c.stabilize()
    c.tick(1)  # a heartbeat carries the commit offset to the followers
    c.stabilize()
    assert c.raw(1).role is Role.LEADER
    assert all(data(c, i) == [b"X"] for i in c.nodes)
    assert all(c.raw(i).commit == c.raw(1).last_offset for i in c.nodes)


# -- §6 Cluster membership changes --------------------------------------------------------


def _change(c: Cluster, leader: int, *changes: tuple[ConfChangeType, int], **kw: bool) -> None:
    c.raw(leader).propose_conf_change([ConfChange(t, n) for t, n in changes], **kw)


def test_6_a_new_node_joins_as_learner_and_votes_only_once_caught_up() -> None:
    c = cluster(3)
    c.add_nodes([4], [], **QUIET)
    c.elect(1)
    with pytest.raises(ConfChangeError, match="learner"):
        _change(c, 1, (ConfChangeType.ADD_VOTER, 4))
    _change(c, 1, (ConfChangeType.ADD_LEARNER, 4))
    c.handle_ready(1)
    c.outbox = [m for m in c.outbox if m.dst != 4]
    c.stabilize([1, 2, 3])  # committed without the learner
    with pytest.raises(ConfChangeError, match="not caught up"):
        _change(c, 1, (ConfChangeType.ADD_VOTER, 4))
    c.tick(1, 1)
    c.stabilize()
    _change(c, 1, (ConfChangeType.ADD_VOTER, 4))
    c.stabilize()
    assert all(c.raw(i).conf.voters == {1, 2, 3, 4} for i in c.nodes)


def test_6_a_learner_never_campaigns() -> None:
    c = Cluster()
    c.add_nodes([1, 2, 3], [1, 2], learners=[3], **QUIET)
    c.tick(3, 100)
    assert c.raw(3).role is Role.FOLLOWER and c.raw(3).term == 0


def test_6_joint_consensus_needs_a_majority_of_both_configurations() -> None:
    c = cluster(3)
    c.add_nodes([4, 5], [], **QUIET)
    c.elect(1)
    for n in (4, 5):
        _change(c, 1, (ConfChangeType.ADD_LEARNER, n))
        c.stabilize()
    # C_old = {1,2,3}, C_new = {1,4,5}
    _change(c, 1, (ConfChangeType.ADD_VOTER, 4), (ConfChangeType.ADD_VOTER, 5),
            (ConfChangeType.REMOVE, 2), (ConfChangeType.REMOVE, 3))  # fmt: skip
    assert c.raw(1).conf.joint
    c.handle_ready(1)
    c.deliver([2, 3], drop=True)  # C_old hears nothing: no majority of C_old
    c.stabilize([1, 4, 5])
    assert c.raw(1).commit < c.raw(1).last_offset and c.raw(1).conf.joint
    c.tick(1, 1)
    c.stabilize()
    assert c.raw(1).conf.voters == {1, 4, 5} and not c.raw(1).conf.joint  # C_new appended
    assert c.raw(1).commit == c.raw(1).last_offset


def test_6_only_one_change_at_a_time_and_not_before_the_leader_committed_its_term() -> None:
    c = cluster(3)
    c.add_nodes([4, 5], [], **QUIET)
    c.raw(1).campaign()
    c.handle_ready(1)
    c.deliver()
    c.handle_ready(2)
    c.deliver([1])
    c.handle_ready(1)  # leader of term 1; its LEADER_CHANGE entry is not committed
    with pytest.raises(ConfChangeError, match="not committed an entry of its term"):
        _change(c, 1, (ConfChangeType.ADD_LEARNER, 4))
    c.stabilize()
    _change(c, 1, (ConfChangeType.ADD_LEARNER, 4))
    with pytest.raises(ConfChangeError, match="not committed yet"):
        _change(c, 1, (ConfChangeType.ADD_LEARNER, 5))


def test_6_a_removed_leader_steps_down_once_its_removal_is_committed() -> None:
    c = cluster(3)
    c.elect(1)
    _change(c, 1, (ConfChangeType.REMOVE, 1))
    with pytest.raises(ProposalDroppedError):
        c.raw(1).propose(b"refused while leaving")
    c.stabilize()
    assert c.raw(1).role is Role.FOLLOWER
    assert c.leader() in (2, 3)  # handed over at once with TimeoutNow
    c.tick(1, 100)
    assert c.raw(1).role is Role.FOLLOWER  # and it never campaigns again


def test_6_configurations_of_a_truncated_suffix_are_forgotten() -> None:
    c = cluster(3)
    c.add_nodes([4], [], **QUIET)
    c.elect(1)
    c.isolated.add(1)
    _change(c, 1, (ConfChangeType.ADD_LEARNER, 4))  # appended by 1 only
    c.stabilize()
    assert c.raw(1).conf.learners == {4}
    c.isolated = {1}
    c.elect(2)
    c.isolated.clear()
    c.tick(2, 1)
    c.stabilize()
    assert c.raw(1).conf.learners == frozenset()  # the suffix holding it is gone


# -- §7 Log compaction -------------------------------------------------------------------


def test_7_a_follower_behind_the_log_start_installs_a_snapshot() -> None:
    c = cluster(3, apply_entries=False)
    c.elect(1)
    c.isolated.add(3)
    for _ in range(5):
        c.raw(1).propose(b"x", 2)
    c.stabilize()
    c.nodes[1].storage.compact(8)
    c.isolated.clear()
    c.tick(1, 1)
    c.stabilize()
    storage = c.nodes[3].storage
    assert storage.first_offset() == 9 and storage.snapshot().meta.term == 1
    assert c.raw(3).commit == c.raw(1).commit == 10


def test_7_a_snapshot_the_follower_already_covers_only_moves_its_commit() -> None:
    c = cluster(3)
    c.elect(1)
    c.raw(1).propose(b"x", 2)
    c.stabilize()
    c.nodes[1].storage.compact(2)
    snap = c.nodes[1].storage.snapshot()
    from replication import SnapshotRequest

    c.raw(2).step(SnapshotRequest(1, 1, 2, snap))
    rd = c.raw(2).ready()
    assert rd.snapshot is None  # its log already holds (2, 1): nothing to restore


# -- §8 Client interaction ----------------------------------------------------------------


def test_8_a_follower_refuses_proposals_and_names_the_leader() -> None:
    c = cluster()
    c.elect(2)
    with pytest.raises(NotLeaderError) as err:
        c.raw(1).propose(b"x")
    assert err.value.leader == 2 and err.value.retriable


def test_8_a_new_leader_starts_with_an_entry_of_its_own_term() -> None:
    c = cluster()
    c.elect(3)
    (first,) = c.entries(3)
    assert (first.kind, first.term, first.base_offset) == (EntryKind.LEADER_CHANGE, 1, 0)


# -- thesis §3.10 Leadership transfer ----------------------------------------------------


def test_3_10_transfer_catches_the_target_up_then_it_wins_at_once() -> None:
    c = cluster(3, check_quorum=True)
    c.elect(1)
    c.isolated.add(3)
    c.raw(1).propose(b"x", 4)
    c.stabilize()
    c.isolated.clear()
    c.raw(1).transfer_leadership(3)
    with pytest.raises(ProposalDroppedError):
        c.raw(1).propose(b"refused")
    c.stabilize()
    assert c.leader() == 3 and c.raw(3).term == 2


def test_3_10_a_transfer_that_does_not_finish_in_an_election_timeout_is_abandoned() -> None:
    c = cluster(3, election_ticks=10)
    c.elect(1)
    c.isolated.add(3)
    c.raw(1).transfer_leadership(3)
    c.tick(1, 10)
    c.stabilize([1, 2])
    assert c.raw(1).role is Role.LEADER
    assert c.raw(1).propose(b"accepted again").base_offset == 1


# -- thesis §6.2 check-quorum -------------------------------------------------------------


def test_check_quorum_a_leader_without_a_live_majority_steps_down() -> None:
    c = cluster(3, check_quorum=True, election_ticks=5)
    c.elect(1)
    c.isolated.add(1)
    # Our departure (docs/replication.md): two silent checks, not one -- the first check
    # still counts the answers to the election, so three election timeouts at most.
    for _ in range(10):
        c.tick(1, 1)
        c.stabilize([1])
    assert c.raw(1).role is Role.LEADER
    for _ in range(5):
        c.tick(1, 1)
        c.stabilize([1])
    assert c.raw(1).role is Role.FOLLOWER


def test_check_quorum_followers_in_lease_ignore_a_disruptive_candidate() -> None:
    c = cluster(3, check_quorum=True)
    c.elect(1)
    c.raw(2).step(VoteRequest(term=7, src=3, dst=2, last_offset=100, last_term=5))
    assert c.raw(2).term == 1 and not c.raw(2).has_ready()


# -- thesis §9.6 pre-vote -------------------------------------------------------------------


def test_9_6_a_partitioned_node_does_not_raise_its_term() -> None:
    c = cluster(3, pre_vote=True, check_quorum=True)
    c.elect(1)
    term = c.raw(1).term
    c.isolated.add(3)
    for _ in range(5):
        c.tick(3, 30)
        c.stabilize()
    assert c.raw(3).term == term
    c.isolated.clear()
    c.tick(1, 1)
    c.stabilize()
    assert c.leader() == 1 and all(c.raw(i).term == term for i in c.nodes)


def test_9_6_a_pre_vote_changes_neither_term_nor_vote() -> None:
    c = cluster(3, pre_vote=True)
    voter = c.raw(2)
    voter.step(VoteRequest(term=1, src=1, dst=2, last_offset=-1, last_term=0, pre_vote=True))
    rd = voter.ready()
    assert rd.hard_state is None
    (grant,) = rd.messages
    assert isinstance(grant, VoteResponse) and grant.granted and grant.pre_vote
    assert voter.term == 0
