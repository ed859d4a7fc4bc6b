"""MQTT over WebSocket (MQTT 5.0 section 6): the route ``GET /mqtt`` as an aiohttp handler.

Each WebSocket connection (subprotocol ``mqtt``; binary frames carry MQTT bytes, a packet
may span frames and a frame hold several) runs the same :class:`~.handler.MqttHandler` as a
TCP connection, over :class:`_WebSocketTransport`: the handler writes synchronously, the
transport sends in order from one task, and tells the handler to pause once its unsent
bytes pass the high mark (back-pressure, as a socket's buffer would). A text frame closes
the connection ([MQTT-6.0.0-1]).

Mounting: the node mounts :func:`mqtt_route` at ``/mqtt`` on the HTTP listener
(``--http-listen``; DESIGN.md: MQTT over WebSocket on the HTTP listener) through its
``HttpMounts`` (``logd.node.frontends``), so a browser reaches MQTT on the port it reaches
the REST proxy and STOMP; without an HTTP listener there is no MQTT over WebSocket. The
route authenticates as the TCP listener does (CONNECT's user name and password, else the
client certificate of the HTTPS connection; the HTTP listener's Basic check does not
apply).

Ownership: the broker's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from logd.frontends.mqtt.handler import MqttHandler

if TYPE_CHECKING:
    from logd.frontends.mqtt.server import MqttServer

__all__ = ["PATH", "mqtt_route"]

PATH = "/mqtt"


class _WebSocketTransport(asyncio.Transport):
    """What an ``asyncio.Protocol`` needs of a transport, over an aiohttp WebSocket."""

    def __init__(
        self, ws: web.WebSocketResponse, peer: str, protocol: MqttHandler, tls: Any = None
    ) -> None:
        super().__init__()
        self._ws = ws
        self._peer = peer
        self._tls = tls  # the HTTP connection's ssl.SSLObject (its client certificate)
        self._protocol = protocol
        self._pending: list[bytes] = []
        self._size = 0
        self._high = 1 << 20
        self._paused_writing = False
        self._closing = False
        self._sender: asyncio.Task[None] | None = None
        self.readable = asyncio.Event()
        self.readable.set()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername" and self._peer:
            host, _, port = self._peer.rpartition(":")
            return (host, int(port)) if port.isdigit() else (self._peer, 0)
        if name == "ssl_object" and self._tls is not None:
            return self._tls
        return default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high = high if high is not None else self._high

    def get_write_buffer_size(self) -> int:
        return self._size

    def is_closing(self) -> bool:
        return self._closing

    def pause_reading(self) -> None:
        self.readable.clear()

    def resume_reading(self) -> None:
        self.readable.set()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or not data:
            return
        self._pending.append(bytes(data))
        self._size += len(data)
        if self._size > self._high and not self._paused_writing:
            self._paused_writing = True
            self._protocol.pause_writing()
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        try:
            while self._pending:
                chunk, self._pending = b"".join(self._pending), []
                await self._ws.send_bytes(chunk)
                self._size -= len(chunk)
                if self._paused_writing and self._size <= self._high // 4:
                    self._paused_writing = False
                    self._protocol.resume_writing()
        except (ConnectionError, RuntimeError):
            self._pending.clear()
        finally:
            self._sender = None
            if self._closing:
                await self._ws.close()

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._sender is None:
            asyncio.get_running_loop().create_task(self._ws.close())

    def abort(self) -> None:
        self._pending.clear()
        self.close()


def mqtt_route(server: MqttServer) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler of ``GET /mqtt`` for ``server``'s connections."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if server.draining:
            raise web.HTTPServiceUnavailable(text="the broker is shutting down")
        limit = server.settings.limits.maximum_packet_size
        ws = web.WebSocketResponse(protocols=("mqtt",), max_msg_size=limit, heartbeat=None)
        await ws.prepare(request)
        handler = MqttHandler(server)
        # Over HTTPS the client certificate the HTTP listener's TLS asked for names the
        # device as on the TCP listener (mTLS principal, mapping rules).
        tls = request.transport.get_extra_info("ssl_object") if request.transport else None
        transport = _WebSocketTransport(ws, request.remote or "", handler, tls)
        handler.connection_made(transport)
        try:
            async for message in ws:
                if message.type != WSMsgType.BINARY:
                    break  # [MQTT-6.0.0-1]: MQTT travels in binary frames only
                await transport.readable.wait()
                handler.data_received(message.data)
                if transport.is_closing():
                    break
        finally:
            transport.close()
            handler.connection_lost(None)
        return ws

    return handle
