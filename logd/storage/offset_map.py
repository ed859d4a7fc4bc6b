"""The cleaner's key -> latest offset map, bounded in memory (Kafka's ``SkimpyOffsetMap``).

Kafka sizes the map by ``log.cleaner.dedupe.buffer.size`` and stores a 16-byte MD5 of each
key beside its offset, so a key of any length costs the same; when the map is full the
cleaner stops mapping and cleans what it mapped, and a larger log takes more passes, never
more memory.  Here the entries are a ``dict`` of 128-bit digests (ints) to offsets: a
hand-written open-addressing table in a ``bytearray`` would pay Python bytecode per probe,
the dict does its probing in C.  Its footprint per entry (the digest object, the offset,
the dict's slot and index at its worst load) is at most :data:`ENTRY_BYTES`, so a map of
``size_bytes`` takes ``size_bytes // ENTRY_BYTES`` keys (``tests/storage/test_cleaner.py``
measures it with tracemalloc on a log 20 times larger than the map).

The digest is MurmurHash3's 128-bit x64 variant (``mmh3``, already the partitioner's
hash) rather than Kafka's MD5: the same width, a fifth of the cost per key here.  A
collision would let one key's record stand in for another's; at 128 bits that needs ~2^64
keys, the risk Kafka takes too (neither hash is meant to resist an adversary choosing keys).

Not thread-safe: one map belongs to one cleaner pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import mmh3

__all__ = ["ENTRY_BYTES", "OffsetMap", "digest"]

#: Bytes one entry may cost: 44 for the digest's int object, 32 for the offset, and the
#: dict's share (a 24-byte entry plus an index slot, over a table at most 2/3 full, doubled
#: right after a resize).
ENTRY_BYTES: Final = 160
_digest = mmh3.hash128
#: The digest the map keys by.
digest = _digest


class OffsetMap:
    """At most ``capacity`` keys, each with the largest offset ``put`` gave it."""

    __slots__ = ("_entries", "capacity", "latest_offset")

    def __init__(self, size_bytes: int) -> None:
        self.capacity = max(size_bytes // ENTRY_BYTES, 1)
        self._entries: dict[int, int] = {}
        #: The largest offset put (-1: none).
        self.latest_offset = -1

    def __len__(self) -> int:
        return len(self._entries)

    def room_for(self, count: int) -> bool:
        """Whether ``count`` more keys surely fit (each record may bring a new key)."""
        return len(self._entries) + count <= self.capacity

    def put(self, key: bytes, offset: int) -> None:
        """Remember ``offset`` for ``key``; offsets are put in rising order."""
        self._entries[_digest(key)] = offset
        self.latest_offset = offset

    def put_all(self, records: Sequence[tuple[Any, ...]]) -> None:
        """``put`` the key of every record that has one (offset, timestamp, key, ...)."""
        keyed = [(_digest(r[2]), r[0]) for r in records if r[2] is not None]
        self._entries.update(keyed)
        if keyed:
            self.latest_offset = keyed[-1][1]

    @property
    def entries(self) -> dict[int, int]:
        """Digest -> offset, for a caller's own tight loop (with :data:`digest`)."""
        return self._entries

    def get(self, key: bytes) -> int:
        """The offset last put for ``key``, -1 if none."""
        return self._entries.get(_digest(key), -1)

    def clear(self) -> None:
        self._entries = {}
        self.latest_offset = -1
