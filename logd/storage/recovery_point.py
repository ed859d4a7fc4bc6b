"""A log's recovery point and the checkpoint file that remembers it across crashes.

The recovery point is an offset below which everything is durable: the batches, and the
indexes of every segment before the one the point falls in (Kafka's ``recoveryPoint``).
After a crash, recovery re-scans from the start of that segment.

Invariant: the checkpoint file never names a segment later than the first one holding
data that may not be durable.  Hence the rules:

* it moves up only after an fsync covered the new point (``Log.flush``), and is rewritten
  only when the point entered a new segment — recovery re-scans the whole segment the
  point is in anyway, so a stale value within it costs nothing, and the file is written
  about once per roll instead of once per flush;
* before a truncation or reset cuts data below it, it is lowered and rewritten with an
  fsync (:meth:`lower`), or a crash could leave it pointing past rewritten, unsynced data;
* a flush that raced a truncation does not move it (``truncations`` changed meanwhile).

Ownership: the log's.  ``value`` and ``truncations`` are read and written under the log's
lock; the file is written under :attr:`lock` (the log's checkpoint lock, taken before the
log's lock), so no truncation can slip between choosing a value and writing it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final

from logd.storage import checkpoint
from logd.storage.files import Fsync, write_atomic

__all__ = ["RECOVERY_POINT_CHECKPOINT", "RecoveryPoint", "offset_file"]

RECOVERY_POINT_CHECKPOINT: Final = "recovery-point-offset-checkpoint"


def offset_file(offset: int) -> bytes:
    """A checkpoint holding one offset (recovery point, log start offset)."""
    return checkpoint.encode([(offset,)])


class RecoveryPoint:
    """The point and its file; see the module docstring for the rules and the locking."""

    def __init__(self, directory: Path, value: int, persisted: int | None) -> None:
        self.path = directory / RECOVERY_POINT_CHECKPOINT
        self.value = value
        self.persisted = persisted
        #: Bumped by every truncation, so a flush that raced one does not move the point.
        self.truncations = 0
        self.lock = threading.Lock()
        if persisted is None or persisted > value:
            with self.lock:
                self.write(value, os.fsync)

    def write(self, point: int, fsync: Fsync) -> None:
        """Rewrite the file durably (the caller holds :attr:`lock`)."""
        write_atomic(self.path, offset_file(point), fsync=fsync)
        self.persisted = point

    def lower(self, offset: int) -> None:
        """Before data at ``offset`` and above is cut: no claim above it may remain, in memory
        or in the file.  The caller holds :attr:`lock` and the log's lock."""
        self.truncations += 1
        self.value = min(self.value, offset)
        if self.persisted is None or self.persisted > self.value:
            self.write(self.value, os.fsync)

    def advance(self, end: int, truncations: int) -> None:
        """A flush made everything below ``end`` durable (the caller holds the log's lock)."""
        if truncations == self.truncations and end > self.value:
            self.value = end

    def needs_write(self, point: int, segment_of: Callable[[int], object]) -> bool:
        """Whether ``point`` entered another segment than the persisted one."""
        persisted = self.persisted
        return (
            persisted is None or point < persisted or segment_of(point) is not segment_of(persisted)
        )
