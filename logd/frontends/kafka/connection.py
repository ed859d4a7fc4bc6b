"""One Kafka client connection: frames in, handlers called, answers out in request order.

An ``asyncio.Protocol`` around the sans-I/O :class:`~logd.frontends.kafka.framing.
FrameDecoder`. Kafka's rules, and how they are kept:

* **Answers in request order** (clients match them by correlation id but Kafka promises the
  order, and librdkafka relies on it). Each request takes a slot in a queue; a slot's answer
  is written only when every earlier slot's was.
* **One request at a time, pipelining allowed.** Clients may send many requests without
  waiting; they are read ahead (up to ``read_ahead_bytes``) and handled one after the
  other, as Kafka's processor does. A *pipelined* handler (Produce) appends before it
  returns and only waits for the commit asynchronously, so the next request is handled at
  once and acks=all batches of one connection share fsyncs.
* **Bounded**: at most ``queued.max.requests`` answers outstanding; a client that does not
  read its answers fills our write buffer, which stops the handling, which stops the
  reading (transport flow control, as uvicorn's ``flow_control.py``).
* **Bad input closes the connection**, as Kafka does for a request it cannot parse: a size
  prefix above ``socket.request.max.bytes``, an unknown API key, a version outside the
  advertised range (except ApiVersions: KIP-511's v0 answer), bytes that are not the
  message (bytes *after* a whole request are ignored, as Kafka ignores them: librdkafka
  sends some). One log line, never a traceback.
* **acks=0**: no answer at all, or the connection closed on an error (Kafka's way to tell
  such a producer).
* **Idle**: closed after ``connections.max.idle.ms`` without a whole request while no
  answer is outstanding.
* **Metrics** (issue 20): each request is reported once to the seam's telemetry under its
  API's name, when its answer is written (or dropped: acks=0, a closed connection) -- its
  time from the whole frame read to then, the frame's bytes and the answer's; it counts as
  an error when its answer's top-level ``error_code`` is set or it closed the connection (a
  frame with no known API behind it counts under ``invalid``).

Ownership: owned by the event loop; every method runs on it.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import inspect
import logging
import struct
import time
import typing
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Final

from kio.index import load_request_schema, load_response_schema

from logd.errors import InvalidRequestError, LogdError
from logd.frontends.kafka.apis import Api, RequestContext, Silence
from logd.frontends.kafka.framing import NEED_DATA, FrameDecoder
from logd.frontends.kafka.handlers.api_versions import unsupported_version_body
from logd.frontends.kafka.header import (
    API_VERSIONS_KEY,
    RequestHeader,
    parse_request_header,
    response_is_flexible,
)
from logd.frontends.kafka.refusal import refusal_answer
from logd.frontends.kafka.sasl import UNAUTHENTICATED_FRAME_MAX, SaslState
from logd.frontends.kafka.schema_codec import SchemaDecodeError, decode, writer_for
from logd.frontends.kafka.schema_write import SplitBuffer

if TYPE_CHECKING:
    from logd.frontends.kafka.server_context import ServerContext

__all__ = ["LISTENER", "Connection"]

#: The listener's name in the telemetry's labels.
LISTENER: Final = "kafka"

_log = logging.getLogger(__name__)
_SIZE: Final = struct.Struct(">i")


class _Slot:
    """One request's place in the answer queue."""

    __slots__ = ("answer", "bytes_in", "done", "error", "future", "header", "name", "started")

    def __init__(self, header: RequestHeader, name: str, arrival: tuple[float, int]) -> None:
        self.header = header
        self.done = False
        self.answer: Any = None  # encoded bytes, a Silence, or a dict/kio answer
        self.future: asyncio.Future[Any] | None = None
        # What the telemetry is told once the answer is out (the module doc's "Metrics").
        self.name = name
        self.started, self.bytes_in = arrival
        self.error = False


