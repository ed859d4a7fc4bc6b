"""Durability off the event loop: a few background threads that fsync logs, with group commit.

The broker's asyncio loop appends; an fsync takes from tens of microseconds to tens of
milliseconds, and the loop must never wait for one.  So a :class:`Flusher` owns threads,
and the loop asks them for durability::

    info = log.append(batch, epoch)
    await asyncio.wrap_future(flusher.request(log))   # acks=all / Raft: after the fsync

:meth:`Flusher.request` returns a ``concurrent.futures.Future`` that resolves with an offset
>= the log end at the time of the request, once an fsync covering it has finished (or fails
with KafkaStorageError, the log then being offline).

Per log, one flush at a time, with group commit: every request that arrives while the log's
fsync runs waits for the next one, which covers them all -- one fdatasync per log however
many appends wait (DESIGN.md principle 6). A request already covered needs no fsync at all:
when the log's recovery point (what its last flush made durable) is at or past the log end
the request saw, it is answered at once, or as soon as the flush running when it came
ends -- a write made before that flush took its snapshot is durable by it, and does not
start a second fsync of the same file behind it (issue 22: with Raft's asynchronous storage
writes a Ready written during an fsync used to get its own round even when that fsync had
covered it).

Logs do not wait for each other: up to :data:`WORKERS` threads flush different logs at the
same time, each taking the next log with requests that no other thread is flushing. A
request for log D that arrives while A, B and C are being fsynced starts at once on a free
thread instead of waiting for a whole round of A, B and C to end (issue 22). Logs asked for
together (a Raft pass asks for every log it wrote) are fsynced together, and ext4's journal
folds fsyncs that arrive together into one commit, so several logs cost about one fsync
(measured here, 8 logs with 3 processes fsyncing: 1.75 ms one by one, 0.92 ms together).

Policies (``log.flush.*`` in Kafka terms):

* ``always`` — the broker requests a flush for every append it acknowledges;
* ``interval`` — this thread also flushes every registered log with unflushed data every
  ``interval_ms``;
* ``never`` — only what is requested and the segments sealed by a roll (:meth:`schedule`).

Raft's logs follow the policy too (issue 22): under ``interval`` and ``never`` the driver
requests no fsync for a Ready's log entries, only for hard state, snapshots, truncations
and the controller's metadata log (``logd/cluster/ready_writer.py``); the storage manager
registers every partition log, so ``interval`` flushes them on its timer.

Thread-safety: every method may be called from any thread.  The flushes run in this
object's threads, never two of one log at once; ``Log.flush`` holds the log's lock only to
snapshot and to publish.
"""

from __future__ import annotations

import enum
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Final, Protocol

from logd.errors import InvalidConfigError, KafkaStorageError, LogdError
from logd.stats import Histogram
from logd.storage.files import Fsync

__all__ = ["SLOW_FSYNC_S", "WORKERS", "FlushPolicy", "Flushable", "Flusher"]

_log = logging.getLogger(__name__)
_DEFAULT_INTERVAL_MS: Final = 1000
#: An fsync at least this long is logged (one ``fsync_slow`` line: a disk in trouble).
SLOW_FSYNC_S: Final = 0.5
#: Logs fsynced at the same time (the flusher's threads; each flushes one log at a time).
WORKERS: Final = 4


class FlushPolicy(enum.Enum):
    ALWAYS = "always"
    INTERVAL = "interval"
    NEVER = "never"

    @classmethod
    def parse(cls, text: str) -> FlushPolicy:
        try:
            return cls(text)
        except ValueError:
            choices = ", ".join(policy.value for policy in cls)
            raise InvalidConfigError(
                f"flush policy must be one of {choices}, not {text!r}"
            ) from None


