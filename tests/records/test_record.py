"""One record, as Kafka's DefaultRecord lays it out: bytes, round trips, malformed input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logd.errors import CorruptRecordError, InvalidRecordError
from logd.records.record import Record, encode_record, iter_records
from tests.records.strategies import DETERMINISTIC, headers, nullable_bytes


def test_record_bytes_follow_kafka_layout() -> None:
    # length 11 | attributes 0 | timestampDelta 5 | offsetDelta 2 | key "k" | value null
    # | 1 header: key "h", value "v"
    encoded = encode_record(2, 5, b"k", None, [("h", b"v")])
    assert encoded == bytes.fromhex("16000a04026b010202680276")


def test_null_and_empty_are_different() -> None:
    records = list(
        iter_records(encode_record(0, 0, None, b"") + encode_record(1, 0, b"", None), 2, 100, 7)
    )
    assert records == [Record(100, 7, None, b"", ()), Record(101, 7, b"", None, ())]


@DETERMINISTIC
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=-(2**40), max_value=2**40),
            st.integers(min_value=0, max_value=2**31 - 1),
            nullable_bytes,
            nullable_bytes,
            headers,
        ),
        max_size=20,
    ),
    st.integers(min_value=0, max_value=2**62),
    st.integers(min_value=0, max_value=2**62),
)
def test_records_round_trip(
    fields: list[tuple[int, int, bytes | None, bytes | None, tuple[tuple[str, bytes | None], ...]]],
    base_offset: int,
    base_timestamp: int,
) -> None:
    data = b"".join(encode_record(od, td, k, v, h) for td, od, k, v, h in fields)
    decoded = list(iter_records(data, len(fields), base_offset, base_timestamp))
    assert decoded == [
        Record(base_offset + od, base_timestamp + td, k, v, h) for td, od, k, v, h in fields
    ]


def test_log_append_time_replaces_every_timestamp() -> None:
    data = encode_record(0, 3, None, b"a") + encode_record(1, 9, None, b"b")
    assert [r.timestamp for r in iter_records(data, 2, 0, 1000, log_append_time=5)] == [5, 5]


def test_unencodable_header_key_is_a_typed_error() -> None:
    with pytest.raises(InvalidRecordError, match="UTF-8"):
        encode_record(0, 0, None, None, [("\udc80", None)])


GOOD = encode_record(0, 0, b"key", b"value", [("h", b"x")])


@pytest.mark.parametrize(
    ("data", "count", "message"),
    [
        (GOOD, 10, "record count 10 cannot fit"),
        (GOOD, 2, "runs past the end of the batch"),
        (GOOD + GOOD[:-1], 2, "runs past|disagrees|truncated"),
        (GOOD + b"\x00", 1, "left after the last record"),
        (b"\x03" + GOOD[1:], 1, "negative record length"),
        (b"\x7e" + GOOD[1:], 1, "runs past the end of the batch"),
        (bytes([GOOD[0] - 2]) + GOOD[1:-1], 1, "header value length 1 runs past"),
        (bytes([GOOD[0] + 2]) + GOOD[1:] + b"\x00", 1, "disagrees"),
        # key length -2
        (GOOD[:4] + b"\x03" + GOOD[5:], 1, "negative key length"),
        # key length 60: past the record
        (GOOD[:4] + b"\x78" + GOOD[5:], 1, "key length runs past"),
        # value length -3
        (GOOD[:8] + b"\x05" + GOOD[9:], 1, "negative value length"),
        # header key that is not UTF-8
        (GOOD[:-3] + b"\xff" + GOOD[-2:], 1, "UTF-8"),
        # header count -1
        (GOOD[:-5] + b"\x01" + GOOD[-4:], 1, "negative header count"),
        # header count 20: more than the record could hold
        (GOOD[:-5] + b"\x28" + GOOD[-4:], 1, "header count 20 cannot fit"),
        (b"\x0e" + b"\x80" * 7, 1, "varlong|varint|runs past"),
    ],
)
def test_malformed_records_are_corrupt(data: bytes, count: int, message: str) -> None:
    with pytest.raises(CorruptRecordError, match=message):
        list(iter_records(data, count, 0, 0))
