"""Bad input at the MQTT listener of a real broker: each case gets its MQTT reason code (or
a closed connection where the protocol has none), nothing of it is stored, and the listener
goes on serving — checked after every case by a QoS 1 publish that must be acknowledged and
stored. The broker's stderr holds no traceback at the end. Then the listener's fuzzer:
mutated packet streams (hypothesis) sent before and after CONNECT."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logd.frontends.mqtt.codec import encode
from logd.frontends.mqtt.packets import (
    MQTT_3_1_1,
    MQTT_5,
    Connack,
    Connect,
    Disconnect,
    PubAck,
    Publish,
    SubAck,
    Subscribe,
    Subscription,
)
from logd.frontends.mqtt.reasons import ReasonCode
from logd.frontends.mqtt.wire import encode_varint
from tests.frontends.mqtt.strategies import packets
from tests.integration.cluster import BrokerProcess
from tests.integration.mqtt_helpers import RawClient, mqtt_address, read_topic

pytestmark = pytest.mark.integration

CONNECT_TIMEOUT_MS = 1500
PACKET_TIMEOUT_MS = 2500


@pytest.fixture(scope="module")
def mq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    root: Path = tmp_path_factory.mktemp("mqtt-bad")
    config = root / "broker.toml"
    config.write_text(
        f"mqtt.connect.timeout.ms = {CONNECT_TIMEOUT_MS}\n"
        f"mqtt.packet.timeout.ms = {PACKET_TIMEOUT_MS}\n"
        "mqtt.max.packet.bytes = 65536\n"
    )
    b = BrokerProcess(root / "broker", config_file=config)
    b.start()
    yield b
    assert "Traceback" not in b.stderr_text(), b._tail()
    assert b.stop() == 0, b._tail()
    b.close()


_probes = iter(range(1_000_000))


def still_serving(mq: BrokerProcess) -> None:
    """A new client publishes at QoS 1, is acknowledged, and the record is stored."""
    n = next(_probes)
    c = RawClient(mq)
    c.send(Connect(f"probe-{n}"))
    assert isinstance(c.receive(), Connack)
    c.send(Publish(f"probe/p-{n}", b"ok", 1, packet_id=1))
    assert c.receive() == PubAck(1)
    c.close()
    (record,) = read_topic(mq, "probe", 1, partitions=(0,), key_filter=f"p-{n}".encode())
    assert record.value == b"ok"


def connected(mq: BrokerProcess, client_id: str, version: int = MQTT_5) -> RawClient:
    c = RawClient(mq, version)
    c.send(Connect(client_id, version))
    connack = c.receive()
    assert isinstance(connack, Connack) and connack.reason == ReasonCode.SUCCESS
    return c


def test_a_wrong_protocol_name(mq: BrokerProcess) -> None:
    v5 = RawClient(mq)
    v5.send_raw(b"\x10\x0c\x00\x04MQTX\x05\x02\x00\x3c\x00\x00")
    connack = v5.receive()
    assert isinstance(connack, Connack)
    assert connack.reason == ReasonCode.UNSUPPORTED_PROTOCOL_VERSION
    assert "protocol name 'MQTX'" in (connack.properties.reason_string or "")
    assert v5.closed_by_server()
    v3 = RawClient(mq, MQTT_3_1_1)
    v3.send_raw(b"\x10\x0c\x00\x04MQIs\x04\x02\x00\x3c\x00\x00")
    assert v3.receive() is None  # 3.1.1: no CONNACK, a closed connection
    unknown_level = RawClient(mq, MQTT_3_1_1)
    unknown_level.send_raw(b"\x10\x0c\x00\x04MQTT\x07\x02\x00\x3c\x00\x00")
    assert unknown_level.receive() == Connack(False, ReasonCode.UNSUPPORTED_PROTOCOL_VERSION)
    assert unknown_level.closed_by_server()
    still_serving(mq)


def test_a_remaining_length_over_the_limit_is_refused_before_its_body(mq: BrokerProcess) -> None:
    c = connected(mq, "too-big")
    c.send_raw(b"\x32" + encode_varint(200_000_000))  # 200 MB announced, nothing sent
    answer = c.receive()
    assert isinstance(answer, Disconnect) and answer.reason == ReasonCode.PACKET_TOO_LARGE
    assert c.closed_by_server()
    still_serving(mq)


def test_a_topic_with_a_nul_is_malformed_and_not_stored(mq: BrokerProcess) -> None:
    c = connected(mq, "nul-topic")
    c.send_raw(b"\x32\x0c\x00\x08nul\x00/k-1\x00\x01x")
    answer = c.receive()
    assert isinstance(answer, Disconnect) and answer.reason == ReasonCode.MALFORMED_PACKET
    assert c.closed_by_server()
    still_serving(mq)
    assert read_topic(mq, "nul", 1, timeout=1) == []


def test_subscribing_to_an_invalid_filter_is_refused_in_the_suback(mq: BrokerProcess) -> None:
    for version, refusal in ((MQTT_5, ReasonCode.TOPIC_FILTER_INVALID),
                             (MQTT_3_1_1, ReasonCode.UNSPECIFIED_ERROR)):  # fmt: skip
        c = connected(mq, f"bad-filter-{version}", version)
        c.send(Subscribe(1, (Subscription("a/#/b", 1), Subscription("ok/#", 1))))
        assert c.receive() == SubAck(1, (refusal, ReasonCode.GRANTED_QOS_1))
        c.send(Publish("bf/k/x", b"still here", 1, packet_id=2))
        assert c.receive() == PubAck(2)  # the connection lives on
        c.close()
    still_serving(mq)


def test_publishing_before_connect_closes_the_connection(mq: BrokerProcess) -> None:
    c = RawClient(mq)
    c.send(Publish("early/k/x", b"too soon", 1, packet_id=1))
    assert c.receive() is None
    still_serving(mq)
    assert read_topic(mq, "early", 1, timeout=1) == []


def test_a_client_sending_two_bytes_a_second_is_cut_off(mq: BrokerProcess) -> None:
    connect = encode(Connect("slow-loris"), MQTT_5)
    slow = RawClient(mq)
    started = time.monotonic()
    closed = False
    for i in range(0, len(connect), 2):
        try:
            slow.send_raw(connect[i : i + 2])
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        slow.sock.settimeout(1.0)
        try:
            if slow.sock.recv(1) == b"":
                closed = True
                break
        except TimeoutError:
            pass  # a second passed: two bytes a second
        except ConnectionResetError:
            closed = True
            break
    assert closed, "the listener waited for the whole CONNECT at 2 bytes a second"
    assert time.monotonic() - started < CONNECT_TIMEOUT_MS / 1000 + 5
    # After CONNECT, a packet begun and never finished is cut off the same way.
    stalled = connected(mq, "stalled")
    stalled.send_raw(b"\x30\x10\x00")
    stalled.sock.settimeout(PACKET_TIMEOUT_MS / 1000 + 10)
    assert stalled.closed_by_server()
    still_serving(mq)


@settings(max_examples=120, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
@given(st.lists(packets(MQTT_5), min_size=1, max_size=4), st.integers(0, 3), st.booleans())
def test_fuzzed_packet_streams_never_harm_the_listener(mq_fuzz, items, flips, connect) -> None:
    data = bytearray(b"".join(encode(p, MQTT_5) for p in items))
    for i in range(flips):
        if data:
            data[(i * 7919) % len(data)] ^= 0x5A
    host, port = mqtt_address(mq_fuzz)
    with socket.create_connection((host, port), timeout=5) as sock:
        if connect:
            sock.sendall(encode(Connect("fuzz"), MQTT_5))
        try:
            sock.sendall(bytes(data))
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
        except (ConnectionResetError, BrokenPipeError, TimeoutError):
            pass


@pytest.fixture(scope="module")
def mq_fuzz(mq: BrokerProcess) -> Iterator[BrokerProcess]:
    yield mq
    still_serving(mq)
