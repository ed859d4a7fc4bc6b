"""One cleaner pass over one log: map the dirty part, rewrite the cleanable part, swap
(Kafka's ``Cleaner.doClean``).

The log is ``[log start, first dirty)`` cleaned before, ``[first dirty, limit)`` dirty and
cleanable, then what may not be cleaned yet: the active segment, anything at or past the
high watermark (only committed data is cleaned, so Raft never sees a committed entry change
under an uncommitted one) or the recovery point, and segments holding records newer than
``min.compaction.lag.ms``.  A pass:

1. maps each key of the dirty part to its last offset, in an :class:`OffsetMap` of bounded
   size; when the map is full it stops at a batch boundary, ``map_end``, and the next pass
   goes on from there (a larger log takes more passes, never more memory);
2. rewrites every segment below ``map_end``, grouped up to ``segment.bytes`` (Kafka's
   ``groupSegmentsBySize``), keeping a record unless the map holds a later offset for its
   key, it has no key (Kafka drops those too), or it is a tombstone below ``map_end`` in a
   segment last written more than ``delete.retention.ms`` ago; control batches (Raft's
   entries) stay; see ``logd.storage.rewrite`` for what a rewritten batch keeps;
3. swaps the groups in (``logd.storage.swap``: crash-safe), several with one commit: once
   the cleaned bytes written reach ``segment.bytes``, and at the end.

Every batch read is CRC-checked first: a damaged one stops the pass (KafkaStorageError),
nothing of it is swapped in.  Reads and writes go through the ``Throttler``.

Steps 1 and 2 have two implementations with one rule: the loops below with the dict
:class:`OffsetMap` (pure Python, the reference) and ``logd.storage.cscan`` with the
:class:`TableOffsetMap` (C, the GIL released; the default where it is built).  The map a
pass is given picks them (:func:`new_offset_map`).

Runs in the cleaner's thread; touches the log only through ``Log.cleanable_segments`` and
``Log.replace_segments`` (both under the log's lock) and reads through its own descriptors.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

import crc32c

from logd.records.header import ATTR_CONTROL, CRC_START, HEADER_SIZE, LOG_OVERHEAD
from logd.storage import cscan
from logd.storage.files import LOG_SUFFIX, SEGMENT_SUFFIXES, pread_exact, segment_path
from logd.storage.offset_map import OffsetMap, TableOffsetMap, digest
from logd.storage.rewrite import HEADER, RecordTuple, decode_records, filter_batch
from logd.storage.segment import Segment
from logd.storage.swap import SourceSegment, prepare_cleaned, seal_cleaned
from logd.storage.throttle import UNLIMITED, Throttler

if TYPE_CHECKING:
    from logd.storage.log import Log

__all__ = ["AnyOffsetMap", "PassResult", "clean_pass", "new_offset_map"]

#: The reference's map (a dict) or the C cleaner's (a table): the pass runs the loops of
#: the one it is given (``cscan`` for the table).
AnyOffsetMap = OffsetMap | TableOffsetMap
#: ``write_group(name, segment, group, keeper, last_batches, throttle)`` -> (written, removed)
WriteGroup = Callable[
    [str, Segment, list[SourceSegment], "_Keeper", dict[int, int], Throttler], tuple[int, int]
]

_WINDOW: Final = 1 << 20
#: The headers-only read: a page holds many small batches' headers, and large batches cost
#: one page each rather than the bytes between their headers.
_HEADER_WINDOW: Final = 4096
_RELATIVE_MAX: Final = (1 << 31) - 1


@dataclasses.dataclass
class PassResult:
    """What one pass did.  ``first_dirty`` is where the next pass starts mapping."""

    first_dirty: int
    bytes_read: int = 0
    bytes_written: int = 0
    records_removed: int = 0
    segments_cleaned: int = 0
    #: The map filled before the dirty part ended: more passes are due.
    map_full: bool = False
    #: When the oldest tombstone this pass kept may go (unix ms), -1: none kept.  A log
    #: with nothing dirty is cleaned again then (Kafka's KIP-534 does the same).
    tombstones_due_ms: int = -1


def clean_pass(
    log: Log,
    offset_map: AnyOffsetMap,
    *,
    first_dirty: int,
    limit_offset: int,
    now_ms: int,
    throttler: Throttler | None = None,
    tombstones: bool = False,
) -> PassResult | None:
    """Clean ``log`` below ``limit_offset`` (the high watermark); None when nothing is
    cleanable (no sealed dirty segment old enough).  ``tombstones``: clean the cleaned
    part even when nothing is dirty, for the tombstones whose time has come."""
    throttle = throttler or Throttler(UNLIMITED)
    sources = log.cleanable_segments(limit_offset)
    try:
        sources = _old_enough(sources, log.config.min_compaction_lag_ms, now_ms)
        dirty = [s for s in sources if s.upper_offset > first_dirty]
        if not dirty and not (tombstones and sources):
            return None
        offset_map.clear()
        result = PassResult(first_dirty)
        write_group: WriteGroup
        if isinstance(offset_map, TableOffsetMap):
            map_end = cscan.build_map(log.name, dirty, first_dirty, offset_map, result, throttle)
            write_group = cscan.write_group
        else:
            map_end = _build_map(log.name, dirty, first_dirty, offset_map, result, throttle)
            write_group = _write_group
        result.first_dirty = map_end
        todo = [s for s in sources if s.base_offset < map_end]
        if isinstance(offset_map, TableOffsetMap):
            last_batches = cscan.producers_last_batches(log.name, todo, offset_map.native)
        else:
            last_batches = _producers_last_batches(log.name, todo)
        keeper = _Keeper(offset_map, map_end, now_ms, log.config.delete_retention_ms)
        swap = _PendingSwap(log, result)
        try:
            for group in _groups(todo, log.config.segment_bytes):
                swap.write(group, keeper, last_batches, throttle, write_group)
                if swap.bytes >= log.config.segment_bytes and not swap.commit():
                    break
            else:
                swap.commit()
        finally:
            swap.discard()
        result.tombstones_due_ms = keeper.tombstones_due_ms
        return result
    finally:
        for source in sources:
            os.close(source.fd)
        offset_map.clear()


def new_offset_map(size_bytes: int, implementation: str | None = None) -> AnyOffsetMap:
    """A map of ``size_bytes`` for ``implementation`` ("c", "python"; None: C when built)."""
    native = cscan.native(implementation)
    return OffsetMap(size_bytes) if native is None else TableOffsetMap(size_bytes, native)


def _old_enough(sources: list[SourceSegment], lag_ms: int, now_ms: int) -> list[SourceSegment]:
    """Kafka's ``min.compaction.lag.ms``: stop at the first segment holding a newer record."""
    if lag_ms <= 0:
        return sources
    for i, source in enumerate(sources):
        if source.max_timestamp > now_ms - lag_ms:
            for rest in sources[i:]:
                os.close(rest.fd)
            return sources[:i]
    return sources


