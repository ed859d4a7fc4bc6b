"""Decode one MQTT packet body into a packet, and encode a packet into bytes (3.1.1 and 5.0).

Pure (STYLE.md 3): bytes in, packets out; encoders return bytes. The framing — the fixed
header, the remaining length and the packet size limit — is :mod:`.framer`'s job; here a
body is already whole and bounded, and every field is checked against what is left of it
(:class:`~logd.frontends.mqtt.wire.Reader`). Both directions are here so that a client's
packets round-trip too (tests, the fuzzer, the benchmark's own client).

Version: 4 is MQTT 3.1.1, 5 is MQTT 5.0; CONNECT carries its own, every other packet is
read with the version its connection agreed on. Errors are ``MqttError``s whose reason code
says what the peer is told; a CONNECT error carries ``version`` (the level the client asked
for when the CONNECT got that far), which decides between a CONNACK and a bare close.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from logd.frontends.mqtt.errors import MqttError, malformed, protocol_error
from logd.frontends.mqtt.packets import (
    MQTT_3_1_1,
    MQTT_5,
    Auth,
    Connack,
    Connect,
    Disconnect,
    Packet,
    PacketType,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    RetainHandling,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
)
from logd.frontends.mqtt.properties import (
    NO_PROPERTIES,
    PacketKind,
    Properties,
    decode_properties,
    encode_properties,
)
from logd.frontends.mqtt.reasons import ReasonCode, connack_v3, suback_v3
from logd.frontends.mqtt.topics import check_topic_name
from logd.frontends.mqtt.wire import Reader, encode_binary, encode_string, encode_varint

__all__ = [
    "VERSIONS",
    "decode_body",
    "decode_publish",
    "decode_publish_plain",
    "encode",
    "encode_publish",
    "fixed_flags_ok",
]

VERSIONS = frozenset({MQTT_3_1_1, MQTT_5})
_U16 = struct.Struct(">H")
_R = ReasonCode

# The reason codes each packet may carry (5.0 sections 3.2.2.2, 3.4.2.1 ... 3.15.2.1).
_ACK_REASONS = frozenset({0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99})
_REL_REASONS = frozenset({0x00, 0x92})
_REASONS: dict[type, frozenset[int]] = {
    Connack: frozenset({0x00, *range(0x80, 0x8D), 0x90, 0x95, 0x97, *range(0x99, 0x9E), 0x9F}),
    PubAck: _ACK_REASONS,
    PubRec: _ACK_REASONS,
    PubRel: _REL_REASONS,
    PubComp: _REL_REASONS,
    SubAck: frozenset({0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2}),
    UnsubAck: frozenset({0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91}),
    Disconnect: frozenset(
        {0x00, 0x04, *range(0x80, 0x84), 0x87, 0x89, 0x8B, *range(0x8D, 0x91), *range(0x93, 0xA3)}
    ),
    Auth: frozenset({0x00, 0x18, 0x19}),
}
# 3.1.1 return code -> the reason code it reads as (the first of those that map to it).
_V3_CONNACK = {
    0: _R.SUCCESS,
    1: _R.UNSUPPORTED_PROTOCOL_VERSION,
    2: _R.CLIENT_IDENTIFIER_NOT_VALID,
    3: _R.SERVER_UNAVAILABLE,
    4: _R.BAD_USER_NAME_OR_PASSWORD,
    5: _R.NOT_AUTHORIZED,
}


def _reason(byte: int, packet: type, what: str) -> ReasonCode:
    if byte not in _REASONS[packet]:
        raise malformed(f"{what}: reason code 0x{byte:02X} is not one of this packet's")
    return ReasonCode(byte)


def fixed_flags_ok(ptype: int, flags: int) -> bool:
    """The fixed header's low nibble (section 2.1.3): PUBLISH's are its own, PUBREL,
    SUBSCRIBE and UNSUBSCRIBE must be 0b0010, every other packet's 0."""
    if ptype == PacketType.PUBLISH:
        return True
    if ptype in (PacketType.PUBREL, PacketType.SUBSCRIBE, PacketType.UNSUBSCRIBE):
        return flags == 0b0010
    return flags == 0


# -- decoding -------------------------------------------------------------------------------


