"""The driver's contract with RawNode: what a Ready holds and promises, restarts,
batching bounds, and typed errors for bad input."""

from __future__ import annotations

from typing import Any

import pytest

from replication import (
    AppendRequest,
    AppendResponse,
    Config,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    Heartbeat,
    InvalidConfigError,
    InvalidMessageError,
    InvalidProposalError,
    MemoryStorage,
    ProgressState,
    RawNode,
    Role,
    VoteRequest,
)
from tests.replication.cluster import Cluster

QUIET: dict[str, Any] = {"pre_vote": False, "check_quorum": False}


def three(**settings: Any) -> Cluster:
    c = Cluster()
    c.add_nodes([1, 2, 3], [1, 2, 3], **{**QUIET, **settings})
    c.elect(1)
    return c


def test_ready_may_not_be_asked_twice_without_advance() -> None:
    c = three()
    c.raw(1).propose(b"x")
    raw = c.raw(1)
    assert raw.has_ready()
    rd = raw.ready()
    assert not raw.has_ready()  # outstanding
    with pytest.raises(AssertionError):
        raw.ready()
    raw.advance(rd)


def test_a_conflicting_append_tells_the_driver_where_to_truncate() -> None:
    storage = MemoryStorage(ConfState.of([1, 2]))
    storage.append([Entry(1, 0, 0, EntryKind.NORMAL, b"a"), Entry(1, 1, 3, EntryKind.NORMAL, b"b")])
    raw = RawNode(Config(node_id=2, **QUIET), storage)
    new = (Entry(2, 1, 2, EntryKind.NORMAL, b"c"),)
    raw.step(AppendRequest(2, 1, 2, 0, 1, new, -1))
    rd = raw.ready()
    assert rd.truncate_to == 1 and list(rd.entries) == list(new)
    assert rd.must_sync
    (ack,) = rd.messages_after_persist
    assert isinstance(ack, AppendResponse) and ack.match_offset == 2


def test_commit_alone_needs_no_sync_and_is_the_high_watermark() -> None:
    c = three(apply_entries=False)
    c.raw(1).propose(b"x", 5)
    c.handle_ready(1)
    c.deliver()
    for i in (2, 3):
        c.handle_ready(i)
    c.deliver([1])
    rd = c.raw(1).ready()
    assert rd.commit == 5 and rd.hard_state is not None and rd.hard_state.commit == 5
    assert not rd.must_sync and rd.committed_entries == []  # a partition applies nothing
    c.raw(1).advance(rd)
    assert c.raw(1).status().applied == 5


def test_entry_data_is_passed_by_reference() -> None:
    c = three()
    payload = bytearray(b"batch")
    c.raw(1).propose(memoryview(payload), 3)
    rd = c.raw(1).ready()
    assert rd.entries[0].data.obj is payload  # type: ignore[union-attr]
    (append, _) = rd.messages
    assert isinstance(append, AppendRequest) and append.entries[0].data is rd.entries[0].data


def test_appends_respect_the_batch_bounds_and_the_window() -> None:
    c = three(max_append_entries=2, max_append_bytes=10, max_inflight_appends=3)
    for _ in range(20):
        c.raw(1).propose(b"1234")
    rd = c.raw(1).ready()
    to2 = [m for m in rd.messages if isinstance(m, AppendRequest) and m.dst == 2]
    assert len(to2) == 3  # the window
    assert all(1 <= len(m.entries) <= 2 for m in to2)  # the count bound (10 bytes: 2 x 4)
    assert [m.prev_offset for m in to2] == [0, 2, 4]  # pipelined back to back
    c.raw(1).advance(rd)


