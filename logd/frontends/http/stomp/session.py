"""One STOMP 1.2 connection's protocol: CONNECT, SEND, SUBSCRIBE, UNSUBSCRIBE, ACK, NACK,
BEGIN, COMMIT, ABORT, DISCONNECT, on the seam. The socket, the heart-beat timers and the
frame parser are the route's (``route.py``); this class takes parsed frames and puts what
it answers into the connection's :class:`Outbox`.

- CONNECT (or STOMP): version 1.2 only; ``login``/``passcode`` authenticate as a logd user
  (without them: the WebSocket request's HTTP Basic credentials or client certificate, else
  anonymous, refused when authentication is required); ``heart-beat`` negotiated as the
  spec says against ``http.stomp.heartbeat.ms``.
- SEND to ``/topic/{t}``: the body is the value, the ``key`` header the key, ``x-partition``
  a partition; every other header but ``destination``, ``receipt``, ``transaction`` and
  ``content-length`` becomes a record header. The topic is created on first use when
  ``http.auto.create.topics`` is on, as on REST produce.
- SUBSCRIBE to ``/topic/{t}`` (``subscription.py``; ``x-offset``, ``x-group``,
  ``x-partition``; ``ack`` auto, client or client-individual).
- Transactions: SENDs and ACKs between BEGIN and COMMIT are held (at most
  ``_MAX_TRANSACTION_FRAMES``) and done at COMMIT, the SENDs of one topic as one batch per
  partition -- so they are appended together or not at all; ABORT drops them.

Receipts and order: every SEND and every frame with a ``receipt`` header takes its place in
one queue, answered in order by :meth:`answer_in_order`: a SEND's RECEIPT once its record is
committed (acks=all by default: ``http.producer.acks``), an ACK's once the group's offset is
committed. A refused SEND (the topic unknown, not authorized, too large) is an ERROR frame
naming its receipt, and the connection ends, as STOMP says an ERROR does. At most
``_MAX_IN_FLIGHT`` frames wait: then :meth:`handle` waits, and the route reads no more
(back-pressure on a fast sender).

Ownership: one connection, on the broker's event loop.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any, Final

from logd.broker.seam import Caller
from logd.errors import LogdError
from logd.frontends.http.context import HttpContext
from logd.frontends.http.producer import OutRecord, TopicProducer
from logd.frontends.http.stomp.acks import ACK_MODES, AckTracker
from logd.frontends.http.stomp.frames import Frame, encode
from logd.frontends.http.stomp.outbox import Outbox
from logd.frontends.http.stomp.start import parse_start
from logd.frontends.http.stomp.subscription import Subscription

__all__ = ["StompError", "StompSession"]

_MAX_IN_FLIGHT: Final = 1024
_MAX_TRANSACTION_FRAMES: Final = 10_000
_NOT_HEADERS: Final = frozenset({"destination", "receipt", "transaction", "content-length",
                                 "key", "x-partition"})  # fmt: skip
_TOPIC_PREFIX: Final = "/topic/"
_ids = itertools.count(1)


class StompError(Exception):
    """A frame the session cannot take: an ERROR frame, then the connection closes."""

    def __init__(self, message: str, frame: Frame | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.receipt = frame.get("receipt") if frame is not None else None
        self.detail = detail


def error_frame(message: str, receipt: str | None = None, detail: str = "") -> bytes:
    headers = [("message", message[:300])]
    if receipt is not None:
        headers.append(("receipt-id", receipt))
    headers.append(("content-type", "text/plain"))
    return encode("ERROR", headers, (detail or message).encode())


def _topic(frame: Frame) -> str:
    destination = frame.get("destination")
    if destination is None or not destination.startswith(_TOPIC_PREFIX):
        raise StompError(f"destination {destination!r}: expected /topic/<name>", frame)
    topic = destination[len(_TOPIC_PREFIX) :]
    if not topic:
        raise StompError("destination /topic/ names no topic", frame)
    return topic


def _partition(frame: Frame) -> int | None:
    raw = frame.get("x-partition")
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise StompError(f"x-partition {raw[:20]!r}: expected a partition number", frame)
    return int(raw)


def _heartbeat(raw: str | None) -> tuple[int, int]:
    if raw is None:
        return 0, 0
    parts = raw.split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() and len(p.strip()) <= 9 for p in parts):
        raise StompError(f"heart-beat {raw[:30]!r}: expected two numbers, cx,cy")
    return int(parts[0]), int(parts[1])


class StompSession:
    """See the module docstring."""

    def __init__(
        self,
        ctx: HttpContext,
        outbox: Outbox,
        default_caller: Callable[[], Awaitable[Caller]],
        password_caller: Callable[[str, str], Awaitable[Caller]],
    ) -> None:
        self._ctx = ctx
        self._settings = ctx.settings.stomp
        self._outbox = outbox
        self._default_caller = default_caller
        self._password_caller = password_caller
        self.caller: Caller | None = None
        #: (the server sends a heart-beat every, the client must send something every) ms
        self.heartbeat = (0, 0)
        self.ended = asyncio.Event()  # an ERROR or a DISCONNECT: the route closes
        self._subs: dict[str, Subscription] = {}
        self._sub_seq = itertools.count()
        self._transactions: dict[str, list[Frame]] = {}
        self._answers: asyncio.Queue[tuple[Frame, Awaitable[Any] | None] | None] = asyncio.Queue(
            _MAX_IN_FLIGHT
        )

    # -- the connection's end -----------------------------------------------------------------

    def fail(self, message: str, receipt: str | None = None, detail: str = "") -> None:
        """ERROR frame (the last one), and the connection ends."""
        if not self.ended.is_set():
            self._outbox.put_now(error_frame(message, receipt, detail))
            self.ended.set()

    async def close(self) -> None:
        """The connection is gone: subscriptions stop (their last commits made)."""
        self.ended.set()
        subs, self._subs = list(self._subs.values()), {}
        await asyncio.gather(*(s.close() for s in subs), return_exceptions=True)

    async def answer_in_order(self) -> None:
        """The RECEIPTs (and a refused SEND's ERROR), in the order of the frames; ends at a
        DISCONNECT or the first failure (the route cancels it when the connection goes)."""
        while (item := await self._answers.get()) is not None:
            frame, work = item
            receipt = frame.get("receipt")
            try:
                result = await work if work is not None else None
            except StompError as exc:
                self.fail(exc.message, receipt, exc.detail)
                return
            except LogdError as exc:
                self.fail(f"{frame.command} refused: {exc}", receipt)
                return
            if isinstance(result, LogdError):
                self.fail(f"{frame.command} refused: {result}", receipt)
                return
            if receipt is not None:
                self._outbox.put_now(encode("RECEIPT", [("receipt-id", receipt)]))
            if frame.command == "DISCONNECT":
                self.ended.set()
                return

    # -- frames -------------------------------------------------------------------------------

    async def handle(self, frame: Frame) -> None:
        """One frame from the client; StompError for one it cannot take."""
        command = frame.command
        if self.caller is None:
            if command not in ("CONNECT", "STOMP"):
                raise StompError(f"{command} before CONNECT", frame)
            await self._connect(frame)
            return
        handler = _HANDLERS.get(command)
        if handler is None:
            raise StompError(f"{command} is not a frame a client sends", frame)
        transaction = frame.get("transaction")
        if transaction is not None and command in ("SEND", "ACK", "NACK"):
            self._hold(transaction, frame)
            if frame.get("receipt") is not None:
                await self._answers.put((frame, None))
            return
        await handler(self, frame)

    async def _connect(self, frame: Frame) -> None:
        versions = (frame.get("accept-version") or "1.0").split(",")
        if "1.2" not in [v.strip() for v in versions]:
            raise StompError("this server speaks STOMP 1.2 only", frame,
                             "Supported protocol versions are 1.2")  # fmt: skip
        cx, cy = _heartbeat(frame.get("heart-beat"))
        login = frame.get("login")
        try:
            if login is not None:
                self.caller = await self._password_caller(login, frame.get("passcode") or "")
            else:
                self.caller = await self._default_caller()
        except LogdError as exc:
            raise StompError(f"authentication failed: {exc}", frame) from None
        ours = self._settings.heartbeat_ms
        self.heartbeat = (0 if not ours or not cy else max(ours, cy),
                          0 if not ours or not cx else max(ours, cx))  # fmt: skip
        self._outbox.put_now(encode("CONNECTED", [
            ("version", "1.2"), ("server", "logd"),
            ("session", f"logd-{next(_ids)}"), ("heart-beat", f"{ours},{ours}"),
        ]))  # fmt: skip

    async def _send(self, frame: Frame) -> None:
        await self._answers.put((frame, await self._submit(_topic(frame), [frame])))

    async def _submit(self, topic: str, frames: list[Frame]) -> asyncio.Task[LogdError | None]:
        """Appends the SENDs' records now, together (one batch per partition); the task of
        their first error, if any, once committed."""
        assert self.caller is not None
        producer = self._ctx.producer
        records = []
        for frame in frames:
            headers = tuple((k, v.encode()) for k, v in frame.headers if k not in _NOT_HEADERS)
            key = frame.get("key")
            records.append(OutRecord(None if key is None else key.encode(), frame.body,
                                     headers, _partition(frame)))  # fmt: skip
        try:
            count = await producer.partitions(topic, self.caller)
        except LogdError as exc:
            raise StompError(f"SEND to {topic} refused: {exc}", frames[-1]) from None
        submitted = producer.submit(topic, count, records, self.caller)
        return asyncio.get_running_loop().create_task(_first_failure(producer, submitted))

    async def _subscribe(self, frame: Frame) -> None:
        assert self.caller is not None
        sub_id = frame.get("id")
        if sub_id is None:
            raise StompError("SUBSCRIBE without an id", frame)
        if sub_id in self._subs:
            raise StompError(f"subscription {sub_id!r} exists already", frame)
        if len(self._subs) >= self._settings.max_subscriptions:
            raise StompError(f"more than {self._settings.max_subscriptions} subscriptions",
                             frame)  # fmt: skip
        topic = _topic(frame)
        mode = frame.get("ack", "auto") or "auto"
        if mode not in ACK_MODES:
            raise StompError(f"ack {mode!r}: expected one of {', '.join(ACK_MODES)}", frame)
        try:
            start = parse_start(frame.get("x-offset", frame.get("x-stream-offset")))
        except ValueError as exc:
            raise StompError(str(exc), frame) from None
        partitions = await self._partitions(topic, _partition(frame), frame)
        sub = Subscription(
            sub_id=sub_id, prefix=f"{next(self._sub_seq)}.", topic=topic, partitions=partitions,
            tracker=AckTracker(mode), group=frame.get("x-group"), start=start,
            max_unacked=self._settings.max_unacked, seam=self._ctx.seam, caller=self.caller,
            outbox=self._outbox, on_fatal=self.fail,
        )  # fmt: skip
        self._subs[sub_id] = sub
        sub.start()
        await self._receipt(frame)

    async def _partitions(self, topic: str, only: int | None, frame: Frame) -> list[int]:
        assert self.caller is not None
        meta = (await self._ctx.seam.metadata([topic], caller=self.caller)).topics[0]
        if meta.error is not None:
            raise StompError(f"SUBSCRIBE to {topic}: {meta.error}", frame)
        count = len(meta.partitions)
        if only is not None:
            if only >= count:
                raise StompError(f"{topic} has no partition {only} (it has {count})", frame)
            return [only]
        return list(range(count))

    async def _unsubscribe(self, frame: Frame) -> None:
        sub = self._subs.pop(frame.get("id") or "", None)
        if sub is None:
            raise StompError(f"no subscription {frame.get('id')!r}", frame)
        await sub.close()
        await self._receipt(frame)

    async def _ack(self, frame: Frame) -> None:
        ack_id = frame.get("id")
        prefix = (ack_id or "").partition(".")[0] + "."
        sub = next((s for s in self._subs.values() if s.prefix == prefix), None)
        if ack_id is None or sub is None or not sub.ack(ack_id, positive=frame.command == "ACK"):
            raise StompError(f"{frame.command} of {ack_id!r}: no such message waits", frame)
        await self._answers.put((frame, sub.flush() if frame.get("receipt") else None))

    def _hold(self, transaction: str, frame: Frame) -> None:
        held = self._transactions.get(transaction)
        if held is None:
            raise StompError(f"no transaction {transaction!r}", frame)
        if len(held) >= _MAX_TRANSACTION_FRAMES:
            raise StompError(f"more than {_MAX_TRANSACTION_FRAMES} frames in a transaction", frame)
        held.append(frame)

    async def _begin(self, frame: Frame) -> None:
        name = frame.get("transaction")
        if name is None or name in self._transactions:
            raise StompError(f"BEGIN of transaction {name!r}: missing or begun already", frame)
        self._transactions[name] = []
        await self._receipt(frame)

    async def _commit(self, frame: Frame) -> None:
        held = self._transactions.pop(frame.get("transaction") or "", None)
        if held is None:
            raise StompError(f"no transaction {frame.get('transaction')!r}", frame)
        by_topic: dict[str, list[Frame]] = {}
        for item in held:
            if item.command == "SEND":
                by_topic.setdefault(_topic(item), []).append(item)
            else:
                await self._ack(Frame(item.command, (("id", item.get("id") or ""),)))
        work = [await self._submit(topic, frames) for topic, frames in by_topic.items()]
        await self._answers.put((frame, _first_error(work)))

    async def _abort(self, frame: Frame) -> None:
        if self._transactions.pop(frame.get("transaction") or "", None) is None:
            raise StompError(f"no transaction {frame.get('transaction')!r}", frame)
        await self._receipt(frame)

    async def _disconnect(self, frame: Frame) -> None:
        await self._answers.put((frame, None))

    async def _receipt(self, frame: Frame) -> None:
        if frame.get("receipt") is not None:
            await self._answers.put((frame, None))


async def _first_failure(producer: TopicProducer, submitted: Any) -> LogdError | None:
    deliveries = await producer.deliveries(submitted)
    return next((d.error for d in deliveries if d.error is not None), None)


async def _first_error(work: list[asyncio.Task[LogdError | None]]) -> LogdError | None:
    results = await asyncio.gather(*work)
    return next((r for r in results if r is not None), None)


_HANDLERS: Final[dict[str, Callable[[StompSession, Frame], Awaitable[None]]]] = {
    "SEND": StompSession._send,
    "SUBSCRIBE": StompSession._subscribe,
    "UNSUBSCRIBE": StompSession._unsubscribe,
    "ACK": StompSession._ack,
    "NACK": StompSession._ack,
    "BEGIN": StompSession._begin,
    "COMMIT": StompSession._commit,
    "ABORT": StompSession._abort,
    "DISCONNECT": StompSession._disconnect,
}
