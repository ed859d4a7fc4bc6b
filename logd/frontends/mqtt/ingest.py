"""PUBLISHes into the log: one RecordBatch per partition per turn of the event loop.

Every publish of a loop turn that goes to the same partition (for the same caller) is
appended to one :class:`~logd.records.builder.BatchBuilder`; at the end of the turn
(``call_soon``) each batch is produced through the seam with acks=all — appended at once,
in the order the publishes came, and answered when committed (fsynced; with replicas, a
Raft majority). Then every QoS 1 publisher of the batch gets its PUBACK (and every QoS 2
one its PUBREC) through :meth:`Waiter.stored`; QoS 0 publishers are not waited for. So a
thousand devices publishing at once cost one append and one fsync round, not a thousand.

Partitions: a keyed record goes to ``partition_for(key, n)`` (DESIGN.md "Partitioning");
an unkeyed one to the topic's sticky partition, which moves on after each batch (KIP-480).
A topic not known yet (or created on first use) holds its publishes, in order, until its
metadata is in. Per record: the payload and the key are the only objects made beyond the
batch's own parts; headers come encoded (:func:`~logd.records.record.encode_headers`'s
bytes), so a caller whose records repeat theirs encodes them once.

Bounds: at most ``max_inflight_bytes`` of batches produced and not yet answered, and a few
thousand publishes waiting for a topic's metadata; past either :attr:`Ingest.congested` is
true and connections stop reading (:meth:`Ingest.when_uncongested`).

Ownership: one per front end, on the broker's event loop; never awaits while building.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from logd.broker.api import ProduceResult
from logd.broker.seam import Caller
from logd.errors import DiskFullError, ErrorCode, LogdError, UnknownTopicOrPartitionError
from logd.frontends.mqtt.access import LogAccess, TopicInfo
from logd.frontends.mqtt.reasons import ReasonCode
from logd.records.builder import BatchBuilder
from partitioning.keys import partition_for

__all__ = ["Ingest", "Waiter", "reason_for"]

_log = logging.getLogger(__name__)
_BATCH_BYTES_MAX = 1024 * 1024  # one batch; a larger turn makes several, in order
# Publishes waiting for topics' metadata: past the first, connections stop reading (they
# resume once it is in); past the second (a burst within one read), they are refused.
_HELD_PAUSE = 5_000
_HELD_MAX = 100_000
# Answers that prove a batch was not appended, so sending it again cannot duplicate it.
_NOT_APPENDED = frozenset(
    {
        ErrorCode.NOT_LEADER_OR_FOLLOWER,
        ErrorCode.LEADER_NOT_AVAILABLE,
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.BROKER_NOT_AVAILABLE,
    }
)
_RETRY_S = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0)  # ~16 s in all: an election's worth


class Waiter(Protocol):
    """Told once a QoS 1/2 publish is stored (or refused with ``reason``)."""

    def stored(self, packet_id: int, qos: int, reason: ReasonCode, message: str = "") -> None: ...


_AUTHORIZATION = frozenset({29, 30, 31})  # TOPIC/GROUP/CLUSTER_AUTHORIZATION_FAILED
_QUOTA = frozenset({ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.RECORD_LIST_TOO_LARGE, 89})


def reason_for(error: LogdError | None) -> ReasonCode:
    """The MQTT reason code a client is told for a log error (PUBACK's and SUBACK's
    codes): the one place where logd errors become MQTT ones."""
    if error is None:
        return ReasonCode.SUCCESS
    code = int(error.code)
    if code in _AUTHORIZATION:
        return ReasonCode.NOT_AUTHORIZED
    if code in _QUOTA:
        return ReasonCode.QUOTA_EXCEEDED
    if code == ErrorCode.INVALID_TOPIC_EXCEPTION:
        return ReasonCode.TOPIC_NAME_INVALID
    if isinstance(error, DiskFullError):
        return ReasonCode.QUOTA_EXCEEDED  # the disk's free-space reserve: a limit (issue 24)
    if code == ErrorCode.KAFKA_STORAGE_ERROR:
        return ReasonCode.UNSPECIFIED_ERROR  # the disk failed: nothing the client did
    return ReasonCode.IMPLEMENTATION_SPECIFIC_ERROR


@dataclass(slots=True)
class _Open:
    """One partition's batch of this turn."""

    builder: BatchBuilder = field(default_factory=BatchBuilder)
    waiters: list[tuple[Waiter, int, int]] = field(default_factory=list)


@dataclass(slots=True)
class _Held:
    key: bytes | None
    payload: bytes | None
    headers: bytes
    timestamp: int
    waiter: Waiter | None
    packet_id: int
    qos: int
    caller: Caller


