"""A ``ProduceRequest`` written straight to its wire bytes (issue 22: big batches).

Through the generated class, a 1 MiB batch is copied twice before gRPC sees it:
``ProduceRequest(records=...)`` copies ``records`` into protobuf's arena and
``SerializeToString`` copies it again into the frame (profile of ``bench.mib_probe``'s
client, Session 8 in bench/README.md: ~15 % of the client's CPU per batch). Here the five
small fields are encoded by hand and the frame is one join of that prefix with the batch:
one copy. protobuf's Python API has no way to serialize a bytes field without copying it,
hence these few lines of the wire format (the broker's ``produce_frame`` is the reader's
counterpart). The bytes are exactly ``SerializeToString``'s -- fields in number order,
proto3 defaults (0, "", b"") omitted, a negative int32 as a 10-byte varint -- which the
tests check against protobuf itself.

The produce stream opens its call with ``request_serializer=None``: gRPC then sends these
bytes as they are. Thread-safety: pure functions of their input.
"""

from __future__ import annotations

from typing import Final

from logd.records.varint import encode_unsigned_varint

__all__ = ["encode_produce_request"]

# Tags: field number << 3 | wire type (0 varint, 2 length-delimited).
_CORRELATION_ID: Final = b"\x08"
_TOPIC: Final = b"\x12"
_PARTITION: Final = b"\x18"
_ACKS: Final = b"\x20"
_TIMEOUT_MS: Final = b"\x28"
_RECORDS: Final = b"\x32"
_SMALL: Final = tuple(bytes((i,)) for i in range(0x80))


def _varint(value: int) -> bytes:
    return _SMALL[value] if 0 <= value < 0x80 else encode_unsigned_varint(value)


def encode_produce_request(
    correlation_id: int,
    topic: str,
    partition: int,
    acks: int,
    timeout_ms: int,
    records: bytes | bytearray,
) -> bytes:
    """``ProduceRequest(...).SerializeToString()``, with ``records`` copied once."""
    parts: list[bytes | bytearray] = []
    if correlation_id:
        parts += (_CORRELATION_ID, _varint(correlation_id))
    if topic:
        name = topic.encode()
        parts += (_TOPIC, _varint(len(name)), name)
    if partition:
        parts += (_PARTITION, _varint(partition))
    if acks:
        parts += (_ACKS, _varint(acks))
    if timeout_ms:
        parts += (_TIMEOUT_MS, _varint(timeout_ms))
    if records:
        parts += (_RECORDS, _varint(len(records)), records)
    return b"".join(parts)
