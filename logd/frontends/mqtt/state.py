"""The MQTT connection lifecycle and the per-packet-identifier QoS flows, as tables
(STYLE.md 4; h11's ``_state.py``): a dict of ``(state, event) -> next state``, and any pair
not in it is a Protocol Error.

Pure. Three machines:

* :data:`CONNECTION` — one per network connection: nothing but CONNECT first; while the
  session is being set up (CONNECTING) nothing more is read (5.0 section 3.1.4 lets a
  client send packets before CONNACK: they wait in the socket buffer); a second CONNECT,
  an AUTH (enhanced authentication is not offered) or a server-only packet is an error.
* :data:`INBOUND_QOS2` — one per packet identifier of a QoS 2 PUBLISH received (section
  4.3.3, "Method B": the message is stored once, at the first PUBLISH, and PUBREC answered
  only after that; a repeated PUBLISH before PUBREL is answered with PUBREC again and
  never stored twice).
* :data:`OUTBOUND` — one per packet identifier of a QoS 1 or 2 PUBLISH sent to a
  subscriber (sections 4.3.2, 4.3.3).
"""

from __future__ import annotations

import enum
from typing import TypeVar

from logd.frontends.mqtt.errors import protocol_error

__all__ = [
    "CONNECTION",
    "INBOUND_QOS2",
    "OUTBOUND",
    "ConnEvent",
    "ConnState",
    "InboundQos2",
    "Outbound",
    "QosEvent",
    "transition",
]


class ConnState(enum.Enum):
    __hash__ = object.__hash__  # members are singletons; Enum's hashes the name in Python

    AWAIT_CONNECT = "await-connect"
    CONNECTING = "connecting"  # CONNECT read; session loading, CONNACK not sent yet
    CONNECTED = "connected"
    CLOSED = "closed"


class ConnEvent(enum.Enum):
    __hash__ = object.__hash__  # members are singletons; Enum's hashes the name in Python

    # packets from the client
    CONNECT = "CONNECT"
    PUBLISH = "PUBLISH"
    PUBACK = "PUBACK"
    PUBREC = "PUBREC"
    PUBREL = "PUBREL"
    PUBCOMP = "PUBCOMP"
    SUBSCRIBE = "SUBSCRIBE"
    UNSUBSCRIBE = "UNSUBSCRIBE"
    PINGREQ = "PINGREQ"
    DISCONNECT = "DISCONNECT"
    # decided by the server
    ACCEPTED = "accepted"  # CONNACK 0 sent
    REFUSED = "refused"  # CONNACK with an error sent, or closed without one
    FAILED = "failed"  # a protocol error, keep-alive timeout, take-over or shutdown
    LOST = "lost"  # the transport closed


_C, _E = ConnState, ConnEvent
_CONNECTED_PACKETS = (
    _E.PUBLISH,
    _E.PUBACK,
    _E.PUBREC,
    _E.PUBREL,
    _E.PUBCOMP,
    _E.SUBSCRIBE,
    _E.UNSUBSCRIBE,
    _E.PINGREQ,
)
CONNECTION: dict[tuple[ConnState, ConnEvent], ConnState] = {
    (_C.AWAIT_CONNECT, _E.CONNECT): _C.CONNECTING,
    (_C.AWAIT_CONNECT, _E.FAILED): _C.CLOSED,
    (_C.AWAIT_CONNECT, _E.LOST): _C.CLOSED,
    (_C.CONNECTING, _E.ACCEPTED): _C.CONNECTED,
    (_C.CONNECTING, _E.REFUSED): _C.CLOSED,
    (_C.CONNECTING, _E.FAILED): _C.CLOSED,
    (_C.CONNECTING, _E.LOST): _C.CLOSED,
    **{(_C.CONNECTED, e): _C.CONNECTED for e in _CONNECTED_PACKETS},
    (_C.CONNECTED, _E.DISCONNECT): _C.CLOSED,
    (_C.CONNECTED, _E.FAILED): _C.CLOSED,
    (_C.CONNECTED, _E.LOST): _C.CLOSED,
    (_C.CLOSED, _E.FAILED): _C.CLOSED,
    (_C.CLOSED, _E.LOST): _C.CLOSED,
}


