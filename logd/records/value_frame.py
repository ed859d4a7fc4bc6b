"""An uncompressed batch of null-key records built straight into the frame that carries it.

The producer's big-batch path (issue 22): a 1 MiB batch of 1,024 values was built by a
per-record Python loop, joined into a bytearray (its length and CRC stamped there), then
joined again behind the ``ProduceRequest``'s few bytes to make the one ``bytes`` object
gRPC sends -- two copies of the values and ~5,000 Python objects per batch (profile of
``bench.mib_probe``'s client: ~30 % of its event loop thread). ``value_frame`` writes the
caller's prefix, the batch header and every record into ONE ``bytes`` object, then stamps
the batch length and the CRC-32C in it: one copy of the values.

Two implementations with one contract (as ``records_list``, ``logd.records.accel``):
:func:`py_value_frame` here, the reference, and ``logd.records._speedups.value_frame`` in
C, which can fill a ``bytes`` object before anyone else sees it (Python cannot: the CRC
covers bytes that must already be in place). Arguments of both:

* ``prefix_for(size)``: the bytes that go before the batch, given the batch's size (the
  request's length fields need it);
* ``header``: the batch's 61-byte header, its ``batchLength`` and ``crc`` fields zero;
* ``values``: a list (or tuple) of ``bytes`` or ``None``, record i gets offset delta i,
  timestamp delta 0, a null key and no headers -- exactly the records
  ``build_value_buffer`` writes;
* ``crc(buffer)``: CRC-32C of a buffer (``crc32c.crc32c``).

Both return ``(frame, offset of the batch in frame)``; past 2 GiB (a record or the
batch) they raise ``OverflowError`` or ``MessageTooLargeError``, which
``build_value_frame`` turns into the latter. Pure functions of their input, thread-safe.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Final

from logd.records.header import CRC_START, HEADER_SIZE, LOG_OVERHEAD
from logd.records.record import encode_length
from logd.records.varint import (
    INT32_MAX,
    SMALL_VARINTS,
    SMALL_VARINTS_SIZE,
    encode_varint,
    encode_varlong,
)

__all__ = ["PrefixFor", "py_value_frame", "value_record_parts"]

#: ``prefix_for(batch_size) -> bytes``: what goes before the batch in the frame.
PrefixFor = Callable[[int], bytes]

_V: Final = SMALL_VARINTS
_N: Final = SMALL_VARINTS_SIZE
_LENGTH_AT: Final = 8  # batchLength: after baseOffset
_CRC_AT: Final = CRC_START - 4
_INT32: Final = struct.Struct(">i")
_UINT32: Final = struct.Struct(">I")


def _null_key_prefix(i: int) -> bytes:
    return b"\x00" + encode_varlong(0) + encode_varint(i) + encode_varint(-1)


def _null_key_prefixes(count: int) -> tuple[bytes, ...]:
    """attributes, timestampDelta 0, offsetDelta i and a null key, for each i < count."""
    global _NULL_KEY_PREFIXES  # noqa: PLW0603 - a cache grown on use
    table = _NULL_KEY_PREFIXES
    if count <= len(table):
        return table
    # Grown as batches need it (doubling, up to _N), not all _N at the first batch: that
    # cost a process's first small batch ~15-25 ms of its loop (a broker's registry writes).
    grown = min(_N, max(64, 2 * len(table), count))
    if grown > len(table):
        # Replaced whole, never mutated: threads that race here each build an equal table.
        extra = tuple(_null_key_prefix(i) for i in range(len(table), grown))
        table = _NULL_KEY_PREFIXES = table + extra
    if count > len(table):
        return table + tuple(_null_key_prefix(i) for i in range(len(table), count))
    return table


_NULL_KEY_PREFIXES: tuple[bytes, ...] = ()


def value_record_parts(values: Sequence[bytes | None]) -> list[bytes]:
    """The records of ``values`` as parts to join (the values referenced, not copied)."""
    prefixes = _null_key_prefixes(len(values))
    parts: list[bytes] = []
    append = parts.append
    extend = parts.extend
    for i, value in enumerate(values):
        prefix = prefixes[i]
        if value is None:
            body = prefix + b"\x01\x00"
            append(_V[len(body)])
            append(body)
            continue
        n = len(value)
        vl = _V[n] if n < _N else encode_length(n)
        n += len(prefix) + len(vl) + 1
        extend((_V[n] if n < _N else encode_length(n), prefix, vl, value, b"\x00"))
    return parts


def py_value_frame(
    prefix_for: PrefixFor,
    header: bytes,
    values: Sequence[bytes | None],
    crc: Callable[[memoryview], int],
) -> tuple[bytes, int]:
    """The reference of ``_speedups.value_frame`` (see the module's docstring)."""
    parts = value_record_parts(values)
    size = len(header) + sum(map(len, parts))
    if size - LOG_OVERHEAD > INT32_MAX:
        raise OverflowError(f"a batch of {size - LOG_OVERHEAD} bytes exceeds 2 GiB")
    prefix = prefix_for(size)
    parts[0:0] = (prefix, header)
    buf = bytearray().join(parts)
    at = len(prefix)
    _INT32.pack_into(buf, at + _LENGTH_AT, size - LOG_OVERHEAD)
    with memoryview(buf) as view:
        checksum = crc(view[at + CRC_START :])
    _UINT32.pack_into(buf, at + _CRC_AT, checksum)
    return bytes(buf), at


assert HEADER_SIZE == 61  # the C code's offsets: batchLength at 8, crc at 17, CRC from 21