class Flushable(Protocol):
    """What the flusher needs of a log (``logd.storage.log.Log`` is one). ``log_end_offset``
    and ``recovery_point`` are positions in the same sequence: everything below the
    recovery point is durable (a request whose target it reaches needs no fsync), and
    ``flush`` returns the new recovery point."""

    @property
    def log_end_offset(self) -> int: ...

    @property
    def recovery_point(self) -> int: ...

    @property
    def metadata_unsynced(self) -> bool:
        """Whether a flush has more to do than data below the recovery point (then no
        request is answered from the recovery point alone)."""
        ...

    def flush(self, fsync: Fsync = ...) -> int: ...


#: A request: the log end it must see durable, and its waiter.
_Request = tuple[int, "Future[int]"]


class Flusher:
    """Threads that fsync logs on request, on a timer, and after rolls (module doc)."""

    def __init__(
        self,
        policy: FlushPolicy = FlushPolicy.ALWAYS,
        interval_ms: int = _DEFAULT_INTERVAL_MS,
        *,
        fsync: Fsync = os.fdatasync,
        name: str = "logd-flusher",
        workers: int = WORKERS,
    ) -> None:
        if interval_ms <= 0:
            raise InvalidConfigError(f"flush interval must be positive, not {interval_ms} ms")
        self.policy = policy
        self.interval_ms = interval_ms
        self._fsync = fsync
        self._cond = threading.Condition()
        # Guarded by _cond: the requests not taken yet, per log (insertion order: the
        # oldest first); a log asked for with nobody waiting (a roll, the timer) has [].
        self._pending: dict[Flushable, list[_Request]] = {}
        #: Logs a thread is flushing now (never two flushes of one log at once).
        self._running: set[Flushable] = set()
        self._registered: dict[Flushable, None] = {}
        self._stopping = False
        interval = self.interval_ms / 1000.0 if policy is FlushPolicy.INTERVAL else None
        self._interval = interval
        self._next_tick = None if interval is None else time.monotonic() + interval
        #: Flushes done (each one fsync of one log's new data, however many requests).
        self.flushes = 0
        #: Requests answered without an fsync of their own (covered by one already done).
        self.covered = 0
        #: How long each log's flush (its fsync) took, seconds (the admin listener's
        #: ``logd_storage_fsync_latency_seconds``); written by the flusher's threads.
        self.fsync_seconds = Histogram(locked=True)
        self._threads = [
            threading.Thread(
                target=self._run, args=(i == 0,), name=f"{name}-{i}" if i else name, daemon=True
            )
            for i in range(max(1, workers))
        ]
        for thread in self._threads:
            thread.start()

    def request(self, log: Flushable) -> Future[int]:
        """A future for the log being durable up to its current end (see the module doc)."""
        return self.request_all([log])[0]

    def request_all(self, logs: Sequence[Flushable]) -> list[Future[int]]:
        """:meth:`request` for each of ``logs``, taking the lock and waking the threads once:
        a Raft pass during elections asks for thousands of logs, and the event loop must
        not contend for the lock (and the GIL) with the flusher once per log. A log whose
        recovery point already covers its end is answered at once."""
        futures: list[Future[int]] = [Future() for _ in logs]
        targets = [log.log_end_offset for log in logs]
        woken = 0
        with self._cond:
            if self._stopping:
                for future in futures:
                    future.set_exception(KafkaStorageError("the flusher is stopped"))
                return futures
            for log, target, future in zip(logs, targets, futures, strict=True):
                queued = self._pending.get(log)
                if queued is None and log not in self._running:
                    point = log.recovery_point
                    if point >= target and not log.metadata_unsynced:
                        self.covered += 1
                        future.set_result(point)
                        continue
                    woken += 1
                    self._pending[log] = [(target, future)]
                elif queued is None:  # its flush runs: the next one (or that) covers it
                    self._pending[log] = [(target, future)]
                else:
                    queued.append((target, future))
            if woken:
                self._cond.notify(woken)
        return futures

    def schedule(self, log: Flushable) -> None:
        """Flush ``log`` soon, nobody waiting (a roll sealed a segment: Kafka flushes it
        asynchronously too).  Safe to call under the log's lock: it only enqueues."""
        with self._cond:
            if not self._stopping and log not in self._pending:
                self._pending[log] = []
                self._cond.notify()

    def register(self, log: Flushable) -> None:
        """Include ``log`` in the ``interval`` policy's periodic flushes."""
        with self._cond:
            self._registered[log] = None

    def unregister(self, log: Flushable) -> None:
        with self._cond:
            self._registered.pop(log, None)
            if self._pending.get(log) == []:
                del self._pending[log]

    def stop(self, timeout: float | None = None) -> None:
        """Finish what was requested, then end the threads; later requests fail."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> Flusher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self, ticks: bool) -> None:
        # One thread (``ticks``) wakes for the interval policy's timer; the others sleep
        # until asked.
        while True:
            with self._cond:
                taken = self._take()
                while taken is None:
                    if self._stopping:
                        return
                    self._cond.wait(self._wait_s() if ticks else None)
                    taken = self._take()
                log, requests = taken
                self._running.add(log)
            try:
                self._flush(log, requests)
            finally:
                with self._cond:
                    self._running.discard(log)
                    if log in self._pending:  # asked for again during its flush
                        self._cond.notify()

    def _wait_s(self) -> float | None:
        """How long a thread with nothing to do sleeps (until the next interval tick)."""
        if self._next_tick is None:
            return None
        return max(0.0, self._next_tick - time.monotonic())

    def _take(self) -> tuple[Flushable, list[_Request]] | None:
        """The oldest log with requests that no thread flushes now (the caller holds the
        lock); on an ``interval`` tick, first every registered log with unflushed data."""
        if self._next_tick is not None and time.monotonic() >= self._next_tick:
            assert self._interval is not None
            self._next_tick = time.monotonic() + self._interval
            woken = 0
            for log in self._registered:
                if log not in self._pending and log.recovery_point < log.log_end_offset:
                    self._pending[log] = []
                    woken += 1
            if woken > 1:
                self._cond.notify(woken - 1)
        for log in self._pending:  # at most len(self._running) skipped
            if log not in self._running:
                return log, self._pending.pop(log)
        return None

    def _flush(self, log: Flushable, requests: list[_Request]) -> None:
        """One log's flush: requests its recovery point already covers are answered
        without an fsync; the others after one. Never raises: the waiters hear of a
        failure, and other logs are unaffected."""
        # A future cancelled by its waiter (an asyncio task gone) is skipped; the others can
        # no longer be cancelled once running, so setting their result cannot race.
        live = [(target, future) for target, future in requests
                if future.set_running_or_notify_cancel()]  # fmt: skip
        point = -1 if log.metadata_unsynced else log.recovery_point
        waiting = [future for target, future in live if target > point]
        if requests and len(waiting) < len(live):
            with self._cond:
                self.covered += len(live) - len(waiting)
            for target, future in live:
                if target <= point:
                    future.set_result(point)
            if not waiting:
                return
        started = time.perf_counter()
        try:
            end = log.flush(self._fsync)
        except LogdError as exc:
            for future in waiting:
                future.set_exception(exc)
        except Exception as exc:  # a bug, not a disk: the waiters must still hear of it
            _log.exception("flush of %r failed unexpectedly", log)
            for future in waiting:
                future.set_exception(exc)
        else:
            took = time.perf_counter() - started
            self.fsync_seconds.observe(took)
            with self._cond:
                self.flushes += 1
            if took >= SLOW_FSYNC_S:
                name = str(getattr(log, "name", log))
                _log.warning(
                    "fsync of %s took %.0f ms", name, took * 1000.0,
                    extra={"event": "fsync_slow", "log": name, "ms": round(took * 1000.0)},
                )  # fmt: skip
            for future in waiting:
                future.set_result(end)
