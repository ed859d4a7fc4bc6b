"""Cutting a partition's log at either end: a Raft follower's truncation, a reset to an
empty log at an offset, retention and DeleteRecords moving the log start. Each persists a
lowered recovery point or the new log start before it deletes data; a cut that fails
takes the log offline. A mixin of :class:`~logd.storage.log.Log` (see
``logd.storage.log_core``).

Ownership: as the Log's (the recovery point's lock, then the log's).
"""

from __future__ import annotations

import os

from logd.errors import InvalidRequestError, OffsetOutOfRangeError
from logd.storage.files import write_atomic
from logd.storage.loader import LOG_START_CHECKPOINT
from logd.storage.log_core import LogCore
from logd.storage.recovery_point import offset_file
from logd.storage.retention import expired_segments
from logd.storage.segment import Segment

__all__ = ["LogCuts"]


class LogCuts(LogCore):
    """Truncation, reset, retention, DeleteRecords; see the module doc."""

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
