"""One segment: a ``.log`` file of whole batches plus its two indexes (Kafka's ``LogSegment``).

Lifecycle, as a table (STYLE.md 4; any other pair is a bug)::

    ACTIVE --seal--> SEALED --activate--> ACTIVE     (a truncation makes an old one last)
    ACTIVE, SEALED --close--> CLOSED
    ACTIVE, SEALED --delete--> DELETED

Only the ACTIVE segment (the last of its log) takes appends.  Its indexes live in memory and
reach their files at seal or close; an unclean shutdown rebuilds them from the ``.log``
because recovery always re-scans the segment the recovery point falls in and every later
one.  A SEALED segment loads its indexes lazily on the first lookup, checks them, and
rebuilds them from the ``.log`` if they do not make sense.

Positions are byte offsets in the ``.log``; a segment never holds more than 2^31 offsets
above its base (relative offsets are u32 in the indexes; Kafka keeps them below 2^31).

Reads never serve a damaged batch (``logd.storage.verify``): the segment remembers how far
its batches are known good in this process -- everything it appended (the log checked each
batch first) or recovered (recovery checks CRCs), and whatever reads have verified since --
and checks a read past that mark before returning it; damage raises KafkaStorageError
naming the byte.  ``locate`` checks that the offsets it walks rise, from the index entry it
starts at, since ``baseOffset`` lies outside the CRC.

Not thread-safe: owned by its log, every call made under the log's lock.  The file
descriptor may be dup'ed (:meth:`dup_fd`) for an fsync in another thread.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final, NamedTuple

import crc32c

from logd.clock import Clock
from logd.errors import KafkaStorageError
from logd.records.header import CRC_START, HEADER_SIZE, LOG_OVERHEAD, MAGIC
from logd.storage.config import LogConfig
from logd.storage.faults import check_write
from logd.storage.files import (
    INDEX_SUFFIX,
    LOG_SUFFIX,
    TIME_INDEX_SUFFIX,
    pread_exact,
    segment_path,
    write_all,
)
from logd.storage.index import OFFSET_ENTRY, OffsetIndex, read_index_file
from logd.storage.scan import BatchInfo, Stop, scan
from logd.storage.timeindex import TimeIndex
from logd.storage.verify import SUCCESSOR_BYTES, Tail, check_successor, verify_batches

__all__ = ["RecoveryResult", "Segment", "SegmentState"]

_log = logging.getLogger(__name__)

_HEADER: Final = struct.Struct(">qiibIhiqqqhii")
_EPOCH: Final = struct.Struct(">i")
_EPOCH_POS: Final = 12
_MIN_LENGTH: Final = HEADER_SIZE - LOG_OVERHEAD
_RELATIVE_MAX: Final = (1 << 31) - 1
#: Bytes read at a time when walking batch headers (reads, tail loads, index rebuilds).
_WALK_WINDOW: Final = 16 * 1024
#: Bytes read at a time by recovery; a batch larger than this is checked in a stream.
_RECOVERY_WINDOW: Final = 8 * 1024 * 1024


class SegmentState(enum.Enum):
    ACTIVE = "active"
    SEALED = "sealed"
    CLOSED = "closed"
    DELETED = "deleted"


_TRANSITIONS: Final[dict[tuple[SegmentState, str], SegmentState]] = {
    (SegmentState.ACTIVE, "seal"): SegmentState.SEALED,
    (SegmentState.SEALED, "activate"): SegmentState.ACTIVE,
    (SegmentState.ACTIVE, "close"): SegmentState.CLOSED,
    (SegmentState.SEALED, "close"): SegmentState.CLOSED,
    (SegmentState.ACTIVE, "delete"): SegmentState.DELETED,
    (SegmentState.SEALED, "delete"): SegmentState.DELETED,
}


class RecoveryResult(NamedTuple):
    #: Bytes cut off the end of the ``.log``.
    truncated: int
    #: Why the scan stopped early ('' when every byte was a valid batch).
    reason: str


class Segment:
    """A ``.log`` file and its indexes; see the module docstring for ownership."""

    def __init__(
        self, directory: Path, base_offset: int, config: LogConfig, fd: int, now_ms: int
    ) -> None:
        self.directory = directory
        self.base_offset = base_offset
        self.config = config
        self.state = SegmentState.SEALED
        self._fd = fd
        self.size = os.fstat(fd).st_size
        self.log_path = segment_path(directory, base_offset, LOG_SUFFIX)
        self._index_path = segment_path(directory, base_offset, INDEX_SUFFIX)
        self._time_index_path = segment_path(directory, base_offset, TIME_INDEX_SUFFIX)
        self._offset_index: OffsetIndex | None = None
        self._time_index: TimeIndex | None = None
        #: The base offset of the next segment, for checking indexes loaded lazily.
        self.upper_offset: int | None = None
        # Known only while ACTIVE (or once computed): the offset after the last batch.
        self.next_offset: int | None = None
        # The largest batch max-timestamp and the base offset of the first batch holding it.
        self.max_timestamp = -1
        self._max_timestamp_offset = base_offset
        self._bytes_since_index = 0
        self._created_ms = now_ms
        self._first_timestamp: int | None = None
        self._index_files_written = False
        #: Every batch before ``position`` is known good in this process (see module doc).
        self._verified = Tail(0, base_offset - 1, -1)
        self._damage_logged = False

    # -- lifecycle -----------------------------------------------------------------------

    def _transition(self, event: str) -> None:
        next_state = _TRANSITIONS.get((self.state, event))
        assert next_state is not None, f"segment {self.base_offset}: {event} while {self.state}"
        self.state = next_state

    @classmethod
    def create(cls, directory: Path, base_offset: int, config: LogConfig, now_ms: int) -> Segment:
        """A new empty ACTIVE segment (any files left with its name are replaced)."""
        path = segment_path(directory, base_offset, LOG_SUFFIX)
        check_write(path)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        segment = cls(directory, base_offset, config, fd, now_ms)
        segment._fresh_indexes()
        segment.next_offset = base_offset
        segment.state = SegmentState.ACTIVE
        return segment

    @classmethod
    def open(
        cls,
        directory: Path,
        base_offset: int,
        config: LogConfig,
        now_ms: int,
        *,
        check_indexes: bool,
        rebuild_indexes: bool = False,
    ) -> Segment:
        """An existing segment, SEALED.  With ``check_indexes`` its index files get Kafka's
        sanity check now (and are rebuilt if they fail it); either way they load on demand.
        ``rebuild_indexes``: rebuild them now whatever they hold (they may be torn: a
        clean's, not fsynced yet, ``logd.storage.swap``).  Raises KafkaStorageError if a
        rebuild finds the ``.log`` itself damaged."""
        path = segment_path(directory, base_offset, LOG_SUFFIX)
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
        try:
            segment = cls(directory, base_offset, config, fd, now_ms)
            if rebuild_indexes or (check_indexes and not segment._index_files_look_sane()):
                segment.rebuild_indexes()
        except BaseException:
            os.close(fd)
            raise
        return segment

    def _index_files_look_sane(self) -> bool:
        """Kafka's ``sanityCheck``: whole entries, last entries inside this segment."""
        last = read_index_file(self._index_path, OFFSET_ENTRY.size, last_only=True)
        if last is None:
            return False
        if last:
            relative, position = OFFSET_ENTRY.unpack(last)
            if position >= self.size or relative > _RELATIVE_MAX:
                return False
        time_last = TimeIndex.peek_last(self._time_index_path, self.base_offset)
        if time_last is False:
            return False
        if time_last is None:
            # Sealing always writes the segment's largest timestamp; no entry at all for a
            # non-empty log means the file was lost, unless no batch has a timestamp.
            return self.size == 0
        assert isinstance(time_last, tuple)
        self.max_timestamp, self._max_timestamp_offset = time_last
        return time_last[1] - self.base_offset <= _RELATIVE_MAX

    def _indexes(self) -> tuple[OffsetIndex, TimeIndex]:
        if self._offset_index is None or self._time_index is None:
            entries = self.config.offset_index_entries_max, self.config.time_index_entries_max
            offsets = OffsetIndex.load(
                self._index_path, self.base_offset, entries[0], self.size, self.upper_offset
            )
            times = TimeIndex.load(
                self._time_index_path, self.base_offset, entries[1], self.upper_offset
            )
            if offsets is None or times is None or not self._covers_tail(offsets, times):
                self.rebuild_indexes()
            else:
                self._offset_index, self._time_index = offsets, times
        assert self._offset_index is not None and self._time_index is not None
        return self._offset_index, self._time_index

    def _covers_tail(self, offsets: OffsetIndex, times: TimeIndex) -> bool:
        """Whether loaded indexes can be whole: the indexing rule leaves no batch more than
        ``index.interval.bytes`` past the last entry (a longer gap means entries were lost),
        and a sealed segment's time index ends with its largest timestamp.  Walks at most
        about one interval, so it is cheap."""
        last = offsets.last()
        start = last[1] if last is not None else 0
        limit = start + self.config.index_interval_bytes
        time_last = times.last()
        largest = time_last[0] if time_last is not None else -1
        try:
            for position, _, _, _, max_ts in self._walk(start, self.size):
                if position > limit or (self.state is SegmentState.SEALED and max_ts > largest):
                    return False
        except KafkaStorageError:
            return False  # the rebuild will meet the damage and report it
        return True

    def activate(self) -> None:
        """Make a SEALED segment the ACTIVE one: learn its tail (next offset, max timestamp).

        Walks only from the last offset-index entry, so it costs about one index interval.
        """
        offsets, times = self._indexes()
        last = offsets.last()
        start = last[1] if last is not None else 0
        self._learn_tail(start, times.last())
        self._transition("activate")

    def _learn_tail(self, start: int, time_last: tuple[int, int] | None) -> None:
        """Walk from ``start`` (a batch boundary) to the end: next offset, max timestamp."""
        max_ts, max_offset = time_last if time_last is not None else (-1, self.base_offset)
        next_offset = self.base_offset
        for _, _, base, last, batch_max_ts in self._walk(start, self.size):
            # Ties keep the earlier batch, so a time entry means "the first batch to reach
            # this timestamp" (lookups would survive either way: the tail has no offset
            # index entries, so a scan for it always starts before both batches).
            if batch_max_ts > max_ts or (batch_max_ts == max_ts and base < max_offset):
                max_ts, max_offset = batch_max_ts, base
            next_offset = last + 1
        self.next_offset = next_offset
        self.max_timestamp, self._max_timestamp_offset = max_ts, max_offset
        self._bytes_since_index = self.size - start
        self._first_timestamp = self._read_first_timestamp()

    def _read_first_timestamp(self) -> int | None:
        if self.size == 0:
            return None
        for _, _, _, _, max_ts in self._walk(0, self.size):
            return max_ts
        return None

    def seal(self) -> None:
        """Stop taking appends: record the final max timestamp, write the index files."""
        _, times = self._indexes()
        times.maybe_append(self.max_timestamp, self._max_timestamp_offset)
        self._write_index_files()
        self.upper_offset = self.next_offset
        self._transition("seal")

    def close(self) -> list[Path]:
        """Write the indexes of an ACTIVE segment (or a rebuilt SEALED one) and close the file.

        Returns the index files written during this segment's life, for the log to fsync.
        """
        if self.state is SegmentState.ACTIVE:
            _, times = self._indexes()
            times.maybe_append(self.max_timestamp, self._max_timestamp_offset)
        self._write_index_files()
        os.close(self._fd)
        self._transition("close")
        return list(self.index_paths) if self._index_files_written else []

    def close_quietly(self) -> None:
        """Close the file without writing anything (the log is offline or being deleted)."""
        if self.state in (SegmentState.ACTIVE, SegmentState.SEALED):
            os.close(self._fd)
            self._transition("close")

    def _write_index_files(self) -> None:
        for index in (self._offset_index, self._time_index):
            if index is not None and (index.dirty or not index.path.exists()):
                index.write_file()
                self._index_files_written = True

    def delete(self) -> None:
        """Close and remove the three files."""
        os.close(self._fd)
        for path in (self.log_path, self._index_path, self._time_index_path):
            path.unlink(missing_ok=True)
        self._transition("delete")

    def intact(self) -> bool:
        """Whether the file holds exactly the batches the segment knows (after a failed
        append: its rollback worked). False when even that cannot be told."""
        try:
            return os.fstat(self._fd).st_size == self.size
        except OSError:
            return False

    def dup_fd(self) -> int:
        """A duplicate of the ``.log`` descriptor, for an fsync outside the log's lock."""
        return os.dup(self._fd)

    @property
    def index_paths(self) -> tuple[Path, Path]:
        return self._index_path, self._time_index_path

    def update_config(self, config: LogConfig) -> None:
        self.config = config
        for index, entries_max in (
            (self._offset_index, config.offset_index_entries_max),
            (self._time_index, config.time_index_entries_max),
        ):
            if index is not None:
                index.entries_max = entries_max

    # -- appends -------------------------------------------------------------------------

    def should_roll(
        self, size: int, last_offset: int, max_timestamp: int, now_ms: int | None, clock: Clock
    ) -> bool:
        """Kafka's ``shouldRoll``: full by bytes, old by ``segment.ms``, a full index, or an
        offset too far above the base; an empty segment never rolls (nothing to seal).
        ``now_ms`` None: read ``clock`` only if needed (the common case does not)."""
        if self.size == 0:
            return False
        config = self.config
        if (
            self.size + size > config.segment_bytes
            or last_offset - self.base_offset > _RELATIVE_MAX
        ):
            return True
        offsets, times = self._offset_index, self._time_index
        assert offsets is not None and times is not None  # loaded while ACTIVE
        if offsets.is_full or times.is_full:
            return True
        # As Kafka: measure a segment's age in record time when the batches carry timestamps
        # (a replay of old data must not roll on every batch), else on the broker's clock.
        first = self._first_timestamp
        if first is not None and first >= 0 and max_timestamp >= 0:
            return max_timestamp - first >= config.segment_ms
        now = clock.now_ms() if now_ms is None else now_ms
        return now - self._created_ms >= config.segment_ms

    def append(
        self, batch: bytes | bytearray | memoryview, base: int, last: int, max_timestamp: int
    ) -> None:
        """Write one stamped batch at the end (the log has validated it and its offsets)."""
        assert self.state is SegmentState.ACTIVE and self.next_offset is not None
        assert base >= self.next_offset and last - self.base_offset <= _RELATIVE_MAX, (base, last)
        position = self.size
        size = len(batch)
        try:
            check_write(self.log_path)
            written = os.write(self._fd, batch)
            if written != size:
                write_all(self._fd, memoryview(batch)[written:])
        except OSError:
            # A full disk may have taken part of the batch: cut it off, so the file holds
            # whole batches only and the segment stays usable. If even that fails the
            # caller must take the log offline (``intact`` tells it).
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, position)
            raise
        self.size = position + size
        self.next_offset = last + 1
        if self._verified.position == position:  # the log checked it before the append
            self._verified = Tail(self.size, last, _EPOCH.unpack_from(batch, _EPOCH_POS)[0])
        if self._first_timestamp is None:
            self._first_timestamp = max_timestamp
        self._track(position, size, base, max_timestamp)

    def _track(self, position: int, size: int, base: int, max_timestamp: int) -> None:
        """Kafka's indexing rule, shared by append and recovery so both build the same index."""
        if max_timestamp > self.max_timestamp:
            self.max_timestamp, self._max_timestamp_offset = max_timestamp, base
        if self._bytes_since_index > self.config.index_interval_bytes:
            offsets, times = self._offset_index, self._time_index
            if offsets is None or times is None:
                offsets, times = self._indexes()
            offsets.append(base, position)
            times.maybe_append(self.max_timestamp, self._max_timestamp_offset)
            self._bytes_since_index = 0
        self._bytes_since_index += size

    # -- reads ---------------------------------------------------------------------------

    def _walk(self, start: int, stop: int) -> Iterator[tuple[int, int, int, int, int]]:
        """(position, size, base offset, last offset, max timestamp) of each batch in
        [start, stop), both batch boundaries.  Checks structure only (no CRC: that is for
        recovery); a batch that does not fit raises KafkaStorageError."""
        window = b""
        window_start = 0
        pos = start
        while pos < stop:
            offset = pos - window_start
            if offset + HEADER_SIZE > len(window):
                window = pread_exact(self._fd, max(min(_WALK_WINDOW, stop - pos), HEADER_SIZE), pos)
                window_start, offset = pos, 0
            if len(window) - offset < HEADER_SIZE:
                raise self._damaged(pos, "truncated batch header")
            base, length, _, magic, _, _, delta, _, max_ts, _, _, _, _ = _HEADER.unpack_from(
                window, offset
            )
            size = length + LOG_OVERHEAD
            if length < _MIN_LENGTH or magic != MAGIC or delta < 0 or pos + size > stop:
                raise self._damaged(pos, "batch header does not fit")
            yield pos, size, base, base + delta, max_ts
            pos += size

    def _damaged(self, position: int, why: str) -> KafkaStorageError:
        return KafkaStorageError(f"segment {self.log_path} is damaged at byte {position}: {why}")

    def locate(self, offset: int, *, cutting: bool = False) -> tuple[int, int] | None:
        """(position, base offset) of the first batch whose last offset is ≥ ``offset``.

        The offsets walked must rise from the index entry the walk starts at (or from the
        segment's base): ``baseOffset`` is outside the CRC, so this is where damage to it
        shows (KafkaStorageError).

        ``cutting`` (for :meth:`truncate_to`): a damaged batch met right where ``offset``
        belongs -- every whole batch before it ends below ``offset``, and ``offset`` is at
        most one past the last of them -- is the cut point, ``(its position, offset)``.
        Offsets rise along a log, so what lies from there on holds offsets ≥ ``offset``
        and is dropped by the truncation anyway; this is how a replica cuts its log at a
        batch whose header was damaged (a flipped length), which no walk can step over."""
        offsets, _ = self._indexes()
        entry = offsets.lookup_entry(offset)
        start, previous = (
            (entry[1], entry[0] - 1) if entry is not None else (0, self.base_offset - 1)
        )
        at = start  # where the next batch of the walk starts
        try:
            for position, size, base, last, _ in self._walk(start, self.size):
                if base <= previous or (
                    entry is not None and position == start and base != entry[0]
                ):
                    raise self._damaged(position, f"base offset {base} does not follow {previous}")
                if last >= offset:
                    return position, base
                previous, at = last, position + size
        except KafkaStorageError:
            if cutting and offset <= previous + 1:
                return at, offset
            raise
        return None

    def fit(self, start: int, stop: int, max_bytes: int) -> int:
        """The end of the longest run of whole batches from ``start`` within ``max_bytes``
        and ``stop`` (both batch boundaries), but at least the batch at ``start``."""
        if stop - start <= max_bytes:
            return stop
        target = start + max_bytes
        first_end = start + next(self._walk(start, stop))[1]
        if first_end >= target:
            return first_end
        offsets, _ = self._indexes()
        end = max(offsets.floor_position(target), first_end)
        for position, size, _, _, _ in self._walk(end, stop):
            if position + size > target:
                break
            end = position + size
        return end

    def read(self, start: int, end: int) -> bytes:
        """The whole batches in [start, end), each checked unless known good (module doc)."""
        data = pread_exact(self._fd, end - start, start)
        if len(data) != end - start:
            raise self._damaged(start + len(data), "file shorter than expected")
        if end > self._verified.position:
            self._verify(data, start)
        return data

    def _verify(self, data: bytes, start: int) -> None:
        """Check the batches of a read past the known-good mark; move the mark when the
        read reaches it. A read starting past the mark has had its first batch's
        predecessor checked by ``locate``."""
        mark = self._verified
        contiguous = start <= mark.position
        if contiguous:
            tail, reason = verify_batches(memoryview(data)[mark.position - start :], mark)
        else:
            tail, reason = verify_batches(data, Tail(start, self.base_offset - 1, -1))
        if not reason and tail.position < self.size:
            reason = check_successor(tail, pread_exact(self._fd, SUCCESSOR_BYTES, tail.position))
        elif not reason and self.upper_offset is not None and tail.last_offset >= self.upper_offset:
            reason = f"offset {tail.last_offset} reaches the next segment ({self.upper_offset})"
        if reason:
            error = self._damaged(tail.position, reason)
            if not self._damage_logged:  # once: every retry of a reader meets it again
                self._damage_logged = True
                _log.error("%s; refusing to serve it", error)
            raise error
        if contiguous:
            self._verified = tail

    def find_timestamp(self, timestamp: int, min_offset: int) -> tuple[int, int] | None:
        """(base offset, max timestamp) of the first batch at or past ``min_offset`` whose
        max timestamp is ≥ ``timestamp``."""
        offsets, times = self._indexes()
        indexed = times.lookup(timestamp)
        from_offset = max(self.base_offset if indexed is None else indexed, min_offset)
        for _, _, base, last, max_ts in self._walk(offsets.lookup(from_offset), self.size):
            if last >= min_offset and max_ts >= timestamp:
                return base, max_ts
        return None

    def walk_epochs(self, on_batch: Callable[[int, int], None]) -> None:
        """Call ``on_batch(epoch, base offset)`` for every batch (to rebuild the epoch cache)."""
        pos = 0
        while pos < self.size:
            header = pread_exact(self._fd, HEADER_SIZE, pos)
            if len(header) < HEADER_SIZE:
                raise self._damaged(pos, "truncated batch header")
            base, length, epoch, *_ = _HEADER.unpack(header)
            if length < _MIN_LENGTH:
                raise self._damaged(pos, "batch length too small")
            on_batch(epoch, base)
            pos += length + LOG_OVERHEAD

    def scan_headers(self, start: int, on_batch: Callable[[tuple[int, ...]], None]) -> None:
        """Call ``on_batch(fields)`` with the 13 unpacked header fields (in header order:
        base offset, length, epoch, magic, crc, attributes, last offset delta, base and max
        timestamp, producer id, producer epoch, base sequence, count) of every batch from
        position ``start`` (a batch boundary) to the end.  Headers only: a window of the
        file is read at a time and large batches are skipped, not read (the producer state
        rebuild; Kafka's ``UnifiedLog.rebuildProducerState`` reads headers the same way)."""
        window = b""
        window_start = 0
        pos = start
        while pos < self.size:
            offset = pos - window_start
            if offset + HEADER_SIZE > len(window):
                window = pread_exact(self._fd, min(_WALK_WINDOW, self.size - pos), pos)
                window_start, offset = pos, 0
                if len(window) < HEADER_SIZE:
                    raise self._damaged(pos, "truncated batch header")
            fields = _HEADER.unpack_from(window, offset)
            if fields[1] < _MIN_LENGTH or fields[3] != MAGIC:
                raise self._damaged(pos, "batch header does not fit")
            on_batch(fields)
            pos += fields[1] + LOG_OVERHEAD

    # -- truncation and recovery ---------------------------------------------------------

    def truncate_to(self, offset: int) -> int:
        """Drop every batch whose last offset is ≥ ``offset``; the segment becomes ACTIVE
        and ends at ``offset`` -- or at the base of the batch holding it -- even when the
        cleaner removed the offsets just before (the next batch goes there, as Kafka's
        ``truncateTo`` sets the log end to its target; after a crash the tail is learnt
        from the batches again, a shorter log that its leader fills in).

        Returns the bytes removed.
        """
        offsets, times = self._indexes()
        found = self.locate(offset, cutting=True)
        removed = 0
        end = offset
        if found is not None:
            position, base = found
            os.ftruncate(self._fd, position)
            removed, self.size = self.size - position, position
            offsets.truncate_to_position(position)
            times.truncate_to_offset(base)
            end = min(base, offset)
        last = offsets.last()
        self._learn_tail(last[1] if last is not None else 0, times.last())
        self.next_offset = max(self.next_offset or 0, end)
        self.upper_offset = None  # the last segment now: it may grow past its old bound
        if self._verified.position > self.size:
            assert self.next_offset is not None
            self._verified = Tail(self.size, self.next_offset - 1, -1)
        if self.state is SegmentState.SEALED:
            self._transition("activate")
        return removed

    def rebuild_indexes(self) -> None:
        """Re-derive both indexes from the ``.log`` (structure only) and write their files."""
        _, times = self._fresh_indexes()
        next_offset = self.base_offset
        for position, size, base, last, max_ts in self._walk(0, self.size):
            self._track(position, size, base, max_ts)
            next_offset = last + 1
        self.next_offset = next_offset
        times.maybe_append(self.max_timestamp, self._max_timestamp_offset)
        self._write_index_files()

    def _fresh_indexes(self) -> tuple[OffsetIndex, TimeIndex]:
        """Empty indexes, ready to be built from the ``.log``; old files go (the index
        files must never hold more than memory does)."""
        config = self.config
        self._offset_index = OffsetIndex(
            self._index_path, self.base_offset, config.offset_index_entries_max
        )
        self._time_index = TimeIndex(
            self._time_index_path, self.base_offset, config.time_index_entries_max
        )
        self._offset_index.delete_file()
        self._time_index.delete_file()
        self.max_timestamp, self._max_timestamp_offset = -1, self.base_offset
        self._bytes_since_index = 0
        return self._offset_index, self._time_index

    def recover(
        self, next_offset: int, min_epoch: int, on_batch: Callable[[BatchInfo], None]
    ) -> RecoveryResult:
        """Kafka's ``LogSegment.recover``: check every batch (CRC included) from the start,
        cut the file at the first that is not whole and valid, rebuild both indexes.

        ``next_offset``/``min_epoch`` are where the previous segment left off.  The segment
        is ACTIVE afterwards; the log seals it again if a later segment survives.
        """
        self._fresh_indexes()
        self.next_offset = max(next_offset, self.base_offset)
        size = os.fstat(self._fd).st_size
        pos, reason = 0, ""
        while pos < size and not reason:
            window = pread_exact(self._fd, min(_RECOVERY_WINDOW, size - pos), pos)
            result = scan(
                window,
                base_offset=self.base_offset,
                next_offset=self.next_offset,
                min_epoch=min_epoch,
            )
            for info in result.batches:
                self._recovered(info._replace(position=pos + info.position), on_batch)
                min_epoch = info.epoch
            pos += result.end
            if result.stop is Stop.CORRUPT:
                reason = result.reason
            elif result.stop is Stop.INCOMPLETE:
                if pos + result.need > size:
                    reason = "batch cut short by the end of the file"
                elif result.need > _RECOVERY_WINDOW:
                    info_or_reason = self._check_large_batch(pos, result.need, min_epoch)
                    if isinstance(info_or_reason, str):
                        reason = info_or_reason
                    else:
                        self._recovered(info_or_reason, on_batch)
                        min_epoch = info_or_reason.epoch
                        pos += info_or_reason.size
        if pos < size:
            os.ftruncate(self._fd, pos)
        self.size = pos
        self._verified = Tail(pos, self.next_offset - 1, min_epoch)  # every CRC was checked
        self._first_timestamp = self._read_first_timestamp()
        if self.state is SegmentState.SEALED:
            self._transition("activate")
        return RecoveryResult(size - pos, reason)

    def _recovered(self, info: BatchInfo, on_batch: Callable[[BatchInfo], None]) -> None:
        self._track(info.position, info.size, info.base_offset, info.max_timestamp)
        self.next_offset = info.last_offset + 1
        on_batch(info)

    def _check_large_batch(self, pos: int, size: int, min_epoch: int) -> BatchInfo | str:
        """Check a batch too big for one recovery window, streaming its CRC in chunks."""
        header = pread_exact(self._fd, HEADER_SIZE, pos)
        result = scan(
            header,
            base_offset=self.base_offset,
            next_offset=self.next_offset or 0,
            min_epoch=min_epoch,
        )
        if result.stop is not Stop.INCOMPLETE or result.need != size:
            return result.reason or "batch header changed while reading"
        base, _, epoch, _, expected_crc, _, delta, _, max_ts, *_ = _HEADER.unpack(header)
        crc = 0
        for chunk_start in range(pos + CRC_START, pos + size, _RECOVERY_WINDOW):
            chunk = pread_exact(
                self._fd, min(_RECOVERY_WINDOW, pos + size - chunk_start), chunk_start
            )
            crc = crc32c.crc32c(chunk, crc)
        if crc != expected_crc:
            return "CRC-32C mismatch"
        return BatchInfo(pos, size, base, base + delta, max_ts, epoch)
