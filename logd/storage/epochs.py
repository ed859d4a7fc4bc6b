"""The leader-epoch cache of a partition (Kafka's ``LeaderEpochFileCache``).

It maps each leader epoch (a Raft term: DESIGN.md principle 3) to the first offset written in
it, as ``(epoch, start offset)`` pairs rising in both fields, so Raft can ask cheaply for the
term of any entry (:meth:`epoch_at`) and for where a term ends (:meth:`end_offset_for`, what
Kafka's OffsetsForLeaderEpoch and Raft's fast log backtracking need) without reading batches.

It is persisted as ``leader-epoch-checkpoint`` in Kafka's checkpoint format.  A change
made by an append is written by the log's next flush (on the flusher's thread, so appends
on the event loop never wait for a file; other changes -- truncations, a new log start --
are written at once), tmp + rename, and counted in :attr:`generation`; the flush fsyncs it
before it moves the recovery point (and records :attr:`synced_generation`), so the
entries of every flushed batch are durable.  Entries the file lacks or holds in excess
after a crash are fixed by recovery: it drops entries from the first re-scanned offset on
and re-assigns the epochs of the batches it scans.  A missing or unreadable file is rebuilt
from the segments.

Not thread-safe: owned by its log and used under the log's lock.
"""

from __future__ import annotations

import bisect
import itertools
from pathlib import Path
from typing import Final

from logd.storage import checkpoint
from logd.storage.files import write_atomic

__all__ = ["CHECKPOINT_NAME", "UNDEFINED_EPOCH", "UNDEFINED_EPOCH_OFFSET", "LeaderEpochCache"]

CHECKPOINT_NAME: Final = "leader-epoch-checkpoint"
UNDEFINED_EPOCH: Final = -1
UNDEFINED_EPOCH_OFFSET: Final = -1


class LeaderEpochCache:
    """(epoch, start offset) pairs, both strictly rising."""

    def __init__(self, path: Path, entries: list[tuple[int, int]] | None = None) -> None:
        self.path = path
        self._epochs: list[int] = []
        self._starts: list[int] = []
        for epoch, start in entries or ():
            self.assign(epoch, start)
        self._changed = False
        #: Writes of the file so far, and how many of them a flush has made durable.
        self.generation = 0
        self.synced_generation = 0

    @classmethod
    def load(cls, path: Path) -> LeaderEpochCache | None:
        """The cache in ``path``; None when the file is missing or not a valid checkpoint."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        entries = checkpoint.decode(data, 2)
        if entries is None:
            return None
        pairs = [(epoch, start) for epoch, start in entries]
        for (e1, s1), (e2, s2) in itertools.pairwise(pairs):
            if e2 <= e1 or s2 <= s1:
                return None
        if any(epoch < 0 or start < 0 for epoch, start in pairs):
            return None
        return cls(path, pairs)

    @property
    def entries(self) -> list[tuple[int, int]]:
        return list(zip(self._epochs, self._starts, strict=True))

    @property
    def latest_epoch(self) -> int | None:
        return self._epochs[-1] if self._epochs else None

    def assign(self, epoch: int, start_offset: int) -> bool:
        """Record that ``epoch`` starts at ``start_offset`` (no-op if it is the latest already).

        The log checks before appending that epochs never fall; a lower epoch here is a bug.
        """
        assert epoch >= 0 and start_offset >= 0, (epoch, start_offset)
        if self._epochs and epoch == self._epochs[-1]:
            assert start_offset >= self._starts[-1]
            return False
        if self._epochs and epoch > self._epochs[-1] and start_offset == self._starts[-1]:
            # The latest epoch holds no entry: the log start moved past its last one (a
            # metadata snapshot compacts the whole log, ``truncate_from_start``) and the next
            # entry is a new leader's. Kafka's cache drops such an entry too. Asserting here
            # stopped the controller's group on every broker when its leader changed right
            # after a snapshot (issue 21, 10,000 partitions).
            del self._epochs[-1], self._starts[-1]
        # Invariant: both columns rise strictly.
        assert not self._epochs or (epoch > self._epochs[-1] and start_offset > self._starts[-1]), (
            self.entries,
            epoch,
            start_offset,
        )
        self._epochs.append(epoch)
        self._starts.append(start_offset)
        self._changed = True
        return True

    def epoch_at(self, offset: int) -> int | None:
        """The epoch of the entry holding ``offset`` (the caller checks the log's bounds)."""
        slot = bisect.bisect_right(self._starts, offset) - 1
        return self._epochs[slot] if slot >= 0 else None

    def end_offset_for(self, epoch: int, log_end_offset: int) -> tuple[int, int]:
        """Kafka's ``endOffsetFor``: (the largest epoch ≤ ``epoch``, the offset where it ends).

        The latest epoch ends at the log end.  An older epoch ends where the next higher one
        starts.  An epoch below every known one gives the start of the first higher epoch
        (the data before it is gone); with nothing higher, (-1, -1).
        """
        if epoch == UNDEFINED_EPOCH or not self._epochs:
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if epoch == self._epochs[-1]:
            return epoch, log_end_offset
        higher = bisect.bisect_right(self._epochs, epoch)
        if higher == len(self._epochs):
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if higher == 0:
            return epoch, self._starts[0]
        return self._epochs[higher - 1], self._starts[higher]

    def truncate_from_end(self, end_offset: int) -> None:
        """Forget epochs that start at or after ``end_offset`` (the log was cut there)."""
        keep = bisect.bisect_left(self._starts, end_offset)
        if keep < len(self._starts):
            del self._epochs[keep:], self._starts[keep:]
            self._changed = True

    def truncate_from_start(self, start_offset: int) -> None:
        """The log now starts at ``start_offset``: the epoch holding it starts there."""
        slot = bisect.bisect_right(self._starts, start_offset) - 1
        if slot < 0 or (slot == 0 and self._starts[0] == start_offset):
            return
        del self._epochs[:slot], self._starts[:slot]
        self._starts[0] = start_offset
        self._changed = True

    def clear(self) -> None:
        if self._epochs:
            self._epochs.clear()
            self._starts.clear()
            self._changed = True

    @property
    def unsynced(self) -> bool:
        return self.generation > self.synced_generation

    def write_if_changed(self) -> None:
        """Replace the checkpoint file (no fsync: the flush does that, see the module doc)."""
        if self._changed:
            write_atomic(self.path, checkpoint.encode(self.entries), fsync=None)
            self._changed = False
            self.generation += 1
