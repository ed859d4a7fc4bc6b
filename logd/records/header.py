"""The fixed 61-byte header of a Kafka RecordBatch v2 (magic 2), sans-I/O.

This is the only part of a batch the broker's hot path looks at (DESIGN.md principle 1):
produce checks the header and the CRC-32C, then stamps ``baseOffset`` and
``partitionLeaderEpoch`` in place.  Both fields lie *before* the CRC'd region, which starts
at ``attributes``, so stamping never needs a re-checksum.

Layout (big-endian), from Kafka's ``DefaultRecordBatch``::

    offset  size  field
         0     8  baseOffset
         8     4  batchLength            bytes after this field (total = batchLength + 12)
        12     4  partitionLeaderEpoch
        16     1  magic                  2
        17     4  crc                    CRC-32C of bytes [21, end)
        21     2  attributes             bits 0-2 codec, 3 timestamp type, 4 transactional,
                                         5 control, 6 has delete horizon
        23     4  lastOffsetDelta
        27     8  baseTimestamp
        35     8  maxTimestamp
        43     8  producerId
        51     2  producerEpoch
        53     4  baseSequence
        57     4  records count
        61        records
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from typing import Final

import crc32c as _crc32c

from logd.errors import CorruptRecordError, MessageTooLargeError

__all__ = [
    "ATTR_CONTROL",
    "ATTR_DELETE_HORIZON",
    "ATTR_LOG_APPEND_TIME",
    "ATTR_TRANSACTIONAL",
    "CODEC_MASK",
    "CRC_START",
    "HEADER_SIZE",
    "LOG_OVERHEAD",
    "MAGIC",
    "NO_PRODUCER_EPOCH",
    "NO_PRODUCER_ID",
    "NO_SEQUENCE",
    "BatchHeader",
    "Compression",
    "batch_crc",
    "count_records",
    "parse_header",
    "peek_batch_size",
    "rewrite_crc",
    "stamp",
    "validate_batch",
]

MAGIC: Final = 2
HEADER_SIZE: Final = 61
#: baseOffset + batchLength: the bytes that ``batchLength`` does not count.
LOG_OVERHEAD: Final = 12
CRC_START: Final = 21
#: The smallest legal ``batchLength``: the header after the first 12 bytes.
MIN_BATCH_LENGTH: Final = HEADER_SIZE - LOG_OVERHEAD

CODEC_MASK: Final = 0x07
ATTR_LOG_APPEND_TIME: Final = 0x08
ATTR_TRANSACTIONAL: Final = 0x10
ATTR_CONTROL: Final = 0x20
ATTR_DELETE_HORIZON: Final = 0x40

NO_PRODUCER_ID: Final = -1
NO_PRODUCER_EPOCH: Final = -1
NO_SEQUENCE: Final = -1


class Compression(enum.IntEnum):
    """Codec numbers as Kafka numbers them (attributes bits 0-2)."""

    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4


# One struct for the whole header: a single unpack is the cheapest way to read it in Python.
_HEADER: Final = struct.Struct(">qiibIhiqqqhii")
_LENGTH: Final = struct.Struct(">qi")
_STAMP_OFFSET: Final = struct.Struct(">q")
_STAMP_EPOCH: Final = struct.Struct(">i")
_CRC: Final = struct.Struct(">I")
_EPOCH_POS: Final = 12
_CRC_POS: Final = 17


@dataclasses.dataclass(frozen=True, slots=True)
class BatchHeader:
    """A parsed batch header. ``size`` is the whole batch in bytes (``batchLength`` + 12)."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int

    @property
    def size(self) -> int:
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self) -> int:
        return self.attributes & CODEC_MASK

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & ATTR_CONTROL)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & ATTR_TRANSACTIONAL)

    @property
    def log_append_time(self) -> bool:
        return bool(self.attributes & ATTR_LOG_APPEND_TIME)

    @property
    def last_sequence(self) -> int:
        """The sequence of the last record, wrapping at 2**31 as Kafka's does."""
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        return (self.base_sequence + self.last_offset_delta) % (1 << 31)


def peek_batch_size(buf: bytes | bytearray | memoryview, pos: int = 0) -> int | None:
    """The total size of the batch starting at ``pos``, or None when fewer than 12 bytes remain.

    Raises :class:`CorruptRecordError` for a length that cannot be a batch, before anyone
    allocates or reads that many bytes.
    """
    if len(buf) - pos < LOG_OVERHEAD:
        return None
    _, length = _LENGTH.unpack_from(buf, pos)
    if length < MIN_BATCH_LENGTH:
        raise CorruptRecordError(
            f"batch length {length} is below the {MIN_BATCH_LENGTH}-byte header"
        )
    return int(length) + LOG_OVERHEAD


