"""The log cleaner: one thread that compacts the logs whose ``cleanup.policy`` includes
``compact`` (Kafka's ``LogCleaner`` with ``log.cleaner.threads`` = 1).

Which log, when (Kafka's ``LogCleanerManager.grabFilthiestCompactedLog``): every
``backoff_ms`` (or at once after :meth:`LogCleaner.wake`) the thread looks at every
compacted log, computes its *cleanable ratio* -- dirty bytes over the bytes of the segments
it may clean -- and cleans the filthiest one whose ratio is at least its
``min.cleanable.dirty.ratio``, or whose oldest dirty segment has waited longer than
``max.compaction.lag.ms``.  A clean is a run of passes (``logd.storage.compactor``) until
the dirty part is all mapped; each pass's map is at most ``dedupe_buffer_bytes``, and every
byte read or written goes through one ``Throttler`` (``io_max_bytes_per_second``).

What may be cleaned ends below the log's ``clean_limit()`` (the broker's high watermark:
only committed data) and its recovery point, and never reaches the active segment.

Where each log's dirty part starts and when it was last cleaned are kept in its
``cleaner-offset-checkpoint`` (Kafka keeps one such file per data directory); a lost or
unreadable file only means the next clean maps more.

The thread yields the CPU to the produce path: it lowers its own scheduling priority
(``nice``, :data:`CLEANER_NICE`; on Linux a thread's own) when it starts.  The cleaner's
per-record work runs in C with the GIL released, so on a busy machine it competes with the
broker's appends for a core rather than for the GIL; at nice 0 an unthrottled clean took a
fifth to a third of a compacted topic's append throughput at load 3-5 on 2 cores, niced it
takes a few per cent (notes/issue-16.md, session 6).  Not nice 19: a thread at 10 still gets
about a tenth of a contended core, so a broker kept busy never starves compaction (Kafka's
cleaner has no such knob; ``log.cleaner.io.max.bytes.per.second`` stays unlimited by default).

Threads: the cleaner's own thread does the work; :func:`log_stats` may be called from any
thread (it reads the checkpoint and the log's segment list).  Logs are thread-safe.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Final

from logd.clock import Clock, SystemClock
from logd.errors import LogdError
from logd.storage import checkpoint
from logd.storage.cleaner_config import CLEANER_NICE, CleanerConfig  # its settings, apart
from logd.storage.compactor import PassResult, clean_pass, new_offset_map
from logd.storage.files import write_atomic
from logd.storage.io_errors import storage_error
from logd.storage.log import Log
from logd.storage.throttle import CleanAborted, Throttler

__all__ = [
    "CHECKPOINT_NAME",
    "CLEANER_NICE",
    "CleanerConfig",
    "CleanerStats",
    "LogCleaner",
    "clean_log",
    "dirty_stats",
    "log_stats",
    "lower_priority",
    "read_checkpoint",
]

_log = logging.getLogger(__name__)

CHECKPOINT_NAME: Final = "cleaner-offset-checkpoint"


@dataclasses.dataclass(frozen=True, slots=True)
class CleanerStats:
    """What ``logd topic describe`` shows of one log."""

    #: Dirty bytes / cleanable bytes now (0.0 when nothing is cleanable).
    cleanable_ratio: float
    #: When the last clean of this log finished (unix ms), -1: never.
    last_clean_ms: int
    #: Where the dirty part starts.
    first_dirty_offset: int


def read_checkpoint(directory: Path) -> tuple[int, int, int]:
    """(first dirty offset, last clean unix ms, when kept tombstones may go or -1) of a
    log's directory; (0, -1, -1) if unknown."""
    try:
        entries = checkpoint.decode((directory / CHECKPOINT_NAME).read_bytes(), 3)
    except OSError:
        entries = None
    if not entries or len(entries) != 1:
        return 0, -1, -1
    first_dirty, last_clean, tombstones_due = entries[0]
    return first_dirty, last_clean, tombstones_due


def _write_checkpoint(directory: Path, first_dirty: int, now_ms: int, tombstones_ms: int) -> None:
    """Not fsynced (2 of a clean's fsyncs): after a crash the file may be the previous one,
    or unreadable -- a lower first dirty offset or none, so the next clean maps more; never
    a higher one, since the swap it follows was durable first.  Tombstones go by their
    segment's age, not by this file."""
    data = checkpoint.encode([(first_dirty, now_ms, tombstones_ms)])
    write_atomic(directory / CHECKPOINT_NAME, data, fsync=None)


def _limit(log: Log) -> int:
    limit = log.clean_limit
    return limit() if limit is not None else log.log_end_offset


def _first_dirty(log: Log, stored: int) -> int:
    """The stored position, unless the log no longer holds it (retention, a reset)."""
    if not log.log_start_offset <= stored <= log.log_end_offset:
        return log.log_start_offset
    return stored


def dirty_stats(log: Log) -> tuple[float, int, int]:
    """(cleanable ratio, first dirty offset, modified time of the oldest dirty segment or -1)."""
    first_dirty = _first_dirty(log, read_checkpoint(log.directory)[0])
    sources = log.cleanable_segments(_limit(log))
    try:
        total = sum(source.size for source in sources)
        dirty = [s for s in sources if s.upper_offset > first_dirty]
        dirty_bytes = sum(s.size for s in dirty)
        oldest = min((s.modified_ms for s in dirty), default=-1)
    finally:
        for source in sources:
            os.close(source.fd)
    return (dirty_bytes / total if total else 0.0), first_dirty, oldest


