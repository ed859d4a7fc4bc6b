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

:class:`TableOffsetMap` is the same map for the C cleaner (``logd.storage._compact``):
Kafka's layout itself, slots of a 16-byte digest (the same MurmurHash3) and an 8-byte
offset in one buffer, at most 90 % full (Kafka's ``log.cleaner.io.buffer.load.factor``), so
``size_bytes`` holds ``0.9 * size_bytes // 24`` keys, six times the dict's.  The buffer is an
anonymous private ``mmap``: pages the keys never touch are never allocated, so a 32 MiB map
over a few thousand keys costs a few hundred KiB, and ``clear`` (a new mapping) is free.

Not thread-safe: one map belongs to one cleaner pass.
"""

from __future__ import annotations

import mmap
from collections.abc import Sequence
from types import ModuleType
from typing import Any, Final

import mmh3

__all__ = ["ENTRY_BYTES", "SLOT_BYTES", "OffsetMap", "TableOffsetMap", "digest"]

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

    @staticmethod
    def bytes_for(keys: int) -> int:
        """The ``size_bytes`` of a map holding ``keys`` keys."""
        return keys * ENTRY_BYTES

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


#: Bytes of one slot of :class:`TableOffsetMap` (digest, offset).
SLOT_BYTES: Final = 24
_LOAD_FACTOR: Final = 0.9


class TableOffsetMap:
    """At most ``capacity`` keys in slots of one buffer, read and written by ``native``
    (``logd.storage._compact``); see the module doc.  ``bytes_for`` sizes one to hold as
    many keys as an :class:`OffsetMap` (the tests compare the two at equal capacity)."""

    __slots__ = ("_table", "capacity", "entries", "native", "slots")

    def __init__(self, size_bytes: int, native: ModuleType) -> None:
        self.native = native
        self.slots = max(size_bytes // SLOT_BYTES, 2)
        self.capacity = max(int(self.slots * _LOAD_FACTOR), 1)
        self._table: mmap.mmap | None = None
        #: Keys held now (the C functions take and return it).
        self.entries = 0

    def __len__(self) -> int:
        return self.entries

    @staticmethod
    def bytes_for(keys: int) -> int:
        """The ``size_bytes`` of a map holding ``keys`` keys."""
        return -(-keys * 10 // 9) * SLOT_BYTES

    @property
    def table(self) -> mmap.mmap:
        """The slots (zero: empty), mapped at first use."""
        if self._table is None:
            self._table = mmap.mmap(-1, self.slots * SLOT_BYTES, flags=mmap.MAP_PRIVATE)
        return self._table

    def room_for(self, count: int) -> bool:
        """Whether ``count`` more keys surely fit."""
        return self.entries + count <= self.capacity

    def get(self, key: bytes) -> int:
        """The offset last put for ``key``, -1 if none."""
        return int(self.native.map_get(self.table, key))

    def clear(self) -> None:
        """Forget every key (the pages go back to the system)."""
        if self._table is not None:
            self._table.close()
        self._table = None
        self.entries = 0
