"""The MQTT receive side, sans-I/O (STYLE.md 3; h11's ``receive_data``/``next_event``):
:meth:`PacketReader.feed` bytes in, :meth:`PacketReader.next_packet` hands back a packet or
:data:`NEED_DATA`.

Bounds, checked before anything is allocated for a packet:

* the remaining length is a Variable Byte Integer of at most four bytes in its shortest
  form (so at most 268,435,455), and the whole packet — fixed header included, as 5.0's
  Maximum Packet Size counts it — must fit ``limit``: a packet over it fails as soon as its
  fixed header is in, before its body is waited for (Packet too large);
* the buffer holds at most one incomplete packet plus what one ``feed`` brings; a caller
  that reads the socket in chunks of at most ``limit`` bytes and drains ``next_packet``
  after each feed keeps it under twice the limit;
* until CONNECT has been read (``expect_connect``) the first byte must be CONNECT's, and
  ``limit`` is the caller's pre-authentication limit (a small one: CVE-2022-34917 was a
  broker allocating what an unauthenticated peer asked for).

Owned by one connection; not thread-safe. Errors are ``MqttError``s; after one the reader
is unusable (the connection closes).
"""

from __future__ import annotations

import enum

from logd.frontends.mqtt.codec import (
    decode_body,
    decode_publish,
    decode_publish_plain,
    fixed_flags_ok,
)
from logd.frontends.mqtt.errors import MqttError, malformed, protocol_error
from logd.frontends.mqtt.packets import MQTT_5, Packet, PacketType
from logd.frontends.mqtt.reasons import ReasonCode
from logd.frontends.mqtt.wire import Reader

__all__ = ["NEED_DATA", "NeedData", "PacketReader"]


class NeedData(enum.Enum):
    NEED_DATA = "NEED_DATA"


NEED_DATA = NeedData.NEED_DATA
_CONNECT_BYTE = PacketType.CONNECT << 4


class PacketReader:
    """Bytes in, whole packets out. ``version`` is set by the connection once CONNECT has
    been read (the framing is the same in both versions, the bodies are not)."""

    __slots__ = ("_buf", "_start", "expect_connect", "last_size", "limit", "version")

    def __init__(self, limit: int, *, expect_connect: bool = True, version: int = MQTT_5):
        assert limit >= 2, limit
        self._buf = bytearray()
        self._start = 0
        self.limit = limit
        self.expect_connect = expect_connect
        #: The size of the last packet handed out, fixed header included (its bytes in).
        self.last_size = 0
        self.version = version

    @property
    def buffered(self) -> int:
        """Bytes received and not yet handed out as a packet."""
        return len(self._buf) - self._start

    def feed(self, data: bytes) -> None:
        if self._start and self._start * 2 >= len(self._buf):
            del self._buf[: self._start]  # compact: consumed bytes never pile up
            self._start = 0
        self._buf += data

    def next_packet(self) -> Packet | NeedData:
        buf, start = self._buf, self._start
        available = len(buf) - start
        if available < 2:
            if available and self.expect_connect and buf[start] != _CONNECT_BYTE:
                raise protocol_error("the first packet of a connection must be CONNECT")
            return NEED_DATA
        first = buf[start]
        if self.expect_connect and first != _CONNECT_BYTE:
            raise protocol_error("the first packet of a connection must be CONNECT")
        ptype, flags = first >> 4, first & 0x0F
        if ptype == 0:
            raise malformed("packet type 0 is reserved")
        if not fixed_flags_ok(ptype, flags):
            raise malformed(f"{PacketType(ptype).name}: wrong fixed header flags {flags:#06b}")
        header = _remaining_length(buf, start + 1, available - 1)
        if header is None:
            return NEED_DATA
        length, varint_size = header
        size = 1 + varint_size + length
        if size > self.limit:
            raise MqttError(
                ReasonCode.PACKET_TOO_LARGE,
                f"{PacketType(ptype).name} of {size} bytes: the limit is {self.limit}",
            )
        if available < size:
            return NEED_DATA
        body_start = start + 1 + varint_size
        if ptype == PacketType.PUBLISH:
            # The hot path: read the body where it lies (no copy of it but the payload's).
            end = start + size
            plain = decode_publish_plain(buf, body_start, end, flags, self.version)
            packet: Packet = (
                plain if plain is not None
                else decode_publish(Reader(buf, "PUBLISH", body_start, end), flags, self.version)
            )  # fmt: skip
        else:
            packet = decode_body(ptype, flags, bytes(buf[body_start : start + size]), self.version)
        self._start = start + size
        self.last_size = size
        if self._start == len(buf):
            buf.clear()
            self._start = 0
        if ptype == PacketType.CONNECT:
            self.expect_connect = False
        return packet


def _remaining_length(buf: bytearray, pos: int, available: int) -> tuple[int, int] | None:
    """(remaining length, bytes it took), or None while incomplete; at most four bytes, in
    their shortest form (5.0 section 1.5.5)."""
    value = 0
    for i in range(4):
        if i >= available:
            return None
        byte = buf[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if byte == 0 and i:
                raise malformed("remaining length is not in its shortest encoding")
            return value, i + 1
    raise malformed("remaining length is longer than four bytes")
