"""One record, as Kafka's DefaultRecord lays it out: bytes, round trips, malformed input."""

from __future__ import annotations

import gc
import shutil
import sysconfig
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logd.errors import CorruptRecordError, InvalidRecordError
from logd.records import accel
from logd.records.record import NO_MIN_OFFSET, Record, encode_record, iter_records
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
    expected = [
        Record(base_offset + od, base_timestamp + td, k, v, h) for td, od, k, v, h in fields
    ]
    assert decoded == expected
    eager = accel.records_list(
        data, len(fields), base_offset, base_timestamp, None, Record, (), NO_MIN_OFFSET
    )
    assert eager == expected
    assert all(type(r) is Record for r in eager)


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
    with pytest.raises(CorruptRecordError, match=message):
        accel.records_list(data, count, 0, 0, None, Record, (), NO_MIN_OFFSET)


class Wide(tuple):  # type: ignore[type-arg]
    """A tuple subclass as the client's ConsumerRecord is: fields, then a tail."""

    __slots__ = ()


def test_records_list_builds_the_given_class_with_its_tail_from_min_offset() -> None:
    data = b"".join(encode_record(i, i, None, b"v%d" % i) for i in range(4))
    tail = ("topic", 3, 0, 7)
    got = accel.records_list(data, 4, 100, 1000, None, Wide, tail, 102)
    assert got == [(102, 1002, None, b"v2", (), *tail), (103, 1003, None, b"v3", (), *tail)]
    assert all(type(r) is Wide for r in got)
    # Records below min_offset are still checked: a bad one fails the batch.
    bad = encode_record(0, 0, b"k", None)[:-1] + b"\x07" + data
    with pytest.raises(CorruptRecordError):
        accel.records_list(bad, 5, 100, 1000, None, Wide, tail, 200)


def test_log_append_time_and_offsets_past_64_bits_are_exact() -> None:
    data = encode_record(-5, -(2**40), None, b"a") + encode_record(5, 2**40, None, b"b")
    got = accel.records_list(data, 2, 2**63 - 1, -(2**63), 9, Record, (), 2**63)
    assert got == [Record(2**63 + 4, 9, None, b"b", ())]


def test_headers_survive_the_list_path() -> None:
    data = encode_record(0, 0, b"k", b"v", [("a", b"1"), ("b", None)])
    (record,) = accel.records_list(data, 1, 0, 0, None, Record, (), NO_MIN_OFFSET)
    assert record.headers == (("a", b"1"), ("b", None))


def test_plain_records_are_left_alone_by_the_cycle_collector(records_impl: str) -> None:
    data = encode_record(0, 0, b"k", b"v") + encode_record(1, 0, None, b"w", [("h", b"x")])
    plain, with_headers = accel.records_list(data, 2, 0, 0, None, Wide, ("t",), NO_MIN_OFFSET)
    # C untracks what cannot be in a cycle at birth (the GC then never walks it); Python
    # cannot, so the collector keeps it tracked. Headers (tuples the GC still tracks) keep
    # a record tracked in both.
    assert gc.is_tracked(plain) == (records_impl == "python")
    assert gc.is_tracked(with_headers)
    assert tuple(plain) == (0, 0, b"k", b"v", (), "t")


def test_the_accelerator_is_built_where_a_compiler_is() -> None:
    # Where `cc` and Python's headers are, `pip install` builds logd.records._speedups;
    # a build that broke quietly would leave replay 2-5x slower and untested in C.
    headers = Path(sysconfig.get_paths()["include"], "Python.h")
    if shutil.which("cc") and headers.exists():
        assert "c" in accel.IMPLEMENTATIONS
    assert "python" in accel.IMPLEMENTATIONS
