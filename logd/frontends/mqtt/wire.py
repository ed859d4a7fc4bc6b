"""MQTT's data representations (5.0 section 1.5): integers, Variable Byte Integers, UTF-8
strings, binary data and string pairs — read from a packet body, written into bytes.

Pure. The :class:`Reader` works over one packet's body, whose whole length the framer has
already checked against the packet size limit; every field length is checked against what
is left of that body before anything is sliced, so no field can make it allocate more than
the body holds. Every failure is an :class:`~logd.frontends.mqtt.errors.MqttError`
(Malformed Packet unless said otherwise).
"""

from __future__ import annotations

import struct

from logd.frontends.mqtt.errors import malformed

__all__ = [
    "VARINT_MAX",
    "Reader",
    "encode_binary",
    "encode_string",
    "encode_varint",
    "utf8_text",
]

VARINT_MAX = 268_435_455  # 0xFF,0xFF,0xFF,0x7F: four bytes of seven bits
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


def utf8_text(raw: bytes | bytearray | memoryview, what: str) -> str:
    """Well-formed UTF-8 without U+0000 (5.0 section 1.5.4, [MQTT-1.5.4-1/2]).

    Python's strict decoder already refuses surrogates and overlong forms."""
    try:
        text = str(raw, "utf-8")
    except UnicodeDecodeError:
        raise malformed(f"{what} is not well-formed UTF-8") from None
    if "\x00" in text:
        raise malformed(f"{what} contains the null character U+0000")
    return text


class Reader:
    """Reads the fields of one packet body, front to back. Owned by one decode call."""

    __slots__ = ("_data", "_end", "pos", "what")

    def __init__(
        self, data: bytes | bytearray, what: str, pos: int = 0, end: int | None = None
    ) -> None:
        self._data = data
        self.pos = pos
        self._end = len(data) if end is None else end
        self.what = what

    @property
    def remaining(self) -> int:
        return self._end - self.pos

    def _need(self, size: int, field: str) -> int:
        start = self.pos
        if size > self._end - start:
            raise malformed(f"{self.what}: {field} runs past the end of the packet")
        self.pos = start + size
        return start

    def u8(self, field: str) -> int:
        start = self._need(1, field)
        return self._data[start]

    def u16(self, field: str) -> int:
        start = self._need(2, field)
        return int(_U16.unpack_from(self._data, start)[0])

    def u32(self, field: str) -> int:
        start = self._need(4, field)
        return int(_U32.unpack_from(self._data, start)[0])

    def varint(self, field: str) -> int:
        """A Variable Byte Integer: at most four bytes, in the fewest bytes that hold it."""
        value = 0
        for shift in (0, 7, 14, 21):
            byte = self.u8(field)
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                if byte == 0 and shift:
                    raise malformed(f"{self.what}: {field} is not in its shortest encoding")
                return value
        raise malformed(f"{self.what}: {field} is longer than four bytes")

    def binary(self, field: str) -> bytes:
        size = self.u16(field)
        start = self._need(size, field)
        return bytes(self._data[start : start + size])

    def string(self, field: str) -> str:
        size = self.u16(field)
        start = self._need(size, field)
        return utf8_text(self._data[start : start + size], f"{self.what}: {field}")

    def rest(self) -> bytes:
        """Everything left (a PUBLISH payload): one copy, the payload's own."""
        start, self.pos = self.pos, self._end
        return bytes(self._data[start : self._end])

    def sub(self, size: int, field: str) -> Reader:
        """A reader over the next ``size`` bytes (a property block), skipped here."""
        start = self._need(size, field)
        return Reader(self._data, self.what, start, start + size)

    def expect_end(self) -> None:
        if self.pos != self._end:
            raise malformed(f"{self.what}: {self._end - self.pos} unexpected bytes at the end")


def encode_varint(value: int) -> bytes:
    if not 0 <= value <= VARINT_MAX:
        raise ValueError(f"variable byte integer out of range: {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_binary(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise ValueError(f"binary field of {len(data)} bytes: at most 65535")
    return _U16.pack(len(data)) + data


def encode_string(text: str) -> bytes:
    return encode_binary(text.encode("utf-8"))