def batches(
    name: str, source: SourceSegment, throttle: Throttler
) -> Iterator[tuple[bytes, tuple[int, ...]]]:
    """(bytes, header fields) of every batch of ``source``, each CRC-checked."""
    pos, window, window_start = 0, b"", 0
    fd, end = source.fd, source.size
    while pos < end:
        have = window_start + len(window) - pos
        if have < HEADER_SIZE:
            window, window_start = pread_exact(fd, min(_WINDOW, end - pos), pos), pos
            throttle.maybe_throttle(len(window))
            have = len(window)
            if have < HEADER_SIZE:
                raise cscan.damaged(name, source, pos, "truncated batch header")
        fields = HEADER.unpack_from(window, pos - window_start)
        size = fields[1] + LOG_OVERHEAD
        if fields[1] < HEADER_SIZE - LOG_OVERHEAD or pos + size > end:
            raise cscan.damaged(name, source, pos, "batch length does not fit")
        if size > have:
            window, window_start = pread_exact(fd, max(min(_WINDOW, end - pos), size), pos), pos
            throttle.maybe_throttle(len(window))
        start = pos - window_start
        batch = window[start : start + size]
        if len(batch) != size or crc32c.crc32c(memoryview(batch)[CRC_START:]) != fields[4]:
            raise cscan.damaged(name, source, pos, "CRC-32C mismatch")
        yield batch, fields
        pos += size


