"""Durability off the event loop: one background thread that fsyncs logs, with group commit.

The broker's asyncio loop appends; an fsync takes from tens of microseconds to tens of
milliseconds, and the loop must never wait for one.  So a :class:`Flusher` owns a thread,
and the loop asks it for durability::

    info = log.append(batch, epoch)
    await asyncio.wrap_future(flusher.request(log))   # acks=all / Raft: after the fsync

:meth:`Flusher.request` returns a ``concurrent.futures.Future`` that resolves with an offset
≥ the log end at the time of the request, once an fsync covering it has finished (or fails
with KafkaStorageError, the log then being offline).  Group commit: every request that
arrives while an fsync runs waits for the next one, which covers them all — one fdatasync
per log per round however many appends wait (DESIGN.md principle 6).  The logs of one round
are fsynced at the same time (up to :data:`ROUND_WORKERS` at once), not one after the other:
a round covers every log written since the last (a Raft broker: each partition it leads or
follows), and ext4's journal folds fsyncs that arrive together into one commit, so a round
of several logs costs about one fsync instead of the sum (measured here, 8 logs with 3
processes fsyncing: 1.75 ms one by one, 0.92 ms together). One thread alone, as before,
flushing rounds one after the other, was busy ~65 % of the time at 10k msgs/s over 8
RF=3 partitions, and the queue in front of it was the largest share of the
follower's fsync stage.

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
object's thread; ``Log.flush`` holds the log's lock only to snapshot and to publish.
"""

from __future__ import annotations

import enum
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from typing import Final, Protocol

from logd.errors import InvalidConfigError, KafkaStorageError, LogdError
from logd.stats import Histogram
from logd.storage.files import Fsync

__all__ = ["ROUND_WORKERS", "SLOW_FSYNC_S", "FlushPolicy", "Flushable", "Flusher"]

_log = logging.getLogger(__name__)
_DEFAULT_INTERVAL_MS: Final = 1000
#: An fsync at least this long is logged (one ``fsync_slow`` line: a disk in trouble).
SLOW_FSYNC_S: Final = 0.5
#: Logs of one round fsynced concurrently (the flusher's thread and its helpers).
ROUND_WORKERS: Final = 4


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
    """What the flusher needs of a log (``logd.storage.log.Log`` is one)."""

    @property
    def log_end_offset(self) -> int: ...

    @property
    def recovery_point(self) -> int: ...

    def flush(self, fsync: Fsync = ...) -> int: ...


