"""MQTT 5.0 properties (section 2.2.2): one table of every property — its identifier, its
type, the packets it may appear in — and the decoder and encoder driven by it.

Pure. A property in a packet it does not belong to, or of the wrong type, makes the packet
malformed ([MQTT-2.2.2-2] and 2.2.2.2); a property given twice that may appear only once
is a Protocol Error; out-of-range values (a Receive Maximum of 0, say) are Protocol Errors
as each property's section says.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from logd.frontends.mqtt.errors import malformed, protocol_error
from logd.frontends.mqtt.wire import Reader, encode_binary, encode_string, encode_varint

__all__ = ["NO_PROPERTIES", "PacketKind", "Properties", "decode_properties", "encode_properties"]


class PacketKind(enum.Enum):
    """Where a property block sits (the will's properties are not a packet of their own)."""

    CONNECT = "CONNECT"
    WILL = "Will Properties"
    CONNACK = "CONNACK"
    PUBLISH = "PUBLISH"
    ACK = "PUBACK/PUBREC/PUBREL/PUBCOMP"
    SUBSCRIBE = "SUBSCRIBE"
    SUBACK = "SUBACK"
    UNSUBSCRIBE = "UNSUBSCRIBE"
    UNSUBACK = "UNSUBACK"
    DISCONNECT = "DISCONNECT"
    AUTH = "AUTH"


@dataclass(frozen=True, slots=True)
class Properties:
    """The properties of one packet; None (or empty) means absent."""

    payload_format_indicator: int | None = None
    message_expiry_interval: int | None = None
    content_type: str | None = None
    response_topic: str | None = None
    correlation_data: bytes | None = None
    subscription_identifiers: tuple[int, ...] = ()
    session_expiry_interval: int | None = None
    assigned_client_identifier: str | None = None
    server_keep_alive: int | None = None
    authentication_method: str | None = None
    authentication_data: bytes | None = None
    request_problem_information: int | None = None
    will_delay_interval: int | None = None
    request_response_information: int | None = None
    response_information: str | None = None
    server_reference: str | None = None
    reason_string: str | None = None
    receive_maximum: int | None = None
    topic_alias_maximum: int | None = None
    topic_alias: int | None = None
    maximum_qos: int | None = None
    retain_available: int | None = None
    user_properties: tuple[tuple[str, str], ...] = ()
    maximum_packet_size: int | None = None
    wildcard_subscription_available: int | None = None
    subscription_identifier_available: int | None = None
    shared_subscription_available: int | None = None


NO_PROPERTIES = Properties()

_K = PacketKind
_PUB = frozenset({_K.PUBLISH, _K.WILL})
_REASON = frozenset({_K.CONNACK, _K.ACK, _K.SUBACK, _K.UNSUBACK, _K.DISCONNECT, _K.AUTH})
_ALL = frozenset(_K)


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    kind: str  # byte | u16 | u32 | varint | string | binary | pair
    where: frozenset[PacketKind]
    low: int = 0  # smallest legal value of an integer property
    high: int | None = None  # largest legal value (bytes that are booleans: 1)


# Section 2.2.2.2, in identifier order.
PROPERTIES: dict[int, _Spec] = {
    0x01: _Spec("payload_format_indicator", "byte", _PUB, high=1),
    0x02: _Spec("message_expiry_interval", "u32", _PUB),
    0x03: _Spec("content_type", "string", _PUB),
    0x08: _Spec("response_topic", "string", _PUB),
    0x09: _Spec("correlation_data", "binary", _PUB),
    0x0B: _Spec("subscription_identifiers", "varint", frozenset({_K.PUBLISH, _K.SUBSCRIBE}), 1),
    0x11: _Spec(
        "session_expiry_interval", "u32", frozenset({_K.CONNECT, _K.CONNACK, _K.DISCONNECT})
    ),
    0x12: _Spec("assigned_client_identifier", "string", frozenset({_K.CONNACK})),
    0x13: _Spec("server_keep_alive", "u16", frozenset({_K.CONNACK})),
    0x15: _Spec("authentication_method", "string", frozenset({_K.CONNECT, _K.CONNACK, _K.AUTH})),
    0x16: _Spec("authentication_data", "binary", frozenset({_K.CONNECT, _K.CONNACK, _K.AUTH})),
    0x17: _Spec("request_problem_information", "byte", frozenset({_K.CONNECT}), high=1),
    0x18: _Spec("will_delay_interval", "u32", frozenset({_K.WILL})),
    0x19: _Spec("request_response_information", "byte", frozenset({_K.CONNECT}), high=1),
    0x1A: _Spec("response_information", "string", frozenset({_K.CONNACK})),
    0x1C: _Spec("server_reference", "string", frozenset({_K.CONNACK, _K.DISCONNECT})),
    0x1F: _Spec("reason_string", "string", _REASON),
    0x21: _Spec("receive_maximum", "u16", frozenset({_K.CONNECT, _K.CONNACK}), 1),
    0x22: _Spec("topic_alias_maximum", "u16", frozenset({_K.CONNECT, _K.CONNACK})),
    0x23: _Spec("topic_alias", "u16", frozenset({_K.PUBLISH}), 1),
    0x24: _Spec("maximum_qos", "byte", frozenset({_K.CONNACK}), high=1),
    0x25: _Spec("retain_available", "byte", frozenset({_K.CONNACK}), high=1),
    0x26: _Spec("user_properties", "pair", _ALL),
    0x27: _Spec("maximum_packet_size", "u32", frozenset({_K.CONNECT, _K.CONNACK}), 1),
    0x28: _Spec("wildcard_subscription_available", "byte", frozenset({_K.CONNACK}), high=1),
    0x29: _Spec("subscription_identifier_available", "byte", frozenset({_K.CONNACK}), high=1),
    0x2A: _Spec("shared_subscription_available", "byte", frozenset({_K.CONNACK}), high=1),
}
_BY_NAME = {spec.name: pid for pid, spec in PROPERTIES.items()}
_REPEATABLE = frozenset({"user_properties", "subscription_identifiers"})
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")

_READ: dict[str, Callable[[Reader, str], Any]] = {
    "byte": Reader.u8,
    "u16": Reader.u16,
    "u32": Reader.u32,
    "varint": Reader.varint,
    "string": Reader.string,
    "binary": Reader.binary,
    "pair": lambda r, f: (r.string(f + " name"), r.string(f + " value")),
}
_WRITE: dict[str, Callable[[Any], bytes]] = {
    "byte": lambda v: bytes((v,)),
    "u16": _U16.pack,
    "u32": _U32.pack,
    "varint": encode_varint,
    "string": encode_string,
    "binary": encode_binary,
    "pair": lambda v: encode_string(v[0]) + encode_string(v[1]),
}


def decode_properties(reader: Reader, where: PacketKind) -> Properties:
    """Read a property block (its length, then the properties) for a packet of ``where``."""
    size = reader.varint("property length")
    if size == 0:
        return NO_PROPERTIES
    block = reader.sub(size, "properties")
    values: dict[str, Any] = {}
    while block.remaining:
        ident = block.varint("property identifier")
        spec = PROPERTIES.get(ident)
        if spec is None or where not in spec.where:
            raise malformed(f"{where.value}: property 0x{ident:02X} does not belong here")
        value = _READ[spec.kind](block, spec.name.replace("_", " "))
        if spec.kind not in ("string", "binary", "pair"):
            _check_range(spec, value)
        if spec.name in _REPEATABLE:
            values.setdefault(spec.name, []).append(value)
        elif spec.name in values:
            raise protocol_error(f"{where.value}: property {spec.name} given twice")
        else:
            values[spec.name] = value
    for name in _REPEATABLE & values.keys():
        values[name] = tuple(values[name])
    if where is not PacketKind.PUBLISH and len(values.get("subscription_identifiers", ())) > 1:
        raise protocol_error(f"{where.value}: more than one subscription identifier")
    return Properties(**values)


def _check_range(spec: _Spec, value: int) -> None:
    if value < spec.low or (spec.high is not None and value > spec.high):
        raise protocol_error(f"property {spec.name} has the invalid value {value}")


def encode_properties(props: Properties) -> bytes:
    """The property block (length included) of ``props``; ``b"\\x00"`` when empty."""
    if props is NO_PROPERTIES:
        return b"\x00"
    out = bytearray()
    for field in dataclasses.fields(props):
        value = getattr(props, field.name)
        if value is None or value == ():
            continue
        ident = _BY_NAME[field.name]
        spec = PROPERTIES[ident]
        write = _WRITE[spec.kind]
        for item in value if field.name in _REPEATABLE else (value,):
            out += encode_varint(ident)
            out += write(item)
    return encode_varint(len(out)) + bytes(out)