def test_a_throttled_learner_gets_its_rate_and_the_voters_do_not_wait() -> None:
    c = Cluster()
    c.add_nodes([1, 2, 3, 4], [1, 2, 3], [4], **QUIET, max_append_entries=1)
    c.elect(1)
    c.raw(1).throttle(4, 100)  # 100 bytes a tick; each entry below is 40 bytes
    for _ in range(40):
        c.raw(1).propose(b"x" * 40)
    c.stabilize()
    start = c.raw(1).status().progress[4].match
    assert c.raw(1).commit == c.raw(1).last_offset  # the voters were not held back
    caught = c.raw(1).status().progress[4].match
    for ticks in range(1, 11):
        c.tick(1)
        c.stabilize()
        caught = c.raw(1).status().progress[4].match
        # 100 bytes a tick: at most 3 entries a tick (one append beyond the credit).
        assert caught - start <= 3 * ticks
    assert caught - start >= 2 * 10  # ... and at least the rate, on average
    assert caught < c.raw(1).last_offset
    with pytest.raises(ValueError):
        c.raw(1).throttle(4, -1)
    c.raw(1).throttle(4, 0)  # lifted: the rest at full speed
    c.stabilize()
    assert c.raw(1).status().progress[4].match == c.raw(1).last_offset
    c.raw(1).throttle(2, 1)  # a voter: never held back
    c.raw(1).propose(b"y" * 40)
    c.stabilize()
    assert c.raw(1).status().progress[2].match == c.raw(1).last_offset


def test_a_restart_clamps_a_commit_beyond_the_durable_log() -> None:
    storage = MemoryStorage(ConfState.of([1, 2, 3]))
    storage.append([Entry(1, 0, 0, EntryKind.NORMAL, b"a")])
    storage.set_hard_state(HardState(term=3, vote=2, commit=9))  # entries 1..9 were lost
    raw = RawNode(Config(node_id=1), storage)
    status = raw.status()
    assert (status.term, status.vote, status.commit, status.role) == (3, 2, 0, Role.FOLLOWER)


def test_a_restarted_controller_replays_from_its_applied_offset() -> None:
    storage = MemoryStorage(ConfState.of([1]))
    storage.append([Entry(1, o, o, EntryKind.NORMAL, b"x") for o in range(5)])
    storage.set_hard_state(HardState(term=1, vote=1, commit=4))
    raw = RawNode(Config(node_id=1, applied=2), storage)
    rd = raw.ready()
    assert [x.base_offset for x in rd.committed_entries] == [3, 4]


def test_answers_from_a_term_left_behind_are_not_sent() -> None:
    storage = MemoryStorage(ConfState.of([1, 2, 3]))
    raw = RawNode(Config(node_id=2, **QUIET), storage)
    raw.step(AppendRequest(1, 1, 2, -1, 0, (Entry(1, 0, 0, EntryKind.NORMAL, b"a"),), -1))
    raw.step(VoteRequest(term=2, src=3, dst=2, last_offset=0, last_term=1))
    rd = raw.ready()
    assert [type(m).__name__ for m in rd.messages_after_persist] == ["VoteResponse"]


def test_report_unreachable_stops_streaming() -> None:
    c = three()
    c.raw(1).report_unreachable(2)
    assert c.raw(1).status().progress[2].state is ProgressState.PROBE


@pytest.mark.parametrize(
    ("message", "why"),
    [
        (Heartbeat(term=1, src=1, dst=9, commit=0), "for 9"),
        (AppendRequest(1, 1, 2, 0, 1, (Entry(1, 5, 5, EntryKind.NORMAL, b""),), 0), "follow"),
        (AppendRequest(1, 1, 2, 0, 1, (Entry(2, 1, 1, EntryKind.NORMAL, b""),), 0), "term"),
    ],
)
def test_malformed_messages_get_a_typed_error(message: object, why: str) -> None:
    raw = RawNode(Config(node_id=2), MemoryStorage(ConfState.of([1, 2])))
    with pytest.raises(InvalidMessageError, match=why):
        raw.step(message)  # type: ignore[arg-type]


def test_bad_settings_and_proposals_get_typed_errors() -> None:
    storage = MemoryStorage(ConfState.of([1]))
    for bad in (
        Config(node_id=1, election_ticks=1, heartbeat_ticks=1),
        Config(node_id=-1),
        Config(node_id=1, max_inflight_appends=0),
    ):
        with pytest.raises(InvalidConfigError):
            RawNode(bad, storage)
    with pytest.raises(InvalidConfigError, match="applied offset 7"):
        RawNode(Config(node_id=1, applied=7), storage)
    raw = RawNode(Config(node_id=1), storage)
    raw.campaign()
    rd = raw.ready()
    storage.append(rd.entries)  # the driver persists before advancing
    raw.advance(rd)
    assert raw.role is Role.LEADER
    with pytest.raises(InvalidProposalError):
        raw.propose(b"x", 0)