class Flusher:
    """A thread that fsyncs logs on request, on a timer, and after rolls."""

    def __init__(
        self,
        policy: FlushPolicy = FlushPolicy.ALWAYS,
        interval_ms: int = _DEFAULT_INTERVAL_MS,
        *,
        fsync: Fsync = os.fdatasync,
        name: str = "logd-flusher",
    ) -> None:
        if interval_ms <= 0:
            raise InvalidConfigError(f"flush interval must be positive, not {interval_ms} ms")
        self.policy = policy
        self.interval_ms = interval_ms
        self._fsync = fsync
        self._cond = threading.Condition()
        # Guarded by _cond: the requests of the next round, keyed by log (insertion order).
        self._pending: dict[Flushable, list[tuple[int, Future[int]]]] = {}
        self._scheduled: dict[Flushable, None] = {}
        self._registered: dict[Flushable, None] = {}
        self._stopping = False
        #: Completed flush rounds (each flushes every log that had something waiting).
        self.rounds = 0
        #: How long each log's flush (its fsync) took, seconds (the admin listener's
        #: ``logd_storage_fsync_latency_seconds``); written by the flusher and its helpers.
        self.fsync_seconds = Histogram(locked=True)
        self._name = name
        #: Helpers for rounds of several logs, started on the first such round.
        self._helpers: ThreadPoolExecutor | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def request(self, log: Flushable) -> Future[int]:
        """A future for the log being durable up to its current end (see the module doc)."""
        return self.request_all([log])[0]

    def request_all(self, logs: Sequence[Flushable]) -> list[Future[int]]:
        """:meth:`request` for each of ``logs``, taking the lock and waking the thread once:
        a Raft pass during elections asks for thousands of logs, and the event loop must
        not contend for the lock (and the GIL) with the flusher once per log."""
        futures: list[Future[int]] = [Future() for _ in logs]
        targets = [log.log_end_offset for log in logs]
        with self._cond:
            if self._stopping:
                for future in futures:
                    future.set_exception(KafkaStorageError("the flusher is stopped"))
                return futures
            for log, target, future in zip(logs, targets, futures, strict=True):
                self._pending.setdefault(log, []).append((target, future))
            if logs:
                self._cond.notify()
        return futures

    def schedule(self, log: Flushable) -> None:
        """Flush ``log`` soon, nobody waiting (a roll sealed a segment: Kafka flushes it
        asynchronously too).  Safe to call under the log's lock: it only enqueues."""
        with self._cond:
            if not self._stopping:
                self._scheduled[log] = None
                self._cond.notify()

    def register(self, log: Flushable) -> None:
        """Include ``log`` in the ``interval`` policy's periodic flushes."""
        with self._cond:
            self._registered[log] = None

    def unregister(self, log: Flushable) -> None:
        with self._cond:
            self._registered.pop(log, None)
            self._scheduled.pop(log, None)

    def stop(self, timeout: float | None = None) -> None:
        """Finish what was requested, then end the thread; later requests fail."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)

    def __enter__(self) -> Flusher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        interval = self.interval_ms / 1000.0 if self.policy is FlushPolicy.INTERVAL else None
        next_tick = time.monotonic() + interval if interval is not None else None
        while True:
            with self._cond:
                while not (self._pending or self._scheduled or self._stopping):
                    timeout = None if next_tick is None else next_tick - time.monotonic()
                    if timeout is not None and timeout <= 0:
                        break
                    self._cond.wait(timeout)
                pending, self._pending = self._pending, {}
                work: dict[Flushable, list[Future[int]]] = {
                    log: [future for _, future in requests] for log, requests in pending.items()
                }
                for log in self._scheduled:
                    work.setdefault(log, [])
                self._scheduled = {}
                if next_tick is not None and time.monotonic() >= next_tick:
                    assert interval is not None
                    next_tick = time.monotonic() + interval
                    for log in self._registered:
                        if log.recovery_point < log.log_end_offset:
                            work.setdefault(log, [])
                stopping = self._stopping
            self._flush_round(work)
            if work:
                self.rounds += 1
            if stopping and not work:
                if self._helpers is not None:
                    self._helpers.shutdown(wait=True)
                return

    def _flush_round(self, work: dict[Flushable, list[Future[int]]]) -> None:
        """Flush every log of a round, concurrently when there are several (see the module
        doc); returns when all are done. ``_flush`` never raises: each log's waiters hear
        of its own failure, and the other logs of the round are unaffected."""
        items = list(work.items())
        if len(items) <= 1:
            for log, futures in items:
                self._flush(log, futures)
            return
        helpers = self._helpers
        if helpers is None:
            helpers = self._helpers = ThreadPoolExecutor(
                max_workers=ROUND_WORKERS - 1, thread_name_prefix=f"{self._name}-helper"
            )
        pending = [helpers.submit(self._flush, log, futures) for log, futures in items[1:]]
        self._flush(*items[0])
        wait_all(pending)

    def _flush(self, log: Flushable, futures: list[Future[int]]) -> None:
        # A future cancelled by its waiter (an asyncio task gone) is skipped; the others can
        # no longer be cancelled once running, so setting their result cannot race.
        live = [future for future in futures if future.set_running_or_notify_cancel()]
        started = time.perf_counter()
        try:
            end = log.flush(self._fsync)
        except LogdError as exc:
            for future in live:
                future.set_exception(exc)
        except Exception as exc:  # a bug, not a disk: the waiters must still hear of it
            _log.exception("flush of %r failed unexpectedly", log)
            for future in live:
                future.set_exception(exc)
        else:
            took = time.perf_counter() - started
            self.fsync_seconds.observe(took)
            if took >= SLOW_FSYNC_S:
                name = str(getattr(log, "name", log))
                _log.warning(
                    "fsync of %s took %.0f ms", name, took * 1000.0,
                    extra={"event": "fsync_slow", "log": name, "ms": round(took * 1000.0)},
                )  # fmt: skip
            for future in live:
                future.set_result(end)
