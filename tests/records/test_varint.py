"""Zigzag varints: Kafka's byte layout, round trips, and bounds on decoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logd.errors import CorruptRecordError
from logd.records import varint as v
from tests.records.strategies import DETERMINISTIC

# Expected bytes from Kafka's ByteUtilsTest (testVarintSerde / testVarlongSerde).
KAFKA_VARINTS = [
    (0, "00"),
    (-1, "01"),
    (1, "02"),
    (63, "7e"),
    (-64, "7f"),
    (64, "8001"),
    (-65, "8101"),
    (8191, "fe7f"),
    (-8192, "ff7f"),
    (8192, "808001"),
    (-8193, "818001"),
    (2**31 - 1, "feffffff0f"),
    (-(2**31), "ffffffff0f"),
]
KAFKA_VARLONGS = [
    *KAFKA_VARINTS[:-2],
    (2**63 - 1, "feffffffffffffffff01"),
    (-(2**63), "ffffffffffffffffff01"),
]


@pytest.mark.parametrize(("value", "hex_bytes"), KAFKA_VARINTS)
def test_varint_bytes_match_kafka(value: int, hex_bytes: str) -> None:
    encoded = v.encode_varint(value)
    assert encoded.hex() == hex_bytes
    assert v.size_of_varint(value) == len(encoded)
    assert v.decode_varint(encoded) == (value, len(encoded))


@pytest.mark.parametrize(("value", "hex_bytes"), KAFKA_VARLONGS)
def test_varlong_bytes_match_kafka(value: int, hex_bytes: str) -> None:
    encoded = v.encode_varlong(value)
    assert encoded.hex() == hex_bytes
    assert v.size_of_varlong(value) == len(encoded)
    assert v.decode_varlong(encoded) == (value, len(encoded))


@DETERMINISTIC
@given(st.integers(min_value=-(2**31), max_value=2**31 - 1), st.binary(max_size=3))
def test_varint_round_trip(value: int, tail: bytes) -> None:
    encoded = v.encode_varint(value)
    assert v.decode_varint(b"\xaa" + encoded + tail, 1) == (value, 1 + len(encoded))


@DETERMINISTIC
@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_varlong_round_trip(value: int) -> None:
    encoded = v.encode_varlong(value)
    assert v.decode_varlong(encoded) == (value, len(encoded))
    assert len(encoded) <= 10


def test_small_table_agrees_with_the_general_encoder() -> None:
    for n in (0, 1, 63, 64, 8191, 8192, v.SMALL_VARINTS_SIZE - 1):
        assert v.SMALL_VARINTS[n] == v._encode_unsigned(n << 1)


def test_out_of_range_values_are_refused_by_the_encoder() -> None:
    with pytest.raises(ValueError, match="32-bit"):
        v.encode_varint(2**31)
    with pytest.raises(ValueError, match="64-bit"):
        v.encode_varlong(-(2**63) - 1)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "truncated varint"),
        (b"\x80", "truncated varint"),
        (b"\xff\xff\xff\xff", "truncated varint"),
        (b"\xff\xff\xff\xff\xff\x01", "longer than 5 bytes"),
        (b"\xff\xff\xff\xff\x1f", "overflows 32 bits"),
    ],
)
def test_bad_varints_are_corrupt(raw: bytes, message: str) -> None:
    with pytest.raises(CorruptRecordError, match=message):
        v.decode_varint(raw)


def test_bad_varlongs_are_corrupt() -> None:
    with pytest.raises(CorruptRecordError, match="longer than 10 bytes"):
        v.decode_varlong(b"\xff" * 11)
    with pytest.raises(CorruptRecordError, match="overflows 64 bits"):
        v.decode_varlong(b"\xff" * 9 + b"\x02")
    with pytest.raises(CorruptRecordError, match="truncated varlong"):
        v.decode_varlong(b"\xff" * 9)


def test_decoding_never_reads_past_end() -> None:
    # A varint whose last byte lies at `end` is truncated even though the buffer goes on.
    with pytest.raises(CorruptRecordError, match="truncated"):
        v.read_raw_varint(b"\x80\x01", 0, 1)
    assert v.read_raw_varint(b"\x80\x01", 0, 2) == (128, 2)
