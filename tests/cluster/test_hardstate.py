"""The broker's hard-state journal (logd/cluster/hardstate.py) and how a group's side file
hands its terms and votes to it, on real files in a tmp dir."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logd.clock import SystemClock
from logd.cluster import hardstate
from logd.cluster.hardstate import JOURNAL_FILE, HardStateJournal, decode_records, encode_record
from logd.cluster.partition_log import PartitionLog
from logd.cluster.raft_state import RaftState, RaftStateFile, encode
from logd.errors import KafkaStorageError
from logd.storage import Log
from logd.storage.faults import FAULTS
from logd.storage.io_errors import DiskFullError
from replication import ConfState, HardState, Ready

CONF = ((-1, ConfState.of([0, 1, 2])),)


def _state(term: int, vote: int | None, commit: int = -1) -> RaftState:
    return RaftState(HardState(term, vote, commit), -1, 0, CONF)


def test_the_latest_record_of_each_group_survives_a_reopen(tmp_path: Path) -> None:
    journal = HardStateJournal(tmp_path)
    journal.stage("a-0", 7, HardState(1, 2, 5))
    journal.stage("b-0", 8, HardState(3, None, -1))
    journal.stage("a-0", 7, HardState(2, 0, 6))
    assert journal.dirty
    journal.flush()
    assert not journal.dirty
    journal.close()
    again = HardStateJournal(tmp_path)
    assert again.get("a-0", 7) == HardState(2, 0, 6)
    assert again.get("b-0", 8) == HardState(3, None, -1)
    assert again.get("a-0", 9) is None  # another life of the partition: never its vote
    assert again.get("c-0", 7) is None


def test_one_flush_writes_every_group_with_one_fsync(tmp_path: Path) -> None:
    journal = HardStateJournal(tmp_path)
    for i in range(1000):
        journal.stage(f"t-{i}", i, HardState(1, i % 3, -1))
    calls: list[int] = []
    journal.flush(lambda fd: calls.append(fd) or os.fdatasync(fd))  # type: ignore[func-returns-value]
    assert len(calls) == 1
    journal.close()
    assert HardStateJournal(tmp_path).get("t-999", 999) == HardState(1, 0, -1)


def test_a_torn_tail_is_dropped_and_cut_and_appends_go_on_after_it(tmp_path: Path) -> None:
    journal = HardStateJournal(tmp_path)
    journal.stage("a-0", 1, HardState(1, 1, -1))
    journal.flush()
    journal.close()
    path = tmp_path / JOURNAL_FILE
    whole = path.stat().st_size
    with path.open("ab") as f:
        f.write(encode_record("a-0", 1, HardState(2, 2, -1))[:-3])  # a crash mid-append
    again = HardStateJournal(tmp_path)
    assert again.get("a-0", 1) == HardState(1, 1, -1)
    assert path.stat().st_size == whole
    again.stage("a-0", 1, HardState(3, 0, -1))
    again.flush()
    again.close()
    assert HardStateJournal(tmp_path).get("a-0", 1) == HardState(3, 0, -1)


def test_a_damaged_record_ends_what_is_trusted(tmp_path: Path) -> None:
    records = [encode_record("a-0", 1, HardState(t, 1, -1)) for t in (1, 2, 3)]
    damaged = bytearray(records[1])
    damaged[-1] ^= 0x40
    states, valid = decode_records(records[0] + bytes(damaged) + records[2])
    assert states == {"a-0": (1, HardState(1, 1, -1))} and valid == len(records[0])


def test_a_large_file_is_compacted_to_one_record_per_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hardstate, "COMPACT_MIN_BYTES", 1000)
    journal = HardStateJournal(tmp_path)
    for term in range(1, 200):
        for group in ("a-0", "b-0"):
            journal.stage(group, 5, HardState(term, 1, term))
        journal.flush()
    size = (tmp_path / JOURNAL_FILE).stat().st_size
    assert size < 1000 + 4 * 2 * len(encode_record("a-0", 5, HardState(199, 1, 199)))
    journal.close()
    again = HardStateJournal(tmp_path)
    assert again.get("a-0", 5) == again.get("b-0", 5) == HardState(199, 1, 199)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_decode_to_a_valid_prefix_never_an_error(data: bytes) -> None:
    states, valid = decode_records(data)
    assert 0 <= valid <= len(data)
    assert decode_records(data[:valid]) == (states, valid)


# -- the side file and the journal ----------------------------------------------------------


def test_votes_go_to_the_journal_once_the_file_names_its_incarnation(tmp_path: Path) -> None:
    journal = HardStateJournal(tmp_path)
    directory = tmp_path / "t-0"
    directory.mkdir()
    sf = RaftStateFile(directory, journal)
    assert sf.load() is None
    sf.stage(_state(1, 0))  # a new group: the file comes first
    assert sf.dirty and not journal.dirty
    sf.flush()
    sf.stage(_state(2, 1))  # an election: only the hard state changed
    assert journal.dirty and not sf.dirty
    journal.flush()
    journal.close()
    again = RaftStateFile(directory, HardStateJournal(tmp_path))
    loaded = again.load()
    assert loaded is not None and loaded.hard_state == HardState(2, 1, -1)


def test_a_file_written_before_the_journal_is_rewritten_before_the_journal_is_trusted(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "t-0"
    directory.mkdir()
    (directory / "raft-state.json").write_bytes(encode(_state(4, 2)))  # no incarnation
    journal = HardStateJournal(tmp_path)
    sf = RaftStateFile(directory, journal)
    assert sf.load() == _state(4, 2)
    sf.stage(_state(5, 0))
    # Had the vote gone to the journal, a crash now would leave a file the journal cannot
    # be matched with: the vote would be forgotten.
    assert sf.dirty and not journal.dirty


def test_the_newer_of_file_and_journal_wins(tmp_path: Path) -> None:
    journal = HardStateJournal(tmp_path)
    directory = tmp_path / "t-0"
    directory.mkdir()
    sf = RaftStateFile(directory, journal)
    sf.load()
    sf.stage(_state(1, 0))
    sf.flush()
    sf.stage(_state(3, 2, commit=4))
    journal.flush()
    # A configuration change later goes to the file, with the hard state it had then.
    changed = RaftState(HardState(3, 2, 9), -1, 0, (*CONF, (7, ConfState.of([0, 1]))))
    sf.stage(changed)
    sf.flush()
    journal.close()
    loaded = RaftStateFile(directory, HardStateJournal(tmp_path)).load()
    assert loaded is not None
    assert loaded.hard_state == HardState(3, 2, 9) and loaded.confs == changed.confs


def _partition(path: Path, journal: HardStateJournal, incarnation: int) -> PartitionLog:
    return PartitionLog(
        Log.open(path),
        RaftStateFile(path, journal, incarnation=incarnation),
        SystemClock(),
        initial_conf=ConfState.of([0, 1, 2]),
    )


def test_a_partition_with_a_durable_incarnation_writes_no_side_file_to_vote(
    tmp_path: Path,
) -> None:
    journal = HardStateJournal(tmp_path)
    path = tmp_path / "t-0"
    p = _partition(path, journal, incarnation=42)
    assert p.fresh
    vote = Ready(None, HardState(1, 2, -1), None, None, [], [], -1, [], [], True)
    p.write(vote)
    assert journal.dirty and not p.state_file.dirty
    journal.flush()
    p.log.close()
    assert not (path / "raft-state.json").exists()
    again = _partition(path, journal, incarnation=42)
    assert not again.fresh and again.initial_state().hard_state == HardState(1, 2, -1)
    again.log.close()
    # The same name in another life of the topic (deleted, created again): nothing of it.
    other = _partition(path, journal, incarnation=43)
    assert other.fresh and other.initial_state().hard_state.vote is None


def test_a_failed_append_is_undone_and_its_records_written_by_the_next_flush(
    tmp_path: Path,
) -> None:
    """Issue 24: a full disk (ENOSPC on the journal) refuses the flush with a typed error,
    keeps what was staged and leaves no half record; the next flush writes it all."""
    journal = HardStateJournal(tmp_path)
    journal.stage("a-0", 1, HardState(1, 1, -1))
    journal.flush()
    size = (tmp_path / JOURNAL_FILE).stat().st_size
    journal.stage("a-0", 1, HardState(2, 0, -1))
    journal.stage("b-0", 2, HardState(5, None, -1))
    FAULTS.fail_writes(JOURNAL_FILE, errno.ENOSPC, 1)
    try:
        with pytest.raises(DiskFullError, match="ENOSPC"):
            journal.flush()
    finally:
        FAULTS.clear()
    assert (tmp_path / JOURNAL_FILE).stat().st_size == size
    assert journal.dirty and journal.failed is None
    journal.flush()
    journal.close()
    again = HardStateJournal(tmp_path)
    assert again.get("a-0", 1) == HardState(2, 0, -1)
    assert again.get("b-0", 2) == HardState(5, None, -1)
    again.close()


def test_a_failed_fsync_rewrites_the_journal_from_memory_and_it_works_on(
    tmp_path: Path,
) -> None:
    """Issue 24: no second fsync of pages a failed fsync may have dropped -- the journal
    rewrites the whole file from memory (a new file, fsynced, renamed) in the same flush,
    so the flush succeeds and every group's latest record is durable."""
    journal = HardStateJournal(tmp_path)
    journal.stage("a-0", 1, HardState(1, 1, -1))
    journal.flush()
    journal.stage("a-0", 1, HardState(2, 0, -1))
    journal.stage("b-0", 2, HardState(5, None, -1))
    FAULTS.fail_fsyncs(JOURNAL_FILE, errno.EIO, 1)
    try:
        journal.flush()
    finally:
        FAULTS.clear()
    assert journal.failed is None and journal.rewriting is None and not journal.dirty
    journal.stage("c-0", 3, HardState(7, 2, -1))  # appends go on, to the new file
    journal.flush()
    journal.close()
    again = HardStateJournal(tmp_path)
    assert [again.get("a-0", 1), again.get("b-0", 2), again.get("c-0", 3)] == [
        HardState(2, 0, -1), HardState(5, None, -1), HardState(7, 2, -1),
    ]  # fmt: skip
    again.close()


def test_a_journal_that_cannot_be_rewritten_yet_refuses_until_it_can(tmp_path: Path) -> None:
    """The rewrite fails too (the disk still fails): the flush raises a typed error (the
    driver persists its Readys again), the journal does not stop, and the next flush
    rewrites it -- never an fsync again of the file whose fsync failed."""
    journal = HardStateJournal(tmp_path)
    journal.stage("a-0", 1, HardState(1, 1, -1))
    FAULTS.fail_fsyncs(JOURNAL_FILE, errno.EIO, 2)  # the append's fsync, the rewrite's
    try:
        with pytest.raises(KafkaStorageError, match="EIO"):
            journal.flush()
    finally:
        FAULTS.clear()
    assert journal.failed is None and journal.rewriting is not None and journal.dirty
    assert "fsync of the hard-state journal" in journal.rewriting
    journal.flush()
    assert journal.rewriting is None and not journal.dirty
    journal.close()
    again = HardStateJournal(tmp_path)
    assert again.get("a-0", 1) == HardState(1, 1, -1)
    again.close()
