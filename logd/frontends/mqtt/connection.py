"""One MQTT connection, sans-I/O (h11's ``Connection``, h2's ``data_to_send``): bytes in
through :meth:`MqttConnection.receive_data`, events out of :meth:`next_event` for what
needs the broker, bytes to write out of :meth:`data_to_send`.

Pure; time comes in as ``now`` (seconds, any monotonic origin) and randomness as a seeded
``random.Random`` (STYLE.md 5). What it does by itself: framing and decoding, the
connection table of :mod:`.state`, CONNECT's checks and defaults, keep-alive, 5.0 topic
aliases from the client, the Receive Maximum we offer (too many unacknowledged QoS 1/2
PUBLISHes is 0x93), PUBACKs in the order their PUBLISHes came (section 4.6), QoS 2
resends answered with PUBREC again, PINGRESP, and packet identifiers and windows for
what we send (the client's Receive Maximum and Maximum Packet Size). What it asks the
driver to do, as events: set up the session (:class:`ConnectRequested`), store a PUBLISH
(:class:`PublishReceived`), make a QoS 2 release durable (:class:`ReleaseRequested`),
subscribe and unsubscribe, note a delivery acknowledged (:class:`DeliveryAcked`), and the
client's DISCONNECT.

Owned by the connection's handler; not thread-safe; after an ``MqttError`` from
``next_event`` the connection is finished: :meth:`fail` gives the last bytes to write.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import NamedTuple

from logd.frontends.mqtt.codec import encode, encode_publish
from logd.frontends.mqtt.errors import MqttError, protocol_error
from logd.frontends.mqtt.framer import NEED_DATA, NeedData, PacketReader
from logd.frontends.mqtt.packets import (
    MQTT_5,
    Connack,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    UnsubAck,
    Unsubscribe,
)
from logd.frontends.mqtt.properties import NO_PROPERTIES, Properties
from logd.frontends.mqtt.reasons import ReasonCode, connack_v3
from logd.frontends.mqtt.state import (
    CONNECTION,
    INBOUND_QOS2,
    OUTBOUND,
    ConnEvent,
    ConnState,
    InboundQos2,
    Outbound,
    QosEvent,
    transition,
)

__all__ = [
    "Answered",
    "ConnectRequested",
    "ConnectionLimits",
    "DeliveryAcked",
    "DisconnectRequested",
    "Event",
    "MqttConnection",
    "PublishReceived",
    "ReleaseRequested",
    "SubscribeRequested",
    "UnsubscribeRequested",
]

SESSION_EXPIRY_NEVER = 0xFFFFFFFF
_MAX_CLIENT_ID_BYTES = 256  # the spec asks for at least 23; a bound on keys and group ids


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What the server offers every connection (CONNACK's properties say so to 5.0)."""

    receive_maximum: int = 256  # unacknowledged QoS 1/2 PUBLISHes from the client
    topic_alias_maximum: int = 64
    maximum_packet_size: int = 1024 * 1024 + 1024  # the largest rule payload + headers
    connect_packet_size: int = 64 * 1024  # before CONNECT is read (pre-authentication)
    server_keep_alive: int | None = None  # cap on the client's keep-alive (seconds)
    session_expiry_maximum: int = SESSION_EXPIRY_NEVER


@dataclass(frozen=True, slots=True)
class ConnectRequested:
    """Set the session up, then call :meth:`MqttConnection.accept` or ``refuse``."""

    connect: Connect
    client_id: str  # the assigned one when the client sent none
    session_expiry: int  # seconds (SESSION_EXPIRY_NEVER: never)
    keep_alive: int  # the keep-alive in force (seconds; 0 none)


class PublishReceived(NamedTuple):
    """Store it; for QoS 1 and 2 call :meth:`MqttConnection.stored` when done. (A
    NamedTuple: one is made per message, see :class:`~.packets.Publish`.)"""

    publish: Publish
    topic: str  # the topic name, aliases resolved


@dataclass(frozen=True, slots=True)
class ReleaseRequested:
    """QoS 2: make the release of ``packet_id`` durable, then call ``released``."""

    packet_id: int


@dataclass(frozen=True, slots=True)
class SubscribeRequested:
    subscribe: Subscribe


@dataclass(frozen=True, slots=True)
class UnsubscribeRequested:
    unsubscribe: Unsubscribe


@dataclass(frozen=True, slots=True)
class DeliveryAcked:
    """The client acknowledged (or, 5.0, refused) what we sent as ``packet_id``."""

    packet_id: int
    reason: ReasonCode = ReasonCode.SUCCESS
    kind: str = "PUBACK"  # the packet that said it (PUBACK, PUBREC, PUBCOMP)