def decode_body(ptype: int, flags: int, body: bytes, version: int) -> Packet:
    """The packet of type ``ptype`` whose fixed-header flags are ``flags`` and whose whole
    body is ``body``; ``version`` is the connection's (CONNECT reads its own)."""
    decoder = _DECODERS.get(ptype)
    if decoder is None or (ptype == PacketType.AUTH and version != MQTT_5):
        raise malformed(f"packet type {ptype} is not an MQTT {_name(version)} packet")
    reader = Reader(body, PacketType(ptype).name)
    packet: Packet = decoder(reader, flags, version)
    reader.expect_end()
    return packet


def _name(version: int) -> str:
    return "5.0" if version == MQTT_5 else "3.1.1"


def _decode_connect(r: Reader, _flags: int, _version: int) -> Connect:
    name = r.string("protocol name")
    level = r.u8("protocol level")
    if name != "MQTT":
        raise MqttError(
            _R.UNSUPPORTED_PROTOCOL_VERSION,
            f"CONNECT: protocol name {name!r}, not 'MQTT'",
            version=MQTT_5 if level == MQTT_5 else None,
        )
    if level not in VERSIONS:
        raise MqttError(
            _R.UNSUPPORTED_PROTOCOL_VERSION,
            f"CONNECT: protocol level {level}; this server speaks 4 (3.1.1) and 5 (5.0)",
            version=MQTT_3_1_1,
        )
    try:
        return _decode_connect_rest(r, level)
    except MqttError as exc:
        exc.version = level
        raise


def _decode_connect_rest(r: Reader, level: int) -> Connect:
    flags = r.u8("connect flags")
    if flags & 0x01:
        raise malformed("CONNECT: the reserved flag is set")
    has_will, will_qos, will_retain = bool(flags & 0x04), (flags >> 3) & 3, bool(flags & 0x20)
    has_user, has_password = bool(flags & 0x80), bool(flags & 0x40)
    if will_qos == 3 or (not has_will and (will_qos or will_retain)):
        raise malformed("CONNECT: will QoS or will retain set without a valid will")
    if level == MQTT_3_1_1 and has_password and not has_user:
        raise malformed("CONNECT: a password without a user name (3.1.1)")
    keep_alive = r.u16("keep alive")
    props = decode_properties(r, PacketKind.CONNECT) if level == MQTT_5 else NO_PROPERTIES
    client_id = r.string("client identifier")
    will = None
    if has_will:
        will_props = decode_properties(r, PacketKind.WILL) if level == MQTT_5 else NO_PROPERTIES
        topic = r.string("will topic")
        check_topic_name(topic, "CONNECT will")
        will = Will(topic, r.binary("will payload"), will_qos, will_retain, will_props)
    return Connect(
        client_id=client_id,
        version=level,
        clean_start=bool(flags & 0x02),
        keep_alive=keep_alive,
        username=r.string("user name") if has_user else None,
        password=r.binary("password") if has_password else None,
        will=will,
        properties=props,
    )


def _decode_connack(r: Reader, _flags: int, version: int) -> Connack:
    ack_flags = r.u8("acknowledge flags")
    if ack_flags & 0xFE:
        raise malformed("CONNACK: reserved acknowledge flags set")
    code = r.u8("reason code")
    if version != MQTT_5:
        if code not in _V3_CONNACK:
            raise malformed(f"CONNACK: return code {code} is not one of 3.1.1's")
        return Connack(bool(ack_flags), _V3_CONNACK[code])
    reason = _reason(code, Connack, "CONNACK")
    return Connack(bool(ack_flags), reason, decode_properties(r, PacketKind.CONNACK))


def decode_publish(r: Reader, flags: int, version: int) -> Publish:
    """A PUBLISH body (the framer's hot path calls it directly, over its own buffer)."""
    qos = (flags >> 1) & 3
    if qos == 3:
        raise malformed("PUBLISH: QoS 3")
    dup = bool(flags & 0x08)
    if dup and not qos:
        raise malformed("PUBLISH: DUP set on a QoS 0 message")
    topic = r.string("topic name")
    check_topic_name(topic, "PUBLISH", allow_empty=version == MQTT_5)
    packet_id = 0
    if qos:
        packet_id = r.u16("packet identifier")
        if not packet_id:
            raise malformed("PUBLISH: packet identifier 0")
    props = NO_PROPERTIES
    if version == MQTT_5:
        props = decode_properties(r, PacketKind.PUBLISH)
    if not topic and props.topic_alias is None:
        raise MqttError(_R.TOPIC_NAME_INVALID, "PUBLISH: empty topic name and no topic alias")
    return Publish(topic, r.rest(), qos, bool(flags & 0x01), dup, packet_id, props)


