"""Helpers for the MQTT listener's integration tests: where a broker's MQTT listener is, a
raw socket client that speaks our own codec (for bytes no real client sends), the
mosquitto command-line clients, and reading a topic back through the logd client."""

from __future__ import annotations

import queue
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from logd.client import OFFSET_BEGINNING, Consumer, ConsumerRecord, TopicPartition
from logd.errors import UnknownTopicOrPartitionError
from logd.frontends.mqtt.codec import encode
from logd.frontends.mqtt.errors import MqttError
from logd.frontends.mqtt.framer import NEED_DATA, PacketReader
from logd.frontends.mqtt.packets import MQTT_5, Packet
from tests.integration.cluster import BrokerProcess

__all__ = [
    "RawClient",
    "Subscriber",
    "mosquitto_pub",
    "mqtt_address",
    "read_topic",
    "write_rules",
]


def mqtt_address(broker: BrokerProcess) -> tuple[str, int]:
    host, _, port = broker.bound()["mqtt"].rpartition(":")
    return host, int(port)


class RawClient:
    """A TCP connection that sends what it is told and decodes what comes back."""

    def __init__(self, broker: BrokerProcess, version: int = MQTT_5, timeout: float = 10.0):
        self.sock = socket.create_connection(mqtt_address(broker), timeout=timeout)
        self.version = version
        self.reader = PacketReader(1 << 24, expect_connect=False, version=version)

    def send(self, *packets: Packet) -> None:
        self.sock.sendall(b"".join(encode(p, self.version) for p in packets))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self) -> Packet | None:
        """The next packet, or None when the server closed the connection."""
        while True:
            packet = self.reader.next_packet()
            if packet is not NEED_DATA:
                return packet
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            if not data:
                return None
            self.reader.feed(data)

    def closed_by_server(self) -> bool:
        """Whether the server closes the connection (reading anything it still sends)."""
        try:
            while self.receive() is not None:
                pass
        except (MqttError, TimeoutError):
            return False
        return True

    def close(self) -> None:
        self.sock.close()


def mosquitto_pub(
    broker: BrokerProcess, topic: str, message: str, *args: str, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    host, port = mqtt_address(broker)
    return subprocess.run(
        ["mosquitto_pub", "-h", host, "-p", str(port), "-t", topic, "-m", message, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def read_topic(
    broker: BrokerProcess, topic: str, expected: int, partitions: Sequence[int] = (0,),
    timeout: float = 30.0, key_filter: bytes | None = None,
) -> list[ConsumerRecord]:  # fmt: skip
    """The records of ``topic`` (those keyed ``key_filter`` when given) from the start until
    ``expected`` were read, or the time ran out (then what was read; a topic that does not
    exist reads as empty)."""
    out: list[ConsumerRecord] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with Consumer(brokers=broker.address) as consumer:
                consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
                while len(out) < expected and time.monotonic() < deadline:
                    got = consumer.consume(100, timeout=0.5)
                    out += [r for r in got if key_filter is None or r.key == key_filter]
                return out
        except UnknownTopicOrPartitionError:
            time.sleep(0.1)  # not created yet (or never): look again until the deadline
    return out


class Subscriber:
    """``mosquitto_sub -d`` running (line-buffered through ``stdbuf``), returned once its
    SUBACK arrived, so that what is produced next reaches it; :meth:`lines` gives what it
    printed that is not debug output."""

    def __init__(self, broker: BrokerProcess, *args: str, timeout: float = 30.0) -> None:
        host, port = mqtt_address(broker)
        self.proc = subprocess.Popen(
            ["stdbuf", "-oL", "mosquitto_sub", "-h", host, "-p", str(port), "-d", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._seen: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            line = self._next(deadline)
            if line is None:
                self.kill()
                raise AssertionError(f"mosquitto_sub: no SUBACK: {self._seen}")
            self._seen.append(line)
            if "received SUBACK" in line:
                return

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _next(self, deadline: float) -> str | None:
        try:
            return self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None

    def lines(self, timeout: float = 30.0) -> list[str]:
        """Until it exits (give it -C N) or ``timeout``: its message lines."""
        deadline = time.monotonic() + timeout
        while (line := self._next(deadline)) is not None:
            self._seen.append(line)
        self.kill()
        debug = ("Client ", "Subscribed (mid")
        return [x for x in self._seen if not x.startswith(debug)]

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def write_rules(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
