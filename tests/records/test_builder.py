"""BatchBuilder and the list-at-once builders: header fields, sizes, Kafka's conventions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logd.errors import InvalidTimestampError
from logd.records import (
    BatchBuilder,
    Compression,
    TimestampType,
    build_pair_batch,
    build_value_batch,
    decode_batch,
    validate_batch,
)
from tests.records.strategies import CODECS, DETERMINISTIC, nullable_bytes

T0 = 1_700_000_000_000


def test_header_carries_every_option() -> None:
    builder = BatchBuilder(
        compression=Compression.LZ4,
        base_offset=500,
        partition_leader_epoch=9,
        producer_id=77,
        producer_epoch=3,
        base_sequence=1000,
        transactional=True,
    )
    for i in range(3):
        builder.append(T0 + 10 - i, None, b"v%d" % i)
    header = validate_batch(builder.build())
    assert (header.base_offset, header.partition_leader_epoch) == (500, 9)
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (77, 3, 1000)
    assert header.is_transactional and not header.is_control and not header.log_append_time
    assert header.compression == Compression.LZ4
    assert (header.record_count, header.last_offset_delta) == (3, 2)
    # baseTimestamp is the first record's, maxTimestamp the largest (Kafka's builder).
    assert (header.base_timestamp, header.max_timestamp) == (T0 + 10, T0 + 10)
    assert header.last_sequence == 1002


def test_append_returns_the_offset_delta_and_sizes_are_exact() -> None:
    builder = BatchBuilder()
    assert len(builder) == 0 and builder.size_in_bytes == 61
    assert [builder.append(T0, b"k", b"v" * i) for i in range(5)] == [0, 1, 2, 3, 4]
    assert len(builder) == 5
    assert builder.size_in_bytes == len(builder.build())


def test_an_empty_builder_builds_no_batch() -> None:
    # As Kafka's MemoryRecordsBuilder: no records, no batch (a zero-record batch is invalid).
    assert BatchBuilder().build() == b""
    assert build_value_batch([], T0) == b""


def test_log_append_time_sets_max_timestamp_and_the_attribute() -> None:
    builder = BatchBuilder(timestamp_type=TimestampType.LOG_APPEND_TIME, log_append_time=T0 + 99)
    builder.append(T0, None, b"a")
    builder.append(T0 + 1, None, b"b")
    batch = decode_batch(builder.build())
    assert batch.header.log_append_time and batch.header.max_timestamp == T0 + 99
    assert [r.timestamp for r in batch] == [T0 + 99, T0 + 99]


def test_control_flag_is_set() -> None:
    builder = BatchBuilder(control=True)
    builder.append(T0, b"\x00\x00\x00\x01", b"")
    assert validate_batch(builder.build()).is_control


@pytest.mark.parametrize("timestamp", [-1, 2**63])
def test_out_of_range_timestamps_are_refused(timestamp: int) -> None:
    with pytest.raises(InvalidTimestampError):
        BatchBuilder().append(timestamp, None, b"x")
    with pytest.raises(InvalidTimestampError):
        build_value_batch([b"x"], timestamp)


@pytest.mark.parametrize(
    "options",
    [
        {"transactional": True},
        {"producer_id": 5, "base_sequence": 0},
        {"producer_id": 5, "producer_epoch": 0},
    ],
)
def test_inconsistent_producer_state_is_refused(options: dict[str, int]) -> None:
    # Kafka's MemoryRecordsBuilder refuses the same combinations.
    with pytest.raises(ValueError, match="producer"):
        BatchBuilder(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options",
    [{"base_offset": 2**63}, {"partition_leader_epoch": 2**31}, {"producer_epoch": -(2**15) - 1}],
)
def test_header_fields_must_fit_their_width(options: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        BatchBuilder(**options)  # type: ignore[arg-type]


def test_large_fields_use_long_varints() -> None:
    big = bytes(70_000)
    builder = BatchBuilder()
    for i in range(20_000):  # offset deltas past the small-varint table
        builder.append(T0 + i * 1000, None, b"")
    builder.append(T0, big, big, [("h" * 20_000, big)])
    records = decode_batch(builder.build()).records()
    assert records[19_999].offset == 19_999 and records[19_999].timestamp == T0 + 19_999_000
    assert records[-1].key == big and records[-1].headers == (("h" * 20_000, big),)


@DETERMINISTIC
@given(st.lists(nullable_bytes, min_size=1, max_size=50), st.sampled_from(CODECS))
def test_value_batch_equals_the_builder_byte_for_byte(
    values: list[bytes | None], codec: Compression
) -> None:
    builder = BatchBuilder(compression=codec)
    for value in values:
        builder.append(T0, None, value)
    assert build_value_batch(values, T0, compression=codec) == builder.build()


@DETERMINISTIC
@given(st.lists(st.tuples(nullable_bytes, nullable_bytes), min_size=1, max_size=50))
def test_pair_batch_equals_the_builder_byte_for_byte(
    pairs: list[tuple[bytes | None, bytes | None]],
) -> None:
    builder = BatchBuilder(producer_id=1, producer_epoch=0, base_sequence=5)
    for key, value in pairs:
        builder.append(T0, key, value)
    fast = build_pair_batch(pairs, T0, producer_id=1, producer_epoch=0, base_sequence=5)
    assert fast == builder.build()


def test_fast_builders_past_the_small_varint_tables() -> None:
    values: list[bytes | None] = [b"v%d" % i if i % 9 else None for i in range(20_000)]
    values[5] = bytes(20_000)  # a length past the table too
    builder = BatchBuilder()
    for value in values:
        builder.append(T0, None, value)
    assert build_value_batch(values, T0) == builder.build()
    assert build_pair_batch([(None, v) for v in values], T0) == builder.build()


def test_log_append_time_needs_its_timestamp_type() -> None:
    with pytest.raises(ValueError, match="LOG_APPEND_TIME"):
        BatchBuilder(log_append_time=T0)
