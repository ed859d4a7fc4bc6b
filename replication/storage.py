"""The durable log as the core sees it: a read-only interface the driver implements.

The core never writes storage.  It hands the driver what to persist in a ``Ready`` and
reads back older entries through this interface, keeping only the unpersisted tail in
memory (etcd's ``Storage``; for a partition the adapter over the segment files, whose
``term_at`` and ``last_offset_for_term`` come from Kafka's leader-epoch cache).

A log holds contiguous entries ``[first_offset(), last_offset()]`` after a snapshot point
``first_offset() - 1`` (the log start after retention or compaction; ``-1`` with term 0 for
a log that was never compacted).  ``last_offset() == first_offset() - 1`` when it is empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from replication.types import Entry, InitialState, Snapshot

__all__ = ["LogStorage"]


class LogStorage(Protocol):
    """What the core reads.  Calls must not block for long: the core runs inline."""

    def initial_state(self) -> InitialState:
        """Hard state and configuration history at start-up (see ``InitialState``)."""
        ...

    def first_offset(self) -> int:
        """The first offset still held; the snapshot point is ``first_offset() - 1``."""
        ...

    def last_offset(self) -> int:
        """The last offset held (``first_offset() - 1`` if no entry is held)."""
        ...

    def term_at(self, offset: int) -> int:
        """Term of the entry holding ``offset``, for ``first_offset()-1 <= offset <= last``.

        At ``first_offset() - 1`` it is the snapshot's term.
        """
        ...

    def last_offset_for_term(self, term: int) -> int | None:
        """The largest offset in ``[first_offset()-1, last_offset()]`` whose term is at most
        ``term``, or None if even the snapshot point's term is larger (Kafka's
        ``LeaderEpochFileCache.endOffsetFor`` minus one).
        """
        ...

    def entries(self, from_offset: int, until_offset: int, max_bytes: int) -> Sequence[Entry]:
        """Entries from the one holding ``from_offset`` through the one holding
        ``until_offset``, stopping before the total ``len(data)`` would pass ``max_bytes``
        -- but always at least one entry.  Both offsets lie in ``[first, last]``.
        """
        ...

    def snapshot(self) -> Snapshot:
        """The snapshot at ``first_offset() - 1``: for a partition its (offset, term,
        configuration) with empty data; for a state machine, its latest snapshot.
        """
        ...
