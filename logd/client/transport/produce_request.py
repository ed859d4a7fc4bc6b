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

from collections.abc import Callable
from typing import Final, Protocol

from logd.records.varint import encode_unsigned_varint

__all__ = ["FrameSource", "encode_produce_request", "produce_request_prefix"]


class FrameSource(Protocol):
    """A batch that builds its request's bytes itself: ``frame(prefix_for)`` returns
    ``prefix_for(size)`` followed by the batch's ``size`` bytes, as one ``bytes`` object
    (the producer's uncompressed value batches: ``logd.records.build_value_frame``)."""

    def frame(self, prefix_for: Callable[[int], bytes]) -> bytes: ...


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


def produce_request_prefix(
    correlation_id: int,
    topic: str,
    partition: int,
    acks: int,
    timeout_ms: int,
    records_size: int,
) -> bytes:
    """The request's bytes up to its ``records`` field's contents, for ``records_size``
    bytes of records: the caller writes the batch right behind them (one copy)."""
    parts: list[bytes] = []
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
    if records_size:
        parts += (_RECORDS, _varint(records_size))
    return b"".join(parts)


def encode_produce_request(
    correlation_id: int,
    topic: str,
    partition: int,
    acks: int,
    timeout_ms: int,
    records: bytes | bytearray | memoryview,
) -> bytes:
    """``ProduceRequest(...).SerializeToString()``, with ``records`` copied once."""
    prefix = produce_request_prefix(
        correlation_id, topic, partition, acks, timeout_ms, len(records)
    )  # fmt: skip
    return b"".join((prefix, records)) if records else prefix
