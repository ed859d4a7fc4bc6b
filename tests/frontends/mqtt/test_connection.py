"""The sans-I/O MQTT connection driven packet by packet, as a client would (h11's
ConnectionPair idea: our own encoder plays the client, our own framer reads the answers)."""

from __future__ import annotations

import random

import pytest

from logd.frontends.mqtt.codec import encode
from logd.frontends.mqtt.connection import (
    Answered,
    ConnectionLimits,
    ConnectRequested,
    DeliveryAcked,
    DisconnectRequested,
    MqttConnection,
    PublishReceived,
    ReleaseRequested,
    SubscribeRequested,
)
from logd.frontends.mqtt.errors import MqttError
from logd.frontends.mqtt.framer import NEED_DATA, PacketReader
from logd.frontends.mqtt.packets import (
    MQTT_3_1_1,
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
    Subscribe,
    Subscription,
)
from logd.frontends.mqtt.properties import Properties
from logd.frontends.mqtt.reasons import ReasonCode
from logd.frontends.mqtt.state import ConnState


class Pair:
    """A connection and the client's view of what it wrote."""

    def __init__(self, version: int = MQTT_5, **limits) -> None:
        self.conn = MqttConnection(ConnectionLimits(**limits), random.Random(7), now=0.0)
        self.version = version
        self.reader = PacketReader(1 << 20, expect_connect=False, version=version)
        self.now = 0.0
        self.answered: list[str] = []  # packets the connection answered by itself

    def send(self, *packets: Packet) -> list:
        for p in packets:
            self.conn.receive_data(encode(p, self.version))
        events = []
        while (event := self.conn.next_event(self.now)) is not NEED_DATA:
            if isinstance(event, Answered):
                self.answered.append(event.kind)
            else:
                events.append(event)
        return events

    def received(self) -> list[Packet]:
        self.reader.feed(self.conn.data_to_send())
        out = []
        while (p := self.reader.next_packet()) is not NEED_DATA:
            out.append(p)
        return out

    def connect(self, **kw) -> ConnectRequested:
        (event,) = self.send(Connect(kw.pop("client_id", "dev-1"), self.version, **kw))
        assert isinstance(event, ConnectRequested)
        self.conn.accept(session_present=False)
        (connack,) = self.received()
        assert isinstance(connack, Connack) and connack.reason == ReasonCode.SUCCESS
        return event


def test_connect_accept_and_connack_properties() -> None:
    pair = Pair(receive_maximum=10, topic_alias_maximum=4)
    (event,) = pair.send(Connect("", MQTT_5, keep_alive=30))
    assert isinstance(event, ConnectRequested)
    assert event.client_id.startswith("logd-") and event.session_expiry == 0
    assert pair.conn.state is ConnState.CONNECTING
    # Packets sent before CONNACK wait (section 3.1.4): nothing more is read.
    assert pair.send(PingReq()) == []
    pair.conn.accept(session_present=False)
    (connack,) = pair.received()
    assert connack.properties.receive_maximum == 10
    assert connack.properties.topic_alias_maximum == 4
    assert connack.properties.assigned_client_identifier == event.client_id
    assert connack.properties.shared_subscription_available == 0
    assert pair.send() == [] and pair.received() == [PingResp()]


def test_3_1_1_session_expiry_follows_clean_session() -> None:
    pair = Pair(MQTT_3_1_1)
    assert pair.connect(clean_start=False).session_expiry == 0xFFFFFFFF
    with pytest.raises(MqttError) as info:
        Pair(MQTT_3_1_1).send(Connect("", MQTT_3_1_1, clean_start=False))
    assert info.value.reason == ReasonCode.CLIENT_IDENTIFIER_NOT_VALID


def test_a_refused_3_1_1_connect_gets_its_return_code() -> None:
    pair = Pair(MQTT_3_1_1)
    pair.send(Connect("x", MQTT_3_1_1))
    pair.conn.refuse(ReasonCode.NOT_AUTHORIZED)
    assert pair.received() == [Connack(False, ReasonCode.NOT_AUTHORIZED)]
    assert pair.conn.state is ConnState.CLOSED