class Answered(NamedTuple):
    """A packet the connection answered by itself (PINGREQ; a QoS 2 PUBLISH or PUBREL of
    an identifier it knows the state of): nothing to do but count it."""

    kind: str


@dataclass(frozen=True, slots=True)
class DisconnectRequested:
    disconnect: Disconnect


Event = (
    ConnectRequested
    | PublishReceived
    | ReleaseRequested
    | SubscribeRequested
    | UnsubscribeRequested
    | DeliveryAcked
    | DisconnectRequested
    | Answered
)


@dataclass(slots=True)
class _PendingAck:
    packet_id: int
    qos: int
    reason: ReasonCode | None = None  # None while storing
    message: str = ""


@dataclass(slots=True)
class _ClientLimits:
    receive_maximum: int = 65535
    maximum_packet_size: int = 268_435_460
    topic_alias_maximum: int = 0


@dataclass(slots=True)
class _Outbox:
    """Packet identifiers we sent QoS 1/2 PUBLISHes under, and their flows."""

    flows: dict[int, Outbound] = field(default_factory=dict)
    next_id: int = 1

    def allocate(self) -> int:
        assert len(self.flows) < 65535, "more PUBLISHes in flight than identifiers"
        while self.next_id in self.flows:
            self.next_id = self.next_id % 65535 + 1
        packet_id, self.next_id = self.next_id, self.next_id % 65535 + 1
        return packet_id


