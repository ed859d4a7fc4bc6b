"""The free-space reserve's arithmetic and states (``logd.storage.space``): which setting
decides the reserve, FULL below it (or when a write would take the disk below it, or after
an ENOSPC), the way back with a margin, the alert. statvfs is the one input: a table of
numbers stands for the filesystem here; tests/integration/test_disk_full.py fills real ones.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from logd.storage import io_errors
from logd.storage.space import DiskSpace, DiskUsage, SpaceSettings, SpaceState

_MIB = 1 << 20


class _Disk:
    """What statvfs answers: ``total`` and ``free`` bytes, in 4 KiB blocks."""

    def __init__(self, total: int, free: int) -> None:
        self.total, self.free = total, free

    def __call__(self, path: str) -> os.statvfs_result:
        del path
        return os.statvfs_result((4096, 4096, self.total // 4096, self.free // 4096,
                                  self.free // 4096, 0, 0, 0, 0, 255))  # fmt: skip


def test_the_reserve_is_the_smaller_of_the_two_settings() -> None:
    settings = SpaceSettings(min_free_bytes=1 << 30, min_free_percent=5)
    assert settings.reserve(40 * _MIB) == (2 * _MIB, "storage.min.free.percent=5")
    assert settings.reserve(1 << 40) == (1 << 30, f"storage.min.free.bytes={1 << 30}")
    assert SpaceSettings(min_free_bytes=0).reserve(1 << 40)[0] == 0


def test_below_the_reserve_writes_are_refused_and_resume_with_a_margin(tmp_path: Path) -> None:
    disk = _Disk(40 * _MIB, 10 * _MIB)
    space = DiskSpace(tmp_path, statvfs=disk)
    heard: list[DiskUsage] = []
    space.add_listener(heard.append)
    assert space.sample().state is SpaceState.OK and space.room_for(_MIB)
    disk.free = 3 * _MIB
    assert space.sample().state is SpaceState.LOW  # below the 10 % alert: a warning
    assert space.room_for(_MIB)
    space.note_written(int(1.5 * _MIB))  # between samples the estimate follows the writes
    assert space.full and not space.room_for(1)
    disk.free = int(2.1 * _MIB)  # above the reserve, not above it by the margin
    assert space.sample().state is SpaceState.FULL
    error = space.refusal("a write to t-0")
    assert "storage.min.free.percent=5 of 40.0 MiB" in str(error)
    assert str(tmp_path) in str(error) and error.retriable
    disk.free = 3 * _MIB
    assert space.sample().state is SpaceState.LOW and space.room_for(_MIB)
    assert [u.state for u in heard] == [SpaceState.LOW, SpaceState.FULL, SpaceState.LOW]


def test_a_write_that_would_eat_the_reserve_turns_the_disk_full_until_it_fits(
    tmp_path: Path,
) -> None:
    disk = _Disk(40 * _MIB, int(2.5 * _MIB))
    space = DiskSpace(tmp_path, statvfs=disk)
    space.sample()
    assert not space.room_for(_MIB)  # 2.5 - 1 < 2: refused, and FULL says why
    assert space.usage.state is SpaceState.FULL
    assert "a write of 1.0 MiB would take it below its reserve" in space.usage.reason
    assert not space.room_for(10)  # while FULL, nothing
    disk.free = int(3.1 * _MIB)  # room for that write again (and the margin)
    assert space.sample().state is SpaceState.LOW and space.room_for(_MIB)


def test_an_enospc_anywhere_under_the_disk_marks_it_full_at_once(tmp_path: Path) -> None:
    disk = _Disk(40 * _MIB, 30 * _MIB)
    space = DiskSpace(tmp_path, SpaceSettings(min_free_bytes=0), statvfs=disk)
    space.sample()
    space.attach()
    try:
        io_errors.storage_error("append", OSError(errno.EIO, "EIO"), tmp_path / "t-0")
        assert not space.full  # an I/O error is not a full disk
        io_errors.storage_error("append", OSError(errno.ENOSPC, "ENOSPC"), Path("/elsewhere"))
        assert not space.full  # another disk
        io_errors.storage_error("append", OSError(errno.ENOSPC, "ENOSPC"), tmp_path / "t-0")
        assert space.full and "ENOSPC" in space.usage.reason
        assert space.sample().state is SpaceState.OK  # statvfs says there is room again
    finally:
        space.detach()
