"""Reading a log's segments: fetch by offset, and ListOffsets by time (Kafka's
``LocalLog.read`` and ``UnifiedLog.fetchOffsetByTimestamp``).

Functions over the segments of one log, called by ``Log`` under its lock (they share the
log's ownership rules; they read files, never write them).
"""

from __future__ import annotations

from logd.storage.segment import Segment
from logd.storage.segments import Segments

__all__ = ["find_by_timestamp", "read_batches"]


def read_batches(
    segments: Segments[Segment], offset: int, max_bytes: int, limit: int, log_end: int
) -> bytes:
    """Whole batches from the one holding ``offset``: within ``max_bytes`` but at least one,
    none holding ``limit`` or later, all from one segment (as Kafka's reads are)."""
    segment: Segment | None = segments.floor(offset)
    assert segment is not None
    found = segment.locate(offset)
    while found is None:
        # The offset is past this segment's last batch: the data starts in the next one.
        segment = segments.higher(segment.base_offset)
        if segment is None or segment.base_offset >= limit:
            return b""
        found = segment.locate(segment.base_offset)
    start, _ = found
    successor = segments.higher(segment.base_offset)
    stop = segment.size
    if limit < (log_end if successor is None else successor.base_offset):
        cut = segment.locate(limit)  # the first batch the reader may not see
        stop = cut[0] if cut is not None else segment.size
    if start >= stop:
        return b""
    return segment.read(start, segment.fit(start, stop, max(max_bytes, 0)))


def find_by_timestamp(
    segments: Segments[Segment], timestamp: int, log_start: int
) -> tuple[int, int] | None:
    """(base offset, max timestamp) of the first batch at or past ``log_start`` whose max
    timestamp is ≥ ``timestamp``; segments whose largest timestamp is below are skipped."""
    for segment in segments:
        if segment.max_timestamp >= timestamp:
            found = segment.find_timestamp(timestamp, log_start)
            if found is not None:
                return found
    return None
