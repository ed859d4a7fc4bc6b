"""A partition's log: its segments, offsets, epochs, durability and lock (Kafka's
``UnifiedLog`` + ``LocalLog``).

Offsets.  ``log_start_offset`` is the first offset a reader may ask for; ``log_end_offset``
the offset the next batch gets.  Batches are stored exactly as produced (DESIGN.md
principle 1): the leader path stamps ``baseOffset`` and ``partitionLeaderEpoch`` in place
(both outside the CRC), the follower path takes batches stamped by the leader.

Epochs.  The log is the Raft log of its partition (principle 3): a batch's
``partitionLeaderEpoch`` is its term, epochs never fall along the log, and the leader-epoch
cache answers ``epoch_at`` / ``end_offset_for_epoch`` without reading batches.

Durability.  Appends reach the page cache only.  :meth:`flush` (from the ``Flusher`` thread,
or ``close``) fsyncs what was appended and then moves the *recovery point*: every offset
below it is durable, with the indexes of every segment before the one it falls in.  After a
crash, recovery re-scans from the segment holding the persisted recovery point.  That file
is rewritten (with fsync) when the point enters a new segment, and before any truncation
that goes below it, so it is never ahead of what is on disk.

Thread-safety.  Every public method takes the log's lock, so a log may be shared by the
event-loop thread (appends, reads) and the flusher thread.  Nothing under the lock waits
for a disk except truncation and reset, which are rare (a Raft follower's conflict, a
follower that fell behind the leader's log start) and must persist the lowered recovery
point before cutting data.  ``flush`` holds the lock only to snapshot and to publish: its
fsyncs run on ``os.dup`` copies of the descriptors, so a roll, truncation or deletion in the
meantime cannot close a descriptor under it.  Lock order: the recovery point's lock (see
``recovery_point``), then the log's.

Errors.  Bad input raises the typed error of ``logd.errors``.  An ``OSError`` from the disk
becomes a typed storage error at one boundary (``io_errors.storage_error``, Kafka's
``maybeHandleIOException``).  A failed append or roll is undone -- the bytes of a batch
written in part are cut off, a half-made segment removed, an epoch entry forgotten -- and the
log stays online: only that append is refused (a full disk must not stop reads).  Anything
that cannot be undone (a failed fsync: the page cache may hold what the disk does not; a
cut that fails) takes the log offline: this and every later call raise KafkaStorageError,
and its owner reopens it from its files (``LogManager.reopen``).

Parts.  The class is put together from mixins over one shared state
(``log_core.LogCore``): reads and epochs (``log_reads``), truncation, reset and retention
(``log_cuts``), the cleaner's steps (``log_cleaning``), flush and close (``log_flush``);
opening, appends and rolls are here.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import NoReturn

from logd.clock import Clock, SystemClock
from logd.errors import FencedLeaderEpochError, InvalidRequestError
from logd.records.header import stamp
from logd.storage.batches import (
    AppendInfo,
    TimestampOffset,
    check_batch,
    check_continues,
    mutable,
    split_batches,
)
from logd.storage.config import LogConfig
from logd.storage.io_errors import storage_error
from logd.storage.log_cleaning import LogCleaning
from logd.storage.log_core import LogState
from logd.storage.log_cuts import LogCuts
from logd.storage.log_flush import LogFlush
from logd.storage.log_reads import LogReads
from logd.storage.segment import Segment

__all__ = ["AppendInfo", "Log", "LogState", "TimestampOffset"]


class Log(LogReads, LogCuts, LogCleaning, LogFlush):
    """One partition's log; open it with :meth:`open`. Thread-safe: see the module doc."""

    @classmethod
    def open(
        cls,
        directory: Path,
        config: LogConfig | None = None,
        clock: Clock | None = None,
        *,
        clean_shutdown: bool = False,
    ) -> Log:
        """Open (creating if needed) the log in ``directory``; recover unless ``clean_shutdown``."""
        try:
            directory.mkdir(parents=True, exist_ok=True)
            return cls(
                directory, config or LogConfig(), clock or SystemClock(), clean=clean_shutdown
            )
        except OSError as exc:
            raise storage_error("opening the log", exc, directory) from exc

    # -- appends -------------------------------------------------------------------------

    def append(
        self, batch: bytes | bytearray | memoryview, leader_epoch: int, now_ms: int | None = None
    ) -> AppendInfo:
        """Append one producer batch as leader in ``leader_epoch``.

        Checks the header, CRC and ``max.message.bytes``, then stamps ``baseOffset`` (the
        log end) and ``partitionLeaderEpoch`` in place: pass a ``bytearray`` to get the
        stamped bytes back (a read-only buffer is copied first).  No re-checksum is needed.
        """
        buf = mutable(batch)
        size, delta, max_timestamp = check_batch(buf, self._config.max_message_bytes)
        if leader_epoch < 0:
            raise InvalidRequestError(f"leader epoch {leader_epoch} is negative")
        with self._lock:
            if not self._writable:
                self._check_open()
            latest = self._epochs.latest_epoch
            if latest is not None and leader_epoch < latest:
                raise FencedLeaderEpochError(
                    f"{self.name}: leader epoch {leader_epoch} is older than {latest}"
                )
            base = self._next_offset
            last = base + delta
            stamp(buf, base, leader_epoch)
            try:
                self._append_locked(
                    buf, base, last, max_timestamp, epoch=leader_epoch, now_ms=now_ms
                )
            except OSError as exc:
                self._append_failed(exc)
        return AppendInfo(base, last, max_timestamp, size)

    def append_replicated(self, batches: bytes | bytearray | memoryview) -> AppendInfo:
        """Append batches the leader has stamped (a Raft follower), one or more back to back.

        Every batch is checked (framing, CRC) before any is written; the first must start
        at the log end, offsets must rise and epochs must not fall.
        """
        view = memoryview(batches)
        headers = split_batches(view)
        with self._lock:
            self._check_open()
            check_continues(headers, self._next_offset, self._epochs.latest_epoch, self.name)
            now = self._clock.now_ms()
            try:
                for position, header in headers:
                    chunk = view[position : position + header.size]
                    self._append_locked(
                        chunk,
                        header.base_offset,
                        header.last_offset,
                        header.max_timestamp,
                        epoch=header.partition_leader_epoch,
                        now_ms=now,
                    )
            except OSError as exc:
                self._append_failed(exc)
        return AppendInfo(
            headers[0][1].base_offset,
            headers[-1][1].last_offset,
            max(header.max_timestamp for _, header in headers),
            len(view),
            len(headers),
        )

    def _append_locked(
        self,
        batch: bytes | bytearray | memoryview,
        base: int,
        last: int,
        max_timestamp: int,
        *,
        epoch: int,
        now_ms: int | None,
    ) -> None:
        segment = self._segments.last()
        if segment.should_roll(len(batch), last, max_timestamp, now_ms, self._clock):
            segment = self._roll_locked(self._clock.now_ms() if now_ms is None else now_ms)
        # As Kafka's UnifiedLog.append: the epoch's start is recorded before its data --
        # in memory; the next flush writes the checkpoint (on the flusher's thread, not the
        # loop's: every Raft election appends to a new epoch, and thousands of partitions
        # electing at once made those writes the loop's main work, issue 21).
        assigned = epoch != self._epochs.latest_epoch and self._epochs.assign(epoch, base)
        try:
            segment.append(batch, base, last, max_timestamp)
        except OSError:
            if assigned:  # undone in memory, before any flush wrote it
                self._epochs.truncate_from_end(base)
            raise
        self._next_offset = last + 1
        if self.space is not None:
            self.space.note_written(len(batch))

    def _append_failed(self, exc: OSError) -> NoReturn:
        """Under the lock: an append failed. Every step of it undoes itself (a roll, the
        epoch entry, the bytes of a batch written in part), so unless the active segment's
        file no longer matches, the log stays online and only this append is refused."""
        if self._segments.last().intact():
            self._refuse("append", exc)
        self._fail("append", exc)

    def _roll_locked(self, now_ms: int) -> Segment:
        """Seal the active segment, start the next. The new file comes first: if anything
        fails, the old segment is still the active one and the new file is gone."""
        old = self._segments.last()
        new = Segment.create(self.directory, self._next_offset, self._config, now_ms)
        try:
            old.seal()
        except OSError:
            with contextlib.suppress(OSError):
                new.delete()
            raise
        self._unflushed.append(old)
        self._segments.add(new)
        self._dir_unsynced = True
        if self.on_roll is not None:
            self.on_roll(self)
        return new

    def roll(self, now_ms: int | None = None) -> None:
        """Seal the active segment now (if it holds anything) and start a new one."""
        with self._lock:
            self._check_open()
            if self._segments.last().size:
                try:
                    self._roll_locked(self._clock.now_ms() if now_ms is None else now_ms)
                except OSError as exc:
                    self._refuse("roll", exc)
