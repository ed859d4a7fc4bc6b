"""Fetched data on its way from the event loop to the application, and its decoding.

The fetcher (event loop) :meth:`FetchBuffer.put`s one :class:`CompletedFetch` per partition
and fetch: the whole batches of the answer as memoryviews, zero-copy. The application's
thread takes them and decodes them a batch at a time as it reads -- so decoding runs
on the application's thread (the sync consumer never crosses threads per record) and only
for what it reads. The buffer bounds the bytes it holds; the fetcher does not fetch while it
is full, and :meth:`FetchBuffer.release` (once per fetch) lets it go on.

Errors meant for the application (OFFSET_OUT_OF_RANGE under ``auto_offset_reset="error"``)
travel through the same queue, so they surface in ``poll()`` in order.

Thread-safety: :class:`FetchBuffer` is thread-safe (one condition). A CompletedFetch and its
record iterator belong to the thread that took it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from logd.client.consumer.subscription import PartitionState, SubscriptionState
from logd.client.types import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, ConsumerRecord
from logd.errors import LogdError
from logd.records.decoder import decode_batch
from logd.records.filtered import RecordFilter, filtered_records
from logd.records.header import parse_header

__all__ = ["CompletedFetch", "FetchBuffer", "RecordReader", "batch_records"]


class CompletedFetch:
    """Whole batches of one partition from one fetch (or an error for the application)."""

    __slots__ = ("batches", "epoch", "error", "size", "state")

    def __init__(
        self,
        state: PartitionState,
        epoch: int,
        batches: list[memoryview],
        size: int,
        error: LogdError | None = None,
    ) -> None:
        self.state = state
        self.epoch = epoch
        self.batches = batches
        self.size = size
        self.error = error

    def __repr__(self) -> str:
        s = self.state
        return f"CompletedFetch({s.topic}-{s.partition}, {len(self.batches)} batches)"


def batch_records(
    state: PartitionState,
    view: memoryview,
    max_uncompressed_bytes: int,
    keep: RecordFilter | None = None,
) -> tuple[list[ConsumerRecord], int]:
    """The records of one fetched batch at or after the partition's position, and the
    offset after the batch.

    Control batches and records below the position are skipped (a fetch returns the whole
    batch holding the offset asked for). The batch is decoded whole, straight into
    ConsumerRecords (one object per record; in C when the accelerator is built); the caller
    moves the position as it hands them out. With a ``keep`` filter (the consumer's
    ``record_filter``), records it drops are skipped before their values are copied
    (:mod:`logd.records.filtered`); the position still moves past them.
    """
    header = parse_header(view)
    nxt = header.next_offset
    position = state.position
    if header.is_control or nxt <= position:
        return [], nxt
    ts_type = TIMESTAMP_LOG_APPEND_TIME if header.log_append_time else TIMESTAMP_CREATE_TIME
    batch = decode_batch(view, max_uncompressed_bytes=max_uncompressed_bytes)
    tail = (state.topic, state.partition, ts_type, header.partition_leader_epoch)
    if keep is not None:
        return filtered_records(
            batch.records_region,
            header.record_count,
            header.base_offset,
            header.base_timestamp,
            header.max_timestamp if header.log_append_time else None,
            keep,
            ConsumerRecord,
            tail,
            position,
        ), nxt
    return batch.records_as(ConsumerRecord, tail, position), nxt


class FetchBuffer:
    """Completed fetches in arrival order, bounded in bytes. Thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._queue: deque[CompletedFetch] = deque()
        self._bytes = 0
        self._interrupted = False
        self._woken = False
        self.changed = threading.Condition(threading.Lock())
        #: Called (no lock held) after put(): the asyncio consumer's wake-up.
        self.on_put: Callable[[], None] | None = None
        #: Called (no lock held) after release(): lets the fetcher fetch again.
        self.on_release: Callable[[], None] | None = None

    @property
    def has_data(self) -> bool:
        return bool(self._queue)

    @property
    def full(self) -> bool:
        return self._bytes >= self.max_bytes

    def put(self, cf: CompletedFetch) -> None:
        with self.changed:
            self._queue.append(cf)
            self._bytes += cf.size
            self.changed.notify_all()
        if self.on_put is not None:
            self.on_put()

    def take(self, timeout: float | None) -> CompletedFetch | None:
        """The oldest completed fetch, waiting up to ``timeout`` s (None: forever)."""
        with self.changed:
            if not self._queue and timeout != 0 and not self._woken:
                self.changed.wait_for(
                    lambda: bool(self._queue) or self._interrupted or self._woken, timeout
                )
            self._woken = False
            return self._queue.popleft() if self._queue else None

    def take_nowait(self) -> CompletedFetch | None:
        with self.changed:
            return self._queue.popleft() if self._queue else None

    def release(self, cf: CompletedFetch) -> None:
        """The application is done with ``cf``: its bytes no longer count."""
        with self.changed:
            self._bytes -= cf.size
            cf.size = 0
        if self.on_release is not None:
            self.on_release()

    def wake(self) -> None:
        """Make the next (or current) take() return, with data or not: the application has
        something else to attend to (a rebalance step, a group error). Any thread."""
        with self.changed:
            self._woken = True
            self.changed.notify_all()
        if self.on_put is not None:
            self.on_put()

    def interrupt(self) -> None:
        """Wake threads blocked in take() for good (on close)."""
        with self.changed:
            self._interrupted = True
            self.changed.notify_all()

    def clear(self) -> None:
        with self.changed:
            self._queue.clear()
            self._bytes = 0


