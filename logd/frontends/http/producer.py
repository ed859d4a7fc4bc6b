"""Appends records that arrive over HTTP and STOMP: partitions chosen, one batch per partition
built, appended through the seam, one delivery per record in the order given.

Shared by the v2 produce routes, v3 produce (one record at a time, streamed) and STOMP
``SEND``. A record goes to its explicit partition, else its key's (``partitioning.keys``:
the documented mmh3 mapping every logd client uses), else to the topic's sticky partition
(Kafka's KIP-480: a request's keyless records stay together and the next request moves on).

Ordering: :meth:`TopicProducer.submit` appends every batch before it returns (the seam's
``produce_nowait`` appends synchronously), so records submitted one after another on the
event loop keep their order in each partition even while earlier ones still wait for their
commit. A batch refused because its leader is not there yet (a topic just created, a leader
moving) is appended again until the request's deadline -- such a refusal appended nothing.

A topic that does not exist is created on first use when ``http.auto.create.topics`` is on
(with the broker's defaults, as Kafka's ``auto.create.topics.enable``), through the seam's
``create_topics`` (so the caller needs CREATE, as in Kafka).

Ownership: one per front end, on the broker's event loop.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Final, NamedTuple

from logd.broker.api import NewTopic, ProduceResult
from logd.broker.seam import BrokerSeam, Caller
from logd.clock import Clock
from logd.errors import (
    InvalidPartitionsError,
    LeaderNotAvailableError,
    LogdError,
    NotLeaderOrFollowerError,
    RequestTimedOutError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from logd.records import BatchBuilder
from logd.records.record import Header
from partitioning.keys import partition_for
from partitioning.sticky import StickyPartitioner

__all__ = ["Delivery", "OutRecord", "TopicProducer"]

#: A batch is closed once its records pass this size (the default ``max.message.bytes`` is
#: 1 MiB; a single record larger than the topic allows is refused by the core alone).
BATCH_BYTES: Final = 512 * 1024
_METADATA_TTL_S: Final = 1.0
_RETRY_FIRST_S: Final = 0.02
_RETRY_MAX_S: Final = 0.5
_NOT_THERE_YET = (NotLeaderOrFollowerError, LeaderNotAvailableError, UnknownTopicOrPartitionError)


class OutRecord(NamedTuple):
    """One record to append (``partition`` None: chosen by key or sticky). A named tuple
    rather than a frozen dataclass: one is made per record of every request (a frozen
    dataclass's ``__init__`` costs several times a tuple's)."""

    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()
    partition: int | None = None
    timestamp_ms: int | None = None


class Delivery(NamedTuple):
    """What became of one record: its partition and offset, or the error (a named tuple, as
    :class:`OutRecord`)."""

    partition: int = -1
    offset: int = -1
    timestamp_ms: int = -1
    error: LogdError | None = None


class _Batch:
    __slots__ = ("builder", "indexes", "partition", "timestamps")

    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.builder = BatchBuilder()
        self.indexes: list[int] = []
        self.timestamps: list[int] = []


class TopicProducer:
    """See the module docstring."""

    def __init__(
        self,
        seam: BrokerSeam,
        clock: Clock,
        *,
        acks: int = -1,
        timeout_ms: int = 30_000,
        auto_create: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self._seam = seam
        self._clock = clock
        self.acks = acks
        self.timeout_ms = timeout_ms
        self.auto_create = auto_create
        self._sticky = StickyPartitioner(rng or random.Random())
        self._counts: dict[str, tuple[int, float]] = {}  # topic -> (partitions, expiry)

    # -- metadata ---------------------------------------------------------------------------

    async def partitions(self, topic: str, caller: Caller) -> int:
        """How many partitions ``topic`` has; creates it when it is missing and auto-create
        is on. Raises the core's error (UnknownTopicOrPartitionError: no such topic)."""
        cached = self._counts.get(topic)
        now = self._clock.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        meta = (await self._seam.metadata([topic], caller=caller)).topics[0]
        if isinstance(meta.error, UnknownTopicOrPartitionError) and self.auto_create:
            await self._create(topic, caller)
            meta = (await self._seam.metadata([topic], caller=caller)).topics[0]
        if meta.error is not None:
            raise meta.error
        count = len(meta.partitions)
        self._counts[topic] = (count, now + _METADATA_TTL_S)
        return count

    async def _create(self, topic: str, caller: Caller) -> None:
        (result,) = await self._seam.create_topics([NewTopic(topic)], caller=caller)
        if result.error is not None and not isinstance(result.error, TopicAlreadyExistsError):
            raise result.error

    def forget(self, topic: str) -> None:
        self._counts.pop(topic, None)

    # -- produce ----------------------------------------------------------------------------

    async def produce(
        self, topic: str, records: Sequence[OutRecord], caller: Caller
    ) -> list[Delivery]:
        """One delivery per record, in order. Raises what fails the request as a whole
        (the topic's metadata: unknown topic, not authorized)."""
        count = await self.partitions(topic, caller)
        return await self.deliveries(self.submit(topic, count, records, caller))

    def submit(
        self, topic: str, count: int, records: Sequence[OutRecord], caller: Caller
    ) -> list[tuple[list[int], asyncio.Future[list[Delivery]]]]:
        """Appends now (see the module docstring); for each batch, the indexes of its
        records in ``records`` and the future of their deliveries."""
        now = self._clock.now_ms()
        batches: dict[int, _Batch] = {}
        done: list[_Batch] = []
        refused: list[tuple[int, LogdError]] = []
        sticky = -1  # the topic's sticky partition: it changes only after the loop
        for i, record in enumerate(records):
            if record.partition is None and record.key is None:
                if sticky < 0:
                    sticky = self._sticky.sticky_partition(topic, count)
                partition = sticky
            else:
                try:
                    partition = self._choose(topic, record, count)
                except LogdError as exc:
                    refused.append((i, exc))
                    continue
            batch = batches.get(partition)
            if batch is not None and batch.builder.size_in_bytes >= BATCH_BYTES:
                done.append(batches.pop(partition))
                batch = None
            if batch is None:
                batch = batches[partition] = _Batch(partition)
            ts = now if record.timestamp_ms is None else record.timestamp_ms
            try:
                batch.builder.append(ts, record.key, record.value, record.headers)
            except (LogdError, ValueError) as exc:
                refused.append((i, exc if isinstance(exc, LogdError) else _invalid(exc)))
                continue
            batch.indexes.append(i)
            batch.timestamps.append(ts)
        done.extend(b for b in batches.values() if b.indexes)
        for partition in batches:
            self._sticky.on_batch_sent(topic, partition)
        loop = asyncio.get_running_loop()
        out = []
        for batch in done:
            data = batch.builder.build()
            answer = self._seam.produce_nowait(
                topic, batch.partition, self.acks, data, self.timeout_ms, caller=caller
            )
            if isinstance(answer, ProduceResult) and not isinstance(answer.error, _NOT_THERE_YET):
                ready: asyncio.Future[list[Delivery]] = loop.create_future()
                ready.set_result(_per_record(answer, batch.partition, batch.timestamps))
                out.append((batch.indexes, ready))
                continue
            task = loop.create_task(
                self._finish(topic, batch.partition, data, batch.timestamps, caller, answer)
            )
            out.append((batch.indexes, task))
        for index, error in refused:
            failed = loop.create_future()
            failed.set_result([Delivery(error=error)])
            out.append(([index], failed))
        return out

    @staticmethod
    async def deliveries(
        submitted: Sequence[tuple[list[int], asyncio.Future[list[Delivery]]]],
    ) -> list[Delivery]:
        size = sum(len(indexes) for indexes, _ in submitted)
        out = [Delivery()] * size
        for indexes, future in submitted:
            for index, delivery in zip(indexes, await future, strict=True):
                out[index] = delivery
        return out

    def _choose(self, topic: str, record: OutRecord, count: int) -> int:
        if record.partition is not None:
            if not 0 <= record.partition < count:
                raise UnknownTopicOrPartitionError(
                    f"partition {record.partition} of topic {topic!r} does not exist"
                    f" (it has {count})"
                )
            return record.partition
        if record.key is not None:
            return partition_for(record.key, count)
        return self._sticky.sticky_partition(topic, count)

    async def _finish(
        self,
        topic: str,
        partition: int,
        data: bytes,
        timestamps: list[int],
        caller: Caller,
        answer: ProduceResult | asyncio.Future[ProduceResult],
    ) -> list[Delivery]:
        """The deliveries of a batch appended by :meth:`submit`; appends it again while its
        refusal says the leader is not there yet (nothing was appended), until the
        deadline."""
        deadline = self._clock.monotonic() + self.timeout_ms / 1000.0
        wait = _RETRY_FIRST_S
        while True:
            result = answer if isinstance(answer, ProduceResult) else await answer
            error = result.error
            if not isinstance(error, _NOT_THERE_YET) or self._clock.monotonic() + wait > deadline:
                return _per_record(result, partition, timestamps)
            if isinstance(error, UnknownTopicOrPartitionError):
                self.forget(topic)
            await asyncio.sleep(wait)
            wait = min(wait * 2, _RETRY_MAX_S)
            answer = self._seam.produce_nowait(
                topic, partition, self.acks, data, self.timeout_ms, caller=caller
            )


def _invalid(exc: ValueError) -> LogdError:
    return InvalidPartitionsError(str(exc))


def _per_record(result: ProduceResult, partition: int, timestamps: list[int]) -> list[Delivery]:
    """One delivery per record; its timestamp the log's append time (LogAppendTime topics)
    or the record's own."""
    count = len(timestamps)
    if result.error is not None:
        error = result.error
        if isinstance(error, RequestTimedOutError):
            error = RequestTimedOutError(f"{error} (the records may still be committed)")
        return [Delivery(partition, error=error)] * count
    appended = result.log_append_time_ms
    return [
        Delivery(partition, result.base_offset + i, appended if appended >= 0 else ts)
        for i, ts in enumerate(timestamps)
    ]
