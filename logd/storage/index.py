"""The sparse offset index of a segment (Kafka's ``OffsetIndex.java``), and what indexes share.

An entry is ``(relative offset u32, position u32)``, big-endian, 8 bytes: the batch whose
base offset is ``segment base + relative offset`` starts at byte ``position`` of the
``.log`` file.  A segment adds one entry per ``index.interval.bytes`` appended, so a lookup
lands at most about that many bytes before the batch it wants and walks the rest.

Indexes are not checksummed: after an unclean shutdown they are rebuilt from the log, and
one found corrupt on load (size not a multiple of the entry, entries out of order or
pointing outside the log) is rebuilt too (Kafka ``LogSegment.recover``,
``AbstractIndex.sanityCheck``).  So the file only has to be right after a clean close or a
flush of a sealed segment; meanwhile the entries live in memory and are written out by
:meth:`write_file` (no mmap, no preallocation: a Python ``bytearray`` plus one ``pwrite``).

The binary search is a pure function over bytes (:func:`floor_search`); Kafka's warm-section
trick (``AbstractIndex``) is not needed because the entries are in memory, not paged in.

Not thread-safe: an index is owned by its segment, which its log guards with the log's lock.
"""

from __future__ import annotations

import itertools
import os
import struct
import sys
from array import array
from pathlib import Path
from typing import Final

from logd.storage.faults import check_write
from logd.storage.files import pread_exact, write_all

__all__ = [
    "OFFSET_ENTRY",
    "IndexFile",
    "OffsetIndex",
    "floor_search",
    "read_index_file",
]

OFFSET_ENTRY: Final = struct.Struct(">II")
_U32_MAX: Final = (1 << 32) - 1


def floor_search(
    buf: bytes | bytearray, count: int, entry: struct.Struct, field: int, target: int
) -> int:
    """The slot of the last of ``count`` entries whose ``field`` is ≤ ``target``; -1 if none.

    The entries must be sorted by ``field`` (both indexes are, by construction).
    """
    unpack = entry.unpack_from
    size = entry.size
    low, high = 0, count - 1
    found = -1
    while low <= high:
        mid = (low + high) >> 1
        if unpack(buf, mid * size)[field] <= target:
            found = mid
            low = mid + 1
        else:
            high = mid - 1
    return found