#: Blocks until a fetch is there (or gives up): how long is the caller's choice.
Waiter = Callable[[], CompletedFetch | None]


class RecordReader:
    """The application's side of a consumer: the fetch it reads, one decoded batch at a time.

    A batch is decoded whole when the application reaches it; records are handed out from
    that list and the partition's position moves with them (once per ``take()`` slice, once
    per ``next()`` record). A batch that fails to decode raises, and raises again on the
    next call, until the application seeks past it (as Kafka's consumer does).

    Owned by the application's thread (or the asyncio consumer's loop); only the ``wait``
    callables given to :meth:`next` and :meth:`take` may block.
    """

    def __init__(
        self,
        subscription: SubscriptionState,
        buffer: FetchBuffer,
        max_uncompressed: int,
        record_filter: RecordFilter | None = None,
    ) -> None:
        self._subs = subscription
        self._keep = record_filter
        self._buffer = buffer
        self._max_uncompressed = max_uncompressed
        self._cf: CompletedFetch | None = None
        self._batch = 0  # index in _cf.batches of the next batch to decode
        self._batch_end = -1  # the offset after the batch in _records
        self._records: list[ConsumerRecord] = []
        self._pos = 0
        self.state: PartitionState | None = None

    def next(
        self, wait: Callable[[], CompletedFetch | None] | None = None
    ) -> ConsumerRecord | None:
        """The next record; ``wait()`` supplies a fetch when none is buffered (None: do not
        wait)."""
        while True:
            records = self._records
            pos = self._pos
            if pos < len(records):
                record = records[pos]
                self._pos = pos + 1
                self.state.position = record.offset + 1  # type: ignore[union-attr]
                return record
            if not self._advance(wait):
                return None

    def take(self, count: int, wait: Waiter | None = None) -> list[ConsumerRecord]:
        """Up to ``count`` records; ``wait`` is used only while none was found."""
        out: list[ConsumerRecord] = []
        while len(out) < count:
            records = self._records
            pos = self._pos
            if pos < len(records):
                chunk = records[pos : pos + count - len(out)]
                self._pos = pos + len(chunk)
                self.state.position = chunk[-1].offset + 1  # type: ignore[union-attr]
                out += chunk
                continue
            if not self._advance(None if out else wait):
                break
        return out

    def _advance(self, wait: Waiter | None) -> bool:
        """Decode the next batch (of this fetch, or of the next one); False when none came."""
        cf = self._cf
        if cf is not None:
            state = cf.state
            state.position = max(state.position, self._batch_end)  # past gaps and control records
            if self._batch < len(cf.batches):
                self._records, self._batch_end = batch_records(
                    state, cf.batches[self._batch], self._max_uncompressed, self._keep
                )
                self._batch += 1
                self._pos = 0
                return True
            self._close_fetch()
        return self._open(wait)

    def _open(self, wait: Waiter | None) -> bool:
        """Start on the next current fetch; False when there is none (after ``wait``)."""
        while True:
            cf = self._buffer.take_nowait()
            if cf is None and wait is not None:
                cf = wait()
            if cf is None:
                return False
            state = cf.state
            current = (
                self._subs.partitions.get((state.topic, state.partition)) is state
                and state.epoch == cf.epoch
                and not state.paused
            )
            if not current:
                self._buffer.release(cf)
                continue
            if cf.error is not None:
                self._buffer.release(cf)
                raise cf.error
            self._cf = cf
            self.state = state
            self._batch = 0
            self._batch_end = -1
            return True

    def _close_fetch(self) -> None:
        cf = self._cf
        self._cf = self.state = None
        self._records = []
        self._pos = 0
        if cf is not None:
            self._buffer.release(cf)

    def drop(self, state: PartitionState | None = None) -> None:
        """Forget the fetch being read (only if it reads ``state``, when given)."""
        if state is not None and state is not self.state:
            return
        self._close_fetch()
