"""An in-memory ``LogStorage`` with the writes a driver makes: the reference implementation.

The simulator's fake disk keeps two of these (what is durable, what was written), the
interaction tests use one per node, and a small state machine (the controller) can use it
behind a snapshot file.  It also shows the adapter over the partition log what it must do:
keep entry boundaries, answer ``term_at``/``last_offset_for_term`` from the terms, and
remember the configurations found in CONF_CHANGE entries.

Not thread-safe; owned by the node's driver.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from operator import itemgetter

from replication.types import (
    ConfState,
    Entry,
    EntryKind,
    HardState,
    InitialState,
    Snapshot,
    SnapshotMeta,
)

__all__ = ["MemoryStorage"]

_base_offset = itemgetter(1)
_term = itemgetter(0)


class MemoryStorage:
    """A log of entries after a snapshot, the hard state and the configuration history."""

    def __init__(self, conf_state: ConfState | None = None) -> None:
        conf = conf_state if conf_state is not None else ConfState()
        self._snapshot = Snapshot(SnapshotMeta(-1, 0, conf))
        self._entries: list[Entry] = []
        self._hard_state = HardState()
        # (offset, configuration): the one at the snapshot point, then each CONF_CHANGE.
        self._confs: list[tuple[int, ConfState]] = [(-1, conf)] if conf.members() else []

    # -- LogStorage -------------------------------------------------------------------

    def initial_state(self) -> InitialState:
        return InitialState(self._hard_state, tuple(self._confs))

    def first_offset(self) -> int:
        return self._snapshot.meta.offset + 1

    def last_offset(self) -> int:
        if self._entries:
            return self._entries[-1].last_offset
        return self._snapshot.meta.offset

    def term_at(self, offset: int) -> int:
        if offset > self._snap_offset:
            return self._entries[self._index_of(offset)].term
        assert offset == self._snap_offset, f"term_at({offset}) below the log start"
        return self._snapshot.meta.term

    def last_offset_for_term(self, term: int) -> int | None:
        i = bisect_right(self._entries, term, key=_term)
        if i:
            return self._entries[i - 1].last_offset
        meta = self._snapshot.meta
        return meta.offset if meta.term <= term else None

    def entries(self, from_offset: int, until_offset: int, max_bytes: int) -> Sequence[Entry]:
        assert from_offset <= until_offset <= self.last_offset(), (from_offset, until_offset)
        entries = self._entries
        i = self._index_of(from_offset)
        j = i + 1
        size = len(entries[i].data)
        while entries[j - 1].last_offset < until_offset:
            size += len(entries[j].data)
            if size > max_bytes:
                break
            j += 1
        return entries[i:j]

    def snapshot(self) -> Snapshot:
        return self._snapshot

    # -- writes (the driver's side) ----------------------------------------------------

    @property
    def hard_state(self) -> HardState:
        return self._hard_state

    def set_hard_state(self, hard_state: HardState) -> None:
        self._hard_state = hard_state

    def truncate_to(self, offset: int) -> None:
        """Remove every entry at or after ``offset`` (Kafka's ``truncateTo``)."""
        assert offset > self._snap_offset, f"truncate_to({offset}) below the snapshot"
        if offset > self.last_offset():
            return
        i = self._index_of(offset)
        assert self._entries[i].base_offset == offset, f"truncate_to({offset}) inside an entry"
        del self._entries[i:]
        while self._confs and self._confs[-1][0] >= offset:
            self._confs.pop()

    def append(self, entries: Sequence[Entry]) -> None:
        """Append entries that continue the log exactly (truncate first if they overlap)."""
        expected = self.last_offset() + 1
        for e in entries:
            assert e.base_offset == expected, f"entry at {e.base_offset}, log ends at {expected}"
            assert e.last_offset >= e.base_offset
            expected = e.last_offset + 1
            if e.kind == EntryKind.CONF_CHANGE:
                self._confs.append((e.last_offset, ConfState.decode(e.data)))
        self._entries.extend(entries)

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        """Replace the whole log by a snapshot (Kafka's ``truncateFullyAndStartAt``)."""
        self._snapshot = snapshot
        self._entries = []
        self._confs = [(snapshot.meta.offset, snapshot.meta.conf_state)]

    def compact(self, offset: int, data: bytes | bytearray | memoryview = b"") -> None:
        """Drop the entries up to ``offset`` (an entry's last offset) behind a snapshot.

        With ``data`` this is a state machine's compaction (etcd ``CreateSnapshot`` +
        ``Compact``); without, a partition's retention (``deleteRecordsBefore``).
        """
        if offset <= self._snap_offset:
            return
        i = self._index_of(offset)
        assert self._entries[i].last_offset == offset, f"compact({offset}) inside an entry"
        meta = SnapshotMeta(offset, self._entries[i].term, self.conf_at(offset))
        self._snapshot = Snapshot(meta, data)
        del self._entries[: i + 1]
        keep = [c for c in self._confs if c[0] > offset]
        self._confs = [(offset, meta.conf_state), *keep]

    def conf_at(self, offset: int) -> ConfState:
        """The configuration in force at ``offset`` (the last one at or before it)."""
        current = self._snapshot.meta.conf_state
        for at, conf in self._confs:
            if at > offset:
                break
            current = conf
        return current

    def clone(self) -> MemoryStorage:
        """An independent copy (entries are immutable, so the lists are copied shallowly)."""
        other = MemoryStorage.__new__(MemoryStorage)
        other._snapshot = self._snapshot
        other._entries = list(self._entries)
        other._hard_state = self._hard_state
        other._confs = list(self._confs)
        return other

    def all_entries(self) -> list[Entry]:
        """Every held entry (tests and tools; a real log would not offer this)."""
        return list(self._entries)

    # -- internals ---------------------------------------------------------------------

    @property
    def _snap_offset(self) -> int:
        return self._snapshot.meta.offset

    def _index_of(self, offset: int) -> int:
        i = bisect_right(self._entries, offset, key=_base_offset) - 1
        assert i >= 0 and self._entries[i].last_offset >= offset, f"offset {offset} not held"
        return i
