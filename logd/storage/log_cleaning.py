"""The cleaner's two locked steps on a partition's log (``logd.storage.cleaner`` does
the work between them, in its thread, on duplicated descriptors): which segments it may
clean, and swapping the cleaned ones in unless the log changed meanwhile. A mixin of
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

    def replace_segments(
        self,
        groups: Sequence[Sequence[SourceSegment]],
        swap_base: int,
        fsync: Fsync = os.fsync,
    ) -> bool:
        """Swap in the cleaned segments written for ``groups`` into ``<swap_base>.cleaned/``
        (``logd.storage.swap``), all with one commit.  False, touching nothing, when any of
        those segments changed meanwhile (retention, a reset).  The old files are retired:
        :attr:`retired` deletes them after ``file.delete.delay.ms``."""
        ranges = [(group[0].base_offset, group[-1].upper_offset) for group in groups]
        with self._lock:
            self._check_open()
            current = [self._current(group) for group in groups]
            if any(segments is None for segments in current):
                return False
            try:
                commit_swap(self.directory, swap_base, fsync)
                for segments in current:
                    for segment in segments or ():
                        self._segments.remove(segment)
                        segment.close_quietly()
                retired = finish_swap(self.directory, swap_base, ranges, fsync)
                for base, upper in ranges:
                    new = Segment.open(
                        self.directory, base, self._config, self._clock.now_ms(),
                        check_indexes=True,
                    )  # fmt: skip
                    new.upper_offset = upper
                    self._segments.add(new)
            except OSError as exc:
                self._fail("cleaner swap", exc)
            due = self._clock.now_ms() + self._config.file_delete_delay_ms
        self.retired.add(retired, due)
        return True

    def _current(self, sources: Sequence[SourceSegment]) -> list[Segment] | None:
        """The log's segments that ``sources`` were taken from, None if any changed."""
        current = [self._segments.floor(source.base_offset) for source in sources]
        successor = self._segments.higher(sources[-1].base_offset)
        if successor is None or successor.base_offset != sources[-1].upper_offset:
            return None
        out = []
        for segment, source in zip(current, sources, strict=True):
            if (
                segment is None or segment.base_offset != source.base_offset
                or segment.size != source.size or segment.state is not SegmentState.SEALED
            ):  # fmt: skip
                return None
            out.append(segment)
        return out

    def purge_retired(self, now_ms: int | None = None) -> int:
        """Delete the retired segment files that are due (None: all); how many went."""
        return self.retired.purge(now_ms)
