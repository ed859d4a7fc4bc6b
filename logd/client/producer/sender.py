"""The sender: takes sendable batches out of the accumulator and sends them to partition leaders.

One task on the client's event loop (Kafka's ``Sender`` thread). Each round it fails
batches past ``delivery.timeout.ms``, asks the accumulator which partitions have sendable
batches, and sends them -- encoded once, one gRPC message per batch -- on the produce
stream of each partition's leader while that stream has room (``max_in_flight``). Then it
sleeps until woken (a batch closed, an answer freed room, metadata arrived) or until the
next linger expiry or retry backoff.

Answers:

* success: the batch's ``base_offset``/``log_append_time`` are set and it is delivered;
* a retriable error (NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, a broken stream, a
  timeout...) while the batch's delivery deadline allows: the batch goes back to the front
  of its partition's queue (before every later batch), the partition backs off
  exponentially (``retry.backoff.ms`` up to ``retry.backoff.max.ms``, +-20 % jitter, as
  KIP-580), the leader is taken from the answer's ``leader_hint`` or re-fetched. Without
  idempotence, until that retry is answered the partition sends one batch at a time -- so
  order within a partition is kept as far as the broker allows without sequence numbers.
  With idempotence (the default) batches carry sequences, the broker refuses gaps, and
  a partition keeps up to 5 batches outstanding through retries, sent in sequence order
  (``logd.client.producer.idempotence`` decides what sequence answers mean);
* MESSAGE_TOO_LARGE for a batch of several records (the topic's ``max.message.bytes`` is
  below ``batch_size``, or compression grew the batch): it is split in two halves that take
  its place in the queue, as Kafka's producer does;
* anything else: the batch fails with that error.

Seams: ``identity`` (an :class:`~logd.client.producer.idempotence.Idempotence`) stamps producer id,
epoch and base sequence on a batch before its first send and judges the answers;
``on_delivered`` hands finished batches to the client's delivery dispatcher (futures on
the loop, or callbacks for the sync producer's ``poll()``).

Owned by the client's event loop; not thread-safe (the accumulator it reads is).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

from logd.client.config import ProducerConfig
from logd.client.producer.accumulator import Accumulator, PartitionQueue
from logd.client.producer.batch import ProducerBatch
from logd.client.producer.idempotence import Idempotence, is_fencing, is_sequence_error
from logd.client.transport.connection import ConnectionPool
from logd.client.transport.metadata import Metadata
from logd.client.transport.rpc import error_from_proto
from logd.clock import Clock
from logd.errors import (
    InvalidRequestError,
    KafkaStorageError,
    LeaderNotAvailableError,
    LogdError,
    MessageTooLargeError,
    NotLeaderOrFollowerError,
    RequestTimedOutError,
    UnknownServerError,
    UnknownTopicOrPartitionError,
)
from logd.records.header import NO_PRODUCER_ID, Compression

__all__ = ["Sender"]

_log = logging.getLogger(__name__)
_INF = float("inf")


class Sender:
    """Drains the accumulator to the brokers. Owned by the client's event loop."""

    def __init__(
        self,
        accumulator: Accumulator,
        metadata: Metadata,
        pool: ConnectionPool,
        config: ProducerConfig,
        clock: Clock,
        on_delivered: Callable[[ProducerBatch], None],
        *,
        rng: random.Random | None = None,
        identity: Idempotence | None = None,
    ) -> None:
        self._acc = accumulator
        self._metadata = metadata
        self._pool = pool
        self._config = config
        self._clock = clock
        self._on_delivered = on_delivered
        self._rng = rng or random.Random()
        self._identity = identity
        self._compression = int(Compression[config.compression.upper()])
        self._acks = config.acks
        self._timeout_ms = config.request_timeout_ms
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._refresh_task: asyncio.Task[None] | None = None
        self._id_task: asyncio.Task[None] | None = None
        self._id_retry_at = 0.0
        self._last_refresh = -_INF
        self._stopping = False
        self._closed_with: LogdError | None = None
        #: Set whenever no record is waiting for delivery (flush waits on it).
        self.idle = asyncio.Event()
        self.idle.set()
        #: Called on the loop whenever the sender becomes idle (the sync flush() waits on it).
        self.on_idle: Callable[[], None] | None = None

    def start(self) -> None:
        assert self._task is None
        self._task = asyncio.create_task(self._run(), name="logd-producer-sender")

    def wakeup(self) -> None:
        """Look at the accumulator again soon. Call on the event loop only."""
        self._wake.set()

    async def _run(self) -> None:
        try:
            await self._loop()
        except Exception as exc:
            # A bug, not an expected failure: fail every record loudly rather than hang.
            _log.exception("the producer's sender crashed")
            error = UnknownServerError(f"the producer's sender crashed: {exc!r}")
            self._closed_with = error
            self._acc.close(error)
            for batch in self._acc.abandon():
                self._fail(batch, error)
            raise

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            next_at = self._step(self._clock.monotonic())
            if self._stopping and not self._acc.has_incomplete:
                return
            handle = None
            if next_at != _INF:
                delay = max(next_at - self._clock.monotonic(), 0.0)
                handle = loop.call_later(delay, self._wake.set)
            await self._wake.wait()
            if handle is not None:
                handle.cancel()

    def _step(self, now: float) -> float:
        """One round; returns when to look again on our own (inf: only when woken)."""
        for batch in self._acc.expired(now):
            self._fail(batch, _expired(batch, self._config.delivery_timeout_ms))
        queues, next_at = self._acc.ready(now)
        if queues:
            self.idle.clear()
        missing_leader = False
        progress = True
        idem = self._identity
        while progress:  # one batch per partition per pass: fair across partitions
            progress = False
            for pq in queues:
                head = self._acc.head(pq, now)
                if head is None or (pq.retrying and pq.in_flight and idem is None):
                    continue
                if pq.backoff_until > now and not self._new_leader(pq):
                    next_at = min(next_at, pq.backoff_until)
                    # Look for the new leader meanwhile: an election ends the wait early.
                    missing_leader = True
                    continue
                if idem is not None and not idem.may_send(pq, head):
                    continue  # the window is full, a reset waits, or no producer id yet
                address = self._metadata.cache.leader_address(pq.topic, pq.partition)
                if address is None:
                    missing_leader = True
                    continue
                stream = self._pool.get(address).produce_stream
                if stream.available <= 0:
                    continue
                stream.on_available = self.wakeup
                self._send(self._acc.pop(pq), pq, stream, address)
                progress = True
        if missing_leader or self._metadata.stale:
            next_at = min(next_at, self._refresh_soon(now))
        if queues and idem is not None and not idem.has_producer_id:
            next_at = min(next_at, self._obtain_producer_id(now))
        return next_at

    def _send(self, batch: ProducerBatch, pq: PartitionQueue, stream: Any, address: str) -> None:
        idem = self._identity
        if idem is not None:
            if idem.fatal is not None:
                self._fail(batch, idem.fatal)
                return
            if batch.producer_id == NO_PRODUCER_ID:
                # Once per batch: a retry resends the same bytes, same sequence (the halves
                # of a split batch already have the original's sequences).
                idem.assign(batch)
        try:
            records = batch.sendable(self._compression)
        except LogdError as exc:  # a record the codec refuses: fail this batch alone
            self._fail(batch, exc)
            return
        batch.attempts += 1
        pq.in_flight += 1

        def answered(response: Any, error: LogdError | None) -> None:
            self._answered(batch, pq, response, error)

        stream.send(batch.topic, batch.partition, self._acks, self._timeout_ms, records, answered)

    def _answered(
        self, batch: ProducerBatch, pq: PartitionQueue, response: Any, error: LogdError | None
    ) -> None:
        pq.in_flight -= 1
        if error is None and response is not None:
            error = error_from_proto(response.error)
        idem = self._identity
        if error is None:
            if response is not None:
                batch.base_offset = response.base_offset
                batch.log_append_time = response.log_append_time_ms
            if batch.attempts > 1:
                pq.retrying = False
            if idem is not None:
                idem.acked(batch)
            self._deliver(batch)
        elif (
            isinstance(error, MessageTooLargeError)
            and len(batch.values) > 1
            and self._closed_with is None
        ):
            # The topic's max.message.bytes is below our batch (or compression grew it):
            # split it in two and send the halves in its place, as Kafka's producer does.
            first, second = self._acc.split(batch)
            if idem is not None:
                idem.split(batch, first, second)
            self._acc.requeue(second, pq)
            self._acc.requeue(first, pq)
        elif idem is not None and is_sequence_error(error) and self._closed_with is None:
            self._sequence_error(idem, batch, pq, error)
        elif error.retriable and self._closed_with is None and self._retries(error):
            now = self._clock.monotonic()
            backoff = self._backoff(batch.attempts)
            if now + backoff >= batch.deadline:
                if batch.attempts > 1:
                    pq.retrying = False  # the retry ends here: the queue may pipeline again
                self._fail(batch, _expired(batch, self._config.delivery_timeout_ms, error))
            else:
                self._retry(batch, pq, response, error, now + backoff)
        else:
            if batch.attempts > 1:
                pq.retrying = False
            if idem is not None and is_fencing(error):
                idem.fatal = error
            # A storage error may come after the append (a failed fsync): not definite.
            self._fail(batch, error, definite=not isinstance(error, KafkaStorageError))
        self.wakeup()

    def _retries(self, error: LogdError) -> bool:
        """Whether a retriable error is retried (``retry_storage_errors``)."""
        return self._config.retry_storage_errors or not isinstance(error, KafkaStorageError)

    def _new_leader(self, pq: PartitionQueue) -> bool:
        """A leader newer than the one that failed us is known: retry without waiting out
        the backoff (Kafka's KIP-951: the backoff is for waiting on an election, and the
        election is over)."""
        leader, epoch = self._metadata.cache.leader(pq.topic, pq.partition)
        return leader >= 0 and epoch > pq.backoff_epoch

    def _sequence_error(
        self, idem: Idempotence, batch: ProducerBatch, pq: PartitionQueue, error: LogdError
    ) -> None:
        """OUT_OF_ORDER_SEQUENCE_NUMBER / UNKNOWN_PRODUCER_ID: the batch is not in the log.
        It goes back in sequence order, without a backoff: what it waits for (the batch
        before it, or the partition's reset) gates the queue already."""
        if not idem.sequence_error(batch, error):
            self._fail(batch, error, definite=True)
        elif self._clock.monotonic() >= batch.deadline:
            error = _expired(batch, self._config.delivery_timeout_ms, error)
            self._fail(batch, error, definite=True)  # refused: it is not in the log
        else:
            batch.last_error = error
            pq.retrying = True
            self._acc.requeue(batch, pq)

    def _obtain_producer_id(self, now: float) -> float:
        """Fetch a producer id unless a fetch runs or failed within the backoff; returns
        when to look again (inf while one runs: its end wakes the sender)."""
        if self._id_task is None and now >= self._id_retry_at:
            self._id_task = asyncio.create_task(self._obtain())
        return _INF if self._id_task is not None else self._id_retry_at

    async def _obtain(self) -> None:
        assert self._identity is not None
        try:
            await self._identity.obtain()
        except LogdError as exc:  # no broker answered: try again after a backoff
            _log.debug("InitProducerId failed: %s", exc)
            self._id_retry_at = self._clock.monotonic() + self._backoff(1)
        finally:
            self._id_task = None
            self.wakeup()

    def _retry(
        self, batch: ProducerBatch, pq: PartitionQueue, response: Any, error: LogdError, at: float
    ) -> None:
        batch.last_error = error
        pq.retrying = True
        pq.backoff_until = max(pq.backoff_until, at)
        _, pq.backoff_epoch = self._metadata.cache.leader(batch.topic, batch.partition)
        if isinstance(error, NotLeaderOrFollowerError | LeaderNotAvailableError):
            hint = response.leader_hint if response is not None else None
            if (
                hint is None
                or not response.HasField("leader_hint")
                or not (self._metadata.cache.apply_hint(batch.topic, batch.partition, hint))
            ):
                self._metadata.cache.forget_leader(batch.topic, batch.partition)
        elif isinstance(error, UnknownTopicOrPartitionError):
            self._metadata.cache.forget_leader(batch.topic, batch.partition)
        else:  # a broken stream or a timeout: same leader, but look whether it moved
            self._refresh_soon(self._clock.monotonic())
        _log.debug("retrying %r after %s", batch, error)
        self._acc.requeue(batch, pq)

    def _backoff(self, attempts: int) -> float:
        base: int = self._config.retry_backoff_ms << min(max(attempts - 1, 0), 20)
        capped = min(base, max(self._config.retry_backoff_max_ms, self._config.retry_backoff_ms))
        return capped * (0.8 + 0.4 * self._rng.random()) / 1000.0

    def _refresh_soon(self, now: float) -> float:
        """Start a metadata refresh unless one ran within ``retry.backoff.ms``; returns when
        to look again (inf while one runs: its end wakes the sender)."""
        gap = self._config.retry_backoff_ms / 1000.0
        if self._refresh_task is None and now - self._last_refresh >= gap:
            self._last_refresh = now
            self._refresh_task = asyncio.create_task(self._refresh())
        return _INF if self._refresh_task is not None else self._last_refresh + gap

    async def _refresh(self) -> None:
        try:
            await self._metadata.refresh()
            for name, tm in self._metadata.cache.topics.items():
                if name in self._acc.topics and tm.partitions:
                    self._acc.set_partitions(name, len(tm.partitions))
        except LogdError as exc:  # brokers down: the next round tries again after backoff
            _log.debug("metadata refresh failed: %s", exc)
        finally:
            self._refresh_task = None
            self.wakeup()

    def _deliver(self, batch: ProducerBatch) -> None:
        self._acc.complete(batch)
        self._on_delivered(batch)
        batch.release()
        if not self._acc.has_incomplete:
            self.idle.set()
            if self.on_idle is not None:
                self.on_idle()

    def _fail(self, batch: ProducerBatch, error: LogdError, *, definite: bool = False) -> None:
        """``definite``: the broker refused the batch (it is not in the log); otherwise it
        was given up on (it may be)."""
        if self._identity is not None:
            self._identity.failed(batch, definite=definite)
        batch.error = error
        self._deliver(batch)

    # -- flush and close -------------------------------------------------------------------

    async def flush(self) -> None:
        """Send everything now and wait until every record is delivered or failed."""
        self._acc.begin_flush()
        try:
            self.wakeup()
            while self._acc.has_incomplete:
                self.idle.clear()
                if not self._acc.has_incomplete:
                    break
                await self.idle.wait()
        finally:
            self._acc.end_flush()

    async def close(self, error: LogdError) -> None:
        """Stop: fail what is still undelivered with ``error``, then end the task."""
        self._stopping = True
        self._closed_with = error
        self._acc.close(InvalidRequestError("the producer is closed"))
        for batch in self._acc.abandon():
            self._fail(batch, error)
        for conn in self._pool.connections():
            conn.close_produce_stream(error)
        self.wakeup()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in (self._refresh_task, self._id_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def _expired(batch: ProducerBatch, timeout_ms: int, last: LogdError | None = None) -> LogdError:
    cause = last or batch.last_error
    why = f"; last error: {cause}" if cause is not None else ""
    return RequestTimedOutError(
        f"{len(batch.values)} records for {batch.topic}-{batch.partition} not delivered "
        f"within {timeout_ms} ms (delivery.timeout.ms) after {batch.attempts} attempts{why}"
    )
