"""A node's fake disk: what was written, what is durable, and what a crash leaves.

Two ``MemoryStorage`` copies are kept: ``volatile`` is what the node reads (every write
lands there at once, as in a page cache) and ``durable`` what an fsync made permanent.
Writes since the last sync wait in ``pending``.  A crash keeps the durable state plus a
random prefix of the pending log writes -- the last one possibly torn, i.e. cut inside a
batch, which recovery detects by its checksum and drops together with everything after
it -- and, independently, maybe the last unsynced hard state (a separate file).

Every write gets a sequence number; ``mark()`` is the last one, and ``sync(upto)`` makes
durable only the writes up to a mark: with asynchronous storage writes (several Readys in
flight) an fsync that completes covers the Readys written before it started, not those
written while it ran.

Not thread-safe; owned by one simulated node.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from replication import ConfState, Entry, HardState, MemoryStorage, Snapshot

__all__ = ["CrashReport", "FakeDisk"]

_Op = tuple[int, str, object]  # (sequence number, kind, argument)


@dataclass(frozen=True)
class CrashReport:
    lost_writes: int
    torn: bool
    kept_hard_state: bool


class FakeDisk:
    """Durable and volatile views of one node's log and hard state."""

    def __init__(self, conf: ConfState | None) -> None:
        self.durable = MemoryStorage(conf)
        self.volatile = self.durable.clone()
        self._pending_log: list[_Op] = []
        self._pending_hard: list[tuple[int, HardState]] = []
        self._seq = 0
        self.syncs = 0

    # -- writes ----------------------------------------------------------------------

    def _log_op(self, kind: str, arg: object) -> None:
        self._seq += 1
        self._pending_log.append((self._seq, kind, arg))

    def write_snapshot(self, snapshot: Snapshot) -> None:
        self.volatile.apply_snapshot(snapshot)
        self._log_op("snapshot", snapshot)

    def truncate_to(self, offset: int) -> None:
        self.volatile.truncate_to(offset)
        self._log_op("truncate", offset)

    def append(self, entries: list[Entry]) -> None:
        self.volatile.append(entries)
        self._log_op("append", entries)

    def write_hard_state(self, hard_state: HardState) -> None:
        self.volatile.set_hard_state(hard_state)
        self._seq += 1
        self._pending_hard.append((self._seq, hard_state))

    def mark(self) -> int:
        """The sequence number of the last write (for ``sync(upto)``)."""
        return self._seq

    def sync(self, upto: int | None = None) -> None:
        """Make the writes up to ``upto`` (a ``mark()``; None: all) durable."""
        last = self._seq if upto is None else upto
        done = [op for op in self._pending_log if op[0] <= last]
        for op in done:
            _apply(self.durable, op)
        del self._pending_log[: len(done)]
        hard = [h for h in self._pending_hard if h[0] <= last]
        if hard:
            self.durable.set_hard_state(hard[-1][1])
            del self._pending_hard[: len(hard)]
        self.syncs += 1

    @property
    def dirty(self) -> bool:
        return bool(self._pending_log) or bool(self._pending_hard)

    def compact(self, offset: int, data: bytes = b"") -> None:
        """Snapshot + compaction (or retention): written and synced at once, as a
        snapshot file is fsynced and renamed before segments are deleted."""
        assert not self.dirty, "compaction while writes are pending"
        self.durable.compact(offset, data)
        self.volatile.compact(offset, data)

    # -- crash -----------------------------------------------------------------------

    def crash(self, rng: random.Random) -> CrashReport:
        """Lose what was not synced (maybe part of it survives); return what happened."""
        pending = self._pending_log
        keep = rng.randint(0, len(pending))
        torn = False
        for op in pending[:keep]:
            _apply(self.durable, op)
        if keep < len(pending) and pending[keep][1] == "append" and rng.random() < 0.5:
            # A torn write: the batches before the torn one are whole, the torn one is
            # cut short.  Recovery checks each batch's CRC and drops the torn one.
            entries = pending[keep][2]
            assert isinstance(entries, list)
            written: list[Entry | None] = [*entries[: rng.randint(0, len(entries) - 1)], None]
            self.durable.append(_recover(written))
            torn = True
        kept_hard = bool(self._pending_hard) and rng.random() < 0.5
        if kept_hard:
            self.durable.set_hard_state(self._pending_hard[-1][1])
        lost = len(pending) - keep
        self._pending_log = []
        self._pending_hard = []
        self.volatile = self.durable.clone()
        return CrashReport(lost, torn, kept_hard)


def _recover(written: list[Entry | None]) -> list[Entry]:
    """What recovery keeps of a torn append (None marks the torn batch): the prefix."""
    kept = []
    for entry in written:
        if entry is None:
            break
        kept.append(entry)
    return kept


def _apply(storage: MemoryStorage, op: _Op) -> None:
    _, kind, arg = op
    if kind == "snapshot":
        assert isinstance(arg, Snapshot)
        storage.apply_snapshot(arg)
    elif kind == "truncate":
        assert isinstance(arg, int)
        storage.truncate_to(arg)
    else:
        assert isinstance(arg, list)
        storage.append(arg)