def decode_publish_plain(
    buf: bytearray, pos: int, end: int, flags: int, version: int
) -> Publish | None:
    """The common PUBLISH — a topic name, no property — read straight from the framer's
    buffer, without a :class:`Reader`: None for anything else (a property, an alias, a
    field out of bounds, a bad flag or name), which :func:`decode_publish` then reads, or
    refuses, with its own checks. Measured: about half the cost of the general path per
    message, the largest single cost of a QoS 1 publish (bench/mqtt_suite.py)."""
    qos = (flags >> 1) & 3
    if qos == 3 or (flags & 0x08 and not qos) or end - pos < 2:
        return None
    name_end = pos + 2 + ((buf[pos] << 8) | buf[pos + 1])
    packet_id = 0
    if qos:
        if name_end + 2 > end:
            return None
        packet_id = (buf[name_end] << 8) | buf[name_end + 1]
        if not packet_id:
            return None
        payload_at = name_end + 2
    else:
        payload_at = name_end
    if version == MQTT_5:
        if payload_at >= end or buf[payload_at]:
            return None  # properties (or none at all: malformed): the general path
        payload_at += 1
    elif payload_at > end:
        return None
    try:
        topic = buf[pos + 2 : name_end].decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not topic or "+" in topic or "#" in topic or "\x00" in topic:
        return None
    return Publish(topic, bytes(buf[payload_at:end]), qos, bool(flags & 0x01), bool(flags & 0x08),
                   packet_id)  # fmt: skip


def _ack_decoder(cls: Any) -> Callable[[Reader, int, int], Any]:
    what = cls.__name__.upper()

    def decode(r: Reader, _flags: int, version: int) -> Any:
        packet_id = r.u16("packet identifier")
        if not packet_id:
            raise malformed(f"{what}: packet identifier 0")
        if version != MQTT_5 or not r.remaining:
            return cls(packet_id)
        reason = _reason(r.u8("reason code"), cls, what)
        props = decode_properties(r, PacketKind.ACK) if r.remaining else NO_PROPERTIES
        return cls(packet_id, reason, props)

    return decode


def _decode_subscribe(r: Reader, _flags: int, version: int) -> Subscribe:
    packet_id = _packet_id(r, "SUBSCRIBE")
    props = decode_properties(r, PacketKind.SUBSCRIBE) if version == MQTT_5 else NO_PROPERTIES
    subs = []
    while r.remaining:
        topic_filter = r.string("topic filter")
        options = r.u8("subscription options")
        qos = options & 3
        if qos == 3:
            raise malformed("SUBSCRIBE: QoS 3")
        if version != MQTT_5:
            if options & 0xFC:
                raise malformed("SUBSCRIBE: reserved option bits set (3.1.1)")
            subs.append(Subscription(topic_filter, qos))
            continue
        if options & 0xC0 or (options >> 4) & 3 == 3:
            raise malformed("SUBSCRIBE: reserved option bits or retain handling 3")
        subs.append(
            Subscription(
                topic_filter,
                qos,
                no_local=bool(options & 0x04),
                retain_as_published=bool(options & 0x08),
                retain_handling=RetainHandling((options >> 4) & 3),
            )
        )
    if not subs:
        raise protocol_error("SUBSCRIBE without a topic filter")
    return Subscribe(packet_id, tuple(subs), props)


