"""The sync producer, in confluent-kafka's shape: ``produce()``, ``poll()``, ``flush()``.

``produce()`` never waits on the network: it appends the record to the thread-safe
accumulator on the caller's thread (one lock, a few list appends) and returns; the sender
on the client's background event loop batches, encodes, sends and retries. Delivery
callbacks (``on_delivery(err, md)``) run on the caller's thread inside ``poll()`` and
``flush()``, as confluent-kafka's do.

Thread-safety: ``produce``, ``produce_batch``, ``poll``, ``flush`` and ``len()`` may be
called from several threads; ``close`` once, from one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from logd.client.config import ProducerConfig, parse_config
from logd.client.producer.core import ProducerCore, check_topic_name
from logd.client.producer.delivery import QueuedDelivery
from logd.client.sync.loop_thread import shared_loop
from logd.client.types import DeliveryCallback, Header
from logd.clock import Clock, SystemClock

__all__ = ["Producer"]


class Producer:
    """A sync producer. See the module docstring; options in logd.client.config."""

    def __init__(
        self, config: Mapping[str, Any] | None = None, *, clock: Clock | None = None, **options: Any
    ) -> None:
        self.config: ProducerConfig = parse_config(ProducerConfig, config, options)
        self._clock = clock or SystemClock()
        self._delivery = QueuedDelivery()
        self._thread = shared_loop()
        self._core: ProducerCore = self._thread.run(self._start())
        self._topics = self._core.accumulator.topics
        self._append = self._core.accumulator.append
        self._append_many = self._core.accumulator.append_many
        self._block = self.config.block_on_buffer_full
        self._max_block_s = self.config.max_block_ms / 1000.0
        self._closed = False

    async def _start(self) -> ProducerCore:
        core = ProducerCore(self.config, self._clock, self._delivery, threadsafe_wakeups=True)
        core.sender.on_idle = self._notify
        try:
            await core.start()
        except BaseException:
            await core.close()
            raise
        return core

    def _notify(self) -> None:
        with self._delivery.changed:
            self._delivery.changed.notify_all()

    def produce(
        self,
        topic: str,
        value: bytes | str | None = None,
        key: bytes | str | None = None,
        partition: int | None = None,
        timestamp: int | None = None,
        headers: Sequence[Header] | Mapping[str, bytes | str | None] | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        """Queue one record. Never waits on the network; blocks only on a full buffer
        (``max_block_ms``) and, the first time a topic is used, for its metadata."""
        try:
            tq = self._topics.get(topic)
        except TypeError:  # an unhashable "topic": topic_queues() names the problem
            tq = None
        if tq is None:
            tq = self._thread.run(self._core.topic_queues(topic))
        self._append(
            tq, value, key, partition, timestamp, headers, on_delivery,
            block=self._block, max_block_s=self._max_block_s,
        )  # fmt: skip

    def produce_batch(
        self,
        topic: str,
        values: Sequence[bytes | str | None],
        *,
        keys: Sequence[bytes | str | None] | None = None,
        partition: int | None = None,
        timestamp: int | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        """Queue many records in one call (the fast path: appended a batch-slice at a time).

        Without keys or partition, the records go to the sticky partition, which moves on
        when a batch fills; with keys, each to ``partition_for(key, n)``.
        """
        try:
            tq = self._topics.get(topic)
        except TypeError:  # an unhashable "topic": topic_queues() names the problem
            tq = None
        if tq is None:
            tq = self._thread.run(self._core.topic_queues(topic))
        target = None if on_delivery is None else (lambda _start, _count: on_delivery)
        self._append_many(
            tq, values, keys, partition, timestamp, target,
            block=self._block, max_block_s=self._max_block_s,
        )  # fmt: skip

    def poll(self, timeout: float = 0) -> int:
        """Serve delivery callbacks on this thread; waits up to ``timeout`` s for one.
        Returns how many callbacks ran."""
        served = self._delivery.serve()
        if served or not timeout:
            return served
        deadline = None if timeout < 0 else time.monotonic() + timeout
        with self._delivery.changed:
            while not self._delivery.pending:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._delivery.changed.wait(remaining)
        return self._delivery.serve()

    def flush(self, timeout: float | None = None) -> int:
        """Send everything now and wait for every record's outcome (serving callbacks).
        Returns how many records are still undelivered (0 unless ``timeout`` ran out)."""
        acc = self._core.accumulator
        deadline = None if timeout is None else time.monotonic() + timeout
        acc.begin_flush()
        try:
            self._thread.call_soon(self._core.sender.wakeup)
            while True:
                self._delivery.serve()
                if not acc.has_incomplete:
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                with self._delivery.changed:
                    if acc.has_incomplete and not self._delivery.pending:
                        self._delivery.changed.wait(remaining)
        finally:
            acc.end_flush()
        self._delivery.serve()
        return acc.incomplete_records

    def __len__(self) -> int:
        """Records produced and not yet delivered or failed."""
        return self._core.accumulator.incomplete_records

    def partitions_for(self, topic: str) -> list[int]:
        return self._thread.run(self._core.partitions_for(check_topic_name(topic)))

    def close(self, timeout: float | None = None) -> int:
        """Flush (up to ``timeout``), fail what is left, release everything. Returns how many
        records were not delivered."""
        if self._closed:
            return 0
        self._closed = True
        left = self.flush(timeout)
        self._thread.run(self._core.close())
        self._delivery.serve()
        return left

    def __enter__(self) -> Producer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
