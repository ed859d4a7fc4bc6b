"""The batch header: parse, validate, stamp without re-checksumming."""

from __future__ import annotations

import struct

import crc32c
import pytest

from logd.errors import CorruptRecordError, MessageTooLargeError
from logd.records import header as h


def _batch(count: int = 1, payload: bytes = b"\x00" * 8) -> bytearray:
    """A minimal, CRC-valid batch whose record bytes are opaque to the header code."""
    body = struct.pack(">hiqqqhii", 0, count - 1, 1000, 1000, -1, -1, -1, count) + payload
    crc = crc32c.crc32c(body)
    length = 4 + 1 + 4 + len(body)
    return bytearray(struct.pack(">qiibI", 0, length, 0, 2, crc) + body)


def test_validate_accepts_a_well_formed_batch() -> None:
    batch = _batch(count=3)
    header = h.validate_batch(batch)
    assert header.size == len(batch)
    assert header.record_count == 3
    assert header.last_offset_delta == 2


def test_stamp_keeps_the_crc_valid() -> None:
    batch = _batch(count=2)
    h.stamp(batch, base_offset=1234, leader_epoch=7)
    header = h.validate_batch(batch)
    assert (header.base_offset, header.partition_leader_epoch) == (1234, 7)
    assert header.last_offset == 1235
    assert header.next_offset == 1236


def test_a_flipped_bit_fails_the_crc() -> None:
    batch = _batch()
    batch[-1] ^= 0x01
    with pytest.raises(CorruptRecordError, match="CRC"):
        h.validate_batch(batch)


def test_wrong_magic_is_corrupt() -> None:
    batch = _batch()
    batch[16] = 1
    with pytest.raises(CorruptRecordError, match="magic"):
        h.validate_batch(batch)


def test_length_must_match_the_bytes_sent() -> None:
    batch = _batch()
    with pytest.raises(CorruptRecordError, match="length"):
        h.validate_batch(batch + b"\x00")
    with pytest.raises(CorruptRecordError):
        h.validate_batch(batch[:-1])


def test_oversized_batch_is_too_large() -> None:
    batch = _batch()
    with pytest.raises(MessageTooLargeError):
        h.validate_batch(batch, max_size=len(batch) - 1)


def test_peek_rejects_impossible_lengths_before_reading_them() -> None:
    assert h.peek_batch_size(b"\x00" * 11) is None
    with pytest.raises(CorruptRecordError):
        h.peek_batch_size(struct.pack(">qi", 0, -5))
    assert h.peek_batch_size(struct.pack(">qi", 0, 2**31 - 1)) == 2**31 - 1 + 12


def test_a_codec_nobody_can_read_is_refused_before_it_is_stored() -> None:
    from logd.errors import UnsupportedCompressionTypeError

    for codec in (5, 6, 7):  # numbers Kafka never assigned
        batch = _batch()
        struct.pack_into(">h", batch, 21, codec)
        struct.pack_into(">I", batch, 17, crc32c.crc32c(bytes(batch[21:])))
        with pytest.raises(UnsupportedCompressionTypeError):
            h.validate_batch(batch)
