"""The record accumulator: per-partition batches bounded by ``batch.size`` and ``linger.ms``.

Producer threads (or the event loop, for the asyncio producer) append records; the sender on
the event loop takes closed batches out. Shape of Kafka's ``RecordAccumulator``:

* each partition has at most one *open* batch that takes appends, and a queue of *ready*
  (closed) batches in creation order; a batch closes when the next record would take it past
  ``batch_size`` (a record larger than that gets a batch of its own), or when the sender
  takes it (:meth:`Accumulator.pop`). Lingering ``linger_ms`` (or ``flush()``, ``close()``)
  makes an open batch *sendable*, not closed: as in Kafka's ``drain()``, it keeps taking
  records until the sender has room to send it. A sender whose in-flight window is full
  thus sends one larger batch later instead of queueing one small batch per
  ``linger_ms`` -- which, with ``linger_ms=0``, is one request per ``produce()`` burst, and a
  queue that grows whenever bursts come faster than the window is answered;
* ``buffer_memory`` bounds the bytes of every record not yet delivered: an append that would
  pass it blocks up to ``max_block_ms`` for the sender to free room, or raises at once;
* records without a key or partition go to the topic's sticky partition, which moves on
  when its batch closes (KIP-480, :class:`partitioning.StickyPartitioner`); keyed records go
  to ``partition_for(key, n)`` (or Kafka's murmur2 with ``partitioner="murmur2"``); an
  explicit partition wins.

The per-record path (:meth:`Accumulator.append`) takes the lock once, appends to lists and
adds two integers; the clock is read once per batch. It wakes the sender (the ``waker``
given to the constructor, e.g. ``loop.call_soon_threadsafe``) only when a batch closes or a
new batch needs a linger timer the sender does not already have.

Thread-safety: every method takes ``self.lock``; mutable state of queues and open batches is
only touched under it. Pure: no I/O, no asyncio, time from the injected clock.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Any

from logd.client.producer.batch import RECORD_OVERHEAD, ProducerBatch
from logd.client.producer.records_in import (
    as_bytes,
    check_timestamp,
    normalize_headers,
    normalize_values,
)
from logd.clock import Clock
from logd.errors import (
    InvalidRequestError,
    LogdError,
    MessageTooLargeError,
    NetworkError,
    RequestTimedOutError,
    UnknownTopicOrPartitionError,
)
from partitioning import KEY_PARTITIONERS, StickyPartitioner, partition_for

__all__ = ["Accumulator", "PartitionQueue", "TopicQueues"]

_INF = float("inf")


class PartitionQueue:
    """One partition's open batch and ready batches, plus the sender's view of it.

    ``open``/``ready`` are guarded by the accumulator lock; ``in_flight``, ``retrying``,
    ``backoff_until`` and ``backoff_epoch`` belong to the sender (event loop).
    """

    __slots__ = ("backoff_epoch", "backoff_until", "in_flight", "next_seq", "open",
                 "partition", "ready", "retrying", "topic")  # fmt: skip

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self.open: ProducerBatch | None = None
        self.ready: deque[ProducerBatch] = deque()
        self.next_seq = 0
        self.in_flight = 0
        #: A retry is pending: one batch at a time until it is answered (order, see sender).
        self.retrying = False
        self.backoff_until = 0.0
        #: The leader epoch known when the backoff began: a newer leader ends it early.
        self.backoff_epoch = -1

    def __repr__(self) -> str:
        return f"PartitionQueue({self.topic}-{self.partition})"


class TopicQueues:
    """A topic's partition queues and its current sticky partition (guarded by the lock)."""

    __slots__ = ("name", "num_partitions", "queues", "sticky")

    def __init__(self, name: str, num_partitions: int, sticky: int) -> None:
        self.name = name
        self.num_partitions = num_partitions
        self.queues = [PartitionQueue(name, p) for p in range(num_partitions)]
        self.sticky = sticky