def test_a_second_connect_is_a_protocol_error() -> None:
    pair = Pair()
    pair.connect()
    with pytest.raises(MqttError) as info:
        pair.send(Connect("dev-1"))
    assert info.value.reason == ReasonCode.PROTOCOL_ERROR
    pair.conn.fail(info.value)
    (disconnect,) = pair.received()
    assert disconnect.reason == ReasonCode.PROTOCOL_ERROR
    assert "CONNECT is not allowed" in disconnect.properties.reason_string


def test_enhanced_authentication_is_refused_with_bad_authentication_method() -> None:
    pair = Pair()
    with pytest.raises(MqttError) as info:
        pair.send(Connect("x", properties=Properties(authentication_method="SCRAM-SHA-1")))
    pair.conn.fail(info.value)
    assert pair.received()[0].reason == ReasonCode.BAD_AUTHENTICATION_METHOD


def test_pubacks_go_out_in_the_order_the_publishes_came() -> None:
    pair = Pair()
    pair.connect()
    events = pair.send(*(Publish("a", b"%d" % i, 1, packet_id=i) for i in (1, 2, 3)))
    assert [e.publish.packet_id for e in events] == [1, 2, 3]
    pair.conn.stored(3, 1)
    pair.conn.stored(2, 1)
    assert pair.received() == []
    pair.conn.stored(1, 1, ReasonCode.QUOTA_EXCEEDED)
    assert pair.received() == [PubAck(1, ReasonCode.QUOTA_EXCEEDED), PubAck(2), PubAck(3)]


def test_a_3_1_1_refusal_closes_the_connection() -> None:
    pair = Pair(MQTT_3_1_1)
    pair.connect()
    pair.send(Publish("a", b"x", 1, packet_id=1))
    with pytest.raises(MqttError):
        pair.conn.stored(1, 1, ReasonCode.QUOTA_EXCEEDED)


def test_receive_maximum_exceeded() -> None:
    pair = Pair(receive_maximum=2)
    pair.connect()
    pair.send(Publish("a", b"", 1, packet_id=1), Publish("a", b"", 2, packet_id=2))
    pair.conn.stored(1, 1)
    pair.send(Publish("a", b"", 1, packet_id=3))  # one answered: room for one more
    with pytest.raises(MqttError) as info:
        pair.send(Publish("a", b"", 1, packet_id=4))
    assert info.value.reason == ReasonCode.RECEIVE_MAXIMUM_EXCEEDED


def test_qos2_is_stored_once_and_released_durably() -> None:
    pair = Pair()
    pair.connect()
    (first,) = pair.send(Publish("a", b"x", 2, packet_id=5))
    assert isinstance(first, PublishReceived)
    assert pair.send(Publish("a", b"x", 2, dup=True, packet_id=5)) == []  # still storing
    pair.conn.stored(5, 2)
    assert pair.received() == [PubRec(5)]
    assert pair.send(Publish("a", b"x", 2, dup=True, packet_id=5)) == []  # resent: PUBREC
    assert pair.received() == [PubRec(5)]
    assert pair.conn.qos2_received() == {5}
    assert pair.send(PubRel(5)) == [ReleaseRequested(5)]
    assert pair.received() == []
    pair.conn.released(5)
    assert pair.received() == [PubComp(5)]
    assert pair.send(PubRel(5)) == []  # unknown now
    assert pair.received() == [PubComp(5, ReasonCode.PACKET_IDENTIFIER_NOT_FOUND)]


def test_a_resumed_session_answers_a_resent_qos2_publish_without_storing_it() -> None:
    pair = Pair()
    pair.send(Connect("dev-1", clean_start=False))
    pair.conn.accept(session_present=True, qos2_received={9})
    pair.received()
    assert pair.send(Publish("a", b"x", 2, dup=True, packet_id=9)) == []
    assert pair.received() == [PubRec(9)]


