"""A lean asyncio MQTT 3.1.1/5.0 client for the benchmark, on logd's own sans-I/O codec
(``logd.frontends.mqtt``): the same client drives logd and Mosquitto in one run, so the
ratio measures the brokers, not two clients. No MQTT benchmark tool is packaged (Debian or
PyPI); paho-mqtt, in Python, tops out below either broker, and pipelining is what a load
generator needs: QoS 1 publishes keep up to ``window`` unacknowledged (the broker's
Receive Maximum or less), QoS 0 ones are written as fast as the socket takes them.

Not a general client: no reconnects, no QoS 2 flows, no keep-alive pings (connections
live for one workload; keep-alive is 0 or long).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from logd.frontends.mqtt.codec import encode, encode_publish
from logd.frontends.mqtt.framer import NEED_DATA, PacketReader
from logd.frontends.mqtt.packets import (
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
from logd.frontends.mqtt.properties import Properties

__all__ = ["BenchClient"]


class BenchClient:
    """One connection. ``on_message`` is called with each PUBLISH received."""

    def __init__(self, host: str, port: int, client_id: str, *, version: int = MQTT_5) -> None:
        self.host, self.port, self.client_id, self.version = host, port, client_id, version
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._packets = PacketReader(1 << 26, expect_connect=False, version=version)
        self._acked = asyncio.Event()
        self._in_flight: set[int] = set()
        self._next_id = 1
        self._suback: asyncio.Future[SubAck] | None = None
        self._task: asyncio.Task[None] | None = None
        self.on_message: Callable[[Publish], None] = lambda p: None
        self.acks = 0
        self.refused = 0  # PUBACKs with an error reason (a figure with any is not valid)
        self.refusal = ""

    async def connect(self, *, keep_alive: int = 0, receive_maximum: int = 65535) -> Connack:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        props = Properties(receive_maximum=receive_maximum) if self.version == MQTT_5 else None
        connect = Connect(self.client_id, self.version, True, keep_alive)
        if props is not None:
            connect = Connect(self.client_id, self.version, True, keep_alive, properties=props)
        self._writer.write(encode(connect, self.version))
        connack = await self._next()
        assert isinstance(connack, Connack) and not connack.reason.is_error, connack
        self._task = asyncio.get_running_loop().create_task(self._read())
        return connack

    async def _next(self) -> object:
        assert self._reader is not None
        while True:
            packet = self._packets.next_packet()
            if packet is not NEED_DATA:
                return packet
            data = await self._reader.read(1 << 16)
            if not data:
                raise ConnectionError("the broker closed the connection")
            self._packets.feed(data)

    async def _read(self) -> None:
        with_suppress = (ConnectionError, asyncio.CancelledError)
        try:
            while True:
                packet = await self._next()
                if isinstance(packet, PubAck):
                    self._in_flight.discard(packet.packet_id)
                    self.acks += 1
                    if packet.reason.is_error:
                        self.refused += 1
                        self.refusal = f"{packet.reason.name}: {packet.properties.reason_string}"
                    self._acked.set()
                elif isinstance(packet, Publish):
                    self.on_message(packet)
                    if packet.qos == 1 and self._writer is not None:
                        self._writer.write(encode(PubAck(packet.packet_id), self.version))
                elif isinstance(packet, SubAck) and self._suback is not None:
                    self._suback.set_result(packet)
        except with_suppress:
            return

    async def subscribe(self, topic_filter: str, qos: int) -> None:
        assert self._writer is not None
        self._suback = asyncio.get_running_loop().create_future()
        self._writer.write(encode(Subscribe(1, (Subscription(topic_filter, qos),)), self.version))
        await self._suback

    async def publish_many(self, topic: str, payloads: list[bytes], qos: int, window: int) -> None:
        """Publish every payload; QoS 1: at most ``window`` unacknowledged, and return once
        all are acknowledged."""
        writer = self._writer
        assert writer is not None
        for payload in payloads:
            if qos:
                while len(self._in_flight) >= window:
                    self._acked.clear()
                    await self._acked.wait()
                packet_id = self._next_id
                self._next_id = self._next_id % 65535 + 1
                self._in_flight.add(packet_id)
                writer.write(encode_publish(Publish(topic, payload, 1, packet_id=packet_id),
                                            self.version))  # fmt: skip
            else:
                writer.write(encode_publish(Publish(topic, payload), self.version))
            if writer.transport.get_write_buffer_size() > 1 << 20:
                await writer.drain()
        await writer.drain()
        while self._in_flight:
            self._acked.clear()
            await self._acked.wait()

    async def close(self) -> None:
        if self._writer is not None:
            try:
                self._writer.write(encode(Disconnect(), self.version))
                await self._writer.drain()
            except ConnectionError:
                pass
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
