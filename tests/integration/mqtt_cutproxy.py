"""A TCP proxy in front of a broker's MQTT listener that loses an acknowledgement: when the
broker sends the ``cut_at``-th PUBACK (or PUBREC) of the whole run, the proxy does not
forward it; it calls ``on_cut`` (the test SIGKILLs the broker there) and aborts both sides.
So the cut is "stored and committed, never acknowledged" — what a QoS 1/2 publisher must
survive by re-sending, and what must not become a duplicate at QoS 2.

It reads both directions as MQTT packets (the fixed header and its remaining length are
enough), counts what passes, and remembers the PUBLISHes the client sent again with DUP
after the cut (``resent``). Runs its own loop in a daemon thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

__all__ = ["MqttCutProxy"]

PUBLISH, PUBACK, PUBREC = 3, 4, 5


def split_packets(buf: bytearray) -> list[bytes]:
    """The whole packets at the front of ``buf`` (removed from it)."""
    out = []
    while len(buf) >= 2:
        length, shift, pos = 0, 0, 1
        while True:
            if pos >= len(buf):
                return out
            byte = buf[pos]
            length |= (byte & 0x7F) << shift
            shift += 7
            pos += 1
            if not byte & 0x80:
                break
        if len(buf) < pos + length:
            return out
        out.append(bytes(buf[: pos + length]))
        del buf[: pos + length]
    return out


class MqttCutProxy:
    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        cut_at: int,
        cut_type: int = PUBACK,
        on_cut: Callable[[], None] = lambda: None,
    ) -> None:
        self.upstream = upstream
        self.cut_at = cut_at
        self.cut_type = cut_type
        self.on_cut = on_cut
        self.port = 0
        self.acks = 0
        self.cuts = 0
        self.resent: list[int] = []  # packet ids of PUBLISHes with DUP after a cut
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(10)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.transport.abort()
            return
        await asyncio.gather(
            self._pump(client_r, up_w, client_w, upward=True),
            self._pump(up_r, client_w, up_w, upward=False),
            return_exceptions=True,
        )

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        other: asyncio.StreamWriter,
        *,
        upward: bool,
    ) -> None:
        buf = bytearray()
        try:
            while data := await reader.read(65536):
                buf += data
                for packet in split_packets(buf):
                    if not self._pass(packet, upward, writer, other):
                        return
                    writer.write(packet)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def _pass(
        self, packet: bytes, upward: bool, writer: asyncio.StreamWriter, other: asyncio.StreamWriter
    ) -> bool:
        ptype, flags = packet[0] >> 4, packet[0] & 0x0F
        if upward:
            if ptype == PUBLISH and flags & 0x08 and self.cuts:
                self.resent.append(self._publish_id(packet))
            return True
        if ptype != self.cut_type:
            return True
        self.acks += 1
        if self.acks != self.cut_at:
            return True
        self.cuts += 1
        self.on_cut()
        writer.transport.abort()
        other.transport.abort()
        return False

    @staticmethod
    def _publish_id(packet: bytes) -> int:
        pos = 1
        while packet[pos] & 0x80:
            pos += 1
        pos += 1
        topic_length = int.from_bytes(packet[pos : pos + 2], "big")
        pos += 2 + topic_length
        return int.from_bytes(packet[pos : pos + 2], "big")
