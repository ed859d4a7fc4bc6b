"""The LOG_START records a replica has written and not applied (DeleteRecords under Raft),
kept in their side file across restarts (real files in a temporary directory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from logd.cluster.log_starts import PENDING_FILE, PendingLogStarts
from logd.errors import CorruptRecordError
from logd.records.control import log_start_batch, log_start_of


def test_written_records_are_due_once_committed_and_survive_a_restart(tmp_path: Path) -> None:
    pending = PendingLogStarts(tmp_path)
    assert not pending and pending.due(100) is None
    pending.note(50, 40)
    pending.note(60, 45)
    assert pending.due(49) is None and pending.due(55) == 40 and pending.due(60) == 45
    again = PendingLogStarts(tmp_path)  # a restart: the noted records are still due
    assert again.due(60) == 45
    again.applied(55)
    assert PendingLogStarts(tmp_path).due(1000) == 45
    again.applied(60)
    assert not again and not (tmp_path / PENDING_FILE).exists()


def test_records_the_log_lost_are_forgotten(tmp_path: Path) -> None:
    pending = PendingLogStarts(tmp_path)
    for offset, start in ((10, 5), (20, 15), (30, 25)):
        pending.note(offset, start)
    pending.keep(0, 25)  # a truncation cut offsets 25 and later
    assert pending.due(1000) == 15
    pending.keep(12, 25)  # a snapshot from the leader starts the log past offset 10
    assert PendingLogStarts(tmp_path).due(1000) == 15 and pending.due(19) is None


def test_a_damaged_side_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / PENDING_FILE).write_bytes(b"0\n2\n10 5\n")  # says 2 entries, holds 1
    assert not PendingLogStarts(tmp_path)


def test_a_log_start_value_is_checked() -> None:
    assert log_start_of(b"\x00" * 7 + b"\x2a") == 42
    with pytest.raises(CorruptRecordError):
        log_start_of(b"\x00")
    with pytest.raises(CorruptRecordError):
        log_start_of(b"\xff" * 8)
    with pytest.raises(ValueError):
        log_start_batch(-1)
