"""Disk errors in every write path of the storage layer become typed errors at one boundary
(issue 24): a failed append is undone and the log stays online; a failed fsync takes it
offline and ``LogManager.reopen`` brings it back from its files; nothing leaves half a file.

Faults come from ``logd.storage.faults`` (the same hook the broker arms through InjectFault)
and, for a real ENOSPC, from a small tmpfs (skipped with one line where it cannot mount).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from logd.errors import KafkaStorageError
from logd.storage import LogConfig, LogManager
from logd.storage.faults import FAULTS
from logd.storage.files import write_atomic
from logd.storage.io_errors import DiskFullError
from logd.storage.log import Log
from tests.integration.small_disk import fill, small_disk
from tests.storage.batches import make_batch


@pytest.fixture(autouse=True)
def _disarmed() -> Iterator[None]:
    FAULTS.clear()
    yield
    FAULTS.clear()


def _segment_files(directory: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in directory.iterdir() if p.suffix == ".log"}


def test_a_failed_append_is_refused_typed_and_the_log_stays_online(tmp_path: Path) -> None:
    log = Log.open(tmp_path / "t-0")
    log.append(make_batch(3), 1)
    FAULTS.fail_writes(".log", errno.ENOSPC, 1)
    with pytest.raises(DiskFullError, match=r"append failed: the disk is full \(ENOSPC\)"):
        log.append(make_batch(3), 1)
    assert log.offline_reason is None and log.log_end_offset == 3
    assert log.read(0, 1 << 20)  # reads go on
    log.append(make_batch(2), 1)
    assert log.log_end_offset == 5
    log.close()
    reopened = Log.open(tmp_path / "t-0", clean_shutdown=False)
    assert reopened.truncated_on_open == 0 and reopened.log_end_offset == 5
    reopened.close()


def test_an_eio_is_a_storage_error_that_names_the_file(tmp_path: Path) -> None:
    log = Log.open(tmp_path / "t-0")
    FAULTS.fail_writes("t-0", errno.EIO, 1)
    with pytest.raises(KafkaStorageError, match=r"t-0: append failed: an I/O error \(EIO\)"):
        log.append(make_batch(1), 1)
    assert log.offline_reason is None
    log.close()


def test_a_roll_that_cannot_write_its_index_leaves_the_old_segment_active(
    tmp_path: Path,
) -> None:
    config = LogConfig.from_strings({"segment.bytes": "1024"})
    log = Log.open(tmp_path / "t-0", config)
    log.append(make_batch(1, size=800), 1)
    FAULTS.fail_writes(".timeindex", errno.ENOSPC, 1)
    with pytest.raises(DiskFullError):
        log.append(make_batch(1, size=800), 1)  # needs a roll: sealing writes the indexes
    assert log.segment_base_offsets() == [0] and log.offline_reason is None
    assert len(_segment_files(tmp_path / "t-0")) == 1  # the new segment's file is gone
    log.append(make_batch(1, size=800), 1)
    assert log.segment_base_offsets() == [0, 1]
    log.close()


def test_write_atomic_leaves_the_old_file_and_no_temporary_behind(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint"
    write_atomic(path, b"old", fsync=os.fsync)
    FAULTS.fail_fsyncs("checkpoint", errno.EIO, 1)
    with pytest.raises(OSError):
        write_atomic(path, b"new", fsync=os.fsync)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_a_partition_directory_that_cannot_be_created_leaves_nothing_and_retries(
    tmp_path: Path,
) -> None:
    with LogManager(tmp_path / "data") as logs:
        FAULTS.fail_writes("t-0", errno.ENOSPC, 1)  # the mkdir
        with pytest.raises(DiskFullError, match="creating the partition directory"):
            logs.create("t", 0)
        assert not (tmp_path / "data" / "t-0").exists()
        FAULTS.fail_writes("t-0/0000", errno.ENOSPC, 1)  # its first segment
        with pytest.raises(DiskFullError, match="opening the log"):
            logs.create("t", 0, exist_ok=True)
        assert not (tmp_path / "data" / "t-0").exists()
        log = logs.create("t", 0, exist_ok=True)
        log.append(make_batch(1), 1)


def test_a_failed_fsync_takes_the_log_offline_and_reopen_brings_it_back(
    tmp_path: Path,
) -> None:
    with LogManager(tmp_path / "data") as logs:
        log = logs.create("t", 0)
        log.append(make_batch(2), 1)
        log.flush()
        log.append(make_batch(2), 1)
        FAULTS.fail_fsyncs("t-0", errno.EIO, 1)
        with pytest.raises(KafkaStorageError, match="fsync failed"):
            log.flush()
        assert log.offline_reason is not None
        with pytest.raises(KafkaStorageError, match="offline"):
            log.read(0, 1 << 20)
        again = logs.reopen("t", 0, to_recovery_point=True)
        assert logs.get("t", 0) is again and again.offline_reason is None
        # What no fsync covered is dropped: the replica takes it again from its leader.
        assert again.log_end_offset == 2
        assert again.read(0, 1 << 20)
        again.append(make_batch(1), 1)


def test_a_real_full_disk_refuses_appends_and_takes_them_again_with_space(
    tmp_path: Path,
) -> None:
    with small_disk(tmp_path / "disk", 4 << 20) as disk:
        log = Log.open(disk / "t-0")
        ballast = fill(disk, 64 * 1024)
        appended = 0
        with pytest.raises(DiskFullError, match="ENOSPC"):
            for _ in range(1000):
                log.append(make_batch(1, size=16 * 1024), 1)
                appended += 1
        assert log.offline_reason is None and log.log_end_offset == appended
        assert _segment_files(disk / "t-0")["00000000000000000000.log"] == log.size_bytes
        ballast.unlink()
        log.append(make_batch(1, size=16 * 1024), 1)
        assert log.log_end_offset == appended + 1
        log.close()
