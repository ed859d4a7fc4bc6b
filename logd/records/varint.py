"""Zigzag varints and varlongs as Kafka writes them (``ByteUtils.writeVarint``/``writeVarlong``).

A signed value ``n`` is first zigzag-mapped to an unsigned one (0, -1, 1, -2, ... become
0, 1, 2, 3, ...) so small magnitudes of either sign stay short, then written 7 bits a byte,
least significant group first, with the high bit set on every byte but the last (the
protobuf encoding). Kafka's varint carries 32 bits in at most 5 bytes, its varlong 64 bits
in at most 10.

Encoding small values is a table lookup: record fields are overwhelmingly small
non-negative numbers (offset deltas, lengths), and a list index is the cheapest way to
get their bytes in Python. Decoding is bounds-checked against an ``end`` the caller gives
(the end of the record, not of the buffer), and anything truncated, over-long or out of
range raises :class:`CorruptRecordError`.

Pure functions over immutable data: thread-safe.
"""

from __future__ import annotations

from typing import Final

from logd.errors import CorruptRecordError

__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "INT64_MAX",
    "INT64_MIN",
    "NULL_LENGTH",
    "SMALL_VARINTS",
    "SMALL_VARINTS_SIZE",
    "decode_varint",
    "decode_varlong",
    "encode_unsigned_varint",
    "encode_varint",
    "encode_varlong",
    "read_raw_varint",
    "read_raw_varlong",
    "size_of_varint",
    "size_of_varlong",
]

INT32_MIN: Final = -(1 << 31)
INT32_MAX: Final = (1 << 31) - 1
INT64_MIN: Final = -(1 << 63)
INT64_MAX: Final = (1 << 63) - 1

#: The varint of -1: a null key, value or header value.
NULL_LENGTH: Final = b"\x01"

#: ``SMALL_VARINTS[n]`` is the zigzag varint of ``n`` for ``0 <= n < SMALL_VARINTS_SIZE``.
#: 16384 covers every offset delta of a 16k-record batch and every length up to 16 KiB,
#: which is nearly every record field in practice; the table costs about 0.6 MB.
SMALL_VARINTS_SIZE: Final = 1 << 14


def _encode_unsigned(z: int) -> bytes:
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


SMALL_VARINTS: Final[tuple[bytes, ...]] = tuple(
    _encode_unsigned(n << 1) for n in range(SMALL_VARINTS_SIZE)
)


def encode_unsigned_varint(value: int) -> bytes:
    """``value`` as a plain (protobuf, not zigzag) varint; a negative ``value`` as its 64-bit
    two's complement, as protobuf writes a negative int32/int64 (10 bytes)."""
    return _encode_unsigned(value & 0xFFFFFFFFFFFFFFFF)


def encode_varint(value: int) -> bytes:
    """The zigzag varint of a 32-bit signed ``value``; ValueError outside that range."""
    if 0 <= value < SMALL_VARINTS_SIZE:
        return SMALL_VARINTS[value]
    if not INT32_MIN <= value <= INT32_MAX:
        raise ValueError(f"{value} does not fit a 32-bit varint")
    return _encode_unsigned(((value << 1) ^ (value >> 31)) & 0xFFFFFFFF)


def encode_varlong(value: int) -> bytes:
    """The zigzag varlong of a 64-bit signed ``value``; ValueError outside that range."""
    if 0 <= value < SMALL_VARINTS_SIZE:
        return SMALL_VARINTS[value]
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"{value} does not fit a 64-bit varlong")
    return _encode_unsigned(((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF)


def size_of_varint(value: int) -> int:
    """How many bytes :func:`encode_varint` writes for ``value``."""
    z = ((value << 1) ^ (value >> 31)) & 0xFFFFFFFF
    return max(1, (z.bit_length() + 6) // 7)


def size_of_varlong(value: int) -> int:
    """How many bytes :func:`encode_varlong` writes for ``value``."""
    z = ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF
    return max(1, (z.bit_length() + 6) // 7)


def _read_raw(buf: bytes, pos: int, end: int, max_bytes: int, bits: int) -> tuple[int, int]:
    what = "varint" if bits == 32 else "varlong"
    end = min(end, len(buf), pos + max_bytes)
    result = 0
    shift = 0
    while pos < end:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            # Java's readVarint silently drops bits past 32; a varint that carries them was
            # not written by any Kafka encoder, so it is corrupt here.
            if result >> bits:
                raise CorruptRecordError(f"{what} overflows {bits} bits")
            return result, pos
        shift += 7
    if shift >= max_bytes * 7:
        raise CorruptRecordError(f"{what} longer than {max_bytes} bytes")
    raise CorruptRecordError(f"truncated {what}")


def read_raw_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """The zigzag-encoded (still unsigned) varint at ``pos`` and the position after it.

    Reads no byte at or past ``end``. Raises :class:`CorruptRecordError` when the varint is
    truncated, longer than 5 bytes, or carries more than 32 bits.
    """
    return _read_raw(buf, pos, end, 5, 32)


def read_raw_varlong(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """As :func:`read_raw_varint` for a varlong: at most 10 bytes, 64 bits."""
    return _read_raw(buf, pos, end, 10, 64)


def decode_varint(buf: bytes, pos: int = 0, end: int | None = None) -> tuple[int, int]:
    """The signed varint at ``pos`` and the position after it (see :func:`read_raw_varint`)."""
    raw, pos = _read_raw(buf, pos, len(buf) if end is None else end, 5, 32)
    return (raw >> 1) ^ -(raw & 1), pos


def decode_varlong(buf: bytes, pos: int = 0, end: int | None = None) -> tuple[int, int]:
    """The signed varlong at ``pos`` and the position after it (see :func:`read_raw_varlong`)."""
    raw, pos = _read_raw(buf, pos, len(buf) if end is None else end, 10, 64)
    return (raw >> 1) ^ -(raw & 1), pos