def read_index_file(path: Path, entry_size: int, *, last_only: bool = False) -> bytes | None:
    """The index file's bytes (or only its last entry), None if missing or of a torn size."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        size = os.fstat(fd).st_size
        if size % entry_size:
            return None
        if last_only:
            return pread_exact(fd, entry_size, size - entry_size) if size else b""
        return pread_exact(fd, size, 0)
    finally:
        os.close(fd)


def _u32_columns(data: bytes) -> array[int]:
    values = array("I")
    assert values.itemsize == 4
    values.frombytes(data)
    if sys.byteorder == "little":
        values.byteswap()
    return values


class IndexFile:
    """In-memory entries mirrored to a file; what the offset and time indexes share."""

    __slots__ = ("_data", "_entry", "_file_valid", "base_offset", "entries_max", "path")

    def __init__(
        self,
        path: Path,
        base_offset: int,
        entries_max: int,
        entry: struct.Struct,
        data: bytes = b"",
    ) -> None:
        assert len(data) % entry.size == 0
        self.path = path
        self.base_offset = base_offset
        self.entries_max = entries_max
        self._entry = entry
        self._data = bytearray(data)
        # Invariant: the file holds exactly self._data[:self._file_valid] at its start.
        self._file_valid = len(data)

    def __len__(self) -> int:
        return len(self._data) // self._entry.size

    @property
    def is_full(self) -> bool:
        return len(self._data) >= self.entries_max * self._entry.size

    @property
    def data(self) -> bytes:
        return bytes(self._data)

    def _truncate_entries(self, count: int) -> None:
        keep = count * self._entry.size
        if keep < len(self._data):
            del self._data[keep:]
            self._file_valid = min(self._file_valid, keep)
            self._forget_last()

    def _forget_last(self) -> None:
        """Recompute what a subclass caches about its last entry (after a truncation)."""

    def reset(self) -> None:
        self._truncate_entries(0)

    @property
    def dirty(self) -> bool:
        return self._file_valid != len(self._data)

    def write_file(self) -> None:
        """Bring the file in line with memory: truncate what was dropped, write what is new."""
        if not self.dirty and self.path.exists():
            return
        check_write(self.path)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size != self._file_valid:
                os.ftruncate(fd, self._file_valid)
            os.lseek(fd, self._file_valid, os.SEEK_SET)
            write_all(fd, memoryview(self._data)[self._file_valid :])
        finally:
            os.close(fd)
        self._file_valid = len(self._data)

    def delete_file(self) -> None:
        self.path.unlink(missing_ok=True)


class OffsetIndex(IndexFile):
    """Sparse (relative offset, position) entries of one segment, rising in both fields."""

    __slots__ = ("_last_offset", "_last_position")

    def __init__(self, path: Path, base_offset: int, entries_max: int, data: bytes = b"") -> None:
        super().__init__(path, base_offset, entries_max, OFFSET_ENTRY, data)
        self._forget_last()

    def _forget_last(self) -> None:
        # Cached because appends check against it once per indexed batch.
        if self._data:
            relative, position = OFFSET_ENTRY.unpack_from(self._data, len(self._data) - 8)
            self._last_offset, self._last_position = self.base_offset + relative, position
        else:
            self._last_offset = self._last_position = -1

    @classmethod
    def load(
        cls,
        path: Path,
        base_offset: int,
        entries_max: int,
        log_size: int,
        upper_offset: int | None,
    ) -> OffsetIndex | None:
        """The index in ``path`` if its entries make sense for a log of ``log_size`` bytes.

        None when the file is missing, torn, out of order, or points outside the log or
        past ``upper_offset`` (the next segment's base): the caller rebuilds it.
        """
        data = read_index_file(path, OFFSET_ENTRY.size)
        if data is None:
            return None
        values = _u32_columns(data)
        relative, positions = values[0::2], values[1::2]
        if any(a >= b for a, b in itertools.pairwise(relative)):
            return None
        if any(a >= b for a, b in itertools.pairwise(positions)):
            return None
        if positions and positions[-1] >= log_size:
            return None
        if relative and upper_offset is not None and base_offset + relative[-1] >= upper_offset:
            return None
        return cls(path, base_offset, entries_max, data)

    def last(self) -> tuple[int, int] | None:
        """The last entry as (absolute offset, position)."""
        return (self._last_offset, self._last_position) if self._data else None

    def append(self, offset: int, position: int) -> None:
        relative = offset - self.base_offset
        assert 0 <= relative <= _U32_MAX and 0 <= position <= _U32_MAX, (offset, position)
        # Invariant: entries rise strictly in offset and position.
        assert offset > self._last_offset and position > self._last_position, (offset, position)
        self._data += OFFSET_ENTRY.pack(relative, position)
        self._last_offset, self._last_position = offset, position

    def lookup(self, offset: int) -> int:
        """The position of the last indexed batch whose base offset is ≤ ``offset`` (0 if none)."""
        entry = self.lookup_entry(offset)
        return 0 if entry is None else entry[1]

    def lookup_entry(self, offset: int) -> tuple[int, int] | None:
        """(absolute offset, position) of the last entry whose offset is ≤ ``offset``."""
        slot = floor_search(self._data, len(self), OFFSET_ENTRY, 0, offset - self.base_offset)
        if slot < 0:
            return None
        relative, position = OFFSET_ENTRY.unpack_from(self._data, slot * 8)
        return self.base_offset + relative, position

    def floor_position(self, position: int) -> int:
        """The largest indexed batch position that is ≤ ``position`` (0 if none)."""
        slot = floor_search(self._data, len(self), OFFSET_ENTRY, 1, position)
        return 0 if slot < 0 else int(OFFSET_ENTRY.unpack_from(self._data, slot * 8)[1])

    def truncate_to_position(self, position: int) -> None:
        """Drop entries for batches at or after byte ``position`` (the log was cut there)."""
        keep = floor_search(self._data, len(self), OFFSET_ENTRY, 1, position - 1) + 1
        self._truncate_entries(keep)