def test_topic_aliases() -> None:
    pair = Pair(topic_alias_maximum=2)
    pair.connect()
    (a,) = pair.send(Publish("long/topic", b"1", properties=Properties(topic_alias=1)))
    (b,) = pair.send(Publish("", b"2", properties=Properties(topic_alias=1)))
    assert a.topic == b.topic == "long/topic"
    with pytest.raises(MqttError) as info:
        pair.send(Publish("", b"3", properties=Properties(topic_alias=2)))
    assert info.value.reason == ReasonCode.PROTOCOL_ERROR
    over = Pair(topic_alias_maximum=2)
    over.connect()
    with pytest.raises(MqttError) as info:
        over.send(Publish("t", b"", properties=Properties(topic_alias=3)))
    assert info.value.reason == ReasonCode.TOPIC_ALIAS_INVALID


def test_keep_alive_deadline_is_one_and_a_half_times() -> None:
    pair = Pair()
    pair.connect(keep_alive=10)
    assert pair.conn.keep_alive_deadline() == 15.0
    pair.now = 12.0
    pair.send(PingReq())
    assert pair.conn.keep_alive_deadline() == 27.0


def test_server_keep_alive_caps_a_5_0_client() -> None:
    pair = Pair(server_keep_alive=20)
    (event,) = pair.send(Connect("x", keep_alive=0))
    assert event.keep_alive == 20
    pair.conn.accept(False)
    assert pair.received()[0].properties.server_keep_alive == 20


def test_outbound_qos1_and_qos2_flows_and_the_clients_window() -> None:
    pair = Pair()
    pair.send(Connect("x", properties=Properties(receive_maximum=2)))
    pair.conn.accept(False)
    pair.received()
    one = pair.conn.send_publish(Publish("t", b"1", 1))
    two = pair.conn.send_publish(Publish("t", b"2", 2))
    assert (one, two) == (1, 2) and pair.conn.window == 0
    assert [p.packet_id for p in pair.received()] == [1, 2]
    assert pair.send(PubAck(1)) == [DeliveryAcked(1)]
    assert pair.send(PubRec(2)) == []
    assert pair.received() == [PubRel(2)]
    assert pair.send(PubComp(2)) == [DeliveryAcked(2, kind="PUBCOMP")]
    assert pair.conn.window == 2
    assert pair.send(PubAck(77)) == []  # unknown: ignored


def test_a_publish_over_the_clients_maximum_packet_size_is_dropped() -> None:
    pair = Pair()
    pair.send(Connect("x", properties=Properties(maximum_packet_size=50)))
    pair.conn.accept(False)
    pair.received()
    assert pair.conn.send_publish(Publish("t", b"x" * 100, 1)) is None
    assert pair.received() == [] and pair.conn.window == 65535


def test_subscribe_and_disconnect_events() -> None:
    pair = Pair()
    pair.connect()
    sub = Subscribe(1, (Subscription("a/#", 1),))
    assert pair.send(sub) == [SubscribeRequested(sub)]
    assert pair.send(Disconnect(ReasonCode.DISCONNECT_WITH_WILL)) == [
        DisconnectRequested(Disconnect(ReasonCode.DISCONNECT_WITH_WILL))
    ]
    assert pair.conn.state is ConnState.CLOSED


def test_server_packets_from_a_client_are_protocol_errors() -> None:
    pair = Pair()
    pair.connect()
    with pytest.raises(MqttError):
        pair.send(PingResp())


def test_every_packet_gives_one_event_those_answered_here_included() -> None:
    """The driver counts each packet (its metrics): one the connection answers by itself
    (PINGREQ, a repeated QoS 2 PUBLISH, a PUBREL or PUBACK of an unknown identifier) gives
    an Answered event naming it."""
    pair = Pair()
    pair.connect()
    pair.send(PingReq(), PubRel(5), PubAck(77))
    (stored,) = pair.send(Publish("a", b"x", 2, packet_id=9))
    pair.send(Publish("a", b"x", 2, dup=True, packet_id=9))
    assert isinstance(stored, PublishReceived)
    assert pair.answered == ["PINGREQ", "PUBREL", "PUBACK", "PUBLISH"]