class InboundQos2(enum.Enum):
    __hash__ = object.__hash__  # members are singletons; Enum's hashes the name in Python

    NONE = "none"  # no state kept for the identifier
    STORING = "storing"  # first PUBLISH being appended and committed
    RECEIVED = "received"  # stored; PUBREC sent
    RELEASING = "releasing"  # PUBREL read; the release being made durable


class Outbound(enum.Enum):
    __hash__ = object.__hash__  # members are singletons; Enum's hashes the name in Python

    NONE = "none"
    AWAIT_PUBACK = "await-puback"
    AWAIT_PUBREC = "await-pubrec"
    AWAIT_PUBCOMP = "await-pubcomp"


class QosEvent(enum.Enum):
    __hash__ = object.__hash__  # members are singletons; Enum's hashes the name in Python

    PUBLISH = "PUBLISH"  # received (inbound) or sent at QoS 1 / QoS 2 (outbound)
    PUBLISH_QOS2 = "PUBLISH QoS 2"  # sent at QoS 2 (outbound)
    STORED = "stored"
    STORE_FAILED = "store-failed"
    PUBREL = "PUBREL"
    RELEASED = "released"
    PUBACK = "PUBACK"
    PUBREC = "PUBREC"
    PUBREC_ERROR = "PUBREC error"  # a PUBREC with a reason code >= 0x80 ends the flow
    PUBCOMP = "PUBCOMP"


_I, _O, _Q = InboundQos2, Outbound, QosEvent
INBOUND_QOS2: dict[tuple[InboundQos2, QosEvent], InboundQos2] = {
    (_I.NONE, _Q.PUBLISH): _I.STORING,  # store it
    (_I.STORING, _Q.PUBLISH): _I.STORING,  # a resend while storing: PUBREC will follow
    (_I.STORING, _Q.STORED): _I.RECEIVED,  # send PUBREC
    (_I.STORING, _Q.STORE_FAILED): _I.NONE,  # PUBREC with the error (5.0) or close (3.1.1)
    (_I.RECEIVED, _Q.PUBLISH): _I.RECEIVED,  # a resend: PUBREC again, nothing stored
    (_I.RECEIVED, _Q.PUBREL): _I.RELEASING,  # make the release durable
    (_I.RELEASING, _Q.PUBREL): _I.RELEASING,
    (_I.RELEASING, _Q.RELEASED): _I.NONE,  # send PUBCOMP
    (_I.NONE, _Q.PUBREL): _I.NONE,  # unknown identifier: PUBCOMP 0x92 (5.0)
}
OUTBOUND: dict[tuple[Outbound, QosEvent], Outbound] = {
    (_O.NONE, _Q.PUBLISH): _O.AWAIT_PUBACK,
    (_O.NONE, _Q.PUBLISH_QOS2): _O.AWAIT_PUBREC,
    (_O.AWAIT_PUBACK, _Q.PUBACK): _O.NONE,
    (_O.AWAIT_PUBREC, _Q.PUBREC): _O.AWAIT_PUBCOMP,  # send PUBREL
    (_O.AWAIT_PUBREC, _Q.PUBREC_ERROR): _O.NONE,
    (_O.AWAIT_PUBCOMP, _Q.PUBREC): _O.AWAIT_PUBCOMP,  # a resent PUBREC: PUBREL again
    (_O.AWAIT_PUBCOMP, _Q.PUBCOMP): _O.NONE,
}


S = TypeVar("S", bound=enum.Enum)
V = TypeVar("V", bound=enum.Enum)


def transition(table: dict[tuple[S, V], S], state: S, event: V) -> S:
    """The next state, or a Protocol Error naming the pair the table does not hold."""
    try:
        return table[state, event]
    except KeyError:
        raise protocol_error(f"{event.value} is not allowed in state {state.value}") from None
