"""The asyncio producer, in aiokafka's shape: ``send``, ``send_and_wait``, ``send_batch``.

Runs on the caller's event loop: the accumulator is appended to on the loop and the sender
is a task of the same loop. ``send()`` returns a future per record (aiokafka's contract);
``send_batch()`` is the fast path -- one future for the whole call, resolving to the
records' metadata in input order.

Not thread-safe: use it from the event loop it was started on.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from logd.client.config import ProducerConfig, parse_config
from logd.client.producer.accumulator import TopicQueues
from logd.client.producer.batch import RECORD_OVERHEAD
from logd.client.producer.core import ProducerCore
from logd.client.producer.delivery import BatchResults, LoopDelivery
from logd.client.types import Header, RecordMetadata
from logd.clock import Clock, SystemClock
from logd.errors import NetworkError, RequestTimedOutError

__all__ = ["AsyncProducer"]


class AsyncProducer:
    """An asyncio producer; ``async with AsyncProducer(brokers=...) as p``. Loop-owned."""

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        **options: Any,
    ) -> None:
        self.config: ProducerConfig = parse_config(ProducerConfig, config, options)
        self._clock = clock or SystemClock()
        self._rng = rng
        self._core: ProducerCore | None = None
        self._memory = asyncio.Event()

    async def start(self) -> None:
        """Connect: fetch metadata from the bootstrap brokers (BrokerUnavailableError)."""
        if self._core is not None:
            return
        core = ProducerCore(
            self.config, self._clock, LoopDelivery(), threadsafe_wakeups=False, rng=self._rng
        )
        core.accumulator.on_memory_freed = self._memory.set
        try:
            await core.start()
        except BaseException:
            await core.close()
            raise
        self._core = core

    @property
    def core(self) -> ProducerCore:
        if self._core is None:
            raise NetworkError("the producer is not started (use `async with` or start())")
        return self._core

    async def _queues(self, topic: str) -> TopicQueues:
        core = self.core
        tq = core.accumulator.topics.get(topic) if isinstance(topic, str) else None
        if tq is None:
            tq = await core.topic_queues(topic)
        return tq

    async def _room(self, size: int) -> None:
        """Wait (up to max_block_ms) until ``size`` bytes fit in buffer_memory."""
        acc = self.core.accumulator
        if acc.buffered + size <= acc.buffer_memory or acc.buffered == 0:
            return
        if not self.config.block_on_buffer_full:
            return  # append() raises the buffer-full error itself
        deadline = self._clock.monotonic() + self.config.max_block_ms / 1000.0
        while acc.buffered + size > acc.buffer_memory and acc.buffered > 0:
            self._memory.clear()
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                raise RequestTimedOutError(
                    f"producer buffer full for {self.config.max_block_ms} ms (max.block.ms): "
                    f"{acc.buffered} bytes await delivery (buffer.memory={acc.buffer_memory})"
                )
            try:
                async with asyncio.timeout(remaining):  # wait_for may lose a cancel (3.11)
                    await self._memory.wait()
            except TimeoutError:
                continue

    async def send(
        self,
        topic: str,
        value: bytes | str | None = None,
        key: bytes | str | None = None,
        partition: int | None = None,
        timestamp: int | None = None,
        headers: Sequence[Header] | Mapping[str, bytes | str | None] | None = None,
    ) -> asyncio.Future[RecordMetadata]:
        """Queue one record; the returned future resolves to where it landed."""
        tq = await self._queues(topic)
        await self._room(_size(value) + _size(key))
        future: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        self.core.accumulator.append(
            tq, value, key, partition, timestamp, headers, future, block=False
        )
        return future

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | str | None = None,
        key: bytes | str | None = None,
        partition: int | None = None,
        timestamp: int | None = None,
        headers: Sequence[Header] | Mapping[str, bytes | str | None] | None = None,
    ) -> RecordMetadata:
        """Send one record and wait until it is acknowledged."""
        return await (await self.send(topic, value, key, partition, timestamp, headers))

    async def send_batch(
        self,
        topic: str,
        values: Sequence[bytes | str | None],
        *,
        keys: Sequence[bytes | str | None] | None = None,
        partition: int | None = None,
        timestamp: int | None = None,
    ) -> asyncio.Future[list[RecordMetadata]]:
        """Queue many records; one future resolves to their metadata in input order (or
        fails with the first error a record got)."""
        tq = await self._queues(topic)
        if isinstance(values, Sequence) and not isinstance(values, bytes | str):
            await self._room(min(sum(map(_size, values)), self.core.accumulator.buffer_memory))
        future: asyncio.Future[list[RecordMetadata]] = asyncio.get_running_loop().create_future()
        results = BatchResults(len(values), future)
        self.core.accumulator.append_many(
            tq, values, keys, partition, timestamp, results.target, block=False
        )
        return future

    async def flush(self, timeout: float | None = None) -> None:
        """Send everything now and wait until every record is delivered or failed."""
        async with asyncio.timeout(timeout):
            await self.core.flush()

    async def partitions_for(self, topic: str) -> list[int]:
        return await self.core.partitions_for(topic)

    async def stop(self, timeout: float | None = None) -> None:
        """Flush (up to ``timeout`` seconds), then fail what is left and disconnect."""
        core, self._core = self._core, None
        if core is None:
            return
        try:
            async with asyncio.timeout(timeout):
                await core.flush()
        except TimeoutError:
            pass
        finally:
            await core.close()

    close = stop

    async def __aenter__(self) -> AsyncProducer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _size(obj: object) -> int:
    if obj is None:
        return RECORD_OVERHEAD
    return len(obj) + RECORD_OVERHEAD if isinstance(obj, bytes | str | bytearray) else 0