class MqttConnection:
    """The protocol state of one connection (see the module docstring). Slotted, and what
    only a busy connection needs is made on first use: an idle device's connection is a few
    hundred bytes of Python objects."""

    __slots__ = (
        "_acks", "_aliases", "_client", "_connect", "_last_received", "_out", "_outbox",
        "_problem_info", "_qos2", "_reader", "_rng", "_unacked_in", "client_id", "keep_alive",
        "limits", "state", "version",
    )  # fmt: skip

    def __init__(self, limits: ConnectionLimits, rng: random.Random, now: float) -> None:
        self.limits = limits
        self.state = ConnState.AWAIT_CONNECT
        self.version = MQTT_5
        self.client_id = ""
        self.keep_alive = 0
        self._rng = rng
        self._reader = PacketReader(limits.connect_packet_size)
        self._out = bytearray()
        self._last_received = now
        self._client = _ClientLimits()
        self._aliases: dict[int, str] = {}
        self._acks: deque[_PendingAck] | None = None  # QoS 1/2 received, in arrival order
        self._qos2: dict[int, InboundQos2] = {}
        self._unacked_in = 0  # QoS 1/2 PUBLISHes received and not yet answered for good
        self._outbox: _Outbox | None = None
        self._connect: Connect | None = None  # until CONNACK
        self._problem_info = True

    # -- bytes ------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        self._reader.feed(data)

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    @property
    def buffered(self) -> int:
        return self._reader.buffered

    @property
    def last_size(self) -> int:
        """The size of the packet of the last event (its bytes in)."""
        return self._reader.last_size

    def _send(self, packet: Packet) -> None:
        self._out += encode(packet, self.version)

    def send(self, packet: SubAck | UnsubAck) -> None:
        """An answer the driver composes (SUBACK, UNSUBACK)."""
        self._send(packet)

    def _event(self, event: ConnEvent) -> None:
        self.state = transition(CONNECTION, self.state, event)

    # -- keep-alive -------------------------------------------------------------------------

    def keep_alive_deadline(self) -> float | None:
        """When the connection must be dropped if nothing arrives ([MQTT-3.1.2-22]: one
        and a half times the keep-alive), or None when there is no keep-alive."""
        if self.state is not ConnState.CONNECTED or not self.keep_alive:
            return None
        return self._last_received + 1.5 * self.keep_alive

    def idle_since(self) -> float:
        return self._last_received

    # -- events -----------------------------------------------------------------------------

    def next_event(self, now: float) -> Event | NeedData:
        """The next thing for the driver, NEED_DATA when more bytes are needed (or while
        the session is being set up), or MqttError: the connection is finished. Every
        packet read gives one event (one the connection answered itself: Answered), so
        the driver can count each."""
        while self.state in (ConnState.AWAIT_CONNECT, ConnState.CONNECTED):
            packet = self._reader.next_packet()
            if packet is NEED_DATA:
                return NEED_DATA
            self._last_received = now
            event = self._handle(packet)
            return event if event is not None else Answered(type(packet).__name__.upper())
        return NEED_DATA

    def _handle(self, packet: Packet | NeedData) -> Event | None:
        if isinstance(packet, Publish):
            self._event(ConnEvent.PUBLISH)
            return self._on_publish(packet)
        if isinstance(packet, PubAck | PubRec | PubComp):
            return self._on_delivery_ack(packet)
        if isinstance(packet, PubRel):
            self._event(ConnEvent.PUBREL)
            return self._on_pubrel(packet)
        if isinstance(packet, PingReq):
            self._event(ConnEvent.PINGREQ)
            self._send(PingResp())
            return None
        if isinstance(packet, Subscribe):
            self._event(ConnEvent.SUBSCRIBE)
            return SubscribeRequested(packet)
        if isinstance(packet, Unsubscribe):
            self._event(ConnEvent.UNSUBSCRIBE)
            return UnsubscribeRequested(packet)
        if isinstance(packet, Disconnect):
            self._event(ConnEvent.DISCONNECT)
            return DisconnectRequested(packet)
        if isinstance(packet, Connect):
            self._event(ConnEvent.CONNECT)
            return self._on_connect(packet)
        raise protocol_error(f"{type(packet).__name__.upper()} is not sent by a client")

    # -- CONNECT ----------------------------------------------------------------------------

    def _on_connect(self, c: Connect) -> ConnectRequested:
        self.version = self._reader.version = c.version
        self._connect = c
        props = c.properties
        if props.authentication_method is not None:
            raise MqttError(
                ReasonCode.BAD_AUTHENTICATION_METHOD,
                f"enhanced authentication {props.authentication_method!r} is not offered",
            )
        client_id = c.client_id
        if len(client_id.encode("utf-8")) > _MAX_CLIENT_ID_BYTES:
            raise MqttError(
                ReasonCode.CLIENT_IDENTIFIER_NOT_VALID,
                f"client identifier over {_MAX_CLIENT_ID_BYTES} bytes",
            )
        if not client_id:
            if c.version != MQTT_5 and not c.clean_start:
                raise MqttError(
                    ReasonCode.CLIENT_IDENTIFIER_NOT_VALID,
                    "an empty client identifier needs a clean session (3.1.1)",
                )
            client_id = f"logd-{self._rng.getrandbits(64):016x}"
        self.client_id = client_id
        self._client = _ClientLimits(
            props.receive_maximum or 65535,
            props.maximum_packet_size or 268_435_460,
            props.topic_alias_maximum or 0,
        )
        if c.version == MQTT_5:
            expiry = props.session_expiry_interval or 0
        else:
            expiry = 0 if c.clean_start else SESSION_EXPIRY_NEVER
        expiry = min(expiry, self.limits.session_expiry_maximum)
        keep_alive = c.keep_alive
        cap = self.limits.server_keep_alive
        if cap is not None and c.version == MQTT_5 and (keep_alive == 0 or keep_alive > cap):
            keep_alive = cap
        self.keep_alive = keep_alive
        return ConnectRequested(c, client_id, expiry, keep_alive)

    def accept(self, session_present: bool, qos2_received: Collection[int] = ()) -> None:
        """CONNACK 0; ``qos2_received``: identifiers a resumed session stored and has
        not seen released (their PUBLISH resent is answered with PUBREC, not stored)."""
        self._event(ConnEvent.ACCEPTED)
        self._reader.limit = self.limits.maximum_packet_size
        if qos2_received:  # (an empty dict.fromkeys() is bigger than the one we hold)
            self._qos2 = dict.fromkeys(qos2_received, InboundQos2.RECEIVED)
        props = NO_PROPERTIES
        if self.version == MQTT_5:
            props = self._connack_properties()
        asked = self._connect
        assert asked is not None
        # 5.0 section 3.1.2.11.7: a client may ask for no Reason Strings.
        self._problem_info = asked.properties.request_problem_information != 0
        self._connect = None  # what CONNECT said is answered: do not keep it (or its password)
        self._send(Connack(session_present, ReasonCode.SUCCESS, props))

    def _connack_properties(self) -> Properties:
        asked = self._connect
        assert asked is not None
        lim = self.limits
        return Properties(
            receive_maximum=lim.receive_maximum,
            topic_alias_maximum=lim.topic_alias_maximum or None,
            maximum_packet_size=lim.maximum_packet_size,
            shared_subscription_available=0,
            assigned_client_identifier=self.client_id if not asked.client_id else None,
            server_keep_alive=self.keep_alive if self.keep_alive != asked.keep_alive else None,
            session_expiry_interval=(
                self.limits.session_expiry_maximum
                if (asked.properties.session_expiry_interval or 0)
                > self.limits.session_expiry_maximum
                else None
            ),
        )

    def refuse(self, reason: ReasonCode, message: str = "") -> None:
        """CONNACK with ``reason`` (5.0), the 3.1.1 return code, or nothing (a bare close)."""
        self._event(ConnEvent.REFUSED)
        self._connack_error(reason, message, self.version)

    def _connack_error(self, reason: ReasonCode, message: str, version: int | None) -> None:
        if version == MQTT_5:
            props = Properties(reason_string=message) if message else NO_PROPERTIES
            self._out += encode(Connack(False, reason, props), MQTT_5)
        elif version is not None and connack_v3(reason) is not None:
            self._out += encode(Connack(False, reason), version)

    # -- publishes from the client ----------------------------------------------------------

    def _on_publish(self, p: Publish) -> Event | None:
        topic = p.topic
        alias = p.properties.topic_alias
        if alias is not None:
            if alias > self.limits.topic_alias_maximum:
                raise MqttError(
                    ReasonCode.TOPIC_ALIAS_INVALID,
                    f"topic alias {alias} over the maximum {self.limits.topic_alias_maximum}",
                )
            if topic:
                self._aliases[alias] = topic
            else:
                known = self._aliases.get(alias)
                if known is None:
                    raise protocol_error(f"topic alias {alias} was never set")
                topic = known
        if p.qos == 0:
            return PublishReceived(p, topic)
        if p.qos == 2:
            state = self._qos2.get(p.packet_id, InboundQos2.NONE)
            after = transition(INBOUND_QOS2, state, QosEvent.PUBLISH)
            if state is not InboundQos2.NONE:
                if state is InboundQos2.RECEIVED:
                    self._send(PubRec(p.packet_id))
                return None
            self._qos2[p.packet_id] = after
        self._unacked_in += 1
        if self._unacked_in > self.limits.receive_maximum:
            raise MqttError(
                ReasonCode.RECEIVE_MAXIMUM_EXCEEDED,
                f"more than {self.limits.receive_maximum} unacknowledged QoS 1/2 PUBLISHes",
            )
        if self._acks is None:
            self._acks = deque()
        self._acks.append(_PendingAck(p.packet_id, p.qos))
        return PublishReceived(p, topic)

    def stored(
        self, packet_id: int, qos: int, reason: ReasonCode = ReasonCode.SUCCESS, message: str = ""
    ) -> None:
        """The PUBLISH ``packet_id`` (QoS 1 or 2) is stored (or refused with ``reason``).
        Answers go out in the order the PUBLISHes came. A refusal of a 3.1.1 client,
        which has no negative acknowledgement, is an MqttError: the connection closes."""
        for pending in self._acks or ():
            if pending.packet_id == packet_id and pending.qos == qos and pending.reason is None:
                pending.reason = reason
                pending.message = message
                break
        else:
            raise AssertionError(f"stored({packet_id}, QoS {qos}): nothing waits for it")
        acks = self._acks
        assert acks is not None
        while acks and acks[0].reason is not None:
            self._answer(acks.popleft())

    def _answer(self, pending: _PendingAck) -> None:
        reason = pending.reason
        assert reason is not None
        if reason.is_error and self.version != MQTT_5:
            raise MqttError(reason, f"PUBLISH {pending.packet_id} refused (no 3.1.1 code)")
        props = NO_PROPERTIES
        if reason.is_error and pending.message and self._problem_info:
            props = Properties(reason_string=pending.message[:200])
        if pending.qos == 1:
            self._unacked_in -= 1
            if reason is ReasonCode.SUCCESS:
                # One per message: PUBACK's four bytes (a 5.0 success may omit its reason
                # code, [MQTT-3.4.2-1]), without a packet object and its encoder.
                packet_id = pending.packet_id
                self._out += bytes((0x40, 2, packet_id >> 8, packet_id & 0xFF))
            else:
                self._send(PubAck(pending.packet_id, reason, props))
            return
        event = QosEvent.STORE_FAILED if reason.is_error else QosEvent.STORED
        after = transition(INBOUND_QOS2, self._qos2[pending.packet_id], event)
        if after is InboundQos2.NONE:
            del self._qos2[pending.packet_id]
            self._unacked_in -= 1
        else:
            self._qos2[pending.packet_id] = after
        self._send(PubRec(pending.packet_id, reason, props))

    def _on_pubrel(self, p: PubRel) -> Event | None:
        state = self._qos2.get(p.packet_id, InboundQos2.NONE)
        after = transition(INBOUND_QOS2, state, QosEvent.PUBREL)
        if state is InboundQos2.NONE:
            self._send(PubComp(p.packet_id, ReasonCode.PACKET_IDENTIFIER_NOT_FOUND))
            return None
        self._qos2[p.packet_id] = after
        return ReleaseRequested(p.packet_id) if state is InboundQos2.RECEIVED else None

    def released(self, packet_id: int) -> None:
        """The release of QoS 2 ``packet_id`` is durable: PUBCOMP."""
        transition(INBOUND_QOS2, self._qos2[packet_id], QosEvent.RELEASED)
        del self._qos2[packet_id]
        self._unacked_in -= 1
        self._send(PubComp(packet_id))

    def qos2_received(self) -> set[int]:
        """Identifiers stored and not released (a persistent session keeps them)."""
        return {i for i, s in self._qos2.items() if s is not InboundQos2.STORING}

    # -- publishes to the client ------------------------------------------------------------

    @property
    def window(self) -> int:
        """How many more QoS 1/2 PUBLISHes the client's Receive Maximum lets us send."""
        return self._client.receive_maximum - (len(self._outbox.flows) if self._outbox else 0)

    def send_publish(self, publish: Publish) -> int | None:
        """Send ``publish`` (its packet_id is chosen here for QoS 1/2); the identifier, or
        None when it was dropped for being over the client's Maximum Packet Size (5.0
        section 3.1.2.11.4: "the Server MUST NOT send it ... discard it")."""
        outbox = self._outbox
        if publish.qos:
            assert self.window > 0, "send_publish past the client's Receive Maximum"
            if outbox is None:
                outbox = self._outbox = _Outbox()
            publish = publish._replace(packet_id=outbox.allocate())
        data = encode_publish(publish, self.version)
        if len(data) > self._client.maximum_packet_size:
            return None
        if publish.qos:
            event = QosEvent.PUBLISH if publish.qos == 1 else QosEvent.PUBLISH_QOS2
            assert outbox is not None
            outbox.flows[publish.packet_id] = transition(OUTBOUND, Outbound.NONE, event)
        self._out += data
        return publish.packet_id

    def _on_delivery_ack(self, p: PubAck | PubRec | PubComp) -> Event | None:
        kind = {PubAck: ConnEvent.PUBACK, PubRec: ConnEvent.PUBREC, PubComp: ConnEvent.PUBCOMP}
        self._event(kind[type(p)])
        outbox = self._outbox
        state = outbox.flows.get(p.packet_id) if outbox is not None else None
        if state is None:
            if isinstance(p, PubRec):  # section 4.3.3: answer it, the flow is unknown
                self._send(PubRel(p.packet_id, ReasonCode.PACKET_IDENTIFIER_NOT_FOUND))
            return None  # a late or repeated acknowledgement: nothing to do
        if isinstance(p, PubAck):
            event = QosEvent.PUBACK
        elif isinstance(p, PubRec):
            event = QosEvent.PUBREC_ERROR if p.reason.is_error else QosEvent.PUBREC
        else:
            event = QosEvent.PUBCOMP
        after = transition(OUTBOUND, state, event)
        if after is Outbound.AWAIT_PUBCOMP:
            assert outbox is not None
            outbox.flows[p.packet_id] = after
            self._send(PubRel(p.packet_id))
            return None
        assert outbox is not None
        del outbox.flows[p.packet_id]
        return DeliveryAcked(p.packet_id, p.reason, type(p).__name__.upper())

    # -- the end ----------------------------------------------------------------------------

    def disconnect(self, reason: ReasonCode, message: str = "") -> None:
        """The server ends the connection: a DISCONNECT to a 5.0 client (3.1.1 has none)."""
        if self.state is ConnState.CONNECTED and self.version == MQTT_5:
            props = Properties(reason_string=message) if message else NO_PROPERTIES
            self._send(Disconnect(reason, props))
        self._event(ConnEvent.FAILED)

    def fail(self, error: MqttError) -> None:
        """``next_event`` raised ``error``: write what the peer is told, and finish. Before
        CONNACK that is a CONNACK with the reason (when the client's version has one for
        it); after, a DISCONNECT (5.0)."""
        if self.state in (ConnState.AWAIT_CONNECT, ConnState.CONNECTING):
            version = error.version if self.state is ConnState.AWAIT_CONNECT else self.version
            self._connack_error(error.reason, str(error), version)
            self._event(ConnEvent.FAILED)
        else:
            self.disconnect(error.reason, str(error))

    def lost(self) -> None:
        self._event(ConnEvent.LOST)
