"""Rewriting one stored batch without some of its records, as Kafka's cleaner does
(``MemoryRecords.filterTo``), and the empty batches that stand for removed offsets.  Sans-I/O.

A rewritten batch keeps its ``baseOffset``, ``lastOffsetDelta`` (Kafka's
``overrideLastOffset``: the offsets a batch covers never change, so a producer's sequence
range and the Raft entry it is stay whole), ``partitionLeaderEpoch``, ``baseTimestamp``,
attributes and codec, and its producer id, epoch and base sequence; only the record count,
the records, ``maxTimestamp`` (the largest kept; with LogAppendTime the batch's own) and the
CRC change.  Kept records are copied in their stored encoding (their deltas are relative to
the unchanged base offset and timestamp), then recompressed with the batch's codec.

A batch left with no record goes (an empty one already, too: what a leader sent for offsets
its cleaner removed), unless it is its producer's last batch: then its header
stays with no records (Kafka's ``RETAIN_EMPTY``), so the producer's last sequence and epoch
survive for idempotence.  Control batches are never rewritten here (the caller keeps them).

Pure functions: thread-safe.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

import crc32c

from logd.errors import CorruptRecordError
from logd.records import accel
from logd.records.compression import compress, decompress
from logd.records.header import (
    ATTR_LOG_APPEND_TIME,
    CODEC_MASK,
    CRC_START,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC,
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    NO_SEQUENCE,
)
from logd.records.record import NO_MIN_OFFSET
from logd.records.varint import decode_varint, decode_varlong

__all__ = [
    "HEADER",
    "KeepRecords",
    "RecordTuple",
    "decode_records",
    "empty_batch",
    "filter_batch",
    "rebuilt",
    "record_spans",
]

#: The 13 header fields, as ``Segment.scan_headers`` unpacks them.
HEADER: Final = struct.Struct(">qiibIhiqqqhii")
_CRC: Final = struct.Struct(">I")
_CRC_POS: Final = 17
_MAX_UNCOMPRESSED: Final = 256 << 20

#: ``keep(records)``: for each record of a batch, whether the cleaner keeps it (one call a
#: batch, so the per-record rule runs as one tight loop).
KeepRecords = Callable[[list["RecordTuple"]], list[bool]]


class RecordTuple(tuple):  # type: ignore[type-arg]
    """(offset, timestamp, key, value, headers): what the decoder builds (a tuple
    subclass, as ``accel.records_list`` asks; no NamedTuple cost, nothing kept long)."""

    __slots__ = ()


def decode_records(batch: bytes, fields: tuple[int, ...]) -> tuple[bytes, list[RecordTuple]]:
    """The uncompressed records region of ``batch`` and its records; record timestamps
    are the producer's (never LogAppendTime's), as the batch's deltas encode them."""
    base, attributes, base_ts, count = fields[0], fields[5], fields[7], fields[12]
    codec = attributes & CODEC_MASK
    region = batch[HEADER_SIZE:]
    data = region if not codec else decompress(codec, region, _MAX_UNCOMPRESSED)
    return data, accel.records_list(
        data, count, base, base_ts, None, RecordTuple, (), NO_MIN_OFFSET
    )


def record_spans(data: bytes, count: int, base_offset: int) -> list[tuple[int, int, int]]:
    """(start, end, offset) of each record in an uncompressed records region."""
    spans: list[tuple[int, int, int]] = []
    pos = 0
    for _ in range(count):
        length, body = decode_varint(data, pos)
        end = body + length
        if length < 0 or end > len(data):
            raise CorruptRecordError(f"record at byte {pos} runs past its batch")
        ts_end = decode_varlong(data, body + 1, end)[1]  # attributes, then timestampDelta
        delta = decode_varint(data, ts_end, end)[0]
        spans.append((pos, end, base_offset + delta))
        pos = end
    return spans


def filter_batch(batch: bytes, keep: KeepRecords, *, retain_empty: bool) -> bytes | None:
    """``batch`` with only the records ``keep`` accepts: the same bytes when it keeps
    them all, None when it keeps none (and ``retain_empty`` is false)."""
    fields = HEADER.unpack_from(batch)
    data, records = decode_records(batch, fields)
    kept = keep(records)
    if not all(kept) and any(kept):
        spans = record_spans(data, fields[12], fields[0])
        parts = [data[start:end] for (start, end, _), k in zip(spans, kept, strict=True) if k]
        kept_max = max(r[1] for r, k in zip(records, kept, strict=True) if k)
        return rebuilt(batch, fields, b"".join(parts), len(parts), kept_max, retain_empty)
    return rebuilt(batch, fields, b"", sum(kept), -1, retain_empty)


def rebuilt(
    batch: bytes,
    fields: tuple[int, ...],
    records: bytes,
    kept: int,
    kept_max_timestamp: int,
    retain_empty: bool,
) -> bytes | None:
    """What :func:`filter_batch` returns once ``kept`` of the batch's records (``records``,
    the largest of their timestamps ``kept_max_timestamp``) are chosen: shared with the C
    cleaner's path for compressed batches (``logd.storage.cscan``)."""
    attributes, max_ts, count = fields[5], fields[8], fields[12]
    codec = attributes & CODEC_MASK
    if kept == count and count:
        return batch
    if not kept:
        return _rebuild(fields, b"", 0, max_ts, codec) if retain_empty else None
    new_max = max_ts if attributes & ATTR_LOG_APPEND_TIME else kept_max_timestamp
    return _rebuild(fields, records, kept, new_max, codec)


def _rebuild(fields: tuple[int, ...], records: bytes, count: int, max_ts: int, codec: int) -> bytes:
    base, _, epoch, _, _, attributes, delta, base_ts, _, pid, pepoch, seq, _ = fields
    payload = compress(codec, records) if codec and records else records
    if not records:
        attributes &= ~CODEC_MASK  # nothing to compress: Kafka writes an empty batch plain
    length = HEADER_SIZE - LOG_OVERHEAD + len(payload)
    head = bytearray(
        HEADER.pack(
            base, length, epoch, MAGIC, 0, attributes, delta, base_ts, max_ts, pid, pepoch,
            seq, count,
        )
    )  # fmt: skip
    out = head + payload
    _CRC.pack_into(out, _CRC_POS, crc32c.crc32c(memoryview(out)[CRC_START:]))
    return bytes(out)


def empty_batch(base_offset: int, last_offset: int, epoch: int) -> bytes:
    """A batch with no records covering ``[base_offset, last_offset]`` in ``epoch``: what a
    leader sends a follower for offsets its cleaner removed (the Raft log stays contiguous;
    consumers read past it, as past Kafka's retained empty batches).  No timestamp (-1),
    so time lookups, rolls and retention ignore it."""
    fields = (
        base_offset, 0, epoch, MAGIC, 0, 0, last_offset - base_offset, -1, -1,
        NO_PRODUCER_ID, NO_PRODUCER_EPOCH, NO_SEQUENCE, 0,
    )  # fmt: skip
    return _rebuild(fields, b"", 0, -1, 0)
