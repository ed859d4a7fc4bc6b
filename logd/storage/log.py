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
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from logd.clock import Clock, SystemClock
from logd.errors import (
    CorruptRecordError,
    FencedLeaderEpochError,
    InvalidRequestError,
    KafkaStorageError,
    OffsetOutOfRangeError,
    UnknownTopicOrPartitionError,
)
from logd.records.decoder import decode_batch
from logd.records.header import peek_batch_size, stamp
from logd.storage.batches import (
    AppendInfo,
    TimestampOffset,
    check_batch,
    check_continues,
    mutable,
    split_batches,
)
from logd.storage.config import LogConfig
from logd.storage.epochs import LeaderEpochCache
from logd.storage.faults import checked_fsync
from logd.storage.files import Fsync, fsync_dir, fsync_path, write_atomic
from logd.storage.io_errors import storage_error
from logd.storage.loader import LOG_START_CHECKPOINT, load
from logd.storage.reads import find_by_timestamp, read_batches
from logd.storage.recovery_point import RecoveryPoint, offset_file
from logd.storage.retention import expired_segments
from logd.storage.segment import Segment, SegmentState
from logd.storage.segments import Segments
from logd.storage.space import DiskSpace
from logd.storage.swap import SourceSegment, commit_swap, finish_swap

__all__ = ["AppendInfo", "Log", "LogState", "TimestampOffset"]

_log = logging.getLogger(__name__)


class LogState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"
    DELETED = "deleted"