class Ingest:
    """See the module docstring."""

    def __init__(
        self,
        access: LogAccess,
        *,
        max_inflight_bytes: int = 64 * 1024 * 1024,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._access = access
        self.access = access
        self._wall_ms = wall_ms
        self._open: dict[tuple[str, int, Caller], _Open] = {}
        # Publishes waiting for a topic's metadata, by topic and caller (a topic is created
        # on the caller's behalf, when it may: LogAccess.topic).
        self._held: dict[tuple[str, Caller], list[_Held]] = {}
        self._held_count = 0
        self._sticky: dict[str, int] = {}
        self._round = itertools.count()
        self._flush_scheduled = False
        self._inflight_bytes = 0
        self._max_inflight = max_inflight_bytes
        self._uncongested: list[Callable[[], None]] = []
        self.appended = 0  # records produced (a counter for tests and metrics)

    @property
    def congested(self) -> bool:
        return self._inflight_bytes >= self._max_inflight or self._held_count >= _HELD_PAUSE

    def when_uncongested(self, callback: Callable[[], None]) -> None:
        self._uncongested.append(callback)

    # -- in ---------------------------------------------------------------------------------

    def publish(
        self,
        topic: str,
        key: bytes | None,
        payload: bytes | None,
        headers: bytes,
        caller: Caller,
        waiter: Waiter | None = None,
        packet_id: int = 0,
        qos: int = 0,
    ) -> None:
        """Store one record (``waiter`` told when a QoS 1/2 one is stored); a None payload
        is a tombstone; ``headers`` encoded (:func:`~logd.records.record.encode_headers`)."""
        held = self._held.get((topic, caller))
        info = self._access.cached(topic) if held is None else None
        timestamp = self._wall_ms()
        if info is None:
            self._hold(topic, _Held(key, payload, headers, timestamp, waiter, packet_id, qos,
                                    caller))  # fmt: skip
            return
        self._append(info, key, payload, headers, timestamp, caller, waiter, packet_id, qos)

    def _append(
        self,
        info: TopicInfo,
        key: bytes | None,
        payload: bytes | None,
        headers: bytes,
        timestamp: int,
        caller: Caller,
        waiter: Waiter | None,
        packet_id: int,
        qos: int,
    ) -> None:
        if key is None:
            partition = self._sticky.get(info.name)
            if partition is None or partition >= info.partitions:
                partition = next(self._round) % info.partitions
                self._sticky[info.name] = partition
        else:
            partition = partition_for(key, info.partitions)
        slot = (info.name, partition, caller)
        batch = self._open.get(slot)
        if batch is None:
            batch = self._open[slot] = _Open()
        elif batch.builder.size_in_bytes + len(payload or b"") > _BATCH_BYTES_MAX:
            self._produce(slot, self._open.pop(slot))
            batch = self._open[slot] = _Open()
        batch.builder.append_encoded(timestamp, key, payload, headers)
        if waiter is not None:
            batch.waiters.append((waiter, packet_id, qos))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _hold(self, topic: str, held: _Held) -> None:
        slot = (topic, held.caller)
        waiting = self._held.get(slot)
        if waiting is None:
            waiting = self._held[slot] = []
            asyncio.get_running_loop().create_task(self._resolve(topic, held.caller))
        if self._held_count >= _HELD_MAX:
            self._refuse([held], ReasonCode.QUOTA_EXCEEDED, f"too many publishes wait for {topic}")
            return
        waiting.append(held)
        self._held_count += 1

    async def _resolve(self, topic: str, caller: Caller) -> None:
        error: LogdError | None = None
        info = None
        try:
            info = await self._access.topic(topic, create=True, caller=caller)
        except LogdError as exc:
            error = exc
        waiting = self._held.pop((topic, caller), [])
        self._held_count -= len(waiting)
        self._wake_uncongested()
        if info is None:
            error = error or UnknownTopicOrPartitionError(f"topic {topic} does not exist")
            _log.info("mqtt: publishes to %s refused: %s", topic, error)
            self._refuse(waiting, reason_for(error), str(error))
            return
        for h in waiting:
            self._append(info, h.key, h.payload, h.headers, h.timestamp, h.caller, h.waiter,
                         h.packet_id, h.qos)  # fmt: skip

    def _refuse(self, held: list[_Held], reason: ReasonCode, message: str) -> None:
        for h in held:
            if h.waiter is not None:
                h.waiter.stored(h.packet_id, h.qos, reason, message)

    # -- out --------------------------------------------------------------------------------

    def _flush(self) -> None:
        self._flush_scheduled = False
        batches, self._open = self._open, {}
        self._sticky.clear()
        for slot, batch in batches.items():
            self._produce(slot, batch)

    def _produce(self, slot: tuple[str, int, Caller], batch: _Open) -> None:
        data = batch.builder.build()
        self.appended += len(batch.builder)
        self._inflight_bytes += len(data)
        self._send(slot, data, batch.waiters, 0)

    def _send(
        self, slot: tuple[str, int, Caller], data: bytes, waiters: list[tuple[Waiter, int, int]],
        attempt: int,
    ) -> None:  # fmt: skip
        topic, partition, caller = slot
        answer = self._access.produce(topic, partition, data, caller)
        if isinstance(answer, ProduceResult):
            self._done(slot, data, waiters, attempt, answer)
        else:
            answer.add_done_callback(lambda f: self._done(slot, data, waiters, attempt, f.result()))

    def _done(
        self, slot: tuple[str, int, Caller], data: bytes, waiters: list[tuple[Waiter, int, int]],
        attempt: int, result: ProduceResult,
    ) -> None:  # fmt: skip
        error = result.error
        if error is not None and error.code in _NOT_APPENDED:
            self._access.forget(slot[0])  # look the topic up again next time
            if attempt < len(_RETRY_S):
                # Not appended (no leader yet, a leader moving): try again, as a producer's
                # retries would; the devices are answered only once it is committed.
                delay = _RETRY_S[attempt]
                asyncio.get_running_loop().call_later(
                    delay, self._send, slot, data, waiters, attempt + 1
                )
                return
        self._inflight_bytes -= len(data)
        self._answer(slot[0], waiters, result)
        self._wake_uncongested()

    def _wake_uncongested(self) -> None:
        if self._uncongested and not self.congested:
            callbacks, self._uncongested = self._uncongested, []
            for callback in callbacks:
                callback()

    def _answer(self, topic: str, waiters: list[tuple[Waiter, int, int]], r: ProduceResult) -> None:
        error = r.error
        if error is not None:
            _log.debug("mqtt: produce to %s failed: %s", topic, error)
        reason = reason_for(error)
        message = "" if error is None else str(error)
        for waiter, packet_id, qos in waiters:
            waiter.stored(packet_id, qos, reason, message)
