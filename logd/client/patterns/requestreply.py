"""Request/reply over topics (the point-to-point request/reply model of DESIGN.md's primer).

A **requester** sends a request record to a service's topic with two headers —
``reply-to`` (its own reply topic) and ``correlation-id`` (unique per request) — and waits
for the record on its reply topic that carries the same ``correlation-id``. A
**responder** reads the service topic in a consumer group (so several responders share the
requests, each served once), calls a handler with each request, and produces the handler's
answer to the request's ``reply-to`` with its ``correlation-id``. A handler that raises is
answered with an ``error`` header instead, which the requester raises as
:class:`~logd.errors.UnknownServerError` naming the responder's message.

* The reply topic is one per requester: given, or created on demand (``replies-<id>``, one
  partition, an hour of retention) and deleted at ``close()``.
* Many requests may be in flight at once; each waits at most its ``timeout`` and then
  raises :class:`~logd.errors.RequestTimedOutError`. A reply that arrives after its
  request gave up — or that answers no request of ours — is dropped (``late_replies``).
* Requests are produced with the requester's producer: idempotent, acks=all, so a
  request is stored once even if its acknowledgement was lost; a request the broker could
  not take fails its ``request()`` with that error.

:class:`AsyncRequester` / :class:`AsyncResponder` run on the caller's event loop;
:class:`Requester` (thread-safe: ``request()`` from any number of threads) runs an
AsyncRequester on the client's shared loop thread; :class:`Responder` serves on the
caller's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

from logd.client.aio.admin import AsyncAdmin
from logd.client.aio.consumer import AsyncConsumer
from logd.client.aio.producer import AsyncProducer
from logd.client.sync.consumer import Consumer
from logd.client.sync.loop_thread import shared_loop
from logd.client.sync.producer import Producer
from logd.client.types import OFFSET_BEGINNING, OFFSET_END, ConsumerRecord, NewTopic, TopicPartition
from logd.errors import InvalidRequestError, LogdError, RequestTimedOutError, UnknownServerError
from logd.records.record import Header

__all__ = [
    "CORRELATION_ID",
    "ERROR",
    "REPLY_TO",
    "AsyncRequester",
    "AsyncResponder",
    "Requester",
    "Responder",
    "header",
]

_log = logging.getLogger(__name__)

REPLY_TO: Final = "reply-to"
CORRELATION_ID: Final = "correlation-id"
ERROR: Final = "error"
#: How long a reply topic created on demand keeps its records.
_REPLY_RETENTION_MS: Final = 3_600_000

Value = bytes | str | None
Handler = Callable[[ConsumerRecord], Value]
AsyncHandler = Callable[[ConsumerRecord], Value | Awaitable[Value]]


def header(record: ConsumerRecord, name: str) -> bytes | None:
    """The value of ``record``'s last header called ``name`` (None when absent)."""
    found = None
    for key, value in record.headers:
        if key == name:
            found = value
    return found


def _request_headers(headers: Sequence[Header], reply_to: str, cid: str) -> list[Header]:
    return [*headers, (REPLY_TO, reply_to.encode()), (CORRELATION_ID, cid.encode())]


def _reply_for(record: ConsumerRecord) -> tuple[str, bytes] | None:
    """(reply topic, correlation id) of a request; None for a record that is not one."""
    reply_to, cid = header(record, REPLY_TO), header(record, CORRELATION_ID)
    if not reply_to or cid is None:
        return None
    try:
        return reply_to.decode(), cid
    except UnicodeDecodeError:
        return None


def _checked(reply: ConsumerRecord, topic: str) -> ConsumerRecord:
    error = header(reply, ERROR)
    if error is not None:
        raise UnknownServerError(
            f"the responder on {topic!r} failed: {error.decode(errors='replace')}"
        )
    return reply


