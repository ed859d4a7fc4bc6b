"""The MQTT listener with real clients: Debian's mosquitto_pub/mosquitto_sub, paho-mqtt and
aiomqtt against a real broker process. Publishes land in the topics the rules name, with
the key and headers they give, and are read back through the logd client; subscribers
receive what ``logd produce`` writes; retained messages, persistent sessions and wills
outlive their connections and the broker's restart."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import paho.mqtt.client as paho
import pytest
from confluent_kafka import Consumer as KafkaConsumer
from confluent_kafka import TopicPartition as KafkaTopicPartition
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties as PahoProperties

from tests.helpers import wait_until
from tests.integration.cluster import BrokerProcess
from tests.integration.mqtt_helpers import (
    Subscriber,
    mosquitto_pub,
    mqtt_address,
    read_topic,
    write_rules,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def mq(tmp_path_factory: pytest.TempPathFactory) -> BrokerProcess:
    b = BrokerProcess(tmp_path_factory.mktemp("mqtt") / "broker")
    b.start()
    yield b
    assert b.stop() == 0, b._tail()
    b.close()


def headers_of(record) -> dict[str, bytes]:
    return dict(record.headers)


def logd_cli(broker: BrokerProcess, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "-b", broker.address, *args],
        input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_mosquitto_pub_at_each_qos_lands_in_the_mapped_topic_keyed(mq: BrokerProcess) -> None:
    for qos in (0, 1, 2):
        done = mosquitto_pub(mq, f"pubqos/dev-{qos}/temp", f"21.{qos}", "-q", str(qos))
        assert done.returncode == 0, done.stderr
    records = read_topic(mq, "pubqos", 3)
    assert sorted((r.key, r.value) for r in records) == [
        (b"dev-0", b"21.0"),
        (b"dev-1", b"21.1"),
        (b"dev-2", b"21.2"),
    ]
    assert {headers_of(r)["mqtt-topic"] for r in records} == {
        b"pubqos/dev-0/temp",
        b"pubqos/dev-1/temp",
        b"pubqos/dev-2/temp",
    }


def test_a_kafka_client_reads_what_devices_publish(mq: BrokerProcess) -> None:
    """confluent-kafka through the Kafka listener: the device's reading, keyed by the device,
    its MQTT topic and client in the headers."""
    done = mosquitto_pub(mq, "kread/dev-9/temp", "22.5", "-q", "1", "-i", "dev-9")
    assert done.returncode == 0, done.stderr
    consumer = KafkaConsumer({"bootstrap.servers": mq.bound()["kafka"], "group.id": "g-kread"})
    consumer.assign([KafkaTopicPartition("kread", 0, 0)])
    message = None
    try:
        deadline = time.monotonic() + 30
        while message is None and time.monotonic() < deadline:
            polled = consumer.poll(1)
            if polled is not None and polled.error() is None:
                message = polled
    finally:
        consumer.close()
    assert message is not None, "no record through the Kafka listener within 30 s"
    assert (message.key(), message.value()) == (b"dev-9", b"22.5")
    headers = dict(message.headers() or [])
    assert headers["mqtt-topic"] == b"kread/dev-9/temp"
    assert headers["mqtt-client"] == b"dev-9"


def test_paho_5_user_properties_become_headers(mq: BrokerProcess) -> None:
    client = paho.Client(
        CallbackAPIVersion.VERSION2, "paho-props", protocol=MQTTProtocolVersion.MQTTv5
    )
    host, port = mqtt_address(mq)
    client.connect(host, port)
    client.loop_start()
    try:
        props = PahoProperties(PacketTypes.PUBLISH)
        props.UserProperty = [("unit", "C"), ("site", "north")]
        props.ContentType = "text/plain"
        info = client.publish("props/dev-3/temp", b"19.5", qos=1, properties=props)
        info.wait_for_publish(timeout=20)
        assert info.is_published()
    finally:
        client.loop_stop()
        client.disconnect()
    (record,) = read_topic(mq, "props", 1)
    assert record.key == b"dev-3"
    assert record.headers[:3] == [
        ("mqtt-topic", b"props/dev-3/temp"),
        ("unit", b"C"),
        ("site", b"north"),
    ]
    assert headers_of(record)["mqtt-content-type"] == b"text/plain"
    assert headers_of(record)["mqtt-client"] == b"paho-props"


def test_mosquitto_sub_receives_what_logd_produce_writes(mq: BrokerProcess) -> None:
    created = logd_cli(mq, "topic", "create", "feed")
    assert created.returncode == 0, created.stderr
    sub = Subscriber(mq, "-t", "feed/#", "-v", "-C", "3", "-q", "1")
    produced = logd_cli(mq, "produce", "feed", "-k", "dev-1", stdin="a\nb\n")
    assert produced.returncode == 0, produced.stderr
    done = mosquitto_pub(mq, "feed/dev-2/x", "c", "-q", "1")
    assert done.returncode == 0, done.stderr
    assert sub.lines() == ["feed/dev-1 a", "feed/dev-1 b", "feed/dev-2/x c"]


def test_aiomqtt_subscriber_at_qos_1_gets_what_the_cli_produces(mq: BrokerProcess) -> None:
    host, port = mqtt_address(mq)
    got: list[tuple[str, bytes, int]] = []

    async def run() -> None:
        async with aiomqtt.Client(host, port, identifier="aio-sub") as client:
            await client.subscribe("aio/+", qos=1)
            produced = await asyncio.to_thread(
                logd_cli, mq, "produce", "aio", "-k", "k1", stdin="one\ntwo\n"
            )
            assert produced.returncode == 0, produced.stderr
            async for message in client.messages:
                got.append((str(message.topic), bytes(message.payload), message.qos))
                if len(got) == 2:
                    return

    assert logd_cli(mq, "topic", "create", "aio").returncode == 0
    asyncio.run(asyncio.wait_for(run(), 60))
    assert got == [("aio/k1", b"one", 1), ("aio/k1", b"two", 1)]


def test_a_retained_message_reaches_a_later_subscriber(mq: BrokerProcess) -> None:
    done = mosquitto_pub(mq, "ret/dev-1/state", "on", "-q", "1", "-r")
    assert done.returncode == 0, done.stderr
    later = Subscriber(mq, "-t", "ret/#", "-C", "1", "-F", "%r %t %p")
    assert later.lines() == ["1 ret/dev-1/state on"]
    cleared = mosquitto_pub(mq, "ret/dev-1/state", "", "-q", "1", "-r")
    assert cleared.returncode == 0, cleared.stderr
    assert mosquitto_pub(mq, "ret/dev-2/state", "off", "-q", "1", "-r").returncode == 0
    # An empty retained message deleted dev-1's: only dev-2's is left.
    after = Subscriber(mq, "-t", "ret/#", "-C", "1", "-F", "%r %t %p")
    assert after.lines() == ["1 ret/dev-2/state off"]


def _paho(
    mq: BrokerProcess, client_id: str, *, clean: bool, on_message: Callable | None = None,
    expiry: int = 3600,
) -> paho.Client:  # fmt: skip
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id,
                         protocol=MQTTProtocolVersion.MQTTv5)  # fmt: skip
    if on_message is not None:
        client.on_message = on_message
    props = PahoProperties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = expiry
    host, port = mqtt_address(mq)
    client.connect(host, port, clean_start=clean, properties=props)
    client.loop_start()
    wait_until(client.is_connected, timeout=20, message="connected")
    return client


def test_a_persistent_session_gets_what_was_published_while_it_was_away(mq: BrokerProcess) -> None:
    got: list[bytes] = []
    lock = threading.Lock()

    def on_message(client, userdata, message) -> None:
        with lock:
            got.append(message.payload)

    subscribed = threading.Event()
    client = _paho(mq, "away-1", clean=True, on_message=on_message)
    client.on_subscribe = lambda *args: subscribed.set()
    result, _ = client.subscribe("away/#", qos=1)
    assert result == 0 and subscribed.wait(30)
    client.disconnect()
    client.loop_stop()
    for i in range(3):
        assert mosquitto_pub(mq, "away/dev/x", f"m{i}", "-q", "1").returncode == 0
    client = _paho(mq, "away-1", clean=False, on_message=on_message)
    try:
        wait_until(lambda: len(got) >= 3, timeout=30, message="the messages sent while away")
    finally:
        client.disconnect()
        client.loop_stop()
    assert got == [b"m0", b"m1", b"m2"]


def test_the_will_is_published_when_a_client_vanishes(mq: BrokerProcess) -> None:
    will = ("--will-topic", "wills/dying-1", "--will-payload", "gone", "--will-qos", "1")
    vanishing = Subscriber(mq, "-t", "nothing", "-i", "dying-1", *will)
    vanishing.kill()  # SIGKILL: no DISCONNECT, so the will goes out
    (record,) = read_topic(mq, "wills", 1)
    assert (record.key, record.value) == (b"dying-1", b"gone")


def test_rules_from_a_file_map_captures_and_reload_when_it_changes(
    broker_factory: Callable[..., BrokerProcess], tmp_path: Path
) -> None:
    rules = write_rules(tmp_path / "rules.toml", """