class Connection(asyncio.Protocol):
    """See the module doc."""

    def __init__(self, server: ServerContext, registry: set[Connection]) -> None:
        self.server = server
        self._registry = registry
        settings = server.settings
        self._decoder = FrameDecoder(settings.socket_request_max_bytes)
        self._slots: collections.deque[_Slot] = collections.deque()
        self._serial: asyncio.Future[Any] | None = None  # the non-pipelined handler running
        self._transport: asyncio.Transport | None = None
        self._peer = "?"
        self._write_paused = False
        self._reading = True
        self._closing = False  # no new requests: draining, or an error waits for earlier answers
        self._loop = asyncio.get_event_loop()
        self._last_active = self._loop.time()
        self._idle_timer: asyncio.TimerHandle | None = None
        self.closed = self._loop.create_future()
        #: SASL (issue 15): until authenticated, only the SASL APIs and small frames.
        self.auth = SaslState(required=server.broker.security.sasl_enabled)
        if not self.auth.authenticated:
            self._decoder.max_frame_bytes = UNAUTHENTICATED_FRAME_MAX
        self._muted_until = 0.0
        #: The request being dispatched: its arrival (``time.perf_counter()``) and size.
        self._arrival = (0.0, 0)

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self._transport = typing.cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self._peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        if len(self._registry) >= self.server.settings.max_connections:
            _log.warning(
                "kafka: refusing %s: %d connections open (max.connections)",
                self._peer,
                len(self._registry),
            )
            self._transport.abort()
            return
        self._registry.add(self)
        self._arm_idle_timer()
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if der and not self.auth.required:  # mTLS without SASL: the certificate names it
            principal = self.server.broker.security.certificate_principal_now(der, "kafka")
            if principal is not None:
                self.auth.principal = principal

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self._decoder.feed(data)
        self._pump()

    def eof_received(self) -> bool:
        # The client will send nothing more: answer what it asked, then close.
        self.begin_close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._registry.discard(self)
        self._closing = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        for slot in self._slots:
            if slot.future is not None and not slot.future.done():
                slot.future.cancel()
        self._slots.clear()
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._pump()

    # -- closing --------------------------------------------------------------------------

    def begin_close(self) -> None:
        """Take no new requests; close once the answers in flight are written."""
        self._closing = True
        self._update_reading()
        self._close_if_flushed()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _close_if_flushed(self) -> None:
        if self._closing and not self._slots and self._transport is not None:
            self._transport.close()

    def _fail(self, why: str, header: RequestHeader | None = None) -> None:
        """A protocol violation: one line, and the connection closes (after the answers to
        earlier requests, which were fine)."""
        what = (
            f" (api {header.api_key} v{header.api_version}, correlation {header.correlation_id})"
            if header is not None
            else ""
        )
        _log.info("kafka: closing %s: %s%s", self._peer, why, what)
        api = self.server.apis.get(header.api_key) if header is not None else None
        self._report(api.name if api is not None else "invalid", self._arrival, 0, True)
        self._decoder = FrameDecoder(self.server.settings.socket_request_max_bytes)
        self.begin_close()

    # -- reading and dispatch -------------------------------------------------------------

    def _blocked(self) -> bool:
        return (
            self._closing
            or self._write_paused
            or self._muted_until > self._loop.time()
            or self._serial is not None
            or len(self._slots) >= self.server.settings.queued_max_requests
        )

    def _pump(self) -> None:
        """Handle every buffered request we may handle now."""
        while not self._blocked():
            try:
                frame = self._decoder.next_frame()
            except InvalidRequestError as exc:
                self._arrival = (time.perf_counter(), 0)
                self._fail(str(exc))
                return
            if frame is NEED_DATA:
                break
            self._dispatch(frame)
        self._update_reading()

    def _update_reading(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        want = not self._closing and (
            not self._blocked() or self._decoder.buffered < self.server.settings.read_ahead_bytes
        )
        if self._write_paused:
            want = False
        if want and not self._reading:
            transport.resume_reading()
        elif not want and self._reading:
            transport.pause_reading()
        self._reading = want

    def _dispatch(self, frame: bytes) -> None:
        self._last_active = self._loop.time()
        self._arrival = (time.perf_counter(), len(frame))
        try:
            header = parse_request_header(frame)
        except SchemaDecodeError as exc:
            self._fail(f"bad request header: {exc}")
            return
        api = self.server.apis.get(header.api_key)
        if api is None:
            self._fail(f"unknown API key {header.api_key}", header)
            return
        if not self.auth.allows(header.api_key):
            self._fail(f"{api.name} before SASL authentication ({self.auth.phase.value})", header)
            return
        if not api.min_version <= header.api_version <= api.max_version:
            if header.api_key == API_VERSIONS_KEY:
                self._answer_now(header, api.name, unsupported_version_body(self.server.apis))
            else:
                self._fail(
                    f"version {header.api_version} of {api.name} is not served "
                    f"({api.min_version}..{api.max_version})",
                    header,
                )
            return
        if api.served_from is not None and header.api_version < api.served_from:
            assert api.refuse is not None
            try:
                refusal = api.refuse(header, frame[header.body_offset :])
            except SchemaDecodeError as exc:
                self._fail(f"bad {api.name} request: {exc}", header)
                return
            if refusal is None:
                self._fail(f"{api.name} v{header.api_version} is not served", header)
            else:
                self._answer_now(header, api.name, refusal)
            return
        try:
            request = _decode_request(header, frame)
        except SchemaDecodeError as exc:
            _log.debug(
                "kafka: undecodable request body: %s", frame[header.body_offset :][:512].hex()
            )
            self._fail(f"bad {api.name} request: {exc}", header)
            return
        self._call(api, header, request)

    def _call(self, api: Api, header: RequestHeader, request: Any) -> None:
        ctx = RequestContext(header, self.server, self._peer, self.auth)
        slot = _Slot(header, api.name, self._arrival)
        try:
            result = api.handler(ctx, request)
        except (SchemaDecodeError, LogdError) as exc:
            refused = _refused(header, exc)
            if refused is None:
                self._fail(f"bad {api.name} request: {exc}", header)
                return
            result = refused
        except Exception:
            _log.exception("kafka: %s handler failed; closing %s", api.name, self._peer)
            self.begin_close()
            return
        self._slots.append(slot)
        if inspect.isawaitable(result):
            future = asyncio.ensure_future(self._answer(slot, result))
            slot.future = future
            if not api.pipelined:
                self._serial = future
        else:
            slot.answer = self._after(header, result)
            slot.done = True
            self._flush()

    def _after(self, header: RequestHeader, answer: Any) -> Any:
        """What follows a handled request: the SASL outcome (a full frame size once
        authenticated; closing after a failure) and the caller's quota throttle, carried in
        ``throttle_time`` and enforced by not reading the connection that long (KIP-219)."""
        if self.auth.authenticated:
            self._decoder.max_frame_bytes = self.server.settings.socket_request_max_bytes
        elif not self.auth.allows(header.api_key):  # failed: answer, then close
            self._closing = True
        caller = RequestContext(header, self.server, self._peer, self.auth).caller
        throttle_ms = self.server.broker.security.throttle_ms(caller)
        if throttle_ms > 0:
            if isinstance(answer, dict) and "throttle_time" in answer:
                answer["throttle_time"] = max(int(answer["throttle_time"] or 0), throttle_ms)
            self._muted_until = self._loop.time() + throttle_ms / 1000.0
            self._loop.call_later(throttle_ms / 1000.0 + 0.001, self._pump)
        return answer

    def _answer_now(self, header: RequestHeader, name: str, body: bytes) -> None:
        """An answer made before any handler (a version refused): an error answer."""
        slot = _Slot(header, name, self._arrival)
        slot.answer = _frame(header, body, flexible=False)
        slot.done = True
        slot.error = True
        self._slots.append(slot)
        self._flush()

    async def _answer(self, slot: _Slot, handled: Awaitable[Any]) -> None:
        """Await a handler, then write its answer in the same step of this task: a done
        callback would run one loop turn later, and a woken Fetch (or an acks=all Produce)
        would wait that turn (issue 22)."""
        outcome: asyncio.Future[Any] = self._loop.create_future()
        try:
            outcome.set_result(await handled)
        except Exception as exc:  # _on_done tells what it was
            outcome.set_exception(exc)
        if self._serial is slot.future:
            self._serial = None
        self._on_done(slot, outcome)

    def _on_done(self, slot: _Slot, future: asyncio.Future[Any]) -> None:
        if future is self._serial:
            self._serial = None
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            slot.answer = self._after(slot.header, future.result())
        elif (refused := _refused(slot.header, exc)) is not None:
            slot.answer = self._after(slot.header, refused)
        elif isinstance(exc, SchemaDecodeError | LogdError):
            # A request refused as a whole where the API has no way to say so.
            _log.info("kafka: closing %s: %s", self._peer, exc)
            slot.answer = Silence.CLOSE
        else:
            _log.error(
                "kafka: handler failed; closing %s", self._peer, exc_info=(type(exc), exc, None)
            )
            slot.answer = Silence.CLOSE
        slot.done = True
        self._flush()
        self._pump()

    # -- writing --------------------------------------------------------------------------

    def _flush(self) -> None:
        """Write every finished answer at the head of the queue, in order."""
        transport = self._transport
        slots = self._slots
        while slots and slots[0].done:
            slot = slots.popleft()
            answer = slot.answer
            if answer is Silence.NO_ANSWER:
                self._report(slot.name, (slot.started, slot.bytes_in), 0, False)
                continue
            if answer is Silence.CLOSE:
                self._report(slot.name, (slot.started, slot.bytes_in), 0, True)
                self._closing = True
                slots.clear()  # nothing after an error is answered: the connection goes
                break
            if not isinstance(answer, bytes | bytearray):
                slot.error = _has_error(answer)
                try:
                    answer = _encode_answer(slot.header, answer)
                except Exception:
                    _log.exception("kafka: cannot encode an answer; closing %s", self._peer)
                    self._report(slot.name, (slot.started, slot.bytes_in), 0, True)
                    self._closing = True
                    slots.clear()
                    break
            size = len(answer)
            if transport is not None and not transport.is_closing():
                if type(answer) is SplitBuffer and answer.blobs:
                    # A Fetch answer: its record batches go out as read, not copied.
                    size = answer.total()
                    transport.writelines(answer.pieces())
                else:
                    transport.write(answer)
            self._report(slot.name, (slot.started, slot.bytes_in), size, slot.error)
            self._last_active = self._loop.time()
        self._close_if_flushed()

    def _report(self, name: str, arrival: tuple[float, int], bytes_out: int, error: bool) -> None:
        started, bytes_in = arrival
        self.server.broker.telemetry.request(
            LISTENER, name, started, bytes_in, bytes_out, error=error
        )

    # -- idle connections -----------------------------------------------------------------

    def _arm_idle_timer(self) -> None:
        idle_s = self.server.settings.connections_max_idle_ms / 1000.0
        self._idle_timer = self._loop.call_later(idle_s / 4 + 0.001, self._check_idle)

    def _check_idle(self) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        idle_s = self.server.settings.connections_max_idle_ms / 1000.0
        if not self._slots and self._loop.time() - self._last_active >= idle_s:
            _log.info("kafka: closing %s: idle (connections.max.idle.ms)", self._peer)
            self._transport.close()
            return
        self._arm_idle_timer()


def _has_error(answer: Any) -> bool:
    """Whether an answer (a dict tree or a kio instance) carries a top-level error."""
    code = (
        answer.get("error_code") if isinstance(answer, dict) else getattr(answer, "error_code", 0)
    )
    return bool(code)


@functools.cache
def _request_class(api_key: int, api_version: int) -> type[Any]:
    return load_request_schema(api_key, api_version)


@functools.cache
def _response_class(api_key: int, api_version: int) -> type[Any]:
    return load_response_schema(api_key, api_version)


def _refused(header: RequestHeader, exc: BaseException) -> dict[str, Any] | None:
    """The answer to a request refused as a whole (an authorization or quota refusal
    escaping its handler), when its API has a top-level error code to say so; a request
    that is not understood (INVALID_REQUEST, bad bytes) still closes the connection."""
    if not isinstance(exc, LogdError) or isinstance(exc, InvalidRequestError):
        return None
    return refusal_answer(_response_class(header.api_key, header.api_version), exc)


def _decode_request(header: RequestHeader, frame: bytes) -> Any:
    cls = _request_class(header.api_key, header.api_version)
    request, end = decode(cls, frame, header.body_offset)
    if end != len(frame):
        # Kafka ignores bytes after a whole request, and librdkafka relies on it: its
        # "all topics" Metadata v9+ leaves 3 bytes of a 4-byte count placeholder behind.
        _log.debug("kafka: %d bytes after a %s request ignored", len(frame) - end, cls.__name__)
    return request


def _frame(header: RequestHeader, body: bytes | bytearray, flexible: bool) -> bytearray:
    out = bytearray(_SIZE.pack(len(body) + (5 if flexible else 4)))
    out += _SIZE.pack(header.correlation_id)
    if flexible:
        out.append(0)
    out += body
    return out


def _encode_answer(header: RequestHeader, answer: Any) -> SplitBuffer:
    """Size, response header, body in one buffer (one write, no join), but for large
    record blobs, which stay where they are (:class:`SplitBuffer`)."""
    flexible = response_is_flexible(header.api_key, header.api_version)
    cls = _response_class(header.api_key, header.api_version)
    out = SplitBuffer(9 if flexible else 8)
    _SIZE.pack_into(out, 4, header.correlation_id)
    writer_for(cls)(out, answer)
    _SIZE.pack_into(out, 0, out.total() - 4)
    return out
