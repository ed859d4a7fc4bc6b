"""The tail of the log that is not yet known durable, and a snapshot waiting to be persisted.

This is all of the log the core holds in memory (etcd ``log_unstable.go``): entries from
``offset`` on, which supersede whatever the storage holds at or after ``offset``.  Entries
move out once the driver reports them persisted (``stable_to``).  ``in_progress`` counts
the leading entries already handed to the driver in a ``Ready`` and not yet acknowledged,
so that no entry is handed out twice.

Not thread-safe; owned by the node's ``RaftLog``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from operator import itemgetter

from replication.types import Entry, Snapshot

__all__ = ["Unstable"]

_base_offset = itemgetter(1)
_term = itemgetter(0)


class Unstable:
    """Unpersisted entries ``entries`` starting at ``offset``, and maybe a snapshot."""

    __slots__ = ("entries", "in_progress", "offset", "snapshot", "snapshot_in_progress")

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.entries: list[Entry] = []
        self.snapshot: Snapshot | None = None
        self.in_progress = 0
        self.snapshot_in_progress = False

    def last_offset(self) -> int | None:
        if self.entries:
            return self.entries[-1].last_offset
        if self.snapshot is not None:
            return self.snapshot.meta.offset
        return None

    def term_at(self, offset: int) -> int | None:
        """The term at ``offset`` if the unstable part decides it, else None."""
        entries = self.entries
        if entries and self.offset <= offset <= entries[-1].last_offset:
            return entries[bisect_right(entries, offset, key=_base_offset) - 1].term
        snap = self.snapshot
        if snap is not None and offset == snap.meta.offset:
            return snap.meta.term
        return None

    def last_offset_for_term(self, term: int) -> int | None:
        """Largest offset among the unstable entries whose term is at most ``term``."""
        i = bisect_right(self.entries, term, key=_term)
        return self.entries[i - 1].last_offset if i else None

    def slice(self, from_offset: int, until_offset: int, max_bytes: int) -> list[Entry]:
        """Entries from the one holding ``from_offset`` (>= offset) up to ``until_offset``.

        Always at least one entry; then only while the total data stays within
        ``max_bytes`` (a negative budget means the caller has spent it already).
        """
        entries = self.entries
        i = bisect_right(entries, from_offset, key=_base_offset) - 1
        assert i >= 0 and entries[i].last_offset >= from_offset, (from_offset, self.offset)
        j = i + 1
        size = len(entries[i].data)
        n = len(entries)
        while j < n and entries[j - 1].last_offset < until_offset:
            size += len(entries[j].data)
            if size > max_bytes:
                break
            j += 1
        return entries[i:j]

    def truncate_and_append(self, entries: Sequence[Entry]) -> None:
        """Append ``entries``, first dropping every held entry at or after their start."""
        base = entries[0].base_offset
        held = self.entries
        next_offset = held[-1].last_offset + 1 if held else self.offset
        if base == next_offset:
            held.extend(entries)
        elif base <= self.offset:
            # The new entries replace everything we hold and part of the stored log too:
            # reads below ``base`` go to storage, the driver truncates it at ``base``.
            self.offset = base
            self.entries = list(entries)
            self.in_progress = 0
        else:
            i = bisect_right(held, base, key=_base_offset) - 1
            assert i >= 0 and held[i].base_offset == base, f"truncation at {base} splits an entry"
            del held[i:]
            held.extend(entries)
            self.in_progress = min(self.in_progress, i)

    def next_entries(self) -> list[Entry]:
        """Entries not yet handed to the driver."""
        return self.entries[self.in_progress :]

    def accept_in_progress(self) -> None:
        """Everything held has now been handed to the driver."""
        self.in_progress = len(self.entries)
        if self.snapshot is not None:
            self.snapshot_in_progress = True

    def stable_to(self, offset: int, term: int) -> None:
        """The driver persisted entries up to ``offset`` (last one of term ``term``).

        Ignored if that entry was replaced meanwhile (a conflicting append arrived while
        the driver was writing): the replacement will be persisted by a later Ready.
        """
        if self.term_at(offset) != term or not self.entries or offset < self.offset:
            return
        i = bisect_right(self.entries, offset, key=_base_offset)
        assert self.entries[i - 1].last_offset == offset, f"stable_to({offset}) inside an entry"
        del self.entries[:i]
        self.in_progress = max(0, self.in_progress - i)
        self.offset = offset + 1

    def stable_snapshot_to(self, offset: int) -> None:
        if self.snapshot is not None and self.snapshot.meta.offset == offset:
            self.snapshot = None
            self.snapshot_in_progress = False

    def restore(self, snapshot: Snapshot) -> None:
        """Replace everything by a snapshot; the log restarts after it."""
        self.offset = snapshot.meta.offset + 1
        self.entries = []
        self.in_progress = 0
        self.snapshot = snapshot
        self.snapshot_in_progress = False