def _headers(name: str, source: SourceSegment) -> Iterator[tuple[int, ...]]:
    """The header fields of every batch of ``source``; records are skipped, not read."""
    pos, window, window_start = 0, b"", 0
    while pos < source.size:
        if window_start + len(window) - pos < HEADER_SIZE:
            window = pread_exact(source.fd, min(_HEADER_WINDOW, source.size - pos), pos)
            window_start = pos
            if len(window) < HEADER_SIZE:
                raise cscan.damaged(name, source, pos, "truncated batch header")
        fields = HEADER.unpack_from(window, pos - window_start)
        if fields[1] < HEADER_SIZE - LOG_OVERHEAD:
            raise cscan.damaged(name, source, pos, "batch length does not fit")
        yield fields
        pos += fields[1] + LOG_OVERHEAD


def _build_map(
    name: str,
    dirty: list[SourceSegment],
    first_dirty: int,
    offset_map: OffsetMap,
    result: PassResult,
    throttle: Throttler,
) -> int:
    """Map the dirty part from ``first_dirty``; returns where the mapping stopped."""
    end = first_dirty
    for source in dirty:
        for batch, fields in batches(name, source, throttle):
            last = fields[0] + fields[6]
            result.bytes_read += len(batch)
            if last < first_dirty:
                continue
            if not fields[5] & ATTR_CONTROL:
                if len(offset_map) and not offset_map.room_for(fields[12]):
                    result.map_full = True
                    return max(end, fields[0])
                offset_map.put_all(decode_records(batch, fields)[1])
            end = last + 1
        end = max(end, source.upper_offset)
    return end


def _producers_last_batches(name: str, sources: list[SourceSegment]) -> dict[int, int]:
    """Producer id -> last offset of its last batch in ``sources`` (headers only).  A later
    batch in an uncleaned segment only makes keeping this one's header unneeded, never
    wrong (Kafka asks its producer state; this needs nothing from the broker)."""
    last: dict[int, int] = {}
    for source in sources:
        for fields in _headers(name, source):
            if fields[9] >= 0:
                last[fields[9]] = fields[0] + fields[6]
    return last


def _groups(sources: list[SourceSegment], segment_bytes: int) -> Iterator[list[SourceSegment]]:
    group: list[SourceSegment] = []
    size = 0
    for source in sources:
        if group and (
            size + source.size > segment_bytes
            or source.upper_offset - group[0].base_offset > _RELATIVE_MAX
        ):
            yield group
            group, size = [], 0
        group.append(source)
        size += source.size
    if group:
        yield group


class _Keeper:
    """The record rule of a pass (see the module doc), for one source segment at a time."""

    def __init__(
        self, offset_map: AnyOffsetMap, map_end: int, now_ms: int, retention_ms: int
    ) -> None:
        self.offset_map = offset_map
        self.map_end = map_end
        self.now_ms = now_ms
        self.retention_ms = retention_ms
        self.horizon_ms = now_ms - retention_ms
        self.drop_tombstones = False
        self.modified_ms = 0
        #: When the first tombstone kept below ``map_end`` may go, -1: none kept.
        self.tombstones_due_ms = -1

    def source(self, source: SourceSegment) -> None:
        self.drop_tombstones = source.modified_ms < self.horizon_ms
        self.modified_ms = source.modified_ms

    def __call__(self, records: list[RecordTuple]) -> list[bool]:
        """One tight loop a batch (no call per record): see the module doc for the rule."""
        assert isinstance(self.offset_map, OffsetMap)
        entries, hash128, map_end = self.offset_map.entries, digest, self.map_end
        out: list[bool] = []
        for offset, _, key, value, _ in records:
            if key is None:
                out.append(False)  # Kafka's cleaner drops keyless records of a compacted log
            elif offset >= map_end:
                out.append(True)
            elif entries.get(hash128(key), -1) > offset:
                out.append(False)
            elif value is None:
                out.append(self._tombstone())
            else:
                out.append(True)
        return out

    def _tombstone(self) -> bool:
        if self.drop_tombstones:
            return False
        self.kept_tombstone()
        return True

    def kept_tombstone(self) -> None:
        """A tombstone of the current source below ``map_end`` stays: note when it may go."""
        due = self.modified_ms + self.retention_ms
        if self.tombstones_due_ms < 0 or due < self.tombstones_due_ms:
            self.tombstones_due_ms = due


