"""The state every part of a partition's :class:`~logd.storage.log.Log` shares, and the
three rules its methods keep: check it is open, take it offline when the files may no
longer match (``_fail``), refuse a write that was undone (``_refuse``). The parts --
``log_reads``, ``log_cuts``, ``log_cleaning``, ``log_flush`` and ``log`` itself (appends)
-- are mixins of :class:`LogCore`; ``logd.storage.log`` explains the whole (offsets,
epochs, durability, thread-safety, errors).

Ownership: as the Log's (thread-safe under ``_lock``; see ``logd.storage.log``).
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from logd.clock import Clock
from logd.errors import KafkaStorageError, UnknownTopicOrPartitionError
from logd.storage.config import LogConfig
from logd.storage.epochs import LeaderEpochCache
from logd.storage.io_errors import storage_error
from logd.storage.loader import load
from logd.storage.recovery_point import RecoveryPoint
from logd.storage.segment import Segment
from logd.storage.segments import Segments
from logd.storage.space import DiskSpace
from logd.storage.swap import DeferredDeletes

if TYPE_CHECKING:
    from logd.storage.log import Log

__all__ = ["LogCore", "LogState"]


class LogState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"
    DELETED = "deleted"


class LogCore:
    """A log's shared state (loaded from its directory) and its error rules."""

    def __init__(self, directory: Path, config: LogConfig, clock: Clock, *, clean: bool) -> None:
        self.directory = directory
        self.name = directory.name
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        loaded = load(directory, config, clock.now_ms(), clean=clean)
        self._segments: Segments[Segment] = loaded.segments
        self._epochs: LeaderEpochCache = loaded.epochs
        self._log_start_offset = loaded.log_start_offset
        active_end = self._segments.last().next_offset
        assert active_end is not None
        self._next_offset: int = active_end
        self._rp = RecoveryPoint(directory, loaded.recovery_point, loaded.persisted_recovery_point)
        #: The truncation count the last flush saw (``metadata_unsynced``).
        self._flushed_truncations = 0
        self._checkpoint_lock = self._rp.lock
        #: Sealed segments whose ``.log`` and indexes a flush has not yet fsynced.
        self._unflushed: list[Segment] = loaded.unflushed
        #: Segment files were created since the last flush: the directory needs an fsync.
        self._dir_unsynced = True
        self._state = LogState.OPEN
        self._offline: str | None = None
        #: Open and online: the one flag the append path checks.
        self._writable = True
        self.truncated_on_open = loaded.truncated_bytes
        self._rp_failing = False
        #: Called (under the log's lock; it must not call back into the log) after each roll,
        #: so the owner can have the sealed segment flushed soon: ``Flusher.schedule``.
        self.on_roll: Callable[[Log], None] | None = None
        #: Where committed data ends (the owner's high watermark): the cleaner cleans only
        #: below it (and the recovery point).  None: the log end.
        self.clean_limit: Callable[[], int] | None = None
        #: The free space of the disk holding the log (``LogManager`` sets it): appends
        #: tell it what they wrote, so its estimate moves between samples.
        self.space: DiskSpace | None = None
        #: Segment files a clean replaced, deleted later (``logd.storage.swap``).
        self.retired = DeferredDeletes()

    # -- state ---------------------------------------------------------------------------

    @property
    def config(self) -> LogConfig:
        return self._config

    @property
    def log_start_offset(self) -> int:
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        return self._next_offset

    @property
    def recovery_point(self) -> int:
        return self._rp.value

    @property
    def metadata_unsynced(self) -> bool:
        """Whether a flush has more to make durable than data below the recovery point: a
        directory entry (a new or deleted segment), the leader epoch checkpoint, a sealed
        segment's indexes, or the length a truncation or reset left -- so the Flusher
        never answers a request from the recovery point alone then (a truncation lowers
        the point to the new end)."""
        return (
            self._dir_unsynced
            or self._epochs.unsynced
            or bool(self._unflushed)
            or (self._rp.truncations != self._flushed_truncations)
        )

    @property
    def state(self) -> LogState:
        return self._state

    @property
    def offline_reason(self) -> str | None:
        return self._offline

    @property
    def size_bytes(self) -> int:
        with self._lock:
            return sum(segment.size for segment in self._segments)

    def segment_base_offsets(self) -> list[int]:
        with self._lock:
            return [segment.base_offset for segment in self._segments]

    def update_config(self, config: LogConfig) -> None:
        """Apply a topic's changed config; rolls and retention follow it from now on."""
        with self._lock:
            self._config = config
            for segment in self._segments:
                segment.update_config(config)

    def _check_open(self) -> None:
        if self._state is not LogState.OPEN:
            raise UnknownTopicOrPartitionError(f"{self.name}: the log is {self._state.value}")
        if self._offline is not None:
            raise KafkaStorageError(f"{self.name} is offline: {self._offline}")

    def _fail(self, what: str, exc: OSError) -> NoReturn:
        """The files may no longer match what the log believes: offline for good (its
        owner reopens it from disk, ``LogManager.reopen``)."""
        error = storage_error(what, exc, self.directory)
        self._offline = str(error)
        self._writable = False
        raise error from exc

    def _refuse(self, what: str, exc: OSError) -> NoReturn:
        """A write failed and was undone: the log is as before it, and stays online."""
        raise storage_error(what, exc, self.directory) from exc
