"""The asyncio consumer, in aiokafka's shape: ``getone``, ``getmany``, ``async for``.

Runs on the caller's event loop: the fetcher is a task of that loop and records are
decoded lazily as they are taken. Consumer groups (``subscribe``, commits) come with
issue 6.

Not thread-safe: use it from the event loop it was started on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any

from logd.client.config import ConsumerConfig, parse_config
from logd.client.consumer import default_reset
from logd.client.consumer_core import ConsumerCore
from logd.client.fetch_buffer import FetchBuffer, RecordReader
from logd.client.subscription import SubscriptionState, check_partition
from logd.client.types import OFFSET_BEGINNING, OFFSET_END, ConsumerRecord, TopicPartition
from logd.clock import Clock, SystemClock
from logd.errors import InvalidRequestError, NetworkError

__all__ = ["AsyncConsumer"]


class AsyncConsumer:
    """An asyncio consumer of assigned partitions. Loop-owned."""

    def __init__(
        self, config: Mapping[str, Any] | None = None, *, clock: Clock | None = None, **options: Any
    ) -> None:
        self.config: ConsumerConfig = parse_config(ConsumerConfig, config, options)
        self._clock = clock or SystemClock()
        self._subs = SubscriptionState(default_reset(self.config))
        self._buffer = FetchBuffer(self.config.max_buffered_bytes)
        self._reader = RecordReader(self._subs, self._buffer, self.config.max_buffered_bytes)
        self._arrived = asyncio.Event()
        self._buffer.on_put = self._arrived.set
        self._core: ConsumerCore | None = None

    async def start(self) -> None:
        """Connect (BrokerUnavailableError naming the addresses when none answers)."""
        if self._core is not None:
            return
        core = ConsumerCore(
            self.config, self._clock, self._subs, self._buffer, threadsafe_wakeups=False
        )
        try:
            await core.start()
        except BaseException:
            await core.close()
            raise
        self._core = core

    @property
    def core(self) -> ConsumerCore:
        if self._core is None:
            raise NetworkError("the consumer is not started (use `async with` or start())")
        return self._core

    # -- assignment and positions ------------------------------------------------------------

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Read exactly these partitions (unknown ones surface as errors when fetched)."""
        tps = [check_partition(tp) for tp in partitions]
        self._reader.drop()
        self._subs.assign(tps)
        self.core.fetcher.wakeup()

    async def assign_checked(self, partitions: Iterable[TopicPartition]) -> None:
        """:meth:`assign`, after checking every topic and partition exists."""
        tps = [check_partition(tp) for tp in partitions]
        await self.core.check_assignment(tps)
        self.assign(tps)

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(s.topic, s.partition) for s in self._subs.partitions.values()}

    def seek(self, partition: TopicPartition, offset: int | None = None) -> None:
        """Read from ``offset`` (or ``partition.offset``) on; aiokafka's two-argument form
        and confluent's one-argument form both work."""
        if offset is not None:
            partition = TopicPartition(partition.topic, partition.partition, offset)
        self._reader.drop(self._subs.seek(partition))
        self.core.fetcher.wakeup()

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        for state in self._subs.select(partitions or None):
            self.seek(TopicPartition(state.topic, state.partition, OFFSET_BEGINNING))

    async def seek_to_end(self, *partitions: TopicPartition) -> None:
        for state in self._subs.select(partitions or None):
            self.seek(TopicPartition(state.topic, state.partition, OFFSET_END))

    async def position(self, partition: TopicPartition) -> int:
        """The next offset this consumer returns for ``partition``."""
        (state,) = self._subs.select([partition])
        await self.core.resolve([state])
        return state.position

    def pause(self, *partitions: TopicPartition) -> None:
        for state in self._subs.select(partitions):
            state.paused = True
            state.epoch += 1
            if state.reset is None and state.position >= 0:
                state.fetch_offset = state.position
            self._reader.drop(state)

    def resume(self, *partitions: TopicPartition) -> None:
        self._subs.set_paused(partitions, False)
        self.core.fetcher.wakeup()

    async def offsets_for_times(
        self, timestamps: Mapping[TopicPartition, int]
    ) -> dict[TopicPartition, int | None]:
        """aiokafka's shape: ``{tp: timestamp}`` -> ``{tp: offset or None}``."""
        tps = [
            check_partition(TopicPartition(tp.topic, tp.partition, ts))
            for tp, ts in timestamps.items()
        ]
        found = await self.core.offsets_for_times(tps)
        return {
            TopicPartition(tp.topic, tp.partition): (tp.offset if tp.offset >= 0 else None)
            for tp in found
        }

    async def beginning_offsets(
        self, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, int]:
        found = await self.core.beginning_offsets([check_partition(tp) for tp in partitions])
        return {TopicPartition(t, p): o for (t, p), o in found.items()}

    async def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        found = await self.core.end_offsets([check_partition(tp) for tp in partitions])
        return {TopicPartition(t, p): o for (t, p), o in found.items()}

    async def get_watermark_offsets(self, partition: TopicPartition) -> tuple[int, int]:
        return await self.core.watermarks(check_partition(partition))

    # -- reading ---------------------------------------------------------------------------------

    async def _wait(self, timeout: float | None) -> bool:
        """Wait for fetched data (up to ``timeout`` s); False on timeout."""
        self._arrived.clear()
        if self._buffer.has_data:
            return True
        try:
            await asyncio.wait_for(self._arrived.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def getone(self) -> ConsumerRecord:
        """The next record, waiting as long as it takes."""
        self.core  # noqa: B018 - raises when not started
        while True:
            record = self._reader.next()
            if record is not None:
                return record
            await self._wait(None)

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        """What is fetched (waiting up to ``timeout_ms`` for something), by partition."""
        self.core  # noqa: B018 - raises when not started
        if partitions:
            raise InvalidRequestError("getmany() per partition is not supported; pause others")
        limit = max_records if max_records is not None else 1 << 30
        records = self._reader.take(limit)
        if not records and timeout_ms > 0:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout_ms / 1000.0
            while not records:
                remaining = deadline - loop.time()
                if remaining <= 0 or not await self._wait(remaining):
                    break
                records = self._reader.take(limit)
        out: dict[TopicPartition, list[ConsumerRecord]] = {}
        for record in records:
            out.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
        return out

    def __aiter__(self) -> AsyncIterator[ConsumerRecord]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ConsumerRecord]:
        while self._core is not None:
            yield await self.getone()

    # -- closing ---------------------------------------------------------------------------------

    async def stop(self) -> None:
        core, self._core = self._core, None
        self._reader.drop()
        if core is not None:
            await core.close()
        self._buffer.clear()

    close = stop

    async def __aenter__(self) -> AsyncConsumer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