def _decode_suback(r: Reader, _flags: int, version: int) -> SubAck:
    packet_id = _packet_id(r, "SUBACK")
    props = decode_properties(r, PacketKind.SUBACK) if version == MQTT_5 else NO_PROPERTIES
    reasons = []
    while r.remaining:
        code = r.u8("reason code")
        if version != MQTT_5 and code not in (0, 1, 2, 0x80):
            raise malformed(f"SUBACK: return code 0x{code:02X} is not one of 3.1.1's")
        reason = ReasonCode.UNSPECIFIED_ERROR if code == 0x80 else None
        reasons.append(reason or _reason(code, SubAck, "SUBACK"))
    return SubAck(packet_id, tuple(reasons), props)


def _decode_unsubscribe(r: Reader, _flags: int, version: int) -> Unsubscribe:
    packet_id = _packet_id(r, "UNSUBSCRIBE")
    props = decode_properties(r, PacketKind.UNSUBSCRIBE) if version == MQTT_5 else NO_PROPERTIES
    filters = []
    while r.remaining:
        filters.append(r.string("topic filter"))
    if not filters:
        raise protocol_error("UNSUBSCRIBE without a topic filter")
    return Unsubscribe(packet_id, tuple(filters), props)


def _decode_unsuback(r: Reader, _flags: int, version: int) -> UnsubAck:
    packet_id = _packet_id(r, "UNSUBACK")
    if version != MQTT_5:
        return UnsubAck(packet_id)
    props = decode_properties(r, PacketKind.UNSUBACK)
    reasons = []
    while r.remaining:
        reasons.append(_reason(r.u8("reason code"), UnsubAck, "UNSUBACK"))
    return UnsubAck(packet_id, tuple(reasons), props)


def _packet_id(r: Reader, what: str) -> int:
    packet_id = r.u16("packet identifier")
    if not packet_id:
        raise malformed(f"{what}: packet identifier 0")
    return packet_id


def _decode_empty(cls: Any) -> Callable[[Reader, int, int], Any]:
    return lambda _r, _f, _v: cls()


def _reason_decoder(cls: Any, kind: PacketKind) -> Callable[[Reader, int, int], Any]:
    what = cls.__name__.upper()

    def decode(r: Reader, _flags: int, version: int) -> Any:
        if version != MQTT_5 or not r.remaining:
            return cls()
        reason = _reason(r.u8("reason code"), cls, what)
        return cls(reason, decode_properties(r, kind) if r.remaining else NO_PROPERTIES)

    return decode


_DECODERS: dict[int, Callable[[Reader, int, int], Any]] = {
    PacketType.CONNECT: _decode_connect,
    PacketType.CONNACK: _decode_connack,
    PacketType.PUBLISH: decode_publish,
    PacketType.PUBACK: _ack_decoder(PubAck),
    PacketType.PUBREC: _ack_decoder(PubRec),
    PacketType.PUBREL: _ack_decoder(PubRel),
    PacketType.PUBCOMP: _ack_decoder(PubComp),
    PacketType.SUBSCRIBE: _decode_subscribe,
    PacketType.SUBACK: _decode_suback,
    PacketType.UNSUBSCRIBE: _decode_unsubscribe,
    PacketType.UNSUBACK: _decode_unsuback,
    PacketType.PINGREQ: _decode_empty(PingReq),
    PacketType.PINGRESP: _decode_empty(PingResp),
    PacketType.DISCONNECT: _reason_decoder(Disconnect, PacketKind.DISCONNECT),
    PacketType.AUTH: _reason_decoder(Auth, PacketKind.AUTH),
}


# -- encoding -------------------------------------------------------------------------------


def _frame(first: int, body: bytes) -> bytes:
    return bytes((first,)) + encode_varint(len(body)) + body


def _props(props: Properties, version: int) -> bytes:
    return encode_properties(props) if version == MQTT_5 else b""


def _encode_connect(p: Connect, version: int) -> bytes:
    level = p.version
    flags = 0x02 if p.clean_start else 0
    payload = [encode_string(p.client_id)]
    if p.will is not None:
        flags |= 0x04 | (p.will.qos << 3) | (0x20 if p.will.retain else 0)
        payload += [_props(p.will.properties, level), encode_string(p.will.topic)]
        payload.append(encode_binary(p.will.payload))
    if p.username is not None:
        flags |= 0x80
        payload.append(encode_string(p.username))
    if p.password is not None:
        flags |= 0x40
        payload.append(encode_binary(p.password))
    head = encode_string("MQTT") + bytes((level, flags)) + _U16.pack(p.keep_alive)
    return _frame(0x10, head + _props(p.properties, level) + b"".join(payload))