class _PendingSwap:
    """Cleaned groups written into one ``<base>.cleaned/`` directory and swapped in with
    one commit (``logd.storage.swap``): the fsyncs of a swap are paid once for several
    groups.  The caller commits once the written bytes reach ``segment.bytes``, so a clean
    needs at most about two segments of extra disk."""

    def __init__(self, log: Log, result: PassResult) -> None:
        self.log, self.result = log, result
        self.path: Path | None = None
        self.base = -1
        self.groups: list[tuple[list[SourceSegment], int, int]] = []
        self.bytes = 0

    def write(
        self,
        group: list[SourceSegment],
        keeper: _Keeper,
        last_batches: dict[int, int],
        throttle: Throttler,
        write_group: WriteGroup,
    ) -> None:
        """Write the cleaned segment of ``group`` (none if it is clean already)."""
        base, log = group[0].base_offset, self.log
        if self.path is None:
            self.path, self.base = prepare_cleaned(log.directory, base), base
        segment = Segment.create(self.path, base, log.config, keeper.now_ms)
        try:
            written, removed = write_group(log.name, segment, group, keeper, last_batches, throttle)
            segment.seal()
        except BaseException:
            segment.close_quietly()
            raise
        segment.close()
        if not removed and len(group) == 1 and written == group[0].size:
            for suffix in SEGMENT_SUFFIXES:  # already clean: a swap would rewrite the same bytes
                segment_path(self.path, base, suffix).unlink()
            return
        # The cleaned segment keeps its sources' age: retention by file time and the
        # tombstone horizon must not restart with every clean (Kafka does the same).
        modified_ns = max(source.modified_ms for source in group) * 1_000_000
        os.utime(segment_path(self.path, base, LOG_SUFFIX), ns=(modified_ns, modified_ns))
        self.groups.append((group, written, removed))
        self.bytes += written

    def commit(self) -> bool:
        """Swap the groups written in; False (nothing swapped) if the log changed."""
        if not self.groups:
            return True
        assert self.path is not None
        groups, path, self.groups, self.bytes = self.groups, self.path, [], 0
        try:
            seal_cleaned(path, [(g[0].base_offset, g[-1].upper_offset) for g, _, _ in groups])
            swapped = self.log.replace_segments([g for g, _, _ in groups], self.base)
        finally:
            self.discard()
        if swapped:
            for group, written, removed in groups:
                self.result.bytes_written += written
                self.result.records_removed += removed
                self.result.segments_cleaned += len(group)
        return swapped

    def discard(self) -> None:
        """Drop what was not swapped in."""
        if self.path is not None and self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)
        self.path = None


def _write_group(
    name: str,
    segment: Segment,
    group: list[SourceSegment],
    keeper: _Keeper,
    last_batches: dict[int, int],
    throttle: Throttler,
) -> tuple[int, int]:
    """Append what survives of ``group`` to ``segment``; (bytes written, records removed)."""
    written = removed = 0
    for source in group:
        keeper.source(source)
        for batch, fields in batches(name, source, throttle):
            last = fields[0] + fields[6]
            out: bytes | None = batch
            if not fields[5] & ATTR_CONTROL:  # control batches (Raft's entries) stay
                retain = fields[9] >= 0 and last_batches.get(fields[9]) == last
                out = filter_batch(batch, keeper, retain_empty=retain)
            if out is None:
                removed += fields[12]
                continue
            kept = HEADER.unpack_from(out)
            removed += fields[12] - kept[12]
            segment.append(out, fields[0], last, kept[8])
            written += len(out)
            throttle.maybe_throttle(len(out))
    return written, removed