class AsyncRequester:
    """Sends requests and awaits their replies; ``async with AsyncRequester(...)``.
    Loop-owned."""

    def __init__(
        self,
        brokers: str | Sequence[str],
        *,
        reply_topic: str | None = None,
        producer_config: Mapping[str, Any] | None = None,
    ) -> None:
        self._brokers = brokers
        self._created = reply_topic is None
        self.reply_topic = reply_topic or f"replies-{uuid.uuid4().hex}"
        self._producer = AsyncProducer(producer_config, brokers=brokers, linger_ms=0)
        self._consumer = AsyncConsumer(brokers=brokers, fetch_max_wait_ms=100)
        self._pending: dict[bytes, asyncio.Future[ConsumerRecord]] = {}
        self._reader: asyncio.Task[None] | None = None
        #: Replies that came after their request gave up, or answer no request of ours.
        self.late_replies = 0

    async def start(self) -> None:
        """Create the reply topic (when none was given), connect, start reading replies."""
        if self._created:
            async with AsyncAdmin(brokers=self._brokers) as admin:
                await admin.create_topics(
                    [NewTopic(self.reply_topic, 1, -1, {"retention.ms": str(_REPLY_RETENTION_MS)})]
                )
        await self._producer.start()
        await self._consumer.start()
        meta = await self._consumer.core.metadata.topic(self.reply_topic)
        start = OFFSET_BEGINNING if self._created else OFFSET_END
        tps = [TopicPartition(self.reply_topic, p.partition, start) for p in meta.partitions]
        self._consumer.assign(tps)
        for tp in tps:  # pinned now: a reply produced from here on is read
            await self._consumer.position(tp)
        self._reader = asyncio.create_task(self._read(), name=f"replies {self.reply_topic}")

    async def _read(self) -> None:
        async for reply in self._consumer:
            cid = header(reply, CORRELATION_ID)
            waiter = self._pending.pop(cid, None) if cid is not None else None
            if waiter is None or waiter.done():
                self.late_replies += 1
                continue
            waiter.set_result(reply)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def request(
        self,
        topic: str,
        value: Value,
        *,
        key: bytes | str | None = None,
        headers: Sequence[Header] = (),
        partition: int | None = None,
        timeout: float = 30.0,
    ) -> ConsumerRecord:
        """Send ``value`` to ``topic`` and return the reply record; RequestTimedOutError
        after ``timeout`` seconds, UnknownServerError when the handler failed, the
        producer's error when the request could not be stored."""
        if self._reader is None:
            raise InvalidRequestError("the requester is not started (use `async with`)")
        cid = uuid.uuid4().hex.encode()
        waiter: asyncio.Future[ConsumerRecord] = asyncio.get_running_loop().create_future()
        self._pending[cid] = waiter
        try:
            async with asyncio.timeout(timeout):
                sent = await self._producer.send(
                    topic, value, key, partition,
                    headers=_request_headers(headers, self.reply_topic, cid.decode()),
                )  # fmt: skip
                sent.add_done_callback(_retrieve)
                await asyncio.wait((waiter, sent), return_when=asyncio.FIRST_COMPLETED)
                if not waiter.done() and sent.exception() is not None:
                    raise sent.exception()  # type: ignore[misc]
                reply = await waiter
        except TimeoutError:
            raise RequestTimedOutError(
                f"no reply from {topic!r} within {timeout:g}s (correlation id {cid.decode()})"
            ) from None
        finally:
            self._pending.pop(cid, None)
        return _checked(reply, topic)

    async def close(self) -> None:
        """Stop reading, fail what waits, delete a reply topic created on demand."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(InvalidRequestError("the requester was closed"))
        await self._consumer.stop()
        await self._producer.stop()
        if self._created:
            with contextlib.suppress(LogdError):
                async with AsyncAdmin(brokers=self._brokers) as admin:
                    await admin.delete_topics([self.reply_topic])

    async def __aenter__(self) -> AsyncRequester:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # seen: a failure after the reply came is no news


class Requester:
    """The sync requester: an :class:`AsyncRequester` on the client's loop thread.
    Thread-safe: ``request()`` may be called from many threads at once."""

    def __init__(
        self,
        brokers: str | Sequence[str],
        *,
        reply_topic: str | None = None,
        producer_config: Mapping[str, Any] | None = None,
    ) -> None:
        self._thread = shared_loop()

        async def open_() -> AsyncRequester:
            inner = AsyncRequester(
                brokers, reply_topic=reply_topic, producer_config=producer_config
            )
            await inner.start()
            return inner

        self._inner = self._thread.run(open_())

    @property
    def reply_topic(self) -> str:
        return self._inner.reply_topic

    @property
    def late_replies(self) -> int:
        return self._inner.late_replies

    def request(
        self,
        topic: str,
        value: Value,
        *,
        key: bytes | str | None = None,
        headers: Sequence[Header] = (),
        partition: int | None = None,
        timeout: float = 30.0,
    ) -> ConsumerRecord:
        """As :meth:`AsyncRequester.request`, blocking the calling thread."""
        call = self._inner.request(
            topic, value, key=key, headers=headers, partition=partition, timeout=timeout
        )
        return self._thread.run(call)

    def close(self) -> None:
        self._thread.run(self._inner.close())

    def __enter__(self) -> Requester:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _reply_headers(cid: bytes, error: BaseException | None) -> list[Header]:
    out: list[Header] = [(CORRELATION_ID, cid)]
    if error is not None:
        out.append((ERROR, f"{type(error).__name__}: {error}".encode()))
    return out


class AsyncResponder:
    """Serves ``topic`` with ``handler`` (a function or a coroutine function) in the
    consumer group ``group_id``. Loop-owned; ``async with`` it and ``await serve()``."""

    def __init__(
        self,
        brokers: str | Sequence[str],
        topic: str,
        handler: AsyncHandler,
        *,
        group_id: str | None = None,
        consumer_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.topic = topic
        self._handler = handler
        self._producer = AsyncProducer(brokers=brokers, linger_ms=0)
        self._consumer = AsyncConsumer(
            consumer_config, brokers=brokers, group_id=group_id or f"responders-{topic}",
            auto_offset_reset="earliest",
        )  # fmt: skip
        #: Requests answered, and records skipped for want of reply-to / correlation-id.
        self.served = 0
        self.skipped = 0

    async def start(self) -> None:
        await self._producer.start()
        await self._consumer.start()
        await self._consumer.subscribe([self.topic])

    async def serve(self, count: int | None = None) -> int:
        """Answer requests until cancelled (or ``count`` more were answered)."""
        goal = None if count is None else self.served + count
        async for record in self._consumer:
            await self._answer(record)
            if goal is not None and self.served >= goal:
                break
        return self.served

    async def _answer(self, record: ConsumerRecord) -> None:
        target = _reply_for(record)
        if target is None:
            self.skipped += 1
            return
        reply_to, cid = target
        value: Value = None
        error: BaseException | None = None
        try:
            result = self._handler(record)
            value = await result if inspect.isawaitable(result) else result
        except Exception as exc:  # the handler's failure goes back to the requester
            error = exc
        sent = await self._producer.send(reply_to, value, headers=_reply_headers(cid, error))
        sent.add_done_callback(_retrieve)
        self.served += 1

    async def close(self) -> None:
        await self._consumer.stop()
        await self._producer.stop()

    async def __aenter__(self) -> AsyncResponder:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class Responder:
    """The sync responder: serves ``topic`` with ``handler`` on the calling thread.
    ``serve()`` runs until ``close()`` (from another thread) or ``count`` answers."""

    def __init__(
        self,
        brokers: str | Sequence[str],
        topic: str,
        handler: Handler,
        *,
        group_id: str | None = None,
        consumer_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.topic = topic
        self._handler = handler
        self._producer = Producer(brokers=brokers, linger_ms=0)
        self._consumer = Consumer(
            consumer_config, brokers=brokers, group_id=group_id or f"responders-{topic}",
            auto_offset_reset="earliest",
        )  # fmt: skip
        self._consumer.subscribe([topic])
        self._stop = threading.Event()
        self._serving = threading.Lock()
        self.served = 0
        self.skipped = 0

    def serve(self, count: int | None = None, poll_timeout: float = 0.2) -> int:
        """Answer requests until :meth:`stop`/:meth:`close` (or ``count`` more answers)."""
        goal = None if count is None else self.served + count
        with self._serving:
            while not self._stop.is_set() and (goal is None or self.served < goal):
                for record in self._consumer.consume(100, poll_timeout):
                    self._answer(record)
                self._producer.poll(0)
            self._producer.flush(30)
        return self.served

    def _answer(self, record: ConsumerRecord) -> None:
        target = _reply_for(record)
        if target is None:
            self.skipped += 1
            return
        reply_to, cid = target
        value: Value = None
        error: BaseException | None = None
        try:
            value = self._handler(record)
        except Exception as exc:  # the handler's failure goes back to the requester
            error = exc
        self._producer.produce(reply_to, value, headers=_reply_headers(cid, error))
        self.served += 1

    def stop(self) -> None:
        """Make ``serve()`` return after the current poll (thread-safe)."""
        self._stop.set()

    def close(self) -> None:
        """Stop serving (waiting for a ``serve()`` in another thread to return), then
        leave the group and flush the replies."""
        self._stop.set()
        with self._serving:
            self._consumer.close()
            self._producer.close(30)

    def __enter__(self) -> Responder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
