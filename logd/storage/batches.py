"""What the log checks of the batches it is given, and what it answers. Sans-I/O.

:func:`check_batch` applies exactly the rules of ``logd.records.header.validate_batch``
(framing, magic, counts, ``max.message.bytes``, CRC-32C) with the same errors and messages,
but with one ``struct`` unpack into a tuple instead of a 13-field frozen dataclass: the
produce path runs it once per batch, and at 16 KiB a batch the dataclass alone cost a third
of the storage engine's own time (``tests/storage/test_batches.py`` holds the two to the
same verdicts).

Thread-safe: pure functions and immutable values.
"""

from __future__ import annotations

import struct
from typing import Final, NamedTuple

import crc32c

from logd.errors import CorruptRecordError, InvalidRequestError, MessageTooLargeError
from logd.records.compression import check_codec
from logd.records.header import (
    ATTR_CONTROL,
    CODEC_MASK,
    CRC_START,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC,
    BatchHeader,
    peek_batch_size,
    validate_batch,
)

__all__ = [
    "AppendInfo",
    "TimestampOffset",
    "check_batch",
    "check_continues",
    "mutable",
    "split_batches",
]

_HEADER: Final = struct.Struct(">qiibIhiqqqhii")
_MIN_LENGTH: Final = HEADER_SIZE - LOG_OVERHEAD


class AppendInfo(NamedTuple):
    """Where an append landed: offsets ``[first_offset, last_offset]``."""

    first_offset: int
    last_offset: int
    #: The largest batch max-timestamp among the appended batches.
    max_timestamp: int
    #: Bytes appended.
    size: int
    batch_count: int = 1


class TimestampOffset(NamedTuple):
    """An answer to ListOffsets by time: the batch's max timestamp and where to start."""

    timestamp: int
    offset: int


def check_batch(buf: bytearray | memoryview, max_size: int) -> tuple[int, int, int]:
    """(size, last offset delta, max timestamp) of one whole, valid producer batch.

    Raises CorruptRecordError or MessageTooLargeError, as ``validate_batch`` would.
    """
    length = len(buf)
    if length < HEADER_SIZE:
        raise CorruptRecordError(f"truncated batch header: {length} bytes, need {HEADER_SIZE}")
    _, batch_length, _, magic, crc, attributes, delta, _, max_ts, _, _, _, count = (
        _HEADER.unpack_from(buf)
    )
    if magic != MAGIC:
        raise CorruptRecordError(f"unsupported record batch magic {magic} (only 2)")
    if batch_length < _MIN_LENGTH:
        raise CorruptRecordError(
            f"batch length {batch_length} is below the {_MIN_LENGTH}-byte header"
        )
    if delta < 0 or count < 0:
        raise CorruptRecordError("negative record count or last offset delta")
    size = batch_length + LOG_OVERHEAD
    if size != length:
        raise CorruptRecordError(f"batch length field says {size} bytes but {length} were sent")
    if size > max_size:
        raise MessageTooLargeError(f"batch of {size} bytes exceeds max.message.bytes ({max_size})")
    if crc32c.crc32c(memoryview(buf)[CRC_START:]) != crc:
        raise CorruptRecordError("record batch CRC-32C mismatch")
    if attributes & CODEC_MASK:
        check_codec(attributes & CODEC_MASK)
    if count == 0 and not attributes & ATTR_CONTROL:
        raise CorruptRecordError("record batch holds no records")
    if count and count != delta + 1:
        raise CorruptRecordError(f"record count {count} does not match last offset delta {delta}")
    return size, delta, max_ts


def mutable(batch: bytes | bytearray | memoryview) -> bytearray | memoryview:
    """The batch itself when it can be stamped in place, else a copy that can."""
    if isinstance(batch, bytearray) or (isinstance(batch, memoryview) and not batch.readonly):
        return batch
    return bytearray(batch)


def split_batches(view: memoryview) -> list[tuple[int, BatchHeader]]:
    """Check and locate every batch of a buffer that must hold whole batches only: stored
    batches (a leader's log), which compaction may have thinned (``validate_batch``)."""
    headers: list[tuple[int, BatchHeader]] = []
    position = 0
    while position < len(view):
        size = peek_batch_size(view, position)
        if size is None or size > len(view) - position:
            raise CorruptRecordError(f"truncated batch at byte {position} of {len(view)}")
        batch = view[position : position + size]
        headers.append((position, validate_batch(batch, stored=True)))
        position += size
    if not headers:
        raise InvalidRequestError("no batches to append")
    return headers


def check_continues(
    headers: list[tuple[int, BatchHeader]], log_end: int, latest_epoch: int | None, name: str
) -> None:
    """Replicated batches must start at the log end, rise, and never lower the epoch (the
    Raft log matching the leader's); InvalidRequestError otherwise."""
    expected = log_end
    floor_epoch = 0 if latest_epoch is None else latest_epoch
    for index, (_, header) in enumerate(headers):
        if index == 0 and header.base_offset != expected:
            raise InvalidRequestError(
                f"{name}: replicated batches start at offset {header.base_offset}, "
                f"but the log ends at {expected}"
            )
        if header.base_offset < expected:
            raise InvalidRequestError(
                f"{name}: replicated batch offset {header.base_offset} does not rise"
            )
        if header.partition_leader_epoch < floor_epoch:
            raise InvalidRequestError(
                f"{name}: replicated batch epoch {header.partition_leader_epoch} "
                f"is below {floor_epoch}"
            )
        expected = header.last_offset + 1
        floor_epoch = header.partition_leader_epoch
