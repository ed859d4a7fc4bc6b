"""The MQTT codec and framer on known bytes: what real clients send, and each way a packet
can be malformed (5.0 and 3.1.1 sections cited)."""

from __future__ import annotations

import pytest

from logd.frontends.mqtt.codec import encode
from logd.frontends.mqtt.errors import MqttError
from logd.frontends.mqtt.framer import NEED_DATA, PacketReader
from logd.frontends.mqtt.packets import (
    MQTT_3_1_1,
    MQTT_5,
    Connack,
    Connect,
    PubAck,
    Publish,
    SubAck,
    Subscribe,
    Subscription,
    Will,
)
from logd.frontends.mqtt.properties import Properties
from logd.frontends.mqtt.reasons import ReasonCode
from logd.frontends.mqtt.wire import encode_varint

# mosquitto_pub 2.0 (-V mqttv311 -i dev-7 -k 60), captured from the wire.
MOSQUITTO_CONNECT_V311 = b"\x10\x11\x00\x04MQTT\x04\x02\x00\x3c\x00\x05dev-7"


def read(data: bytes, version: int = MQTT_5, limit: int = 1 << 20, expect_connect=False):
    reader = PacketReader(limit, expect_connect=expect_connect, version=version)
    reader.feed(data)
    return reader.next_packet()


def refused(data: bytes, reason: ReasonCode, **kw) -> MqttError:
    with pytest.raises(MqttError) as info:
        read(data, **kw)
    assert info.value.reason == reason, info.value
    return info.value


def test_a_3_1_1_connect_as_mosquitto_sends_it() -> None:
    packet = read(MOSQUITTO_CONNECT_V311, expect_connect=True)
    assert packet == Connect("dev-7", MQTT_3_1_1, clean_start=True, keep_alive=60)
    assert encode(packet, MQTT_3_1_1) == MOSQUITTO_CONNECT_V311


def test_a_5_0_publish_with_properties() -> None:
    props = Properties(topic_alias=3, user_properties=(("unit", "C"),), content_type="text")
    data = encode(Publish("s/d/t", b"21.5", 1, packet_id=9, properties=props), MQTT_5)
    assert read(data) == Publish("s/d/t", b"21.5", 1, packet_id=9, properties=props)


def test_3_1_1_connack_and_suback_return_codes() -> None:
    assert encode(Connack(True), MQTT_3_1_1) == b"\x20\x02\x01\x00"
    assert encode(Connack(False, ReasonCode.NOT_AUTHORIZED), MQTT_3_1_1) == b"\x20\x02\x00\x05"
    suback = SubAck(5, (ReasonCode.GRANTED_QOS_1, ReasonCode.TOPIC_FILTER_INVALID))
    assert encode(suback, MQTT_3_1_1) == b"\x90\x04\x00\x05\x01\x80"


def test_5_0_puback_success_is_two_bytes_of_body() -> None:
    assert encode(PubAck(7), MQTT_5) == b"\x40\x02\x00\x07"
    assert read(b"\x40\x02\x00\x07") == PubAck(7)


def test_the_remaining_length_limit_is_checked_before_the_body_arrives() -> None:
    reader = PacketReader(1000, expect_connect=False)
    reader.feed(b"\x30" + encode_varint(5000))  # header only: 5000 bytes announced
    with pytest.raises(MqttError) as info:
        reader.next_packet()
    assert info.value.reason == ReasonCode.PACKET_TOO_LARGE


def test_remaining_length_of_five_bytes_or_not_shortest_is_malformed() -> None:
    refused(b"\x30\xff\xff\xff\xff\x01", ReasonCode.MALFORMED_PACKET)
    refused(b"\x30\x80\x00", ReasonCode.MALFORMED_PACKET)  # 0 in two bytes


def test_an_incomplete_packet_needs_data() -> None:
    data = encode(Publish("a", b"x" * 300), MQTT_5)
    for cut in (1, 2, 3, len(data) - 1):
        assert read(data[:cut]) is NEED_DATA


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x10\x0c\x00\x04MQTX\x05\x02\x00\x3c\x00\x00", ReasonCode.UNSUPPORTED_PROTOCOL_VERSION),
        (b"\x10\x0c\x00\x04MQTT\x06\x02\x00\x3c\x00\x00", ReasonCode.UNSUPPORTED_PROTOCOL_VERSION),
        (b"\x10\x0c\x00\x04MQTT\x04\x03\x00\x3c\x00\x00", ReasonCode.MALFORMED_PACKET),  # reserved
        (b"\x10\x0c\x00\x04MQTT\x04\x18\x00\x3c\x00\x00", ReasonCode.MALFORMED_PACKET),  # QoS 3
        (b"\x10\x0c\x00\x04MQTT\x04\x42\x00\x3c\x00\x00", ReasonCode.MALFORMED_PACKET),  # pw only
    ],
)
def test_bad_connects(data: bytes, reason: ReasonCode) -> None:
    refused(data, reason, expect_connect=True)


