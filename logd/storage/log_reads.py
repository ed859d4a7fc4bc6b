"""Reading a partition's log: batches from an offset, a record by timestamp, the header
scan the producer state rebuilds from, and the leader epochs Raft asks about. A mixin of
:class:`~logd.storage.log.Log` (see ``logd.storage.log_core``).

Ownership: as the Log's (every method takes its lock).
"""

from __future__ import annotations

from collections.abc import Callable

from logd.errors import CorruptRecordError, InvalidRequestError, OffsetOutOfRangeError
from logd.records.decoder import decode_batch
from logd.records.header import peek_batch_size
from logd.storage.batches import TimestampOffset
from logd.storage.log_core import LogCore
from logd.storage.reads import find_by_timestamp, read_batches

__all__ = ["LogReads"]


class LogReads(LogCore):
    """Reads and epochs; see the module doc."""

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

    def bytes_from(self, offset: int) -> int:
        """The stored bytes from the batch holding ``offset`` to the log end (0 at or past
        it): what a replica holding the log below ``offset`` still lacks (a partition
        move's bytes remaining, issue 23)."""
        with self._lock:
            self._check_open()
            if offset >= self._next_offset:
                return 0
            segments = self._segments.from_offset(max(offset, self._log_start_offset))
            try:
                found = segments[0].locate(offset)
            except OSError as exc:
                self._fail("size", exc)
            head = segments[0].size - (found[0] if found is not None else segments[0].size)
            return head + sum(segment.size for segment in segments[1:])

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
