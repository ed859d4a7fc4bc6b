"""decode_batch: what a consumer reads back, and every way a batch can be refused."""

from __future__ import annotations

import struct

import crc32c
import pytest
from hypothesis import given
from hypothesis import strategies as st

from logd.errors import CorruptRecordError, UnsupportedCompressionTypeError
from logd.records import (
    BatchBuilder,
    Compression,
    ControlType,
    Record,
    TimestampType,
    build_control_batch,
    build_value_batch,
    decode_batch,
    decode_records,
    stamp,
)
from logd.records.header import rewrite_crc
from tests.records.strategies import CODECS, DETERMINISTIC, batch_records

T0 = 1_700_000_000_000
Appended = tuple[int, bytes | None, bytes | None, tuple[tuple[str, bytes | None], ...]]


@DETERMINISTIC
@given(
    batch_records,
    st.sampled_from(CODECS),
    st.tuples(st.booleans(), st.booleans(), st.booleans()),
    st.integers(min_value=0, max_value=2**62),
    st.integers(min_value=-1, max_value=2**31 - 1),
)
def test_batches_round_trip_with_every_codec_and_flag(
    appended: list[Appended],
    codec: Compression,
    flags: tuple[bool, bool, bool],
    base_offset: int,
    epoch: int,
) -> None:
    transactional, control, log_append = flags
    builder = BatchBuilder(
        compression=codec,
        base_offset=base_offset,
        partition_leader_epoch=epoch,
        producer_id=42 if transactional else -1,
        producer_epoch=1 if transactional else -1,
        base_sequence=7 if transactional else -1,
        transactional=transactional,
        control=control,
        timestamp_type=TimestampType.LOG_APPEND_TIME if log_append else TimestampType.CREATE_TIME,
        log_append_time=T0 if log_append else None,
    )
    for timestamp, key, value, headers in appended:
        builder.append(timestamp, key, value, headers)
    batch = decode_batch(builder.build())
    assert len(batch) == len(appended)
    assert (batch.is_transactional, batch.is_control) == (transactional, control)
    assert batch.header.compression == codec
    assert batch.base_offset == base_offset
    assert batch.last_offset == base_offset + len(appended) - 1
    assert batch.header.partition_leader_epoch == epoch
    expected_max = T0 if log_append else max(t for t, *_ in appended)
    assert batch.header.max_timestamp == expected_max
    assert batch.records() == [
        Record(base_offset + i, T0 if log_append else t, k, v, h)
        for i, (t, k, v, h) in enumerate(appended)
    ]


def _batch(codec: Compression = Compression.NONE, count: int = 3) -> bytearray:
    return bytearray(
        build_value_batch([b"value %d" % i for i in range(count)], T0, compression=codec)
    )


def test_iteration_is_lazy_and_repeatable() -> None:
    batch = decode_batch(_batch(count=1000))
    first = next(iter(batch))
    assert first == Record(0, T0, None, b"value 0", ())
    assert [r.offset for r in batch] == list(range(1000))
    assert batch.records() == list(batch)
    assert batch.uncompressed_size == len(_batch(count=1000)) - 61


def test_stamped_offsets_and_epoch_need_no_new_crc() -> None:
    buf = _batch()
    stamp(buf, base_offset=1000, leader_epoch=4)
    batch = decode_batch(buf)
    assert [r.offset for r in batch] == [1000, 1001, 1002]
    assert batch.header.partition_leader_epoch == 4


def test_crc_mismatch_is_corrupt() -> None:
    buf = _batch()
    buf[-2] ^= 0x10
    with pytest.raises(CorruptRecordError, match="CRC"):
        decode_batch(buf)


def test_size_must_match_the_buffer() -> None:
    buf = _batch()
    with pytest.raises(CorruptRecordError, match="length"):
        decode_batch(buf + b"\x00")
    with pytest.raises(CorruptRecordError):
        decode_batch(buf[:-1])
    with pytest.raises(CorruptRecordError, match="truncated batch header"):
        decode_batch(buf[:30])


def _with_header_field(buf: bytearray, fmt: str, pos: int, value: int) -> bytearray:
    struct.pack_into(fmt, buf, pos, value)
    rewrite_crc(buf)
    return buf


def test_a_record_count_that_cannot_fit_is_corrupt_before_any_record_is_read() -> None:
    buf = _with_header_field(_batch(), ">i", 57, 1_000_000)
    with pytest.raises(CorruptRecordError, match="record count 1000000 cannot fit"):
        decode_batch(buf)


def test_a_record_count_below_the_records_present_is_corrupt() -> None:
    batch = decode_batch(_with_header_field(_batch(), ">i", 57, 2))
    with pytest.raises(CorruptRecordError, match="left after the last record"):
        batch.records()


@pytest.mark.parametrize("codec", [5, 6, 7])
def test_unknown_codec_in_the_attributes_is_unsupported(codec: int) -> None:
    buf = _with_header_field(_batch(), ">h", 21, codec)
    with pytest.raises(UnsupportedCompressionTypeError):
        decode_batch(buf)


@pytest.mark.parametrize("codec", [c for c in CODECS if c is not Compression.NONE])
def test_decompression_is_bounded(codec: Compression) -> None:
    buf = build_value_batch([bytes(100_000)] * 20, T0, compression=codec)
    assert len(buf) < 100_000
    with pytest.raises(CorruptRecordError, match="limit"):
        decode_batch(buf, max_uncompressed_bytes=1 << 20)
    assert len(decode_batch(buf, max_uncompressed_bytes=4 << 20)) == 20


def test_garbage_inside_a_compressed_batch_is_corrupt() -> None:
    buf = _batch(Compression.LZ4)
    buf[70] ^= 0xFF
    rewrite_crc(buf)
    with pytest.raises(CorruptRecordError):
        decode_batch(buf).records()


def test_decode_records_is_the_consumer_view() -> None:
    fetch = (
        build_value_batch([b"a", b"b", b"c"], T0, base_offset=10)
        + build_control_batch(
            ControlType.COMMIT, b"\x00\x00\x00\x00\x00\x00", timestamp=T0, base_offset=13
        )
        + build_value_batch([b"d", b"e"], T0, base_offset=14, compression=Compression.LZ4)
    )
    partial = build_value_batch([b"f"], T0, base_offset=16)[:-5]
    values = [r.value for r in decode_records(fetch + partial, start_offset=11)]
    assert values == [b"b", b"c", b"d", b"e"]  # control batch and partial tail skipped
    with_control = list(decode_records(fetch, include_control=True))
    assert [r.offset for r in with_control] == [10, 11, 12, 13, 14, 15]


def test_a_corrupt_batch_in_a_fetch_is_not_skipped_silently() -> None:
    bad = _batch()
    bad[-1] ^= 1
    with pytest.raises(CorruptRecordError, match="CRC"):
        list(decode_records(bytes(_batch()) + bytes(bad)))


def test_crc_is_kafka_crc32c_of_attributes_onward() -> None:
    buf = _batch()
    assert struct.unpack_from(">I", buf, 17)[0] == crc32c.crc32c(bytes(buf[21:]))
