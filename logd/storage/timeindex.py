"""The time index of a segment (Kafka's ``TimeIndex.java``).

An entry is ``(timestamp i64, relative offset u32)``, big-endian, 12 bytes, meaning: the
largest batch max-timestamp seen so far is ``timestamp``, and the first batch to reach it
starts at ``segment base + relative offset``.  Entries are added at the same moments as
offset-index entries, and only when the timestamp grows, so timestamps rise strictly and
offsets never fall.  A segment also appends its final maximum when it is sealed or closed,
so the last entry of a segment that is not active gives its largest timestamp.

Why a lookup may start at the entry's offset: every batch before it has a max timestamp
below the entry's timestamp, so for a target ≥ that timestamp nothing earlier qualifies.

Not thread-safe: owned by its segment, under the log's lock.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Final

from logd.storage.index import IndexFile, floor_search, read_index_file

__all__ = ["TIME_ENTRY", "TimeIndex"]

TIME_ENTRY: Final = struct.Struct(">qI")
_U32_MAX: Final = (1 << 32) - 1


class TimeIndex(IndexFile):
    """Sparse (timestamp, relative offset) entries of one segment."""

    __slots__ = ("_last_offset", "_last_timestamp")

    def __init__(self, path: Path, base_offset: int, entries_max: int, data: bytes = b"") -> None:
        super().__init__(path, base_offset, entries_max, TIME_ENTRY, data)
        self._forget_last()

    def _forget_last(self) -> None:
        # Cached because appends compare with it once per indexed batch.
        if self._data:
            ts, relative = TIME_ENTRY.unpack_from(self._data, len(self._data) - TIME_ENTRY.size)
            self._last_timestamp, self._last_offset = int(ts), self.base_offset + relative
        else:
            self._last_timestamp, self._last_offset = -1, self.base_offset

    @classmethod
    def load(
        cls, path: Path, base_offset: int, entries_max: int, upper_offset: int | None
    ) -> TimeIndex | None:
        """The index in ``path`` if well-formed: rising timestamps, offsets in the segment."""
        data = read_index_file(path, TIME_ENTRY.size)
        if data is None:
            return None
        previous_ts, previous_rel = -1, 0
        for ts, relative in TIME_ENTRY.iter_unpack(data):
            if ts <= previous_ts or relative < previous_rel:
                return None
            previous_ts, previous_rel = ts, relative
        if data and upper_offset is not None and base_offset + previous_rel >= upper_offset:
            return None
        return cls(path, base_offset, entries_max, data)

    @staticmethod
    def peek_last(path: Path, base_offset: int) -> tuple[int, int] | bool | None:
        """The last entry of the file without loading it: (timestamp, offset), None when the
        file holds no entry, False when it is missing or torn."""
        data = read_index_file(path, TIME_ENTRY.size, last_only=True)
        if data is None:
            return False
        if not data:
            return None
        ts, relative = TIME_ENTRY.unpack(data)
        return int(ts), base_offset + relative

    def last(self) -> tuple[int, int] | None:
        """The last entry as (timestamp, absolute offset)."""
        return (self._last_timestamp, self._last_offset) if self._data else None

    def maybe_append(self, timestamp: int, offset: int) -> None:
        """Add (timestamp, offset) if the timestamp exceeds the last entry's (Kafka's rule)."""
        if timestamp <= self._last_timestamp:
            return  # also drops -1, "no timestamp": the empty index's last is (-1, base)
        relative = offset - self.base_offset
        assert 0 <= relative <= _U32_MAX, offset
        # Invariant: offsets never fall (the running maximum only moves forward in the log).
        assert offset >= self._last_offset, (self._last_offset, offset)
        self._data += TIME_ENTRY.pack(timestamp, relative)
        self._last_timestamp, self._last_offset = timestamp, offset

    def lookup(self, timestamp: int) -> int | None:
        """The offset of the last entry whose timestamp is ≤ ``timestamp``, None if none is."""
        slot = floor_search(self._data, len(self), TIME_ENTRY, 0, timestamp)
        if slot < 0:
            return None
        return self.base_offset + int(TIME_ENTRY.unpack_from(self._data, slot * TIME_ENTRY.size)[1])

    def truncate_to_offset(self, offset: int) -> None:
        """Drop entries that point at ``offset`` or later (those batches are gone)."""
        # Offsets never fall, so the entries to keep are a prefix found by binary search.
        keep = floor_search(self._data, len(self), TIME_ENTRY, 1, offset - self.base_offset - 1) + 1
        self._truncate_entries(keep)
