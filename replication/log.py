"""The Raft log as one view: the durable part through ``LogStorage``, the tail in memory.

Reads of offsets below ``unstable.offset`` go to storage; the unstable tail supersedes
whatever storage holds from there on (etcd ``log.go``).  The commit offset lives here.

Invariant: first_offset() - 1 <= applied <= commit <= last_offset().
Invariant: an entry at or below ``commit`` is never truncated or replaced.

Not thread-safe; owned by the node's ``Raft``.
"""

from __future__ import annotations

from collections.abc import Sequence

from replication.storage import LogStorage
from replication.types import Entry, Snapshot
from replication.unstable import Unstable

__all__ = ["RaftLog"]


class RaftLog:
    """Storage plus unstable tail, with ``commit`` and ``applied`` offsets."""

    __slots__ = ("applied", "commit", "storage", "unstable")

    def __init__(self, storage: LogStorage) -> None:
        self.storage = storage
        first = storage.first_offset()
        self.unstable = Unstable(storage.last_offset() + 1)
        self.commit = first - 1
        self.applied = first - 1

    # -- reads ---------------------------------------------------------------------

    def first_offset(self) -> int:
        snap = self.unstable.snapshot
        return snap.meta.offset + 1 if snap is not None else self.storage.first_offset()

    def last_offset(self) -> int:
        last = self.unstable.last_offset()
        return last if last is not None else self.storage.last_offset()

    def last_term(self) -> int:
        term = self.term_at(self.last_offset())
        assert term is not None
        return term

    def term_at(self, offset: int) -> int | None:
        """Term at ``offset``, or None if it is beyond the log or compacted away."""
        term = self.unstable.term_at(offset)
        if term is not None:
            return term
        if self.unstable.snapshot is not None or offset >= self.unstable.offset:
            return None
        if offset < self.storage.first_offset() - 1:
            return None
        return self.storage.term_at(offset)

    def last_offset_for_term(self, term: int) -> int | None:
        """Largest offset whose term is at most ``term`` (None: below the log start)."""
        found = self.unstable.last_offset_for_term(term)
        if found is not None:
            return found
        snap = self.unstable.snapshot
        if snap is not None:
            return snap.meta.offset if snap.meta.term <= term else None
        found = self.storage.last_offset_for_term(term)
        return None if found is None else min(found, self.unstable.offset - 1)

    def find_conflict_by_term(self, offset: int, term: int) -> int | None:
        """The largest offset at or below ``offset`` whose term is at most ``term``.

        Terms never decrease along a log, so this is ``min(offset, last offset of the last
        term <= term)``: one lookup in the term index, not a walk over entries (etcd
        ``findConflictByTerm``; Kafka ``endOffsetForEpoch``).  None if below the log start.
        """
        bound = self.last_offset_for_term(term)
        if bound is None:
            return None
        return min(offset, self.last_offset(), bound)

    def is_up_to_date(self, last_offset: int, last_term: int) -> bool:
        """Raft §5.4.1: is a log ending at (last_offset, last_term) at least as new?"""
        my_term = self.last_term()
        return last_term > my_term or (last_term == my_term and last_offset >= self.last_offset())

    def entries(self, from_offset: int, until_offset: int, max_bytes: int) -> list[Entry]:
        """Entries from the one holding ``from_offset`` up to ``until_offset``, bounded
        by ``max_bytes`` of data, but at least one."""
        assert self.first_offset() <= from_offset <= until_offset <= self.last_offset()
        unstable = self.unstable
        if from_offset >= unstable.offset:
            return unstable.slice(from_offset, until_offset, max_bytes)
        stop = min(until_offset, unstable.offset - 1)
        out = list(self.storage.entries(from_offset, stop, max_bytes))
        if until_offset <= stop or out[-1].last_offset < stop:
            return out
        budget = max_bytes - sum(len(e.data) for e in out)
        more = unstable.slice(unstable.offset, until_offset, budget)
        if len(more[0].data) > budget:
            return out
        out.extend(more)
        return out

    def next_committed(self, max_bytes: int) -> list[Entry]:
        """Committed entries not yet applied (none while a snapshot waits to be persisted)."""
        if self.applied >= self.commit or self.unstable.snapshot is not None:
            return []
        return self.entries(self.applied + 1, self.commit, max_bytes)

    def has_next_committed(self) -> bool:
        return self.applied < self.commit and self.unstable.snapshot is None

    def persisted_last(self) -> int | None:
        """The last offset known durable and current (None while a snapshot is pending)."""
        if self.unstable.snapshot is not None:
            return None
        return self.unstable.offset - 1

    # -- writes --------------------------------------------------------------------

    def append(self, entries: Sequence[Entry]) -> int:
        """Append (replacing any conflicting tail); returns the new last offset."""
        assert entries[0].base_offset > self.commit, (
            f"append at {entries[0].base_offset} would overwrite committed {self.commit}"
        )
        self.unstable.truncate_and_append(entries)
        return entries[-1].last_offset

    def maybe_append(
        self, prev_offset: int, prev_term: int, commit: int, entries: Sequence[Entry]
    ) -> int | None:
        """A follower's AppendEntries (Raft §5.3): None on mismatch at ``prev_offset``,
        else the index of the first entry actually appended (``len(entries)`` if the log
        held them all already).  The commit offset moves to at most the last entry sent:
        beyond it our log may still differ from the leader's."""
        if self.term_at(prev_offset) != prev_term:
            return None
        last_new = entries[-1].last_offset if entries else prev_offset
        i = self._find_conflict(entries)
        if i is not None:
            self.append(entries[i:])
        self.commit_to(min(commit, last_new))
        return len(entries) if i is None else i

    def _find_conflict(self, entries: Sequence[Entry]) -> int | None:
        """Index of the first entry we lack or hold with another term, else None.

        Entries we hold with the same term are the same entries (one leader per term), so
        a duplicate or reordered append never truncates anything.
        """
        last = self.last_offset()
        if not entries or entries[0].base_offset > last:
            return 0 if entries else None
        for i, e in enumerate(entries):
            if e.last_offset > last or self.term_at(e.last_offset) != e.term:
                return i
        return None

    def commit_to(self, offset: int) -> None:
        if offset > self.commit:
            assert offset <= self.last_offset(), f"commit {offset} beyond {self.last_offset()}"
            self.commit = offset

    def applied_to(self, offset: int) -> None:
        assert offset <= self.commit, (offset, self.commit)
        self.applied = max(self.applied, offset)

    def restore(self, snapshot: Snapshot) -> None:
        """Reset the log to start after ``snapshot`` (its entries are all committed)."""
        self.commit = snapshot.meta.offset
        self.unstable.restore(snapshot)

    def stable_to(self, offset: int, term: int) -> None:
        self.unstable.stable_to(offset, term)

    def stable_snapshot_to(self, offset: int) -> None:
        self.unstable.stable_snapshot_to(offset)