# -- asynchronous storage writes (Config.async_writes, issue 22) ---------------------


def _write(storage: MemoryStorage, rd: Any) -> Any:
    """The driver's writes of a Ready (no fsync: the Ready is advanced when durable)."""
    if rd.truncate_to is not None:
        storage.truncate_to(rd.truncate_to)
    if rd.entries:
        storage.append(list(rd.entries))
    if rd.hard_state is not None:
        storage.set_hard_state(rd.hard_state)
    return rd


def _async_leader() -> tuple[RawNode, MemoryStorage]:
    storage = MemoryStorage(ConfState.of([1]))
    raw = RawNode(Config(node_id=1, async_writes=True, **QUIET), storage)
    raw.campaign()
    raw.advance(_write(storage, raw.ready()))  # the election: term and vote, alone
    raw.advance(_write(storage, raw.ready()))  # leadership
    return raw, storage


def test_with_async_writes_the_next_ready_is_handed_out_before_the_first_is_durable() -> None:
    storage = MemoryStorage(ConfState.of([1]))
    raw = RawNode(Config(node_id=1, async_writes=True, **QUIET), storage)
    raw.campaign()
    first = _write(storage, raw.ready())  # the election: term and vote change
    assert not raw.has_ready()  # ... so it stays alone
    raw.advance(first)
    raw.advance(_write(storage, raw.ready()))
    raw.propose(b"b")
    one = _write(storage, raw.ready())
    raw.propose(b"c")
    assert raw.has_ready()
    two = _write(storage, raw.ready())
    assert [e.data for e in one.entries] == [b"b"] and [e.data for e in two.entries] == [b"c"]
    # Nothing written counts as persisted before the storage says so: a one-node group
    # commits an entry only once the Ready that holds it is advanced.
    commit = raw.commit
    assert commit < one.entries[0].last_offset
    raw.advance(one)
    assert raw.commit == one.entries[0].last_offset
    assert raw.commit < two.entries[0].last_offset
    raw.advance(two)
    assert raw.commit == two.entries[0].last_offset


def test_with_async_writes_readys_are_advanced_in_order() -> None:
    raw, storage = _async_leader()
    raw.propose(b"a")
    one = _write(storage, raw.ready())
    raw.propose(b"b")
    two = _write(storage, raw.ready())
    with pytest.raises(AssertionError):
        raw.advance(two)
    raw.advance(one)
    raw.advance(two)


def test_with_async_writes_a_truncation_waits_until_nothing_is_outstanding() -> None:
    storage = MemoryStorage(ConfState.of([1, 2]))
    raw = RawNode(Config(node_id=2, async_writes=True, **QUIET), storage)
    raw.step(AppendRequest(1, 1, 2, -1, 0, (Entry(1, 0, 0, EntryKind.NORMAL, b"a"),), -1))
    raw.advance(_write(storage, raw.ready()))  # a new term and leader: alone
    raw.step(AppendRequest(1, 1, 2, 0, 1, (Entry(1, 1, 1, EntryKind.NORMAL, b"b"),), -1))
    first = _write(storage, raw.ready())
    raw.step(AppendRequest(1, 1, 2, 1, 1, (Entry(1, 2, 2, EntryKind.NORMAL, b"c"),), -1))
    assert raw.has_ready()
    second = _write(storage, raw.ready())  # plain: new entries behind the first
    # A new leader's conflicting entry replaces offset 2: a truncation of what the
    # outstanding Ready is writing must wait for it (and for the one before).
    raw.step(AppendRequest(2, 3, 2, 1, 1, (Entry(2, 2, 2, EntryKind.NORMAL, b"d"),), -1))
    assert not raw.has_ready()
    raw.advance(first)
    assert not raw.has_ready()
    raw.advance(second)
    rd = raw.ready()
    assert rd.truncate_to == 2 and rd.hard_state is not None  # and the term moved
    # A follower's acknowledgement leaves only with its own Ready, once durable.
    (ack,) = rd.messages_after_persist
    assert isinstance(ack, AppendResponse) and ack.match_offset == 2
