"""MQTT on three brokers: a device may connect to any broker, whatever it leads. Publishes
reach the partitions other brokers lead (forwarded through ``logd.v1.ClusterForward``),
subscribers read partitions led anywhere, and a persistent session and the retained
messages survive the SIGKILL of the broker the device was connected to: it resumes on
another one where it left off."""

from __future__ import annotations

import threading
from collections.abc import Callable

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties as PahoProperties

from logd.client import Admin, NewTopic
from tests.helpers import wait_until
from tests.integration.cluster import BrokerProcess, Cluster
from tests.integration.mqtt_helpers import Subscriber, mosquitto_pub, mqtt_address, read_topic

pytestmark = pytest.mark.integration

PARTITIONS = 3


def _session(
    broker: BrokerProcess, client_id: str, got: list[bytes], *, clean: bool
) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id,
                         protocol=MQTTProtocolVersion.MQTTv5)  # fmt: skip
    lock = threading.Lock()

    def on_message(c, userdata, message) -> None:
        with lock:
            got.append(message.payload)

    client.on_message = on_message
    props = PahoProperties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    client.connect(*mqtt_address(broker), clean_start=clean, properties=props)
    client.loop_start()
    wait_until(client.is_connected, timeout=30, message=f"{client_id} connected")
    return client


def test_devices_on_any_broker_and_a_session_that_outlives_its_broker(
    cluster_factory: Callable[..., Cluster],
) -> None:
    cluster = cluster_factory(3)
    with Admin(brokers=cluster.bootstrap) as admin:
        admin.create_topics([NewTopic("fleet", PARTITIONS, 3)])
    # Every broker takes publishes for every partition (two of three are led elsewhere).
    for i in range(9):
        done = mosquitto_pub(cluster[i % 3], f"fleet/dev-{i}/speed", f"v{i}", "-q", "1")
        assert done.returncode == 0, done.stderr
    records = read_topic(cluster[0], "fleet", 9, partitions=range(PARTITIONS))
    assert sorted(r.value for r in records) == [f"v{i}".encode() for i in range(9)]
    assert {r.partition for r in records} == set(range(PARTITIONS))

    # A subscriber on broker 0 reads partitions led anywhere.
    got: list[bytes] = []
    subscribed = threading.Event()
    client = _session(cluster[0], "truck-1", got, clean=True)
    client.on_subscribe = lambda *args: subscribed.set()
    client.subscribe("fleet/#", qos=1)
    assert subscribed.wait(30)
    for i in range(3):
        assert mosquitto_pub(cluster[1], f"fleet/key-{i}/x", f"live{i}", "-q", "1").returncode == 0
    wait_until(lambda: len(got) >= 3, timeout=30, message="live messages")
    assert sorted(got) == [b"live0", b"live1", b"live2"]
    retained = mosquitto_pub(cluster[2], "fleet/dev-r/state", "parked", "-q", "1", "-r")
    assert retained.returncode == 0, retained.stderr
    wait_until(lambda: b"parked" in got, timeout=30, message="the retained publish, live")

    # Its broker dies; what is published meanwhile waits in the log for the session.
    cluster[0].kill()
    client.loop_stop()
    for i in range(3):
        assert mosquitto_pub(cluster[1], f"fleet/key-{i}/x", f"away{i}", "-q", "1").returncode == 0
    got.clear()
    resumed = _session(cluster[1], "truck-1", got, clean=False)
    try:
        wait_until(lambda: len(set(got) & {b"away0", b"away1", b"away2"}) == 3, timeout=60,
                   message=f"the messages published while away (got {got})")  # fmt: skip
    finally:
        resumed.disconnect()
        resumed.loop_stop()
    # A new subscriber on the third broker gets the retained message.
    later = Subscriber(cluster[2], "-t", "fleet/dev-r/#", "-C", "1", "-F", "%r %t %p")
    assert later.lines() == ["1 fleet/dev-r/state parked"]