class Log:
    """One partition's log; open it with :meth:`open`. Thread-safe: see the module doc."""

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

    # -- reads ---------------------------------------------------------------------------

    def read(self, offset: int, max_bytes: int, max_offset: int | None = None) -> bytes:
        """The stored bytes of whole batches from the one holding ``offset``.

        At most ``max_bytes``, except that a first batch larger than that comes whole (as
        Kafka does, so a consumer can always progress).  Never a batch holding ``max_offset``
        or later (the high watermark).  Empty at the log end; OffsetOutOfRangeError outside
        [log start, log end].  Reads stay within one segment, as Kafka's do.
        """
        with self._lock:
            self._check_open()
            if not self._log_start_offset <= offset <= self._next_offset:
                raise OffsetOutOfRangeError(
                    f"{self.name}: offset {offset} is outside [{self._log_start_offset}, "
                    f"{self._next_offset}]"
                )
            limit = self._next_offset if max_offset is None else min(max_offset, self._next_offset)
            if offset >= limit:
                return b""
            try:
                return read_batches(self._segments, offset, max_bytes, limit, self._next_offset)
            except OSError as exc:
                self._fail("read", exc)

    def offset_for_timestamp(
        self, timestamp: int, max_offset: int | None = None
    ) -> TimestampOffset | None:
        """The first record whose timestamp is ≥ ``timestamp`` (Kafka's ListOffsets).

        The time index finds the first batch whose max timestamp is ≥ ``timestamp``; that
        one batch is then decoded to name the exact record, as Kafka does.  None if no such
        record lies below ``max_offset`` (the high watermark).
        """
        if timestamp < 0:
            raise InvalidRequestError(f"timestamp {timestamp} is negative")
        with self._lock:
            self._check_open()
            try:
                found = find_by_timestamp(self._segments, timestamp, self._log_start_offset)
            except OSError as exc:
                self._fail("timestamp lookup", exc)
            if found is None:
                return None
            batch_start = max(found[0], self._log_start_offset)
        record = self._first_record_at_or_after(batch_start, timestamp)
        result = TimestampOffset(found[1], batch_start) if record is None else record
        if max_offset is not None and result.offset >= max_offset:
            return None
        return result

    def _first_record_at_or_after(self, offset: int, timestamp: int) -> TimestampOffset | None:
        """Within the batch holding ``offset``: the first record with a timestamp ≥ the one
        given.  None when that batch cannot say (a control batch, or it was cut away)."""
        try:
            data = self.read(offset, 1)
            batch = decode_batch(data[: peek_batch_size(data) or 0])
            if batch.is_control:
                return None
            for record in batch.records():
                if record.offset >= offset and record.timestamp >= timestamp:
                    return TimestampOffset(record.timestamp, record.offset)
        except (OffsetOutOfRangeError, CorruptRecordError):
            # The stored batch passed its CRC when it was appended; a batch we cannot decode
            # here still answers at batch precision, which never skips a record.
            return None
        return None

    def scan_headers(self, start_offset: int, on_batch: Callable[[tuple[int, ...]], None]) -> None:
        """Call ``on_batch`` with the unpacked header fields (see ``Segment.scan_headers``)
        of every batch whose last offset is ≥ ``start_offset``, in log order, to the log
        end; records are never read.  Runs under the log's lock: ``on_batch`` must not call
        back into the log."""
        with self._lock:
            self._check_open()
            start = max(start_offset, self._log_start_offset)
            try:
                for segment in self._segments.from_offset(start):
                    found = segment.locate(start) if segment.base_offset < start else None
                    if segment.base_offset < start and found is None:
                        continue
                    segment.scan_headers(found[0] if found is not None else 0, on_batch)
            except OSError as exc:
                self._fail("header scan", exc)

    # -- epochs (for Raft) ---------------------------------------------------------------

    def epoch_at(self, offset: int) -> int | None:
        """The leader epoch (Raft term) of the batch holding ``offset``; None outside the log."""
        with self._lock:
            if not self._log_start_offset <= offset < self._next_offset:
                return None
            return self._epochs.epoch_at(offset)

    def max_timestamp(self) -> int:
        """The largest record timestamp in the log (-1: none), from the segments' own."""
        with self._lock:
            return max((segment.max_timestamp for segment in self._segments), default=-1)

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """Kafka's OffsetsForLeaderEpoch: (largest epoch ≤ ``epoch``, offset where it ends)."""
        with self._lock:
            return self._epochs.end_offset_for(epoch, self._next_offset)

    def last_offset_and_epoch(self) -> tuple[int, int] | None:
        """(offset, epoch) of the last entry, for Raft's log matching; None if unknown."""
        with self._lock:
            latest = self._epochs.latest_epoch
            if latest is None or self._next_offset == 0:
                return None
            return self._next_offset - 1, latest

    def epoch_entries(self) -> list[tuple[int, int]]:
        with self._lock:
            return self._epochs.entries

    # -- truncation, reset, retention ----------------------------------------------------

    def truncate_to(self, offset: int) -> None:
        """Drop every batch whose last offset is ≥ ``offset`` (a Raft follower's conflict).

        The log then ends at ``offset``, or at the base of the batch holding it.  Truncating
        to the log start empties the log; below it raises OffsetOutOfRangeError.
        """
        with self._checkpoint_lock, self._lock:
            self._check_open()
            if offset >= self._next_offset:
                return
            if offset < self._log_start_offset:
                raise OffsetOutOfRangeError(
                    f"{self.name}: cannot truncate to {offset}, below the log start "
                    f"{self._log_start_offset}"
                )
            try:
                if offset == self._log_start_offset:
                    self._reset_locked(offset)
                else:
                    self._truncate_locked(offset)
            except OSError as exc:
                self._fail("truncate", exc)

    def _truncate_locked(self, offset: int) -> None:
        self._rp.lower(offset)
        for segment in reversed(list(self._segments)):
            if segment.base_offset < offset or len(self._segments) == 1:
                break
            self._delete_segment_locked(segment)
        active = self._segments.last()
        active.truncate_to(offset)
        if active in self._unflushed:
            self._unflushed.remove(active)
        assert active.next_offset is not None
        self._next_offset = active.next_offset
        if self._next_offset < self._log_start_offset:
            # The batch holding the offset began below the log start (delete_records cut
            # into it): nothing readable is left, so start over at the log start.
            self._reset_locked(self._log_start_offset)
            return
        self._epochs.truncate_from_end(self._next_offset)
        self._epochs.write_if_changed()

    def reset_to(self, offset: int) -> None:
        """Delete everything; the log restarts, empty, at ``offset`` (a follower that fell
        behind the leader's log start, which will send a snapshot or the log from there)."""
        if offset < 0:
            raise InvalidRequestError(f"offset {offset} is negative")
        with self._checkpoint_lock, self._lock:
            self._check_open()
            try:
                self._reset_locked(offset)
            except OSError as exc:
                self._fail("reset", exc)

    def _reset_locked(self, offset: int) -> None:
        # The new start goes first: if we crash half-way, opening finishes the reset.
        write_atomic(self.directory / LOG_START_CHECKPOINT, offset_file(offset), fsync=os.fsync)
        self._rp.lower(offset)
        for segment in reversed(list(self._segments)):
            self._delete_segment_locked(segment)
        self._segments.add(
            Segment.create(self.directory, offset, self._config, self._clock.now_ms())
        )
        self._dir_unsynced = True
        self._next_offset = self._log_start_offset = self._rp.value = offset
        self._epochs.clear()
        self._epochs.write_if_changed()

    def _delete_segment_locked(self, segment: Segment) -> None:
        self._segments.remove(segment)
        if segment in self._unflushed:
            self._unflushed.remove(segment)
        segment.delete()

    def enforce_retention(self, limit_offset: int, now_ms: int | None = None) -> int:
        """Delete the oldest whole segments that ``retention.ms`` / ``retention.bytes`` (or
        the log start) let go, never the active one, never one holding ``limit_offset`` or
        later (the high watermark).  Returns how many were deleted."""
        now = self._clock.now_ms() if now_ms is None else now_ms
        with self._lock:
            self._check_open()
            try:
                expired = expired_segments(
                    self._segments,
                    self._config,
                    limit_offset=limit_offset,
                    log_start=self._log_start_offset,
                    now_ms=now,
                )
                for segment in expired:
                    self._delete_segment_locked(segment)
            except OSError as exc:
                self._fail("retention", exc)
            deleted = len(expired)
            if deleted:
                self._advance_log_start_locked(self._segments.first().base_offset)
            return deleted

    def delete_records_before(self, offset: int) -> int:
        """Kafka's DeleteRecords: the log now starts at ``offset`` (≤ the log end; the
        caller keeps it ≤ the high watermark).  Returns the new log start offset."""
        with self._checkpoint_lock, self._lock:
            self._check_open()
            if offset > self._next_offset:
                raise OffsetOutOfRangeError(
                    f"{self.name}: offset {offset} is past the log end {self._next_offset}"
                )
            if offset <= self._log_start_offset:
                return self._log_start_offset
            try:
                path = self.directory / LOG_START_CHECKPOINT
                write_atomic(path, offset_file(offset), fsync=os.fsync)
                self._advance_log_start_locked(offset)
                while len(self._segments) > 1:
                    successor = self._segments.higher(self._segments.first().base_offset)
                    if successor is None or successor.base_offset > offset:
                        break
                    self._delete_segment_locked(self._segments.first())
            except OSError as exc:
                self._fail("delete records", exc)
            return self._log_start_offset

    def _advance_log_start_locked(self, offset: int) -> None:
        if offset > self._log_start_offset:
            self._log_start_offset = offset
            self._epochs.truncate_from_start(offset)
            self._epochs.write_if_changed()

    # -- cleaning (logd.storage.cleaner does the work; these are its two locked steps) ----

    def cleanable_segments(self, limit_offset: int) -> list[SourceSegment]:
        """The sealed, fsynced segments wholly below ``limit_offset`` and the recovery
        point, oldest first, each with a duplicated descriptor that the caller closes."""
        with self._lock:
            self._check_open()
            limit = min(limit_offset, self._rp.value)
            out: list[SourceSegment] = []
            try:
                last = self._segments.last()
                for segment, successor in itertools.pairwise(self._segments):
                    if successor.base_offset > limit or segment in self._unflushed:
                        break
                    if successor is last and not last.size:
                        break  # the log's last batch stays: a reader reaches the log end
                    fd = segment.dup_fd()
                    modified = os.fstat(fd).st_mtime_ns // 1_000_000
                    out.append(
                        SourceSegment(
                            segment.base_offset,
                            successor.base_offset,
                            segment.size,
                            fd,
                            modified,
                            segment.max_timestamp,
                        )
                    )
            except OSError as exc:
                for source in out:
                    os.close(source.fd)
                self._fail("cleaner snapshot", exc)
            return out

    def replace_segments(self, sources: Sequence[SourceSegment], fsync: Fsync = os.fsync) -> bool:
        """Swap in the cleaned segment written for ``sources`` (``logd.storage.swap``).
        False, touching nothing, when those segments changed meanwhile (retention, a reset)."""
        base, upper = sources[0].base_offset, sources[-1].upper_offset
        with self._lock:
            self._check_open()
            current = [self._segments.floor(source.base_offset) for source in sources]
            successor = self._segments.higher(sources[-1].base_offset)
            unchanged = successor is not None and successor.base_offset == upper
            for segment, source in zip(current, sources, strict=True):
                unchanged = unchanged and (
                    segment is not None and segment.base_offset == source.base_offset
                    and segment.size == source.size and segment.state is SegmentState.SEALED
                )  # fmt: skip
            if not unchanged:
                return False
            try:
                commit_swap(self.directory, base, fsync)
                for segment in current:
                    assert segment is not None
                    self._segments.remove(segment)
                    segment.close_quietly()
                finish_swap(self.directory, base, upper, fsync)
                new = Segment.open(
                    self.directory, base, self._config, self._clock.now_ms(), check_indexes=True
                )
                new.upper_offset = upper
                self._segments.add(new)
            except OSError as exc:
                self._fail("cleaner swap", exc)
        return True

    # -- durability ----------------------------------------------------------------------

    def flush(self, fsync: Fsync = os.fdatasync) -> int:
        """fsync everything appended so far; returns the offset now durable up to.

        Safe from any thread; see the module doc for how it avoids holding the lock.
        """
        with self._lock:
            if self._state is LogState.CLOSED:
                return self._next_offset
            self._check_open()
            end, generation = self._next_offset, self._rp.truncations
            sealed = list(self._unflushed)
            fds: list[int] = []
            try:
                for segment in (*sealed, self._segments.last()):
                    fds.append(segment.dup_fd())
            except OSError as exc:
                for fd in fds:
                    os.close(fd)
                self._fail("fsync", exc)
            paths = [path for segment in sealed for path in segment.index_paths]
            try:
                self._epochs.write_if_changed()  # what appends left for us (see above)
            except OSError as exc:
                for fd in fds:
                    os.close(fd)
                # The old checkpoint is intact (write_atomic) and the change still pending:
                # this flush fails, the next one writes it (issue 24: a full disk).
                self._refuse("writing the leader epoch checkpoint", exc)
            epochs_generation = self._epochs.generation if self._epochs.unsynced else None
            sync_dir, self._dir_unsynced = self._dir_unsynced, False
        try:
            for fd in fds:
                checked_fsync(fd, fsync)
            for path in paths:
                fsync_path(path, fsync)
            if epochs_generation is not None:
                fsync_path(self._epochs.path, fsync)
            if sync_dir or epochs_generation is not None:
                fsync_dir(self.directory, fsync)
        except OSError as exc:
            with self._lock:
                self._fail("fsync", exc)
        finally:
            for fd in fds:
                os.close(fd)
        self._publish_flush(end, generation, sealed, epochs_generation, fsync)
        return end

    def _publish_flush(
        self,
        end: int,
        generation: int,
        sealed: list[Segment],
        epochs_generation: int | None,
        fsync: Fsync,
    ) -> None:
        with self._rp.lock:
            with self._lock:
                for segment in sealed:
                    if segment in self._unflushed:
                        self._unflushed.remove(segment)
                if epochs_generation is not None:
                    synced = max(self._epochs.synced_generation, epochs_generation)
                    self._epochs.synced_generation = synced
                self._rp.advance(end, generation)
                point = self._rp.value
                write = self._rp.needs_write(point, self._segments.floor)
            if write:
                try:
                    self._rp.write(point, fsync)
                except OSError as exc:
                    # The data is durable; only the checkpoint lags (recovery then re-scans
                    # a little more). Said once, tried again at the next flush.
                    error = storage_error("recovery point checkpoint", exc, self.directory)
                    if not self._rp_failing:
                        _log.warning("%s: %s; the next flush tries again", self.name, error)
                    self._rp_failing = True
                else:
                    self._rp_failing = False

    # -- closing -------------------------------------------------------------------------

    def close(self, fsync: Fsync = os.fdatasync) -> None:
        """Flush everything, write the indexes and checkpoints, close the files.

        After a close every file is durable and consistent, which is what the data
        directory's clean-shutdown marker promises the next open.  A log that is (or goes)
        offline is closed without writing; :attr:`offline_reason` then says why, and its
        owner must not promise a clean shutdown.
        """
        if self._state is not LogState.OPEN:
            return
        if self._offline is None:
            with contextlib.suppress(KafkaStorageError):  # now offline: closed below as such
                self.flush(fsync)
        with self._checkpoint_lock, self._lock:
            if self._state is not LogState.OPEN:
                return
            self._state = LogState.CLOSED
            self._writable = False
            if self._offline is not None:
                for segment in self._segments:
                    segment.close_quietly()
                return
            try:
                self._close_locked(fsync)
            except OSError as exc:
                self._offline = f"close failed: {exc}"

    def _close_locked(self, fsync: Fsync) -> None:
        written: list[Path] = []
        for segment in self._segments:
            written.extend(segment.close())
        for path in written:
            fsync_path(path, fsync)
        self._epochs.write_if_changed()
        fsync_path(self._epochs.path, fsync)
        self._rp.value = self._next_offset
        self._rp.write(self._next_offset, fsync)

    def discard(self) -> None:
        """Close the files without writing anything: the log's directory is being deleted."""
        with self._checkpoint_lock, self._lock:
            if self._state is LogState.OPEN:
                for segment in self._segments:
                    segment.close_quietly()
            self._state = LogState.DELETED
            self._writable = False
