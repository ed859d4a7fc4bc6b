"""Unit tests of the core's pure pieces: quorum arithmetic, configuration changes and
their encoding, the progress table, the unstable tail, the log view and MemoryStorage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replication import ConfChange, ConfChangeError, ConfChangeType, ConfState, DecodeError
from replication.confchange import apply_changes, leave_joint
from replication.config_history import ConfigHistory
from replication.log import RaftLog
from replication.memory_storage import MemoryStorage
from replication.progress import Inflights, Progress, ProgressEvent, ProgressState
from replication.quorum import (
    NO_LIMIT,
    VoteResult,
    committed_offset,
    majority_committed,
    vote_result,
)
from replication.types import Entry, EntryKind
from replication.unstable import Unstable

V, L, R = ConfChangeType.ADD_VOTER, ConfChangeType.ADD_LEARNER, ConfChangeType.REMOVE


def e(term: int, base: int, last: int | None = None, data: bytes = b"d") -> Entry:
    return Entry(term, base, base if last is None else last, EntryKind.NORMAL, data)


# -- quorum ----------------------------------------------------------------------------


def test_majority_commit_is_the_median_from_the_top() -> None:
    match = {1: 10, 2: 7, 3: 3, 4: 9, 5: 1}
    assert majority_committed({1, 2, 3}, match) == 7
    assert majority_committed({1, 2, 3, 4, 5}, match) == 7
    assert majority_committed({1, 2, 3, 4}, match) == 7  # 3 of 4 hold 7
    assert majority_committed({1, 6, 7}, match) == -1  # missing voters hold nothing
    assert majority_committed(set(), match) == NO_LIMIT


def test_a_joint_commit_needs_both_halves() -> None:
    joint = ConfState(frozenset({1, 4, 5}), frozenset({1, 2, 3}))
    assert committed_offset(joint, {1: 9, 4: 9, 5: 9, 2: 2, 3: 1}) == 2
    assert committed_offset(joint, {1: 9, 2: 9, 3: 9, 4: 4}) == 4


def test_vote_results() -> None:
    conf = ConfState.of([1, 2, 3])
    assert vote_result(conf, {1: True}) is VoteResult.PENDING
    assert vote_result(conf, {1: True, 2: True}) is VoteResult.WON
    assert vote_result(conf, {1: True, 2: False, 3: False}) is VoteResult.LOST
    joint = ConfState(frozenset({1, 4, 5}), frozenset({1, 2, 3}))
    assert vote_result(joint, {1: True, 2: True, 3: True}) is VoteResult.PENDING
    assert vote_result(joint, {1: True, 2: True, 4: True}) is VoteResult.WON
    assert vote_result(joint, {1: True, 2: True, 4: False, 5: False}) is VoteResult.LOST


# -- configurations ------------------------------------------------------------------------


def test_simple_changes_alter_one_voter() -> None:
    conf = ConfState.of([1, 2, 3], [4])
    assert apply_changes(conf, [ConfChange(V, 4)]) == ConfState.of([1, 2, 3, 4])
    assert apply_changes(conf, [ConfChange(R, 3)]) == ConfState.of([1, 2], [4])
    assert apply_changes(conf, [ConfChange(L, 3)]) == ConfState.of([1, 2], [3, 4])
    with pytest.raises(ConfChangeError, match="joint"):
        apply_changes(conf, [ConfChange(V, 4), ConfChange(R, 1)], joint=False)
    with pytest.raises(ConfChangeError, match="every voter"):
        apply_changes(ConfState.of([1]), [ConfChange(R, 1)])
    with pytest.raises(ConfChangeError, match="at least one"):
        apply_changes(conf, [])


def test_joint_changes_and_leaving_them() -> None:
    conf = ConfState.of([1, 2, 3], [4])
    joint = apply_changes(conf, [ConfChange(V, 4), ConfChange(L, 2), ConfChange(R, 3)])
    assert joint == ConfState(
        voters=frozenset({1, 4}),
        voters_outgoing=frozenset({1, 2, 3}),
        learners=frozenset(),
        learners_next=frozenset({2}),
    )
    with pytest.raises(ConfChangeError, match="joint"):
        apply_changes(joint, [ConfChange(R, 1)])
    assert leave_joint(joint) == ConfState.of([1, 4], [2])
    forced = apply_changes(conf, [ConfChange(V, 4)], joint=True)
    assert forced.joint and forced.voters == {1, 2, 3, 4}


@given(
    st.frozensets(st.integers(-(2**31), 2**31 - 1), max_size=6),
    st.frozensets(st.integers(0, 1000), max_size=4),
    st.frozensets(st.integers(0, 1000), max_size=4),
)
def test_conf_state_encoding_round_trips(
    voters: frozenset[int], outgoing: frozenset[int], learners: frozenset[int]
) -> None:
    conf = ConfState(voters, outgoing, learners, frozenset())
    assert ConfState.decode(conf.encode()) == conf
    assert ConfState.decode(memoryview(conf.encode())) == conf


@pytest.mark.parametrize(
    "data",
    [b"", b"\x01\x00", b"\x02" + b"\x00" * 8, b"\x01\x00\x01\x00\x00\x00\x00\x00\x00"],
)
def test_malformed_configurations_are_refused_with_a_typed_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        ConfState.decode(data)


def test_config_history_truncates_and_prunes() -> None:
    a, b, c = ConfState.of([1]), ConfState.of([1, 2]), ConfState.of([1, 2, 3])
    history = ConfigHistory(((-1, a),))
    history.append(5, b)
    history.append(9, c)
    assert history.current == c and history.pending(commit=8)
    history.truncate(7)
    assert history.current == b and not history.pending(commit=5)
    history.append(8, c)
    history.prune(8)
    assert len(history) == 1 and history.at(100) == c
    assert history.at(3) == c  # pruned: the oldest kept answers for the past


# -- progress --------------------------------------------------------------------------


def _state(pr: Progress) -> ProgressState:
    return pr.state  # read through a call: mypy would keep the narrowed type


def test_progress_follows_its_transition_table() -> None:
    pr = Progress(10, Inflights(2, 0), is_learner=False)
    assert pr.state is ProgressState.PROBE and not pr.is_paused()
    pr.sent(9, 12, 0)
    assert pr.is_paused() and pr.next == 10  # one probe at a time
    assert pr.maybe_update(12)
    pr.fire(ProgressEvent.ACKED)
    assert _state(pr) is ProgressState.REPLICATE and pr.next == 13
    pr.sent(12, 15, 0)
    pr.sent(15, 18, 0)
    assert pr.is_paused() and pr.next == 19  # the window of 2 is full
    pr.inflights.free_to(15)
    assert not pr.is_paused()
    pr.fire(ProgressEvent.REJECTED, 3)
    assert _state(pr) is ProgressState.PROBE and pr.next == 13  # never below match + 1
    pr.fire(ProgressEvent.NEEDS_SNAPSHOT, 40)
    assert _state(pr) is ProgressState.SNAPSHOT and pr.is_paused()
    pr.fire(ProgressEvent.SNAPSHOT_DONE)
    assert _state(pr) is ProgressState.PROBE and pr.next == 41


def test_a_transition_missing_from_the_table_is_a_bug() -> None:
    pr = Progress(1, Inflights(1, 0), is_learner=False)
    with pytest.raises(AssertionError, match="no transition"):
        pr.fire(ProgressEvent.SNAPSHOT_DONE)


def test_inflights_bound_by_count_and_bytes() -> None:
    window = Inflights(10, 100)
    window.add(5, 60)
    assert not window.full()
    window.add(9, 50)
    assert window.full() and window.bytes == 110
    window.free_to(5)
    assert not window.full() and len(window) == 1
    window.free_first()
    assert len(window) == 0 and window.bytes == 0


# -- unstable tail and log view -----------------------------------------------------------


def test_unstable_truncate_and_append_keeps_entry_boundaries() -> None:
    u = Unstable(5)
    u.truncate_and_append([e(1, 5, 6), e(1, 7, 9), e(1, 10)])
    u.accept_in_progress()
    u.truncate_and_append([e(2, 7, 8)])  # replaces from 7
    assert [x.last_offset for x in u.entries] == [6, 8]
    assert u.in_progress == 1 and u.next_entries() == [e(2, 7, 8)]
    u.truncate_and_append([e(3, 4)])  # reaches into storage
    assert u.offset == 4 and u.entries == [e(3, 4)]
    u.truncate_and_append([e(3, 5, 6), e(3, 7)])
    with pytest.raises(AssertionError, match="splits an entry"):
        u.truncate_and_append([e(4, 6)])


def test_unstable_stable_to_ignores_replaced_entries() -> None:
    u = Unstable(0)
    u.truncate_and_append([e(1, 0), e(1, 1, 3)])
    u.accept_in_progress()
    u.truncate_and_append([e(2, 1)])  # the persisted (3, term 1) is gone meanwhile
    u.stable_to(3, 1)
    assert u.entries == [e(1, 0), e(2, 1)]
    u.stable_to(1, 2)
    assert u.entries == [] and u.offset == 2


def _log_with(entries: list[Entry], unstable: list[Entry]) -> RaftLog:
    storage = MemoryStorage(ConfState.of([1]))
    storage.append(entries)
    log = RaftLog(storage)
    if unstable:
        log.append(unstable)
    return log


def test_log_reads_span_storage_and_the_unstable_tail() -> None:
    log = _log_with([e(1, 0), e(1, 1, 4), e(2, 5, 6)], [e(3, 7, 9), e(3, 10)])
    assert [log.term_at(o) for o in (-1, 0, 3, 6, 8, 10, 11)] == [0, 1, 1, 2, 3, 3, None]
    assert log.last_offset_for_term(2) == 6 and log.last_offset_for_term(0) == -1
    assert log.find_conflict_by_term(9, 2) == 6 and log.find_conflict_by_term(3, 5) == 3
    got = log.entries(2, 10, 1 << 20)
    assert [x.base_offset for x in got] == [1, 5, 7, 10]  # from the entry holding 2
    assert [x.base_offset for x in log.entries(2, 10, 2)] == [1, 5]  # byte-bounded
    assert [x.base_offset for x in log.entries(6, 6, 0)] == [5]  # always one


def test_log_append_never_truncates_what_it_already_holds() -> None:
    log = _log_with([e(1, 0), e(1, 1, 4)], [])
    assert log.maybe_append(0, 1, -1, [e(1, 1, 4)]) == 1  # a duplicate: nothing appended
    assert log.unstable.entries == []
    assert log.maybe_append(4, 1, 4, [e(2, 5)]) == 0 and log.commit == 4
    assert log.maybe_append(0, 2, 4, [e(2, 1)]) is None  # prev does not match
    with pytest.raises(AssertionError, match="committed"):
        log.maybe_append(0, 1, 4, [e(3, 1)])


# -- MemoryStorage -------------------------------------------------------------------------


def test_memory_storage_compacts_and_tracks_configurations() -> None:
    s = MemoryStorage(ConfState.of([1]))
    conf = ConfState.of([1, 2])
    s.append([e(1, 0), Entry(1, 1, 1, EntryKind.CONF_CHANGE, conf.encode()), e(1, 2, 5)])
    assert s.initial_state().conf_states == ((-1, ConfState.of([1])), (1, conf))
    with pytest.raises(AssertionError, match="inside an entry"):
        s.compact(3)
    s.compact(5, b"state")
    snap = s.snapshot()
    assert (snap.meta.offset, snap.meta.term, snap.meta.conf_state, snap.data) == (
        5,
        1,
        conf,
        b"state",
    )
    assert s.first_offset() == 6 and s.last_offset() == 5 and s.term_at(5) == 1
    assert s.last_offset_for_term(0) is None
    s.append([e(2, 6, 7)])
    s.truncate_to(6)
    assert s.last_offset() == 5
