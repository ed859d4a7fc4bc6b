"""Golden vectors from an independent implementation: kafka-python's record codec.

Batches kafka-python builds decode with ours to the same records, and batches we build
decode with kafka-python's ``MemoryRecords`` to the same records (DESIGN.md principle 2:
a log written by logd must be readable by an independent Kafka decoder).
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logd.records import (
    BatchBuilder,
    Compression,
    ControlType,
    Record,
    TimestampType,
    build_control_batch,
    build_pair_batch,
    decode_batch,
    decode_records,
    split_batches,
)
from tests.records.strategies import CODECS, DETERMINISTIC, batch_records

with warnings.catch_warnings():
    # kafka-python's protocol package uses importlib.resources APIs deprecated in 3.11.
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder

T0 = 1_700_000_000_000

# Compressible values, so kafka-python keeps the codec (it falls back to none when
# compression does not pay), with the shapes that matter: null and empty keys and values,
# headers with null values, long fields, non-ASCII header keys, decreasing timestamps.
SHAPES: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]] = [
    (None, b"plain value " * 20, []),
    (b"", b"", []),
    (b"key", None, [("trace-id", b"abc"), ("empty", b""), ("none", None)]),
    (b"k" * 300, b"v" * 70_000, [("h\u00e9\u00df", b"\x00\xff" * 50)]),
    (None, None, []),
]
RECORDS = [
    (T0 + (i * 7919) % 1000 - (500 if i else 0), k, v, h) for i, (k, v, h) in enumerate(SHAPES * 30)
]


def _kafka_python_batch(codec: Compression, **producer: Any) -> bytes:
    builder = MemoryRecordsBuilder(
        magic=2, compression_type=int(codec), batch_size=1 << 30, offset=0, **producer
    )
    for timestamp, key, value, headers in RECORDS:
        assert builder.append(timestamp, key, value, headers) is not None
    builder.close()
    return bytes(builder.buffer())


def _kafka_python_decode(buf: bytes) -> tuple[list[Any], list[Any]]:
    batches, records = [], []
    for batch in MemoryRecords(buf):
        assert batch.validate_crc()
        batches.append(batch)
        records += list(batch)
    return batches, records


def _expected(base_offset: int = 0) -> list[Record]:
    return [Record(base_offset + i, t, k, v, tuple(h)) for i, (t, k, v, h) in enumerate(RECORDS)]


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_batches_decode_with_ours(codec: Compression) -> None:
    buf = _kafka_python_batch(
        codec, transactional=True, producer_id=123, producer_epoch=4, base_sequence=77
    )
    batch = decode_batch(buf)
    assert batch.header.compression == codec, "kafka-python kept the codec"
    assert batch.is_transactional and not batch.is_control
    h = batch.header
    assert (h.producer_id, h.producer_epoch, h.base_sequence) == (123, 4, 77)
    assert (h.base_timestamp, h.max_timestamp) == (
        RECORDS[0][0],
        max(t for t, *_ in RECORDS),
    )
    assert batch.records() == _expected()


@pytest.mark.parametrize("codec", CODECS)
def test_our_batches_decode_with_kafka_python(codec: Compression) -> None:
    builder = BatchBuilder(
        compression=codec,
        base_offset=1000,
        partition_leader_epoch=3,
        producer_id=55,
        producer_epoch=1,
        base_sequence=9,
    )
    for timestamp, key, value, headers in RECORDS:
        builder.append(timestamp, key, value, headers)
    batches, records = _kafka_python_decode(builder.build())
    (batch,) = batches
    assert batch.compression_type == codec
    assert (batch.base_offset, batch.leader_epoch) == (1000, 3)
    assert (batch.producer_id, batch.producer_epoch, batch.base_sequence) == (55, 1, 9)
    assert batch.max_timestamp == max(t for t, *_ in RECORDS)
    assert [
        Record(r.offset, r.timestamp, r.key, r.value, tuple(r.headers)) for r in records
    ] == _expected(1000)


@pytest.mark.parametrize("codec", CODECS)
def test_fast_builder_batches_decode_with_kafka_python(codec: Compression) -> None:
    pairs = [(None if i % 4 == 0 else b"key %d" % i, b"value %d " % i * 10) for i in range(500)]
    _, records = _kafka_python_decode(build_pair_batch(pairs, T0, compression=codec))
    assert [(r.offset, r.timestamp, r.key, r.value) for r in records] == [
        (i, T0, k, v) for i, (k, v) in enumerate(pairs)
    ]


def test_a_log_of_several_batches_reads_the_same_both_ways() -> None:
    log = b"".join(
        build_pair_batch([(b"k", b"v%d" % i)] * 3, T0 + i, base_offset=3 * i, compression=codec)
        for i, codec in enumerate(CODECS * 2)
    )
    _, theirs = _kafka_python_decode(log)
    ours = list(decode_records(log))
    assert [(r.offset, r.timestamp, r.key, r.value) for r in theirs] == [
        (r.offset, r.timestamp, r.key, r.value) for r in ours
    ]
    assert len(split_batches(log).batches) == 2 * len(CODECS)


def test_log_append_time_reads_the_same_both_ways() -> None:
    builder = BatchBuilder(timestamp_type=TimestampType.LOG_APPEND_TIME, log_append_time=T0 + 5)
    builder.append(T0, None, b"a")
    builder.append(T0 + 1, None, b"b")
    (batch,), records = _kafka_python_decode(builder.build())
    assert batch.timestamp_type == 1
    assert [r.timestamp for r in records] == [T0 + 5, T0 + 5]


def test_our_control_batches_are_control_records_to_kafka_python() -> None:
    buf = build_control_batch(
        ControlType.COMMIT,
        b"\x00\x00\x00\x00\x00\x01",
        timestamp=T0,
        producer_id=8,
        producer_epoch=0,
        transactional=True,
    )
    (batch,), (record,) = _kafka_python_decode(buf)
    assert batch.is_control_batch and batch.is_transactional
    assert (record.version, record.type, record.commit) == (0, 1, True)


@settings(DETERMINISTIC, max_examples=60)
@given(batch_records, st.sampled_from(CODECS))
def test_random_batches_agree_with_kafka_python_both_ways(
    appended: list[tuple[int, bytes | None, bytes | None, tuple[tuple[str, bytes | None], ...]]],
    codec: Compression,
) -> None:
    ours = BatchBuilder(compression=codec)
    theirs = MemoryRecordsBuilder(magic=2, compression_type=int(codec), batch_size=1 << 30)
    for timestamp, key, value, headers in appended:
        ours.append(timestamp, key, value, headers)
        theirs.append(timestamp, key, value, list(headers))
    theirs.close()
    expected = [Record(i, t, k, v, h) for i, (t, k, v, h) in enumerate(appended)]
    assert decode_batch(bytes(theirs.buffer())).records() == expected
    _, records = _kafka_python_decode(ours.build())
    assert [
        Record(r.offset, r.timestamp, r.key, r.value, tuple(r.headers)) for r in records
    ] == expected