[[rules]]
mqtt = "building/{b}/room/{r}/#"
topic = "building_{b}"
key = "{r}"
headers = { building = "{b}" }
max_payload_bytes = 8
""")  # fmt: skip
    b = broker_factory(extra_args=["--mqtt-rules", str(rules)])
    assert mosquitto_pub(b, "building/7/room/12/temp", "21.5", "-q", "1").returncode == 0
    (record,) = read_topic(b, "building_7", 1)
    assert record.key == b"12"
    assert headers_of(record)["building"] == b"7"
    too_big = mosquitto_pub(b, "building/7/room/12/temp", "x" * 9, "-q", "1", "-V", "mqttv5")
    assert "Quota exceeded" in too_big.stderr + too_big.stdout, too_big
    assert len(read_topic(b, "building_7", 2, timeout=2)) == 1  # nothing more stored
    rules.write_text('[[rules]]\nmqtt = "building/{b}/#"\ntopic = "b_{b}"\n')
    wait_until(lambda: "rules from" in b.stderr_text().split("building_7")[-1], timeout=20,
               message="the rules reloaded")  # fmt: skip
    assert mosquitto_pub(b, "building/8/x", "y", "-q", "1").returncode == 0
    (record,) = read_topic(b, "b_8", 1)
    assert record.value == b"y"


def test_mqtt_over_websocket_with_paho(mq: BrokerProcess) -> None:
    """MQTT over WebSocket at /mqtt on the HTTP listener (its port, beside the REST proxy)."""
    b = mq
    host, _, port = b.bound()["http"].rpartition(":")
    got: list[tuple[str, bytes]] = []
    subscribed = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, "ws-1", protocol=MQTTProtocolVersion.MQTTv5,
                         transport="websockets")  # fmt: skip
    client.ws_set_options(path="/mqtt")
    client.on_message = lambda c, u, m: got.append((m.topic, m.payload))
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect(host, int(port))
    client.loop_start()
    try:
        client.subscribe("ws/#", qos=1)
        assert subscribed.wait(30)
        info = client.publish("ws/dev-1/x", b"over websocket", qos=1)
        info.wait_for_publish(timeout=30)
        assert info.is_published()
        wait_until(lambda: got, timeout=30, message="the message back over the WebSocket")
    finally:
        client.loop_stop()
        client.disconnect()
    assert got == [("ws/dev-1/x", b"over websocket")]
    (record,) = read_topic(b, "ws", 1)
    assert (record.key, record.value) == (b"dev-1", b"over websocket")
