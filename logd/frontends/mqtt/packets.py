"""The fifteen MQTT control packets as frozen dataclasses (h11's ``_events.py`` shape).

Pure; both directions (a server decodes what a client encodes and the other way round), so
that tests and the fuzzer can round-trip every packet. Reason codes are 5.0's everywhere;
:mod:`~logd.frontends.mqtt.codec` maps them to 3.1.1's return codes on the wire.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from logd.frontends.mqtt.properties import NO_PROPERTIES, Properties
from logd.frontends.mqtt.reasons import ReasonCode

__all__ = [
    "MQTT_3_1_1",
    "MQTT_5",
    "Auth",
    "Connack",
    "Connect",
    "Disconnect",
    "Packet",
    "PacketType",
    "PingReq",
    "PingResp",
    "PubAck",
    "PubComp",
    "PubRec",
    "PubRel",
    "Publish",
    "RetainHandling",
    "SubAck",
    "Subscribe",
    "Subscription",
    "UnsubAck",
    "Unsubscribe",
    "Will",
]

MQTT_3_1_1 = 4  # the protocol level byte of CONNECT
MQTT_5 = 5


class PacketType(enum.IntEnum):
    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14
    AUTH = 15


class RetainHandling(enum.IntEnum):
    """5.0 section 3.8.3.1: when retained messages are sent on subscribing."""

    SEND = 0
    SEND_IF_NEW = 1
    DO_NOT_SEND = 2


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class Connect:
    client_id: str
    version: int = MQTT_5
    clean_start: bool = True
    keep_alive: int = 60
    username: str | None = None
    password: bytes | None = None
    will: Will | None = None
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class Connack:
    session_present: bool = False
    reason: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES


class Publish(NamedTuple):
    """A NamedTuple, not a frozen dataclass like the other packets: it is made for every
    message (a frozen dataclass costs ~470 ns to build, this ~70 ns; ``logd.records.Record``
    made the same choice). Immutable all the same; ``_replace`` makes a changed copy."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int = 0  # 0 for QoS 0 (no identifier on the wire)
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class _Ack:
    packet_id: int
    reason: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class PubAck(_Ack):
    pass


@dataclass(frozen=True, slots=True)
class PubRec(_Ack):
    pass


@dataclass(frozen=True, slots=True)
class PubRel(_Ack):
    pass


@dataclass(frozen=True, slots=True)
class PubComp(_Ack):
    pass


@dataclass(frozen=True, slots=True)
class Subscription:
    filter: str
    qos: int = 0
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: RetainHandling = RetainHandling.SEND


@dataclass(frozen=True, slots=True)
class Subscribe:
    packet_id: int
    subscriptions: tuple[Subscription, ...]
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class SubAck:
    packet_id: int
    reasons: tuple[ReasonCode, ...]
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    packet_id: int
    filters: tuple[str, ...]
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class UnsubAck:
    packet_id: int
    reasons: tuple[ReasonCode, ...] = ()  # 5.0 only; 3.1.1's UNSUBACK has no payload
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class PingReq:
    pass


@dataclass(frozen=True, slots=True)
class PingResp:
    pass


@dataclass(frozen=True, slots=True)
class Disconnect:
    reason: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class Auth:
    reason: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES


Packet = (
    Connect
    | Connack
    | Publish
    | PubAck
    | PubRec
    | PubRel
    | PubComp
    | Subscribe
    | SubAck
    | Unsubscribe
    | UnsubAck
    | PingReq
    | PingResp
    | Disconnect
    | Auth
)
