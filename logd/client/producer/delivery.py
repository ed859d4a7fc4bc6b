"""Delivery reports: from a finished batch to the futures and callbacks that wait on it.

A batch carries ``callbacks`` as runs ``(first index, count, target)``; only records whose
caller asked for a report have one, so delivering a batch nobody waits on costs nothing per
record. A target is one of:

* an ``asyncio.Future`` (one record: ``AsyncProducer.send``);
* a ``(BatchResults, input_start)`` pair (a run of a ``send_batch`` call);
* a callable ``on_delivery(err, md)``, called once per record of the run.

:class:`LoopDelivery` resolves them on the event loop as batches finish (asyncio clients).
:class:`QueuedDelivery` queues finished batches for the sync producer's ``poll()``/``flush()``
to serve on the caller's thread, as confluent-kafka does; it is thread-safe (one condition).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from typing import Any

from logd.client.producer.batch import ProducerBatch
from logd.client.types import RecordMetadata
from logd.errors import LogdError

__all__ = ["BatchResults", "LoopDelivery", "QueuedDelivery", "record_metadata", "run_target"]

_log = logging.getLogger(__name__)


def record_metadata(batch: ProducerBatch, index: int) -> RecordMetadata:
    offset = batch.base_offset + index if batch.base_offset >= 0 else -1
    return RecordMetadata(batch.topic, batch.partition, offset, batch.timestamp_of(index))


class BatchResults:
    """The outcome of one ``send_batch`` call: a future of the records' metadata, in order.

    Owned by the event loop. The future fails with the first error any record got.
    """

    __slots__ = ("future", "remaining", "results")

    def __init__(self, count: int, future: asyncio.Future[list[RecordMetadata]]) -> None:
        self.results: list[RecordMetadata | None] = [None] * count
        self.remaining = count
        self.future = future
        if count == 0:
            future.set_result([])

    def target(self, input_start: int, count: int) -> object:
        return (self, input_start)

    def fill(self, batch: ProducerBatch, first: int, count: int, input_start: int) -> None:
        fut = self.future
        if batch.error is not None:
            if not fut.done():
                fut.set_exception(batch.error)
        else:
            results = self.results
            for j in range(count):
                results[input_start + j] = record_metadata(batch, first + j)
        self.remaining -= count
        if self.remaining == 0 and not fut.done():
            fut.set_result(results_list(self.results))


def results_list(results: list[RecordMetadata | None]) -> list[RecordMetadata]:
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def run_target(batch: ProducerBatch, first: int, count: int, target: Any) -> int:
    """Deliver a run of ``batch`` to ``target``; returns how many reports were served."""
    err: LogdError | None = batch.error
    if isinstance(target, asyncio.Future):
        if not target.done():
            if err is not None:
                target.set_exception(err)
            else:
                target.set_result(record_metadata(batch, first))
        return 1
    if type(target) is tuple:
        collector, input_start = target
        collector.fill(batch, first, count, input_start)
        return count
    for i in range(first, first + count):
        target(err, None if err is not None else record_metadata(batch, i))
    return count


class LoopDelivery:
    """Resolves reports on the event loop as each batch finishes. Loop-owned."""

    def __call__(self, batch: ProducerBatch) -> None:
        for first, count, target in batch.callbacks or ():
            try:
                run_target(batch, first, count, target)
            except Exception:  # a user callback's bug must not stop the sender
                _log.exception("on_delivery callback raised")


class QueuedDelivery:
    """Finished batches queued for the sync producer's ``poll()``. Thread-safe."""

    def __init__(self) -> None:
        self._queue: deque[ProducerBatch] = deque()
        self.changed = threading.Condition(threading.Lock())

    def __call__(self, batch: ProducerBatch) -> None:
        """On the event loop: a batch finished (queued only when someone wants a report)."""
        with self.changed:
            if batch.callbacks:
                self._queue.append(batch)
            self.changed.notify_all()

    def serve(self) -> int:
        """On the caller's thread: run every queued callback; returns how many ran.

        A callback that raises stops serving and the exception reaches the caller of
        ``poll()``/``flush()`` (the rest of that batch's callbacks are skipped).
        """
        served = 0
        while self._queue:
            try:
                batch = self._queue.popleft()
            except IndexError:
                break
            for first, count, target in batch.callbacks or ():
                served += run_target(batch, first, count, target)
        return served

    @property
    def pending(self) -> bool:
        return bool(self._queue)
