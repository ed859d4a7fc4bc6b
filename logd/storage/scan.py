"""The recovery scanner: which prefix of some bytes is a run of valid batches. Sans-I/O.

Recovery after a crash (Kafka ``LogSegment.recover``) walks the batches of a segment from a
known-good point and stops at the first one that is not whole and valid; everything from
there on is cut off.  This module is that walk over a buffer, with no files: the segment
feeds it windows of its ``.log`` and acts on the result, and the fuzz tests feed it anything.

A batch is valid when its length field is at least a header, it fits in the buffer, its
magic is 2, its CRC-32C matches (over ``attributes`` to the end, as Kafka defines it), its
counts are not negative, and its offsets and leader epoch continue the log: the base offset
above the previous batch's last offset and within 2^31 of the segment's base, the epoch not
below the previous one (Raft terms never fall along a log; the epoch sits outside the CRC,
so this also catches some damage the CRC cannot see).

Never raises for any input; the only cost is Python per batch and C per byte (the CRC).
"""

from __future__ import annotations

import enum
import struct
from typing import Final, NamedTuple

import crc32c

from logd.records.header import CRC_START, HEADER_SIZE, LOG_OVERHEAD, MAGIC

__all__ = ["BatchInfo", "ScanResult", "Stop", "scan"]

#: The whole 61-byte header at once: base offset, length, epoch, magic, crc, attributes,
#: last offset delta, base timestamp, max timestamp, producer id/epoch, base sequence, count.
_HEADER: Final = struct.Struct(">qiibIhiqqqhii")
_MIN_LENGTH: Final = HEADER_SIZE - LOG_OVERHEAD
_RELATIVE_MAX: Final = (1 << 31) - 1


class Stop(enum.Enum):
    """Why a scan stopped."""

    #: Every byte of the buffer was a valid batch.
    END = "end"
    #: The next batch runs past the buffer; ``need`` says how many bytes it needs.
    INCOMPLETE = "incomplete"
    #: The next batch is invalid; ``reason`` says why.
    CORRUPT = "corrupt"


class BatchInfo(NamedTuple):
    """Where a valid batch lies and what the indexes and the epoch cache need of it."""

    position: int
    size: int
    base_offset: int
    last_offset: int
    max_timestamp: int
    epoch: int


class ScanResult(NamedTuple):
    batches: list[BatchInfo]
    #: Position just after the last valid batch: everything before it is whole and valid.
    end: int
    stop: Stop
    #: For INCOMPLETE: the bytes needed from ``end`` (12 while the length is unread).
    need: int = 0
    reason: str = ""


def scan(
    buf: bytes | bytearray | memoryview,
    start: int = 0,
    *,
    base_offset: int = 0,
    next_offset: int = 0,
    min_epoch: int = -1,
) -> ScanResult:
    """Walk the valid batches of ``buf`` from ``start``.

    ``base_offset`` is the segment's; ``next_offset`` the lowest offset the first batch may
    start at; ``min_epoch`` the lowest leader epoch it may carry.
    """
    view = memoryview(buf)
    end = len(view)
    pos = start
    batches: list[BatchInfo] = []
    unpack = _HEADER.unpack_from
    while True:
        remaining = end - pos
        if remaining == 0:
            return ScanResult(batches, pos, Stop.END)
        if remaining < LOG_OVERHEAD:
            return ScanResult(batches, pos, Stop.INCOMPLETE, LOG_OVERHEAD)
        length = int.from_bytes(view[pos + 8 : pos + 12], "big", signed=True)
        if length < _MIN_LENGTH:
            return ScanResult(batches, pos, Stop.CORRUPT, reason=f"batch length {length} too small")
        size = length + LOG_OVERHEAD
        if remaining < HEADER_SIZE:
            return ScanResult(batches, pos, Stop.INCOMPLETE, size)
        # Check the header before asking for (and the caller allocating) a big batch's bytes.
        fields = unpack(view, pos)
        base, _, epoch, _, crc, _, delta, _, max_ts = fields[:9]
        reason = _check_header(fields, base_offset, next_offset, min_epoch)
        if not reason:
            if size > remaining:
                return ScanResult(batches, pos, Stop.INCOMPLETE, size)
            if crc32c.crc32c(view[pos + CRC_START : pos + size]) != crc:
                reason = "CRC-32C mismatch"
        if reason:
            return ScanResult(batches, pos, Stop.CORRUPT, reason=reason)
        batches.append(BatchInfo(pos, size, base, base + delta, max_ts, epoch))
        next_offset = base + delta + 1
        min_epoch = epoch
        pos += size


def _check_header(
    fields: tuple[int, ...], base_offset: int, next_offset: int, min_epoch: int
) -> str:
    """Why a header cannot continue the log ('' when it can); the CRC is checked apart."""
    base, _, epoch, magic, _, _, delta, _, _, _, _, _, count = fields
    if magic != MAGIC:
        return f"magic {magic}"
    if delta < 0 or count < 0:
        return "negative last offset delta or record count"
    if base < next_offset:
        return f"base offset {base} below {next_offset}"
    if base + delta - base_offset > _RELATIVE_MAX:
        return f"offset {base + delta} too far above segment base {base_offset}"
    if epoch < min_epoch:
        return f"leader epoch {epoch} below {min_epoch}"
    return ""
