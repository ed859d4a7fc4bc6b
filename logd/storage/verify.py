"""Checking stored batches before they are served: the read path's CRC check. Sans-I/O.

Why.  A batch's CRC-32C is checked when it is appended and when recovery re-scans it, but
recovery re-scans only from the recovery point on, and after a clean shutdown every file is
trusted.  A bit that flips in a sealed segment while the broker is down would otherwise be
served as it is: to consumers, and with replication to followers, which would make the
damage permanent.  Kafka leaves the check to consumers (``check.crcs``); logd checks on the
broker before serving, once per batch per process lifetime (each segment remembers how far
it has verified, see ``Segment.read``).  CRC-32C runs at ~30 GB/s in C, so the cost is the
Python per batch, paid once.

What is checked, per batch: framing (length, magic), the CRC-32C over ``attributes`` to the
end, and what the CRC cannot cover -- ``baseOffset`` and ``partitionLeaderEpoch`` lie
outside it (the broker stamps them without re-checksumming, DESIGN.md principle 1), so
offsets must rise from batch to batch (and the next batch, which the caller peeks, must
start above the last one served) and epochs must not fall (Raft terms never fall along a
log).  A damaged batch is never returned: the caller raises KafkaStorageError instead.

Thread-safety: pure functions and immutable values.
"""

from __future__ import annotations

import struct
from typing import Final, NamedTuple

import crc32c

from logd.records.header import CRC_START, HEADER_SIZE, LOG_OVERHEAD, MAGIC

__all__ = ["SUCCESSOR_BYTES", "Tail", "check_successor", "verify_batches"]

#: base offset, batch length, leader epoch, magic, crc, attributes, last offset delta.
_PREFIX: Final = struct.Struct(">qiibIhi")
_MIN_LENGTH: Final = HEADER_SIZE - LOG_OVERHEAD
#: What the caller reads of the batch after a verified run: base offset .. magic.
SUCCESSOR_BYTES: Final = 17
_SUCCESSOR: Final = struct.Struct(">qiib")


class Tail(NamedTuple):
    """Where a verified run of batches ends: the byte after it, its last offset and epoch."""

    position: int
    last_offset: int
    epoch: int


def verify_batches(data: bytes | memoryview, previous: Tail) -> tuple[Tail, str]:
    """Check the whole batches that ``data`` holds back to back; ``data`` starts at byte
    ``previous.position`` of its segment, right after a batch that ended at offset
    ``previous.last_offset`` in epoch ``previous.epoch`` (for the first batch of a segment:
    its base offset - 1 and -1).

    Returns the tail of the valid run and '' when every batch is valid; else the tail of
    the valid prefix and why the next batch is not.
    """
    view = memoryview(data)
    size = len(view)
    pos = 0
    last, epoch = previous.last_offset, previous.epoch
    start = previous.position
    unpack = _PREFIX.unpack_from
    while pos < size:
        tail = Tail(start + pos, last, epoch)
        if size - pos < HEADER_SIZE:
            return tail, "truncated batch header"
        base, length, batch_epoch, magic, crc, _, delta = unpack(view, pos)
        end = pos + length + LOG_OVERHEAD
        if length < _MIN_LENGTH or magic != MAGIC or delta < 0 or end > size:
            return tail, "batch header does not fit"
        if crc32c.crc32c(view[pos + CRC_START : end]) != crc:
            return tail, "CRC-32C mismatch"
        if base <= last:
            return tail, f"base offset {base} does not rise above {last}"
        if batch_epoch < epoch:
            return tail, f"leader epoch {batch_epoch} falls below {epoch}"
        last, epoch = base + delta, batch_epoch
        pos = end
    return Tail(start + pos, last, epoch), ""


def check_successor(tail: Tail, header: bytes) -> str:
    """Whether the batch after a verified run continues it: ``header`` is its first
    :data:`SUCCESSOR_BYTES` bytes.  '' when it does (its own CRC is checked when it is read)."""
    if len(header) < SUCCESSOR_BYTES:
        return "truncated batch header after the batches read"
    base, _, epoch, magic = _SUCCESSOR.unpack_from(header)
    if magic != MAGIC:
        return f"the next batch has magic {magic}"
    if base <= tail.last_offset:
        return f"the next batch's base offset {base} does not rise above {tail.last_offset}"
    if epoch < tail.epoch:
        return f"the next batch's leader epoch {epoch} falls below {tail.epoch}"
    return ""
