"""Hypothesis strategies for MQTT packets: every packet of both versions, with the
properties each may carry (tests/frontends/mqtt)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from logd.frontends.mqtt.codec import _REASONS
from logd.frontends.mqtt.packets import (
    MQTT_5,
    Auth,
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
    RetainHandling,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
)
from logd.frontends.mqtt.properties import PROPERTIES, PacketKind, Properties
from logd.frontends.mqtt.reasons import ReasonCode

__all__ = ["packets", "publishes", "topic_names"]

text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=20,
)
topic_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00+#"),
    min_size=1,
    max_size=30,
)
u16 = st.integers(1, 0xFFFF)
packet_ids = u16

_TOP = {"byte": 0xFF, "u16": 0xFFFF, "u32": 0xFFFFFFFF, "varint": 268_435_455}
_VALUES: dict[str, Any] = {
    "string": text,
    "binary": st.binary(max_size=20),
    "pair": st.tuples(text, text),
}


def properties(kind: PacketKind, version: int) -> st.SearchStrategy[Properties]:
    cached = _PROPS.get((kind, version))
    if cached is None:
        cached = _PROPS[kind, version] = _properties(kind, version)
    return cached


_PROPS: dict[tuple[PacketKind, int], st.SearchStrategy[Properties]] = {}


def _properties(kind: PacketKind, version: int) -> st.SearchStrategy[Properties]:
    if version != MQTT_5:
        return st.just(Properties())
    fields = {}
    for spec in PROPERTIES.values():
        if kind not in spec.where:
            continue
        if spec.kind in _TOP:
            high = spec.high if spec.high is not None else _TOP[spec.kind]
            value = st.integers(spec.low, high)
        else:
            value = _VALUES[spec.kind]
        if spec.name == "user_properties":
            fields[spec.name] = st.lists(value, max_size=3).map(tuple)
        elif spec.name == "subscription_identifiers":
            size = 3 if kind is PacketKind.PUBLISH else 1
            fields[spec.name] = st.lists(value, max_size=size).map(tuple)
        else:
            fields[spec.name] = st.none() | value
    return st.fixed_dictionaries({}, optional=fields).map(lambda d: Properties(**d))


def _reasons(cls: type) -> st.SearchStrategy[ReasonCode]:
    return st.sampled_from(sorted(ReasonCode(c) for c in _REASONS[cls]))


@st.composite
def _connect(draw: st.DrawFn, version: int) -> Connect:
    will = None
    if draw(st.booleans()):
        will = Will(
            draw(topic_names),
            draw(st.binary(max_size=30)),
            draw(st.integers(0, 2)),
            draw(st.booleans()),
            draw(properties(PacketKind.WILL, version)),
        )
    username = draw(st.none() | text)
    password = draw(st.none() | st.binary(max_size=10))
    if version != MQTT_5 and username is None:
        password = None
    return Connect(
        draw(text),
        version,
        draw(st.booleans()),
        draw(st.integers(0, 0xFFFF)),
        username,
        password,
        will,
        draw(properties(PacketKind.CONNECT, version)),
    )


@st.composite
def _publish(draw: st.DrawFn, version: int) -> Publish:
    qos = draw(st.integers(0, 2))
    props = draw(properties(PacketKind.PUBLISH, version))
    topic = draw(topic_names)
    if props.topic_alias is not None and draw(st.booleans()):
        topic = ""
    return Publish(
        topic,
        draw(st.binary(max_size=100)),
        qos,
        draw(st.booleans()),
        draw(st.booleans()) if qos else False,
        draw(packet_ids) if qos else 0,
        props,
    )


def _ack(cls: Any, version: int) -> st.SearchStrategy[Any]:
    if version != MQTT_5:
        return st.builds(cls, packet_ids)
    return st.builds(cls, packet_ids, _reasons(cls), properties(PacketKind.ACK, version))


def _subscription(version: int) -> st.SearchStrategy[Subscription]:
    if version != MQTT_5:
        return st.builds(Subscription, text, st.integers(0, 2))
    return st.builds(
        Subscription,
        text,
        st.integers(0, 2),
        st.booleans(),
        st.booleans(),
        st.sampled_from(list(RetainHandling)),
    )


def publishes(version: int) -> st.SearchStrategy[Publish]:
    """PUBLISH packets of ``version``, properties and topic aliases included."""
    return _publish(version)


def packets(version: int) -> st.SearchStrategy[Packet]:
    """Any packet of ``version`` (built once per version: hypothesis caches by identity)."""
    cached = _PACKETS.get(version)
    if cached is None:
        cached = _PACKETS[version] = _packets(version)
    return cached


_PACKETS: dict[int, st.SearchStrategy[Packet]] = {}


def _packets(version: int) -> st.SearchStrategy[Packet]:
    v5 = version == MQTT_5
    connack_reason = (
        _reasons(Connack)
        if v5
        else st.sampled_from([ReasonCode(r) for r in (0x00, 0x84, 0x85, 0x88, 0x86, 0x87)])
    )
    suback_reason = (
        _reasons(SubAck)
        if v5
        else st.sampled_from([ReasonCode(r) for r in (0x00, 0x01, 0x02, 0x80)])
    )
    choices: list[st.SearchStrategy[Any]] = [
        _connect(version),
        st.builds(Connack, st.booleans(), connack_reason, properties(PacketKind.CONNACK, version)),
        _publish(version),
        *(_ack(cls, version) for cls in (PubAck, PubRec, PubRel, PubComp)),
        st.builds(
            Subscribe,
            packet_ids,
            st.lists(_subscription(version), min_size=1, max_size=4).map(tuple),
            properties(PacketKind.SUBSCRIBE, version),
        ),
        st.builds(
            SubAck,
            packet_ids,
            st.lists(suback_reason, max_size=4).map(tuple),
            properties(PacketKind.SUBACK, version),
        ),
        st.builds(
            Unsubscribe,
            packet_ids,
            st.lists(text, min_size=1, max_size=4).map(tuple),
            properties(PacketKind.UNSUBSCRIBE, version),
        ),
        st.builds(
            UnsubAck,
            packet_ids,
            st.lists(_reasons(UnsubAck), max_size=4).map(tuple) if v5 else st.just(()),
            properties(PacketKind.UNSUBACK, version),
        ),
        st.just(PingReq()),
        st.just(PingResp()),
    ]
    if v5:
        choices += [
            st.builds(Disconnect, _reasons(Disconnect), properties(PacketKind.DISCONNECT, 5)),
            st.builds(Auth, _reasons(Auth), properties(PacketKind.AUTH, 5)),
        ]
    else:
        choices.append(st.just(Disconnect()))
    return st.one_of(choices)