def test_a_wrong_protocol_name_says_which_version_to_answer_in() -> None:
    v5 = refused(b"\x10\x0c\x00\x04MQTX\x05\x02\x00\x3c\x00\x00",
                 ReasonCode.UNSUPPORTED_PROTOCOL_VERSION, expect_connect=True)  # fmt: skip
    v3 = refused(b"\x10\x0c\x00\x04MQIs\x04\x02\x00\x3c\x00\x00",
                 ReasonCode.UNSUPPORTED_PROTOCOL_VERSION, expect_connect=True)  # fmt: skip
    level = refused(b"\x10\x0c\x00\x04MQTT\x03\x02\x00\x3c\x00\x00",
                    ReasonCode.UNSUPPORTED_PROTOCOL_VERSION, expect_connect=True)  # fmt: skip
    assert (v5.version, v3.version, level.version) == (MQTT_5, None, MQTT_3_1_1)


def test_the_first_packet_must_be_connect_and_is_refused_at_its_first_byte() -> None:
    refused(b"\x30", ReasonCode.PROTOCOL_ERROR, expect_connect=True)


def test_a_topic_with_a_nul_or_a_wildcard_or_bad_utf8() -> None:
    refused(b"\x30\x05\x00\x03a\x00b", ReasonCode.MALFORMED_PACKET)
    refused(b"\x30\x05\x00\x03a/+", ReasonCode.TOPIC_NAME_INVALID)
    refused(b"\x30\x04\x00\x02\xc3\x28", ReasonCode.MALFORMED_PACKET)
    refused(b"\x30\x05\x00\x03\xed\xa0\x80", ReasonCode.MALFORMED_PACKET)  # a surrogate


def test_publish_flags() -> None:
    refused(b"\x36\x03\x00\x01a", ReasonCode.MALFORMED_PACKET)  # QoS 3
    refused(b"\x38\x03\x00\x01a", ReasonCode.MALFORMED_PACKET)  # DUP on QoS 0
    refused(b"\x32\x05\x00\x01a\x00\x00", ReasonCode.MALFORMED_PACKET)  # packet id 0


def test_fixed_header_flags_of_other_packets() -> None:
    refused(b"\x80\x06\x00\x01\x00\x01a\x00", ReasonCode.MALFORMED_PACKET)  # SUBSCRIBE 0000
    refused(b"\xc1\x00", ReasonCode.MALFORMED_PACKET)  # PINGREQ 0001
    refused(b"\x00\x00", ReasonCode.MALFORMED_PACKET)  # type 0


def test_property_rules() -> None:
    # Receive Maximum twice, Receive Maximum 0, a PUBLISH-only property in CONNACK.
    refused(b"\x20\x09\x00\x00\x06\x21\x00\x01\x21\x00\x01", ReasonCode.PROTOCOL_ERROR)
    refused(b"\x20\x06\x00\x00\x03\x21\x00\x00", ReasonCode.PROTOCOL_ERROR)
    refused(b"\x20\x05\x00\x00\x02\x01\x01", ReasonCode.MALFORMED_PACKET)
    # A property block longer than the packet.
    refused(b"\x20\x04\x00\x00\x09\x01", ReasonCode.MALFORMED_PACKET)


def test_subscribe_options() -> None:
    ok = encode(Subscribe(1, (Subscription("a/#", 1, no_local=True),)), MQTT_5)
    assert read(ok) == Subscribe(1, (Subscription("a/#", 1, no_local=True),))
    refused(b"\x82\x07\x00\x01\x00\x00\x01a\x03", ReasonCode.MALFORMED_PACKET)  # QoS 3
    refused(b"\x82\x07\x00\x01\x00\x00\x01a\x30", ReasonCode.MALFORMED_PACKET)  # retain h. 3
    refused(b"\x82\x06\x00\x01\x00\x01a\x04", ReasonCode.MALFORMED_PACKET, version=MQTT_3_1_1)
    refused(b"\x82\x03\x00\x01\x00", ReasonCode.PROTOCOL_ERROR)  # no filter


def test_auth_is_a_5_0_packet_only() -> None:
    assert read(b"\xf0\x00") is not NEED_DATA
    refused(b"\xf0\x00", ReasonCode.MALFORMED_PACKET, version=MQTT_3_1_1)


def test_will_round_trip_in_both_versions() -> None:
    will = Will("a/b", b"gone", 1, True)
    for version in (MQTT_3_1_1, MQTT_5):
        c = Connect("x", version, False, 10, "u", b"p", will)
        assert read(encode(c, version), expect_connect=True) == c
