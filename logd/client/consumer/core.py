"""The consumer's event-loop side, shared by :class:`logd.client.Consumer` and the asyncio one.

:class:`ConsumerCore` owns the connections, the metadata and the :class:`Fetcher`, and
answers the lookups the consumer API needs (offsets for times, watermarks, checking an
assignment against the cluster); with a ``group_id`` it also owns the
:class:`~logd.client.group.membership.GroupMembership`. The application side -- the subscription
state and the fetch buffer -- is shared with it; both are thread-safe.

Owned by the client's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from logd.client.config import ConsumerConfig
from logd.client.consumer.fetch_buffer import FetchBuffer, RecordReader
from logd.client.consumer.fetcher import Fetcher
from logd.client.consumer.subscription import (
    RESET_EARLIEST,
    RESET_LATEST,
    PartitionState,
    SubscriptionState,
)
from logd.client.group.events import EventChannel
from logd.client.group.membership import GroupMembership
from logd.client.transport.connection import ConnectionPool
from logd.client.transport.metadata import Metadata
from logd.client.transport.offsets import SPEC_EARLIEST, SPEC_LATEST, SPEC_TIMESTAMP, list_offsets
from logd.client.types import TopicPartition
from logd.clock import Clock
from logd.errors import UnknownTopicOrPartitionError
from logd.records.filtered import RecordFilter

__all__ = ["ConsumerCore", "default_reset", "reading_side"]

_FRAMING_BYTES = 1 << 20


def default_reset(config: ConsumerConfig) -> int | None:
    """The subscription's reset policy for ``auto_offset_reset`` (None: "error")."""
    return {"earliest": RESET_EARLIEST, "latest": RESET_LATEST}.get(config.auto_offset_reset)


def reading_side(
    config: ConsumerConfig, record_filter: RecordFilter | None
) -> tuple[SubscriptionState, FetchBuffer, RecordReader]:
    """The application's side of a consumer, as both shells build it: the subscription,
    the fetch buffer between the loop and the application, and the record reader."""
    subscription = SubscriptionState(default_reset(config))
    buffer = FetchBuffer(config.max_buffered_bytes)
    return (
        subscription,
        buffer,
        RecordReader(subscription, buffer, config.max_buffered_bytes, record_filter),
    )


class ConsumerCore:
    """Connections, metadata and fetcher of one consumer. Loop-owned."""

    def __init__(
        self,
        config: ConsumerConfig,
        clock: Clock,
        subscription: SubscriptionState,
        buffer: FetchBuffer,
        *,
        threadsafe_wakeups: bool,
    ) -> None:
        self.config = config
        self.clock = clock
        self.loop = asyncio.get_running_loop()
        self.pool = ConnectionPool(
            config, max_message_bytes=config.fetch_max_bytes + _FRAMING_BYTES
        )
        self.metadata = Metadata(self.pool, clock, config.metadata_max_age_ms)
        self.subscription = subscription
        self.fetcher = Fetcher(config, self.pool, self.metadata, subscription, buffer, clock)
        buffer.on_release = self.wake_threadsafe if threadsafe_wakeups else self.fetcher.wakeup
        #: The group membership (with ``group_id``); idle until the application subscribes.
        self.membership: GroupMembership | None = None
        if config.group_id is not None:
            channel = EventChannel(self.loop, buffer.wake)
            self.membership = GroupMembership(config, self.pool, self.metadata, clock, channel)
        self._closed = False

    @classmethod
    async def started(
        cls,
        config: ConsumerConfig,
        clock: Clock,
        subscription: SubscriptionState,
        buffer: FetchBuffer,
        *,
        threadsafe_wakeups: bool,
    ) -> ConsumerCore:
        """A core, started (closed again if starting fails)."""
        core = cls(config, clock, subscription, buffer, threadsafe_wakeups=threadsafe_wakeups)
        try:
            await core.start()
        except BaseException:
            await core.close()
            raise
        return core

    def wake_threadsafe(self) -> None:
        """Wake the fetcher from any thread."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: so is the consumer
            self.loop.call_soon_threadsafe(self.fetcher.wakeup)

    async def start(self) -> None:
        """Start fetching; fetch metadata (BrokerUnavailableError when no broker answers)."""
        await self.metadata.refresh()
        self.fetcher.start()

    async def check_assignment(self, tps: Iterable[TopicPartition]) -> None:
        """UnknownTopicOrPartitionError for a topic or partition the cluster does not have."""
        for tp in tps:
            tm = await self.metadata.topic(tp.topic)
            if tp.partition >= len(tm.partitions):
                raise UnknownTopicOrPartitionError(
                    f"topic {tp.topic!r} has no partition {tp.partition} "
                    f"(it has {len(tm.partitions)}: 0..{len(tm.partitions) - 1})"
                )

    async def resolve(self, states: list[PartitionState]) -> None:
        """Resolve pending offset resets of ``states`` now (for ``position()``)."""
        pending = [s for s in states if s.reset is not None]
        if pending:
            await self.fetcher.reset_positions(pending)

    async def offsets_for_times(self, tps: list[TopicPartition]) -> list[TopicPartition]:
        """The first offset whose record's timestamp is >= ``tp.offset``; -1 when none."""
        found = await self._list(
            [(tp.topic, tp.partition, SPEC_TIMESTAMP, tp.offset) for tp in tps]
        )
        return [
            TopicPartition(tp.topic, tp.partition, found[(tp.topic, tp.partition)][0]) for tp in tps
        ]

    async def watermarks(self, tp: TopicPartition) -> tuple[int, int]:
        low = await self._list([(tp.topic, tp.partition, SPEC_EARLIEST, 0)])
        high = await self._list([(tp.topic, tp.partition, SPEC_LATEST, 0)])
        key = (tp.topic, tp.partition)
        return low[key][0], high[key][0]

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[tuple[str, int], int]:
        found = await self._list([(tp.topic, tp.partition, SPEC_LATEST, 0) for tp in tps])
        return {key: offset for key, (offset, _) in found.items()}

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[tuple[str, int], int]:
        found = await self._list([(tp.topic, tp.partition, SPEC_EARLIEST, 0) for tp in tps])
        return {key: offset for key, (offset, _) in found.items()}

    async def _list(
        self, asks: list[tuple[str, int, int, int]]
    ) -> dict[tuple[str, int], tuple[int, int]]:
        return await list_offsets(
            self.pool,
            self.metadata,
            self.clock,
            asks,
            timeout_ms=self.config.request_timeout_ms,
            backoff_ms=self.config.retry_backoff_ms,
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.membership is not None:
            await self.membership.close()
        await self.fetcher.close()
        await self.pool.close()