def _encode_connack(p: Connack, version: int) -> bytes:
    if version != MQTT_5:
        code = connack_v3(p.reason)
        assert code is not None, f"{p.reason!r} has no 3.1.1 CONNACK return code"
        return bytes((0x20, 2, int(p.session_present), code))
    body = bytes((int(p.session_present), p.reason)) + encode_properties(p.properties)
    return _frame(0x20, body)


def encode_publish(p: Publish, version: int) -> bytes:
    """The hot path out to subscribers: one join, the payload copied once."""
    first = 0x30 | (p.qos << 1) | (0x08 if p.dup else 0) | (0x01 if p.retain else 0)
    topic = p.topic.encode("utf-8")
    parts = [_U16.pack(len(topic)), topic]
    if p.qos:
        parts.append(_U16.pack(p.packet_id))
    if version == MQTT_5:
        parts.append(encode_properties(p.properties))
    head = b"".join(parts)
    return bytes((first,)) + encode_varint(len(head) + len(p.payload)) + head + p.payload


def _ack_encoder(first: int) -> Callable[[Any, int], bytes]:
    def encode(p: Any, version: int) -> bytes:
        body = _U16.pack(p.packet_id)
        if version == MQTT_5 and (p.reason or p.properties is not NO_PROPERTIES):
            body += bytes((p.reason,))
            if p.properties is not NO_PROPERTIES:
                body += encode_properties(p.properties)
        return _frame(first, body)

    return encode


def _encode_subscribe(p: Subscribe, version: int) -> bytes:
    parts = [_U16.pack(p.packet_id), _props(p.properties, version)]
    for s in p.subscriptions:
        options = s.qos
        if version == MQTT_5:
            options |= (
                (0x04 if s.no_local else 0)
                | (0x08 if s.retain_as_published else 0)
                | (s.retain_handling << 4)
            )
        parts += [encode_string(s.filter), bytes((options,))]
    return _frame(0x82, b"".join(parts))


def _encode_suback(p: SubAck, version: int) -> bytes:
    codes = p.reasons if version == MQTT_5 else [suback_v3(r) for r in p.reasons]
    return _frame(0x90, _U16.pack(p.packet_id) + _props(p.properties, version) + bytes(codes))


def _encode_unsubscribe(p: Unsubscribe, version: int) -> bytes:
    filters = b"".join(encode_string(f) for f in p.filters)
    return _frame(0xA2, _U16.pack(p.packet_id) + _props(p.properties, version) + filters)


def _encode_unsuback(p: UnsubAck, version: int) -> bytes:
    body = _U16.pack(p.packet_id)
    if version == MQTT_5:
        body += encode_properties(p.properties) + bytes(p.reasons)
    return _frame(0xB0, body)


def _reason_encoder(first: int) -> Callable[[Any, int], bytes]:
    def encode(p: Any, version: int) -> bytes:
        if version != MQTT_5 or (not p.reason and p.properties is NO_PROPERTIES):
            return bytes((first, 0))
        return _frame(first, bytes((p.reason,)) + encode_properties(p.properties))

    return encode


_ENCODERS: dict[type, Callable[[Any, int], bytes]] = {
    Connect: _encode_connect,
    Connack: _encode_connack,
    Publish: encode_publish,
    PubAck: _ack_encoder(0x40),
    PubRec: _ack_encoder(0x50),
    PubRel: _ack_encoder(0x62),
    PubComp: _ack_encoder(0x70),
    Subscribe: _encode_subscribe,
    SubAck: _encode_suback,
    Unsubscribe: _encode_unsubscribe,
    UnsubAck: _encode_unsuback,
    PingReq: lambda _p, _v: b"\xc0\x00",
    PingResp: lambda _p, _v: b"\xd0\x00",
    Disconnect: _reason_encoder(0xE0),
    Auth: _reason_encoder(0xF0),
}


def encode(packet: Packet, version: int) -> bytes:
    """The bytes of ``packet`` for a connection speaking ``version`` (CONNECT: its own)."""
    return _ENCODERS[type(packet)](packet, version)