class Accumulator:
    """Batches by partition. Thread-safe (one lock); see the module docstring."""

    def __init__(
        self,
        *,
        batch_size: int,
        linger_ms: int,
        buffer_memory: int,
        max_request_size: int,
        delivery_timeout_ms: int,
        clock: Clock,
        partitioner: StickyPartitioner,
        waker: Callable[[], None],
        key_partitioner: str = "mmh3",
    ) -> None:
        self.lock = threading.Lock()
        self._memory_freed = threading.Condition(self.lock)
        self._batch_size = batch_size
        self._linger_s = linger_ms / 1000.0
        self.buffer_memory = buffer_memory
        self._max_record = min(max_request_size, buffer_memory)
        self._delivery_timeout_s = delivery_timeout_ms / 1000.0
        self._clock = clock
        self._partitioner = partitioner
        self._key_partition: Callable[[bytes, int], int] = KEY_PARTITIONERS.get(
            key_partitioner, partition_for
        )
        self._waker = waker
        self.topics: dict[str, TopicQueues] = {}
        self.buffered = 0
        self._active: dict[PartitionQueue, None] = {}
        self._incomplete: dict[ProducerBatch, None] = {}
        self._flushing = 0
        self._memory_waiters = 0
        #: When the sender will look again on its own (inf: it sleeps until woken).
        self.sender_deadline = _INF
        self.closed: LogdError | None = None
        #: Called (under no lock) when memory was freed: the asyncio producer's waiters.
        self.on_memory_freed: Callable[[], None] | None = None

    # -- topics -----------------------------------------------------------------------------

    def set_partitions(self, topic: str, num_partitions: int) -> TopicQueues:
        """Add ``topic`` or grow it to ``num_partitions`` (partitions never shrink)."""
        assert num_partitions >= 1
        with self.lock:
            tq = self.topics.get(topic)
            if tq is None:
                sticky = self._partitioner.sticky_partition(topic, num_partitions)
                tq = TopicQueues(topic, num_partitions, sticky)
                self.topics[topic] = tq
            elif num_partitions > tq.num_partitions:
                tq.queues.extend(
                    PartitionQueue(topic, p) for p in range(tq.num_partitions, num_partitions)
                )
                tq.num_partitions = num_partitions
            return tq

    # -- appending (producer threads) -------------------------------------------------------

    def append(
        self,
        tq: TopicQueues,
        value: Any,
        key: Any = None,
        partition: Any = None,
        timestamp: Any = None,
        headers: Any = None,
        callback: object = None,
        *,
        block: bool = True,
        max_block_s: float = 0.0,
    ) -> None:
        """Append one record; the hot path of ``produce()``. See the module docstring.

        Raises typed errors for bad input (one line each) and, when the buffer is full,
        :class:`RequestTimedOutError` after ``max_block_s`` (at once when not ``block``).
        """
        if value.__class__ is bytes:
            size = len(value) + RECORD_OVERHEAD
        elif value is None:
            size = RECORD_OVERHEAD
        else:
            value = as_bytes(value, "value")
            size = len(value) + RECORD_OVERHEAD
        if key is not None:
            if key.__class__ is not bytes:
                key = as_bytes(key, "key")
            size += len(key)
        if headers is not None:
            headers, header_bytes = normalize_headers(headers)
            size += header_bytes
        if timestamp is not None:
            check_timestamp(timestamp)
        if partition is not None and (partition.__class__ is not int or partition < 0):
            raise InvalidRequestError(f"partition must be an int >= 0, got {partition!r}")
        if size > self._max_record:
            raise self._too_large(size)
        wake = False
        with self.lock:
            if self.buffered + size > self.buffer_memory:
                self._wait_for_memory(size, block, max_block_s)
            if self.closed is not None:
                raise self.closed
            if partition is None:
                partition = (
                    tq.sticky if key is None else self._key_partition(key, tq.num_partitions)
                )
                sticky = key is None
            else:
                if partition >= tq.num_partitions:
                    raise _no_partition(tq, partition)
                sticky = False
            pq = tq.queues[partition]
            b = pq.open
            if b is None or (b.size + size > self._batch_size and b.values):
                pq, b, wake = self._roll(tq, pq, size, sticky)
            if b.plain and key is None and timestamp is None and headers is None:
                if callback is not None:
                    b.add_callback(len(b.values), 1, callback)
                b.values.append(value)
            else:
                b.add_record(value, key, timestamp, headers, callback)
            b.size += size
            self.buffered += size
        if wake:
            self._waker()

    def append_many(
        self,
        tq: TopicQueues,
        values: Sequence[Any],
        keys: Sequence[Any] | None = None,
        partition: Any = None,
        timestamp: Any = None,
        target: Callable[[int, int], object] | None = None,
        *,
        block: bool = True,
        max_block_s: float = 0.0,
    ) -> None:
        """Append many records in one call: the batch API (``produce_batch``/``send_batch``).

        Without keys, records are appended as slices (list extends), a batch at a time.
        ``target(input_start, count)`` (when given) returns the callback target of a run of
        the input, registered on the batch that takes the run.
        """
        vals = normalize_values(values)
        n = len(vals)
        if keys is not None:
            if len(keys) != n:
                raise InvalidRequestError(f"{len(keys)} keys for {n} values")
            keys = [k if k is None or k.__class__ is bytes else as_bytes(k, "key") for k in keys]
        if timestamp is not None:
            check_timestamp(timestamp)
        if partition is not None and (partition.__class__ is not int or partition < 0):
            raise InvalidRequestError(f"partition must be an int >= 0, got {partition!r}")
        sizes = [RECORD_OVERHEAD if v is None else len(v) + RECORD_OVERHEAD for v in vals]
        if keys is not None:
            sizes = [s if k is None else s + len(k) for s, k in zip(sizes, keys, strict=True)]
        if sizes and max(sizes) > self._max_record:
            raise self._too_large(max(sizes))
        if partition is not None and partition >= tq.num_partitions:
            raise _no_partition(tq, partition)
        if keys is None or partition is not None:
            self._append_run(tq, partition, vals, keys, sizes, list(range(n)), timestamp, target,
                             block, max_block_s)  # fmt: skip
            return
        groups: dict[int, list[int]] = {}
        nparts = tq.num_partitions
        for i, k in enumerate(keys):
            p = tq.sticky if k is None else self._key_partition(k, nparts)
            groups.setdefault(p, []).append(i)
        for p, idx in groups.items():
            self._append_run(
                tq, p, [vals[i] for i in idx], [keys[i] for i in idx], [sizes[i] for i in idx],
                idx, timestamp, target, block, max_block_s,
            )  # fmt: skip

    def _append_run(
        self,
        tq: TopicQueues,
        partition: int | None,
        values: list[bytes | None],
        keys: list[bytes | None] | None,
        sizes: list[int],
        positions: list[int],
        timestamp: int | None,
        target: Callable[[int, int], object] | None,
        block: bool,
        max_block_s: float,
    ) -> None:
        """Append ``values`` to one partition (or the sticky one) a batch-sized slice at a time."""
        cumulative = list(accumulate(sizes))
        done = 0
        n = len(values)
        wake = False
        while done < n:
            with self.lock:
                if self.closed is not None:
                    raise self.closed
                sticky = partition is None
                pq = tq.queues[tq.sticky if sticky else partition]  # type: ignore[index]
                b = pq.open
                if b is None or (b.size + sizes[done] > self._batch_size and b.values):
                    pq, b, rolled = self._roll(tq, pq, sizes[done], sticky)
                    wake = wake or rolled
                base = cumulative[done - 1] if done else 0
                room = max(self._batch_size - b.size, 0)
                end = max(bisect_right(cumulative, base + room, done, n), done + 1)
                chunk = cumulative[end - 1] - base
                if self.buffered + chunk > self.buffer_memory:
                    self._wait_for_memory(chunk, block, max_block_s)
                    continue  # the lock was released while waiting: look again
                self._extend(b, values, keys, positions, done, end, timestamp, target)
                b.size += chunk
                self.buffered += chunk
                done = end
            if wake:
                self._waker()
                wake = False

    @staticmethod
    def _extend(
        b: ProducerBatch,
        values: list[bytes | None],
        keys: list[bytes | None] | None,
        positions: list[int],
        start: int,
        end: int,
        timestamp: int | None,
        target: Callable[[int, int], object] | None,
    ) -> None:
        first = len(b.values)
        count = end - start
        if keys is not None or b.keys is not None:
            b.plain = False
            if b.keys is None:
                b.keys = [None] * first
            b.keys.extend(keys[start:end] if keys is not None else [None] * count)
        if timestamp is not None or b.timestamps is not None:
            b.plain = False
            if b.timestamps is None:
                b.timestamps = [b.base_timestamp] * first
            b.timestamps.extend([b.base_timestamp if timestamp is None else timestamp] * count)
        if b.headers is not None:
            b.headers.extend([()] * count)
        b.values.extend(values[start:end])
        if target is not None:
            contiguous = positions[end - 1] - positions[start] == count - 1
            if contiguous:
                b.add_callback(first, count, target(positions[start], count))
            else:
                for j in range(start, end):
                    b.add_callback(first + j - start, 1, target(positions[j], 1))

    def _roll(
        self, tq: TopicQueues, pq: PartitionQueue, size: int, sticky: bool
    ) -> tuple[PartitionQueue, ProducerBatch, bool]:
        """Close ``pq``'s full batch (moving the sticky partition on) and open a new one."""
        wake = False
        if pq.open is not None:
            self._close(pq)
            wake = True
            if sticky:
                pq = tq.queues[tq.sticky]
                b = pq.open
                if b is not None and (b.size + size <= self._batch_size or not b.values):
                    return pq, b, wake
                if b is not None:
                    self._close(pq)
        now = self._clock.monotonic()
        b = ProducerBatch(
            pq.topic,
            pq.partition,
            pq.next_seq,
            self._clock.now_ms(),
            now,
            now + self._delivery_timeout_s,
        )
        pq.next_seq += 1
        pq.open = b
        self._active[pq] = None
        self._incomplete[b] = None
        if now + self._linger_s < self.sender_deadline:
            self.sender_deadline = now + self._linger_s
            wake = True
        return pq, b, wake

    def _close(self, pq: PartitionQueue) -> None:
        """Under the lock: the open batch of ``pq`` takes no more records."""
        b = pq.open
        assert b is not None
        pq.open = None
        b.closed = True
        pq.ready.append(b)
        tq = self.topics.get(pq.topic)
        if tq is not None and tq.sticky == pq.partition:
            self._partitioner.on_batch_sent(pq.topic, pq.partition)
            tq.sticky = self._partitioner.sticky_partition(pq.topic, tq.num_partitions)

    def _wait_for_memory(self, size: int, block: bool, max_block_s: float) -> None:
        """Under the lock: wait until ``size`` more bytes fit in ``buffer_memory``."""
        if not block or max_block_s <= 0:
            raise RequestTimedOutError(
                f"producer buffer full: {self.buffered} bytes of records await delivery "
                f"(buffer.memory={self.buffer_memory})"
            )
        deadline = self._clock.monotonic() + max_block_s
        self._memory_waiters += 1
        try:
            while self.buffered + size > self.buffer_memory and self.buffered > 0:
                if self.closed is not None:
                    raise self.closed
                remaining = deadline - self._clock.monotonic()
                if remaining <= 0:
                    raise RequestTimedOutError(
                        f"producer buffer full for {max_block_s:g}s (max.block.ms): "
                        f"{self.buffered} bytes await delivery (buffer.memory="
                        f"{self.buffer_memory})"
                    )
                self._memory_freed.wait(remaining)
        finally:
            self._memory_waiters -= 1

    def _too_large(self, size: int) -> MessageTooLargeError:
        return MessageTooLargeError(
            f"a record of about {size} bytes exceeds the producer's limit of "
            f"{self._max_record} bytes (max.request.size / buffer.memory)"
        )

    # -- draining (the sender, on the event loop) -------------------------------------------

    def ready(self, now: float) -> tuple[list[PartitionQueue], float]:
        """The queues with a batch to send (closed, or open and sendable: lingered, flushed,
        closing) and the time of the next linger expiry (inf: none). Closes nothing: an
        open batch closes when :meth:`pop` takes it (see the module docstring)."""
        next_at = _INF
        out: list[PartitionQueue] = []
        with self.lock:
            force = self._flushing > 0 or self.closed is not None
            for pq in list(self._active):
                b = pq.open
                sendable = False
                if b is not None:
                    due = b.created + self._linger_s
                    if force or due <= now:
                        sendable = True
                    elif due < next_at:
                        next_at = due
                if pq.ready or sendable:
                    out.append(pq)
                elif b is None:
                    del self._active[pq]
            # A sendable batch the sender cannot take now sets no deadline: the answer or
            # the room that lets it go wakes the sender (and records keep joining it).
            self.sender_deadline = next_at
        return out, next_at

    def head(self, pq: PartitionQueue, now: float) -> ProducerBatch | None:
        """The batch :meth:`pop` would take from ``pq`` now, if one may go: its first closed
        batch, else its open batch once sendable. The sender's look before it takes."""
        with self.lock:
            if pq.ready:
                return pq.ready[0]
            b = pq.open
            if b is not None and (
                b.created + self._linger_s <= now or self._flushing > 0 or self.closed is not None
            ):
                return b
            return None

    def pop(self, pq: PartitionQueue) -> ProducerBatch:
        """Take the batch :meth:`head` named, closing it if it is still open (it may have
        taken more records since: a closed batch is never appended to again)."""
        with self.lock:
            if not pq.ready:
                self._close(pq)
            return pq.ready.popleft()

    def requeue(self, batch: ProducerBatch, pq: PartitionQueue) -> None:
        """Put a batch back for a retry, before every later batch of its partition."""
        with self.lock:
            ready = pq.ready
            i = 0
            while i < len(ready) and ready[i].seq < batch.seq:
                i += 1
            ready.insert(i, batch)
            self._active[pq] = None

    def split(self, batch: ProducerBatch) -> tuple[ProducerBatch, ProducerBatch]:
        """Replace ``batch`` (not queued, not in flight) by its two halves, in its order."""
        with self.lock:
            first, second = batch.split(batch.seq, batch.seq)
            self._incomplete.pop(batch, None)
            self._incomplete[first] = None
            self._incomplete[second] = None
            return first, second

    def expired(self, now: float) -> list[ProducerBatch]:
        """Batches not in flight whose ``delivery.timeout.ms`` has passed (taken out)."""
        out: list[ProducerBatch] = []
        with self.lock:
            for pq in self._active:
                if any(b.deadline <= now for b in pq.ready):
                    out.extend(b for b in pq.ready if b.deadline <= now)
                    pq.ready = deque(b for b in pq.ready if b.deadline > now)
                b = pq.open
                if b is not None and b.deadline <= now:
                    pq.open = None
                    b.closed = True
                    out.append(b)
        return out

    def complete(self, batch: ProducerBatch) -> None:
        """The batch is delivered or failed for good: free its memory."""
        with self.lock:
            self.buffered -= batch.size
            self._incomplete.pop(batch, None)
            if self._memory_waiters:
                self._memory_freed.notify_all()
        if self.on_memory_freed is not None:
            self.on_memory_freed()

    # -- flush and close --------------------------------------------------------------------

    def begin_flush(self) -> None:
        with self.lock:
            self._flushing += 1

    def end_flush(self) -> None:
        with self.lock:
            self._flushing -= 1

    @property
    def incomplete_records(self) -> int:
        with self.lock:
            return sum(len(b.values) for b in self._incomplete)

    @property
    def has_incomplete(self) -> bool:
        return bool(self._incomplete)

    def close(self, error: LogdError | None = None) -> None:
        """Refuse further appends; every open batch is now due."""
        with self.lock:
            if self.closed is None:
                self.closed = error or NetworkError("the producer is closed")
            self._memory_freed.notify_all()

    def abandon(self) -> list[ProducerBatch]:
        """Take every undelivered batch that is not in flight (close without flushing)."""
        with self.lock:
            out: list[ProducerBatch] = []
            for pq in self._active:
                out.extend(pq.ready)
                pq.ready.clear()
                if pq.open is not None:
                    out.append(pq.open)
                    pq.open = None
            self._active.clear()
            return out


def _no_partition(tq: TopicQueues, partition: int) -> UnknownTopicOrPartitionError:
    return UnknownTopicOrPartitionError(
        f"topic {tq.name!r} has no partition {partition} "
        f"(it has {tq.num_partitions}: 0..{tq.num_partitions - 1})"
    )
