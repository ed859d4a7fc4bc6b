"""The producer's machinery, shared by :class:`logd.client.Producer` and the asyncio one.

:class:`ProducerCore` wires connections, metadata, the accumulator and the sender together.
It is created and started on the client's event loop. With idempotence (the default, see
``logd.client.producer.idempotence``) it also owns the producer's id and sequences, and fetches the
id (``InitProducerId``) when it starts. Records enter through
``core.accumulator`` -- directly from the caller's thread for the sync producer (the
accumulator is thread-safe and wakes the sender with ``loop.call_soon_threadsafe``), or from
the loop for the asyncio producer -- and leave through ``on_delivered``.

Owned by the client's event loop (except ``accumulator``, which is thread-safe, and
``topic_queues``, a dict the loop only adds to).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from typing import Any

from logd.client.config import ProducerConfig
from logd.client.producer.accumulator import Accumulator, TopicQueues
from logd.client.producer.batch import ProducerBatch
from logd.client.producer.idempotence import Idempotence
from logd.client.producer.sender import Sender
from logd.client.transport.connection import ConnectionPool
from logd.client.transport.metadata import Metadata
from logd.client.transport.rpc import error_from_proto
from logd.clock import Clock
from logd.errors import InvalidTopicError, LogdError, NetworkError
from logd.v1 import broker_pb2
from partitioning import StickyPartitioner

__all__ = ["ProducerCore", "check_topic_name"]

_RESPONSE_BYTES = 1 << 20
_INIT_PRODUCER_ID = broker_pb2.InitProducerIdRequest()


def check_topic_name(topic: object) -> str:
    if not isinstance(topic, str) or not topic:
        raise InvalidTopicError(f"a topic name must be a non-empty str, got {topic!r}")
    return topic


class ProducerCore:
    """Connections, metadata, accumulator and sender of one producer. Loop-owned."""

    def __init__(
        self,
        config: ProducerConfig,
        clock: Clock,
        on_delivered: Callable[[ProducerBatch], None],
        *,
        threadsafe_wakeups: bool,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.loop = asyncio.get_running_loop()
        rng = rng or random.Random()
        self.pool = ConnectionPool(
            config,
            max_message_bytes=max(config.max_request_size, config.batch_size) + _RESPONSE_BYTES,
            max_in_flight=config.max_in_flight,
            rng=rng,
        )
        self.metadata = Metadata(self.pool, clock, config.metadata_max_age_ms)
        #: The producer id and sequences; None without idempotence.
        self.identity: Idempotence | None = None
        if config.enable_idempotence and config.acks == -1:
            self.identity = Idempotence(self._init_producer_id)
        waker = self._wake_threadsafe if threadsafe_wakeups else self._wake
        self.accumulator = Accumulator(
            batch_size=config.batch_size,
            linger_ms=config.linger_ms,
            buffer_memory=config.buffer_memory,
            max_request_size=config.max_request_size,
            delivery_timeout_ms=config.delivery_timeout_ms,
            clock=clock,
            partitioner=StickyPartitioner(rng),
            waker=waker,
            key_partitioner=config.partitioner,
        )
        self.sender = Sender(
            self.accumulator,
            self.metadata,
            self.pool,
            config,
            clock,
            on_delivered,
            rng=rng,
            identity=self.identity,
        )
        self._closed = False

    def _wake(self) -> None:
        self.sender.wakeup()

    def _wake_threadsafe(self) -> None:
        # RuntimeError: the loop is closed, so the producer is closed too.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.sender.wakeup)

    async def start(self) -> None:
        """Start the sender and fetch metadata (BrokerUnavailableError when none answers)."""
        self.sender.start()
        await self.metadata.refresh()
        if self.identity is not None:
            await self.identity.obtain()

    async def _init_producer_id(self) -> tuple[int, int]:
        """A new producer id and epoch from any broker (InitProducerId)."""

        async def call(conn: Any) -> tuple[int, int]:
            answer = await conn.unary(conn.broker.InitProducerId, _INIT_PRODUCER_ID)
            error = error_from_proto(answer.error)
            if error is not None:
                raise error
            return int(answer.producer_id), int(answer.producer_epoch)

        return await self.pool.call_any(call, self.metadata.cache.known_addresses())

    async def topic_queues(self, topic: str) -> TopicQueues:
        """The accumulator's queues of ``topic``, fetching its metadata when new."""
        tq = self.accumulator.topics.get(check_topic_name(topic))
        if tq is not None:
            return tq
        tm = await self.metadata.topic(topic)
        return self.accumulator.set_partitions(topic, len(tm.partitions))

    async def partitions_for(self, topic: str) -> list[int]:
        tm = await self.metadata.topic(check_topic_name(topic), refresh=True)
        self.accumulator.set_partitions(topic, len(tm.partitions))
        return [p.partition for p in tm.partitions]

    async def flush(self) -> None:
        await self.sender.flush()

    async def close(self, error: LogdError | None = None) -> None:
        """Fail whatever is still undelivered and release the connections (idempotent)."""
        if self._closed:
            return
        self._closed = True
        await self.sender.close(error or NetworkError("the producer was closed before delivery"))
        await self.pool.close()
