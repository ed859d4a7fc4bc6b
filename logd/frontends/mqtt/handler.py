"""One MQTT client connection on the event loop: an ``asyncio.Protocol`` (no task of its
own while idle: an idle device costs its protocol objects and socket buffers, nothing
more) that feeds bytes to the sans-I/O :class:`~.connection.MqttConnection` and carries
out the events it hands back through the front end's parts.

* CONNECT: refuse when draining or full, take over a connection of the same client here,
  set the session up (:mod:`.sessions`), CONNACK, then read what the client sent meanwhile.
* PUBLISH: the rules map it (:class:`~.rules.RuleSet`), the payload limit of its rule is
  checked, and :class:`~.ingest.Ingest` stores it; a retained one also goes to
  ``__mqtt_retained``. QoS 1 is answered (PUBACK) once committed, QoS 2 (PUBREC) likewise.
* SUBSCRIBE / UNSUBSCRIBE: one at a time per connection, in order; SUBACK after the
  session's new subscriptions are durable; retained messages follow.
* the end (DISCONNECT, a lost socket, a protocol error, keep-alive, take-over, shutdown):
  the will, then the session's last state (:meth:`SessionKeeper.ended`).

Errors are answered at one boundary, :meth:`MqttHandler._fail`: an ``MqttError`` becomes
the CONNACK or DISCONNECT reason (or a bare close for 3.1.1), then the socket closes.
Back-pressure: reading pauses while the broker's ingest is congested, and while the device is
muted by a client quota (``throttle_ms`` of the seam's security half); a subscriber whose
socket buffer passes the mark stops being fed until it drains (:class:`~.delivery.Outlet`).

Ownership: created by the front end's server for each accepted socket; the loop's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, cast

from logd.errors import LogdError
from logd.frontends.mqtt.connection import (
    Answered,
    ConnectRequested,
    DeliveryAcked,
    DisconnectRequested,
    Event,
    MqttConnection,
    PublishReceived,
    ReleaseRequested,
    SubscribeRequested,
    UnsubscribeRequested,
)
from logd.frontends.mqtt.errors import MqttError, protocol_error
from logd.frontends.mqtt.framer import NEED_DATA
from logd.frontends.mqtt.packets import MQTT_5, Publish, SubAck, UnsubAck, Will
from logd.frontends.mqtt.reasons import ReasonCode
from logd.frontends.mqtt.state import ConnState

if TYPE_CHECKING:
    from logd.frontends.mqtt.server import MqttServer
    from logd.frontends.mqtt.sessions import LiveSession

__all__ = ["MqttHandler"]

_log = logging.getLogger(__name__)
#: The listener's name in the telemetry's labels (``logd_kafka_request_*{listener="mqtt"}``).
LISTENER = "mqtt"
_ACK_BYTES = 4  # a PUBACK/PUBREC without reason string: what a QoS 1/2 PUBLISH is answered


class MqttHandler(asyncio.Protocol):
    """See the module docstring. Slotted, with what only a busy connection needs made on
    first use (an idle device costs a few hundred bytes of Python objects)."""

    __slots__ = (
        "_arrived", "_clean_end", "_closing", "_control", "_drained", "_flush_due", "_tasks",
        "_will", "_writable", "address", "certificate", "conn", "opened", "partial_since",
        "server", "session", "transport",
    )  # fmt: skip

    def __init__(self, server: MqttServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.conn = MqttConnection(server.settings.limits, server.rng, time.monotonic())
        self.opened = time.monotonic()
        #: Since when a packet is partly received (None: none is): a packet must be whole
        #: within ``mqtt.packet.timeout.ms`` (a client at 2 bytes a second is cut off).
        self.partial_since: float | None = None
        self.address = ""
        #: The client certificate TLS verified (DER), if the client showed one.
        self.certificate: bytes | None = None
        self.session: LiveSession | None = None
        self._writable = True
        self._drained: asyncio.Event | None = None
        self._control: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task[Any]] | None = None
        self._closing = False
        self._flush_due = False
        self._will: Will | None = None
        self._clean_end = False  # DISCONNECT 0x00: no will
        # QoS 1/2 PUBLISHes not yet answered: packet id -> (arrival, bytes), for the metrics.
        self._arrived: dict[int, tuple[float, int]] | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        self.address = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else ""
        tls = transport.get_extra_info("ssl_object")
        if tls is not None:
            self.certificate = tls.getpeercert(binary_form=True)
        self.transport.set_write_buffer_limits(high=self.server.settings.write_buffer_bytes)
        self.server.opened(self)

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        self.pump()
        if not self.conn.buffered:
            self.partial_since = None
        elif self.partial_since is None:
            self.partial_since = time.monotonic()

    def eof_received(self) -> bool:
        return False  # half-closed by the client: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if self.conn.state is not ConnState.CLOSED:
            self.conn.lost()
        for task in self._tasks or ():
            task.cancel()
        self.server.closed(self)
        self.server.spawn(self._ended())

    def pause_writing(self) -> None:
        self._writable = False

    def resume_writing(self) -> None:
        self._writable = True
        if self._drained is not None:
            self._drained.set()

    # -- reading ----------------------------------------------------------------------------

    def pump(self) -> None:
        """Hand every whole packet received to its handler, then write what is due."""
        if self._closing:
            return
        started = time.perf_counter()  # the arrival of every packet of this read
        try:
            while True:
                event = self.conn.next_event(time.monotonic())
                if event is NEED_DATA:
                    break
                self._dispatch(event, started, self.conn.last_size)
        except MqttError as exc:
            self._fail(exc)
            return
        self.flush()
        ingest = self.server.ingest
        if self.transport is None:
            return
        if ingest.congested:
            self.transport.pause_reading()
            ingest.when_uncongested(self._resume_reading)
        elif self.session is not None:
            # A device over its quota (the seam recorded what it produced) is muted: its
            # socket is not read for that long, as the Kafka listener holds a connection.
            wait_ms = self.server.access.seam.security.throttle_ms(self.session.caller)
            if wait_ms > 0:
                self.transport.pause_reading()
                asyncio.get_running_loop().call_later(wait_ms / 1000.0, self._resume_reading)

    def _resume_reading(self) -> None:
        if self.transport is not None and not self._closing:
            self.transport.resume_reading()

    def _dispatch(self, event: Event, started: float, size: int) -> None:
        """Act on one packet; each is reported to the telemetry once, when answered (a
        QoS 1/2 PUBLISH: at its PUBACK/PUBREC, after the commit)."""
        if isinstance(event, PublishReceived):
            publish = event.publish
            if publish.qos:
                if self._arrived is None:
                    self._arrived = {}
                self._arrived[publish.packet_id] = (started, size)
                self.server.publisher.publish(self, publish, event.topic)
            else:
                self.server.publisher.publish(self, publish, event.topic)
                self._report("PUBLISH", started, size)
        elif isinstance(event, DeliveryAcked):
            if self.session is not None:
                self.session.delivery.acked(event.packet_id)
            self._report(event.kind, started, size, error=event.reason.is_error)
        elif isinstance(event, Answered):
            self._report(event.kind, started, size)
        elif isinstance(event, ConnectRequested):
            self._will = event.connect.will
            self._spawn(self._connect(event, started, size))
        elif isinstance(event, SubscribeRequested | UnsubscribeRequested):
            self._spawn(self._in_order(self._subscription(event, started, size)))
        elif isinstance(event, ReleaseRequested):
            self._spawn(self._release(event.packet_id, started, size))
        elif isinstance(event, DisconnectRequested):
            self._report("DISCONNECT", started, size)
            self._disconnected(event)

    def _report(
        self, kind: str, started: float, size: int, out: int = 0, *, error: bool = False
    ) -> None:
        """One packet answered: the broker's request figures (listener ``mqtt``, the
        packet type as the request), as every front end reports its requests."""
        self.server.telemetry.request(LISTENER, kind, started, size, out, error=error)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(self._guarded(coro))
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        # The set goes once empty: an idle device keeps none (its CONNECT's is done).
        if self._tasks is not None:
            self._tasks.discard(task)
            if not self._tasks:
                self._tasks = None

    async def _guarded(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except MqttError as exc:
            self._fail(exc)
        except LogdError as exc:
            _log.info("mqtt %s: %s", self.conn.client_id or self.address, exc)
            # Before CONNACK: "Server unavailable" (3.1.1's return code 3 too): try again.
            connecting = self.conn.state is ConnState.CONNECTING
            reason = ReasonCode.SERVER_UNAVAILABLE if connecting else ReasonCode.UNSPECIFIED_ERROR
            self._fail(MqttError(reason, str(exc)))

    async def _in_order(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._control is None:
            self._control = asyncio.Lock()
        async with self._control:
            await coro

    # -- writing ----------------------------------------------------------------------------

    def flush(self) -> int:
        """Write what the connection has to send; its size."""
        data = self.conn.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
        return len(data)

    @property
    def window(self) -> int:
        return self.conn.window if not self._closing else 0

    @property
    def writable(self) -> bool:
        return self._writable and not self._closing

    async def until_writable(self) -> None:
        if self._drained is None:
            self._drained = asyncio.Event()
        self._drained.clear()
        if not self._writable:
            await self._drained.wait()

    def send_publish(self, publish: Publish) -> int | None:
        packet_id = self.conn.send_publish(publish)
        self.flush()
        return packet_id

    def stored(self, packet_id: int, qos: int, reason: ReasonCode, message: str = "") -> None:
        """Ingest's answer for a QoS 1/2 PUBLISH of this connection. The acknowledgements
        of one commit go out in one write (at the end of this turn of the loop)."""
        if self._closing:
            return
        arrived = self._arrived.pop(packet_id, None) if self._arrived else None
        if arrived is not None:
            self._report("PUBLISH", *arrived, _ACK_BYTES, error=reason.is_error)
        try:
            self.conn.stored(packet_id, qos, reason, message)
        except MqttError as exc:  # a refusal a 3.1.1 client cannot be told
            self._fail(exc)
            return
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._deferred_flush)

    def _deferred_flush(self) -> None:
        self._flush_due = False
        self.flush()

    # -- the steps that wait ----------------------------------------------------------------

    async def _connect(self, event: ConnectRequested, started: float, size: int) -> None:
        server = self.server
        refusal = server.admission(self)
        if refusal is not None:
            self.conn.refuse(refusal, "the server refuses new connections now")
            self._report("CONNECT", started, size, self.flush(), error=True)
            self._close()
            return
        accepted = False
        try:
            caller = await server.authenticate(self, event)
            await server.claim(self, event.client_id)
            session = await server.sessions.open(self, event, caller)
            accepted = True
        finally:
            if not accepted:  # refused (the caller's _guarded writes why)
                self._report("CONNECT", started, size, error=True)
        self.session = session
        self.conn.accept(session.present, session.qos2_received())
        self._report("CONNECT", started, size, self.flush())
        session.start(self)
        self.pump()  # what the client sent before CONNACK

    async def _subscription(
        self, event: SubscribeRequested | UnsubscribeRequested, started: float, size: int
    ) -> None:
        session = self.session
        assert session is not None
        if isinstance(event, SubscribeRequested):
            reasons = await session.subscribe(event.subscribe)
            self.conn.send(SubAck(event.subscribe.packet_id, tuple(reasons)))
            refused = all(r.is_error for r in reasons)
            self._report("SUBSCRIBE", started, size, self.flush(), error=refused)
            session.send_retained(event.subscribe, reasons)
        else:
            reasons = await session.unsubscribe(event.unsubscribe)
            unsuback = UnsubAck(event.unsubscribe.packet_id, tuple(reasons))
            self.conn.send(
                unsuback if self.conn.version == MQTT_5 else UnsubAck(unsuback.packet_id)
            )
            self._report("UNSUBSCRIBE", started, size, self.flush())

    async def _release(self, packet_id: int, started: float, size: int) -> None:
        session = self.session
        assert session is not None
        await session.released(packet_id)
        if not self._closing:
            self.conn.released(packet_id)
            self._report("PUBREL", started, size, self.flush())

    def _disconnected(self, event: DisconnectRequested) -> None:
        """The client's DISCONNECT: 0x04 keeps the will, anything else drops it."""
        disconnect = event.disconnect
        expiry = disconnect.properties.session_expiry_interval
        if self.session is not None and expiry is not None:
            if self.session.expiry == 0 and expiry != 0:
                # [MQTT-3.14.2-2]: a session that was to end cannot be made to last now.
                self._fail(protocol_error("DISCONNECT: session expiry set after 0 at CONNECT"))
                return
            self.session.expiry = expiry
        self._clean_end = disconnect.reason != ReasonCode.DISCONNECT_WITH_WILL
        self._close()

    # -- the end ----------------------------------------------------------------------------

    def _fail(self, error: MqttError) -> None:
        """The one boundary where an MqttError becomes what the client is told."""
        if self._closing:
            return
        _log.debug("mqtt %s: %s", self.conn.client_id or self.address, error)
        self.server.stats.refused += 1
        if self.conn.state is not ConnState.CLOSED:
            self.conn.fail(error)
        self.flush()
        self._close()

    def disconnect(self, reason: ReasonCode, message: str = "") -> None:
        """The server ends the connection (take-over, keep-alive, shutdown)."""
        if self._closing:
            return
        if self.conn.state is not ConnState.CLOSED:
            self.conn.disconnect(reason, message)
        self.flush()
        self._close()

    def _close(self) -> None:
        if self.transport is not None and not self._closing:
            self._closing = True
            self.transport.close()

    async def _ended(self) -> None:
        """After the socket closed: the will, then the session's last state."""
        will = None if self._clean_end else self._will
        session, self.session = self.session, None
        if session is not None:
            with contextlib.suppress(LogdError):
                await session.ended(will)
        elif will is not None and self.conn.client_id:
            pass  # never connected: a will counts only for an accepted connection
