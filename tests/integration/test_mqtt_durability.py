"""Acknowledged means durable, for real: a paho-mqtt publisher with a persistent session
sends through a proxy that drops one PUBACK (QoS 1) or PUBREC (QoS 2) — the record is
stored and committed, the acknowledgement never arrives — and the broker is SIGKILLed right
there. The broker restarts on the same ports; paho reconnects, resumes its session and
sends again what was not acknowledged. Then every acknowledged message is in the log: at
least once at QoS 1, exactly once at QoS 2 (though the client sent the cut one twice)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties as PahoProperties

from tests.helpers import wait_until
from tests.integration.cluster import BrokerProcess
from tests.integration.mqtt_cutproxy import PUBACK, PUBREC, MqttCutProxy
from tests.integration.mqtt_helpers import mqtt_address, read_topic

pytestmark = pytest.mark.integration

MESSAGES = 40
CUT_AT = 17  # the 17th acknowledgement is lost, with the broker


@pytest.mark.parametrize(("qos", "cut_type"), [(1, PUBACK), (2, PUBREC)])
def test_a_broker_killed_before_the_ack_loses_nothing_acknowledged(
    broker_factory: Callable[..., BrokerProcess], qos: int, cut_type: int
) -> None:
    broker = broker_factory()
    killed = threading.Event()

    def kill() -> None:
        broker.kill()  # SIGKILL, in the proxy's thread, between commit and acknowledgement
        killed.set()

    proxy = MqttCutProxy(mqtt_address(broker), cut_at=CUT_AT, cut_type=cut_type, on_cut=kill)
    proxy.start()
    acked: set[int] = set()
    lock = threading.Lock()
    client = paho.Client(CallbackAPIVersion.VERSION2, f"durable-{qos}",
                         protocol=MQTTProtocolVersion.MQTTv5)  # fmt: skip
    client.reconnect_delay_set(0.05, 0.5)
    client.max_inflight_messages_set(5)

    def on_publish(c, userdata, mid, reason_code, properties) -> None:
        with lock:
            acked.add(mid)

    client.on_publish = on_publish
    props = PahoProperties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", proxy.port, clean_start=False, properties=props)
    client.loop_start()
    try:
        sent = {client.publish(f"durable/dev-{qos}/x", f"m{i}".encode(), qos=qos).mid: i
                for i in range(MESSAGES)}  # fmt: skip
        assert killed.wait(60), "the proxy never cut"
        broker.start()  # same data directory, same ports: paho reconnects by itself
        wait_until(lambda: len(acked) == MESSAGES, timeout=90,
                   message=f"every message acknowledged ({len(acked)}/{MESSAGES})")  # fmt: skip
    finally:
        client.loop_stop()
        client.disconnect()
        proxy.stop()
    assert proxy.cuts == 1
    records = read_topic(broker, "durable", MESSAGES, key_filter=f"dev-{qos}".encode())
    counts = Counter(r.value for r in records)
    for mid in acked:
        assert counts[f"m{sent[mid]}".encode()] >= 1, f"acknowledged m{sent[mid]} is lost"
    if qos == 2:
        assert proxy.resent, "the client did not send the cut message again"
        extra = read_topic(broker, "durable", MESSAGES + 1, timeout=3,
                           key_filter=b"dev-2")  # fmt: skip
        assert len(extra) == MESSAGES, " ".join(f"{r.offset}:{r.value.decode()}" for r in extra)
        assert all(n == 1 for n in counts.values()), counts.most_common(3)