def clean_log(
    log: Log,
    *,
    map_bytes: int,
    now_ms: int,
    throttler: Throttler | None = None,
    passes_max: int = 1 << 20,
    implementation: str | None = None,
) -> list[PassResult]:
    """Clean ``log`` until its dirty part is all mapped (or ``passes_max`` passes); keeps
    the checkpoint current after each pass.  Blocking; the cleaner thread's work.
    ``implementation``: "c" or "python" (``compactor.new_offset_map``; None: C when built)."""
    stored, _, tombstones_due = read_checkpoint(log.directory)
    first_dirty = _first_dirty(log, stored)
    tombstones = 0 <= tombstones_due <= now_ms
    offset_map = new_offset_map(map_bytes, implementation)
    results: list[PassResult] = []
    for _ in range(passes_max):
        result = clean_pass(
            log, offset_map, first_dirty=first_dirty, limit_offset=_limit(log),
            now_ms=now_ms, throttler=throttler, tombstones=tombstones,
        )  # fmt: skip
        if result is None:
            break
        results.append(result)
        first_dirty = result.first_dirty
        tombstones = False
        _write_checkpoint(log.directory, first_dirty, now_ms, result.tombstones_due_ms)
        if not result.map_full:
            break
    return results


def lower_priority(nice: int) -> bool:
    """Raise the calling thread's nice value to ``nice`` (never lower it); best effort,
    Linux only (elsewhere ``setpriority`` would reach the whole process).  True when done."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return False
    tid = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
    except OSError as exc:  # a sandbox may refuse it: the cleaner runs anyway
        _log.info("cleaner thread priority left as it is: %s", exc)
        return False
    return True


def log_stats(log: Log) -> CleanerStats:
    """The cleanable ratio and last clean of ``log`` (file metadata and the checkpoint)."""
    ratio, first_dirty, _ = dirty_stats(log)
    return CleanerStats(ratio, read_checkpoint(log.directory)[1], first_dirty)


class LogCleaner:
    """The cleaner thread over the logs ``logs()`` returns; see the module doc."""

    def __init__(
        self,
        logs: Callable[[], Iterable[Log]],
        config: CleanerConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._logs = logs
        self.config = config or CleanerConfig()
        self._clock = clock or SystemClock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._throttler = Throttler(self.config.io_max_bytes_per_second, stop=self._stop)
        #: Completed cleans (for tests and metrics).
        self.cleans = 0

    def start(self) -> None:
        if not self.config.enable or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="logd-cleaner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop now: a clean in progress gives up at its next read or write (a swap under
        way finishes first: it is short and atomic either way)."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()

    @property
    def thread_id(self) -> int | None:
        """The cleaner thread's native id while it runs (its nice value is its own)."""
        thread = self._thread
        return thread.native_id if thread is not None else None

    def wake(self) -> None:
        """Look for work now rather than after the backoff."""
        self._wake.set()

    @staticmethod
    def _due(log: Log, now_ms: int) -> float | None:
        """How dirty ``log`` is when it is due for a clean, else None."""
        config = log.config
        ratio, _, oldest = dirty_stats(log)
        overdue = 0 <= oldest < now_ms - config.max_compaction_lag_ms
        if ratio > 0 and (ratio >= config.min_cleanable_dirty_ratio or overdue):
            return ratio
        tombstones_due = read_checkpoint(log.directory)[2]
        return 0.0 if 0 <= tombstones_due <= now_ms else None

    def _run(self) -> None:
        lower_priority(self.config.nice)
        while not self._stop.is_set():
            try:
                cleaned = self.clean_filthiest()
            except Exception:  # never let one bad log end cleaning for good
                _log.exception("cleaner pass failed")
                cleaned = False
            if not cleaned:
                self._wake.wait(self.config.backoff_ms / 1000.0)
                self._wake.clear()

    def clean_filthiest(self) -> bool:
        """Clean the log that needs it most; False when none does.  Blocking."""
        now = self._clock.now_ms()
        best: tuple[float, Log] | None = None
        for log in list(self._logs()):
            with contextlib.suppress(OSError):  # the next open removes what stays
                log.purge_retired(now)
            if not log.config.compact:
                continue
            try:
                ratio = self._due(log, now)
            except LogdError:
                continue  # offline or deleted: its owner reports it
            if ratio is not None and (best is None or ratio > best[0]):
                best = ratio, log
        if best is None or self._stop.is_set():
            return False
        log = best[1]
        try:
            results = clean_log(
                log, map_bytes=self.config.dedupe_buffer_bytes, now_ms=now,
                throttler=self._throttler,
            )  # fmt: skip
        except CleanAborted:
            return False
        except OSError as exc:  # a full or failing disk: typed at the one boundary
            _log.error("%s: cleaning failed: %s", log.name,
                       storage_error("cleaning", exc, log.directory))  # fmt: skip
            return False
        except LogdError as exc:  # damage, a deletion meanwhile: one line, no trace
            _log.error("%s: cleaning failed: %s", log.name, exc)
            return False
        self.cleans += 1
        removed = sum(r.records_removed for r in results)
        _log.info("%s: cleaned %d pass(es), %d record(s) removed", log.name, len(results), removed)
        return bool(results)
