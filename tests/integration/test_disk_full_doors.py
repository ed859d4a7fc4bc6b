"""Every door on a full disk (issue 24): an MQTT publish, a schema registration and a STOMP
SEND each get their protocol's clear refusal, naming the disk, while the broker's disk is
below its free-space reserve -- and each works again, without a restart, once space
returns. Real clients (paho-mqtt 5 and 3.1.1, httpx against the registry, stomp.py over
WebSocket) against one broker on a tmpfs the test mounts (``small_disk``)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from websocket import WebSocketConnectionClosedException

from tests.helpers import wait_until
from tests.integration.cluster import BrokerProcess
from tests.integration.mqtt_helpers import mqtt_address, read_topic
from tests.integration.small_disk import fill, small_disk
from tests.integration.stomp_support import stomp_connection
from tests.integration.test_disk_full import logd

_MIB = 1024 * 1024
_REGISTRY = "application/vnd.schemaregistry.v1+json"


class _Mqtt:
    """A paho client that remembers each QoS 1 publish's PUBACK (reason code, reason
    string) and whether the server closed the connection."""

    def __init__(self, broker: BrokerProcess, client_id: str, version: MQTTProtocolVersion):
        self.acks: dict[int, tuple[int, str]] = {}
        self.closed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id, protocol=version)
        self.client.on_publish = self._published
        self.client.on_disconnect = lambda *args: self.closed.set()
        host, port = mqtt_address(broker)
        self.client.connect(host, port)
        self.client.loop_start()
        wait_until(self.client.is_connected, timeout=20, message=f"{client_id} connected")

    def _published(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        why = getattr(props, "ReasonString", "") if props is not None else ""
        self.acks[mid] = (int(getattr(reason, "value", reason)), why)

    def publish(self, topic: str, payload: bytes) -> int:
        return int(self.client.publish(topic, payload, qos=1).mid)

    def acked(self, mid: int) -> tuple[int, str]:
        return wait_until(lambda: self.acks.get(mid), timeout=30, message=f"PUBACK {mid}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _register(registry: httpx.Client, schema: dict[str, Any]) -> httpx.Response:
    return registry.post("/subjects/df-value/versions", json={"schema": json.dumps(schema)},
                         headers={"Content-Type": _REGISTRY})  # fmt: skip


def _record(tag: str) -> dict[str, Any]:
    """A new version of one record schema (a field with a default: backward compatible)."""
    fields = [{"name": "a", "type": "int"}, {"name": f"f_{tag}", "type": "int", "default": 0}]
    return {"type": "record", "name": "R", "fields": fields}


def _stomp_send(broker: BrokerProcess, body: str) -> tuple[list[str], list[tuple[dict, str]]]:
    """One SEND with a receipt on a fresh connection: (receipts, errors) it was answered."""
    conn, seen = stomp_connection(broker)
    conn.connect(wait=True)
    try:
        conn.send("/topic/df-stomp", body, headers={"receipt": "r1"})
        seen.wait(lambda: bool(seen.receipts or seen.errors))
        # A copy taken now: disconnect() asks for a receipt of its own, which the
        # listener thread appends to the same list.
        answered = list(seen.receipts), list(seen.errors)
    finally:
        # After an ERROR frame the server closes the connection (STOMP 1.2); stomp.py may
        # still call itself connected, and its DISCONNECT then meets a closed socket:
        # websocket-client says so as ConnectionClosed, or as EBADF (OSError) when its
        # reader thread already closed the socket (seen in a full run at load 10).
        with contextlib.suppress(WebSocketConnectionClosedException, OSError):
            if conn.is_connected():
                conn.disconnect()
    return answered


def _each_door_works(broker: BrokerProcess, registry: httpx.Client, tag: str) -> None:
    mqtt = _Mqtt(broker, f"df5-{tag}", MQTTProtocolVersion.MQTTv5)
    try:
        assert mqtt.acked(mqtt.publish("dfmqtt/dev-1/t", tag.encode()))[0] == 0
    finally:
        mqtt.close()
    old = _Mqtt(broker, f"df3-{tag}", MQTTProtocolVersion.MQTTv311)
    try:
        assert old.acked(old.publish("dfmqtt/dev-3/t", tag.encode()))[0] == 0
    finally:
        old.close()
    answer = _register(registry, _record(tag))
    assert answer.status_code == 200, answer.text
    receipts, errors = _stomp_send(broker, tag)
    assert receipts == ["r1"] and errors == [], errors


def test_mqtt_the_registry_and_stomp_refuse_clearly_on_a_full_disk_and_recover(
    broker_factory: Callable[..., BrokerProcess], tmp_path: Path
) -> None:
    with small_disk(tmp_path / "disk", 40 * _MIB) as disk:
        broker = broker_factory("disk")
        registry = httpx.Client(base_url=f"http://{broker.bound()['registry']}", timeout=30)
        try:
            _each_door_works(broker, registry, "before")  # their topics exist now
            ballast = fill(disk, _MIB)  # below the reserve (5 % of 40 MiB = 2 MiB)
            wait_until(lambda: logd(broker.address, "cluster", "health").returncode == 10,
                       timeout=15, message="the broker degraded")  # fmt: skip
            named = f"disk {disk}"

            mqtt = _Mqtt(broker, "df5-full", MQTTProtocolVersion.MQTTv5)
            try:  # MQTT 5: PUBACK "Quota exceeded" (0x97), the reason string says why
                code, why = mqtt.acked(mqtt.publish("dfmqtt/dev-1/t", b"full"))
                assert code == 0x97 and named in why, (code, why)
            finally:
                mqtt.close()
            old = _Mqtt(broker, "df3-full", MQTTProtocolVersion.MQTTv311)
            try:  # MQTT 3.1.1 has no refusal in its PUBACK: the server disconnects
                mid = old.publish("dfmqtt/dev-3/t", b"full")
                assert old.closed.wait(30), "the 3.1.1 client was not disconnected"
                assert mid not in old.acks
            finally:
                old.close()
            answer = _register(registry, _record("full"))  # Confluent's backend-store error
            assert answer.status_code == 500, answer.text
            body = answer.json()
            assert body["error_code"] == 50001 and named in body["message"], body
            receipts, errors = _stomp_send(broker, "full")  # an ERROR frame naming the SEND
            assert receipts == [] and len(errors) == 1, errors
            headers, text = errors[0]
            assert headers.get("receipt-id") == "r1", headers
            assert named in headers.get("message", "") + text, errors

            ballast.unlink()  # space returns: every door works again, no restart
            wait_until(lambda: logd(broker.address, "cluster", "health").returncode == 0,
                       timeout=15, message="health back to ok")  # fmt: skip
            _each_door_works(broker, registry, "after")
        finally:
            registry.close()
        values = sorted(r.value for r in read_topic(broker, "dfmqtt", 4))
        assert values == [b"after", b"after", b"before", b"before"]
        assert "Traceback" not in broker.stderr_path.read_text()
        assert broker.stop() == 0