def parse_header(buf: bytes | bytearray | memoryview, pos: int = 0) -> BatchHeader:
    """Parse the header at ``pos``; checks that the bytes are there and the magic is 2."""
    if len(buf) - pos < HEADER_SIZE:
        raise CorruptRecordError(
            f"truncated batch header: {len(buf) - pos} bytes, need {HEADER_SIZE}"
        )
    header = BatchHeader(*_HEADER.unpack_from(buf, pos))
    if header.magic != MAGIC:
        raise CorruptRecordError(f"unsupported record batch magic {header.magic} (only 2)")
    if header.batch_length < MIN_BATCH_LENGTH:
        raise CorruptRecordError(
            f"batch length {header.batch_length} is below the {MIN_BATCH_LENGTH}-byte header"
        )
    if header.last_offset_delta < 0 or header.record_count < 0:
        raise CorruptRecordError("negative record count or last offset delta")
    return header


_RECORD_COUNT: Final = struct.Struct(">i")
_RECORD_COUNT_AT: Final = HEADER_SIZE - 4


def count_records(buf: bytes | bytearray | memoryview) -> int:
    """How many records the whole batches of ``buf`` hold (their headers' record counts; a
    torn or malformed tail counts nothing). Reads headers only: cheap enough to count what
    every fetch returns (the admin listener's ``logd_kafka_records_fetched_total``)."""
    total, pos, end = 0, 0, len(buf)
    while end - pos >= HEADER_SIZE:
        _, length = _LENGTH.unpack_from(buf, pos)
        size = int(length) + LOG_OVERHEAD
        if length < MIN_BATCH_LENGTH or pos + size > end:
            break
        total += max(_RECORD_COUNT.unpack_from(buf, pos + _RECORD_COUNT_AT)[0], 0)
        pos += size
    return total


def batch_crc(buf: bytes | bytearray | memoryview, pos: int, size: int) -> int:
    """CRC-32C of the checksummed region of the batch at ``pos`` of ``size`` bytes."""
    view = buf if isinstance(buf, memoryview) else memoryview(buf)
    return int(_crc32c.crc32c(view[pos + CRC_START : pos + size]))


def validate_batch(
    buf: bytes | bytearray | memoryview, *, max_size: int | None = None, stored: bool = False
) -> BatchHeader:
    """Check that ``buf`` is exactly one well-formed batch: length, magic, CRC, counts.

    Records are not decoded (DESIGN.md principle 1). ``max_size`` bounds the whole batch.
    ``stored``: a batch from a log rather than a producer, which a cleaner may have left
    with fewer records than offsets, or none (Kafka's compacted batches keep their offset
    range): then the count only has to fit the range.
    """
    header = parse_header(buf, 0)
    if header.size != len(buf):
        raise CorruptRecordError(
            f"batch length field says {header.size} bytes but {len(buf)} were sent"
        )
    if max_size is not None and header.size > max_size:
        raise MessageTooLargeError(
            f"batch of {header.size} bytes exceeds max.message.bytes ({max_size})"
        )
    if batch_crc(buf, 0, header.size) != header.crc:
        raise CorruptRecordError("record batch CRC-32C mismatch")
    if header.attributes & CODEC_MASK:
        # A codec no reader here can open would be stored and then poison every consumer
        # of the partition. (compression imports this module, hence the late import.)
        from logd.records.compression import check_codec

        check_codec(header.attributes & CODEC_MASK)
    if stored:
        if header.record_count > header.last_offset_delta + 1:
            raise CorruptRecordError(
                f"record count {header.record_count} exceeds the batch's "
                f"{header.last_offset_delta + 1} offsets"
            )
        return header
    if header.record_count == 0 and not header.is_control:
        raise CorruptRecordError("record batch holds no records")
    if header.record_count and header.record_count != header.last_offset_delta + 1:
        # Kafka producers always write offset deltas 0..n-1; a batch that claims otherwise
        # would make offsets (and our index) lie about what it holds.
        raise CorruptRecordError(
            f"record count {header.record_count} does not match last offset delta "
            f"{header.last_offset_delta}"
        )
    return header


def stamp(buf: bytearray | memoryview, base_offset: int, leader_epoch: int, pos: int = 0) -> None:
    """Write ``baseOffset`` and ``partitionLeaderEpoch`` in place; both lie outside the CRC."""
    _STAMP_OFFSET.pack_into(buf, pos, base_offset)
    _STAMP_EPOCH.pack_into(buf, pos + _EPOCH_POS, leader_epoch)


def rewrite_crc(buf: bytearray | memoryview, pos: int = 0) -> None:
    """Recompute the CRC after changing a CRC'd field (e.g. the LogAppendTime attribute)."""
    size = _LENGTH.unpack_from(buf, pos)[1] + LOG_OVERHEAD
    _CRC.pack_into(buf, pos + _CRC_POS, batch_crc(buf, pos, size))
