"""The cleaner's two locked steps on a partition's log (``logd.storage.cleaner`` does
the work between them, in its thread, on duplicated descriptors): which segments it may
clean, and swapping the cleaned one in unless the log changed meanwhile. A mixin of
:class:`~logd.storage.log.Log` (see ``logd.storage.log_core``).

Ownership: as the Log's (both steps under its lock).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence

from logd.storage.files import Fsync
from logd.storage.log_core import LogCore
from logd.storage.segment import Segment, SegmentState
from logd.storage.swap import SourceSegment, commit_swap, finish_swap

__all__ = ["LogCleaning"]


class LogCleaning(LogCore):
    """What the cleaner asks of the log; see the module doc."""

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
