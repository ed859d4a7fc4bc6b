"""Which old segments a log may delete (Kafka's ``UnifiedLog.deleteOldSegments``).

Only whole segments go, oldest first, never the active one, and never one holding an offset
at or past the caller's limit (the high watermark: nothing uncommitted or unread by the
replicas).  A segment goes when any rule lets it:

* ``retention.ms`` — its largest timestamp is older than that (Kafka's choice: record time,
  so a segment of old replayed data ages by its data; the file's modification time when no
  batch carries a timestamp);
* ``retention.bytes`` — the log stays at least that big without it (Kafka's rule);
* the log start offset has moved past it (``delete_records_before``).

The first two apply only when ``cleanup.policy`` includes ``delete``.

Called by ``Log`` under its lock; reads file metadata only.
"""

from __future__ import annotations

import itertools
import os

from logd.storage.config import LogConfig
from logd.storage.segment import Segment
from logd.storage.segments import Segments

__all__ = ["expired_segments"]


def expired_segments(
    segments: Segments[Segment],
    config: LogConfig,
    *,
    limit_offset: int,
    log_start: int,
    now_ms: int,
) -> list[Segment]:
    """The oldest segments that may go now, in order."""
    ordered = list(segments)
    remaining = sum(segment.size for segment in ordered)
    expired: list[Segment] = []
    for oldest, successor in itertools.pairwise(ordered):
        if successor.base_offset > limit_offset:
            break
        by_start = successor.base_offset <= log_start
        # A compact-only topic keeps every key's last value however old (Kafka's rule).
        by_size = config.delete and 0 <= config.retention_bytes <= remaining - oldest.size
        by_time = config.delete and 0 <= config.retention_ms < now_ms - _segment_time(oldest)
        if not (by_start or by_size or by_time):
            break
        expired.append(oldest)
        remaining -= oldest.size
    return expired


def _segment_time(segment: Segment) -> int:
    if segment.max_timestamp >= 0:
        return segment.max_timestamp
    return int(os.stat(segment.log_path).st_mtime * 1000)
