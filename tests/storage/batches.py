"""Valid RecordBatch v2 bytes for storage tests, built over ``logd.records.header``.

Storage never decodes records, so the records area holds deterministic filler: what
matters is a correct header (lengths, counts, timestamps) and a correct CRC-32C.
"""

from __future__ import annotations

import random
import struct

from logd.records.header import HEADER_SIZE, LOG_OVERHEAD, MAGIC, rewrite_crc

__all__ = ["BASE_TS", "make_batch", "stamped"]

BASE_TS = 1_700_000_000_000
_HEADER = struct.Struct(">qiibIhiqqqhii")


def make_batch(
    records: int = 1,
    size: int = 200,
    *,
    timestamp: int = BASE_TS,
    max_timestamp: int | None = None,
    base_offset: int = 0,
    epoch: int = -1,
    attributes: int = 0,
    seed: int = 0,
) -> bytearray:
    """A batch of ``size`` bytes claiming ``records`` records, CRC and all."""
    assert size >= HEADER_SIZE and records >= 1
    filler = random.Random(seed).randbytes(size - HEADER_SIZE)
    buf = bytearray(HEADER_SIZE) + filler
    _HEADER.pack_into(
        buf,
        0,
        base_offset,
        size - LOG_OVERHEAD,
        epoch,
        MAGIC,
        0,
        attributes,
        records - 1,
        timestamp,
        timestamp if max_timestamp is None else max_timestamp,
        -1,
        -1,
        -1,
        records,
    )
    rewrite_crc(buf)
    return buf


def stamped(batch: bytearray, base_offset: int, epoch: int) -> bytearray:
    """A copy with baseOffset/partitionLeaderEpoch set (as a leader would have)."""
    out = bytearray(batch)
    struct.pack_into(">q", out, 0, base_offset)
    struct.pack_into(">i", out, 12, epoch)
    return out
