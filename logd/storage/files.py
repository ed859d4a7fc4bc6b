"""File names and the few file operations every storage module shares.

Segment files are named as Kafka names them (``LogFileUtils.filenamePrefixFromOffset``): the
base offset zero-padded to 20 digits, so a plain directory listing sorts segments by offset.

Small metadata files (checkpoints) are replaced atomically: write ``NAME.tmp``, optionally
fsync it, rename it over ``NAME``, optionally fsync the directory.  A reader therefore sees
either the old or the new content, never a mix (a crash may still leave an empty or stale
file when the fsyncs were skipped: every checkpoint has a rebuild path for that).

These functions hold no state and are safe from any thread.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Final

from logd.storage.faults import check_write, checked_fsync

__all__ = [
    "INDEX_SUFFIX",
    "LOG_SUFFIX",
    "SEGMENT_SUFFIXES",
    "TIME_INDEX_SUFFIX",
    "TMP_SUFFIX",
    "Fsync",
    "fsync_dir",
    "fsync_path",
    "parse_segment_name",
    "pread_exact",
    "segment_path",
    "write_all",
    "write_atomic",
]

#: How the durability functions are passed around, so tests can count or fail fsyncs.
Fsync = Callable[[int], None]

LOG_SUFFIX: Final = ".log"
INDEX_SUFFIX: Final = ".index"
TIME_INDEX_SUFFIX: Final = ".timeindex"
TMP_SUFFIX: Final = ".tmp"
SEGMENT_SUFFIXES: Final = (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX)

_SEGMENT_NAME: Final = re.compile(r"([0-9]{20})(\.log|\.index|\.timeindex)")


def segment_path(directory: Path, base_offset: int, suffix: str) -> Path:
    """``<directory>/<20-digit base offset><suffix>``."""
    assert 0 <= base_offset < 10**20, base_offset
    return directory / f"{base_offset:020d}{suffix}"


def parse_segment_name(name: str) -> tuple[int, str] | None:
    """``(base_offset, suffix)`` for a segment file name, None for anything else."""
    match = _SEGMENT_NAME.fullmatch(name)
    if match is None:
        return None
    return int(match.group(1)), match.group(2)


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write every byte: ``os.write`` may write less than asked (a full disk, a signal)."""
    view = memoryview(data)
    written = os.write(fd, view)
    while written < len(view):
        # A zero-byte write with bytes left would loop forever; the OS reports ENOSPC instead.
        written += os.write(fd, view[written:])


def pread_exact(fd: int, size: int, position: int) -> bytes:
    """``size`` bytes at ``position``, or fewer only when the file ends first."""
    data = os.pread(fd, size, position)
    if len(data) == size or not data:
        return data
    chunks = [data]
    have = len(data)
    while have < size:
        more = os.pread(fd, size - have, position + have)
        if not more:
            break
        chunks.append(more)
        have += len(more)
    return b"".join(chunks)


def fsync_dir(directory: Path, fsync: Fsync = os.fsync) -> None:
    """Make a directory's entries (created, renamed, deleted files) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        checked_fsync(fd, fsync)
    finally:
        os.close(fd)


def fsync_path(path: Path, fsync: Fsync = os.fsync) -> bool:
    """fsync a file by name; False when it no longer exists (deleted meanwhile: nothing to do)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        checked_fsync(fd, fsync)
    finally:
        os.close(fd)
    return True


def write_atomic(path: Path, data: bytes, *, fsync: Fsync | None) -> None:
    """Replace ``path`` with ``data`` atomically; durable before returning when ``fsync`` given.

    A failure (a full disk ...) leaves ``path`` as it was and removes the temporary file,
    so a failed write never holds on to space."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    check_write(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            write_all(fd, data)
            if fsync is not None:
                checked_fsync(fd, fsync)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if fsync is not None:
        fsync_dir(path.parent, fsync)
