"""__consumer_offsets records: Kafka's byte layout, round trips, every malformation typed."""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logd.errors import CorruptRecordError, InvalidRequestError, LogdError, UnsupportedVersionError
from logd.groups.log_format import (
    GroupMetadataKey,
    GroupMetadataValue,
    MemberMetadataValue,
    OffsetCommitKey,
    OffsetCommitValue,
    decode_group_metadata_value,
    decode_key,
    decode_offset_commit_value,
    encode_group_metadata_key,
    encode_group_metadata_value,
    encode_offset_commit_key,
    encode_offset_commit_value,
)

MEMBER = MemberMetadataValue("m-1", "inst", "client", "/10.0.0.1", 300_000, 10_000, b"sub", b"asg")
GROUP = GroupMetadataValue("consumer", 7, "range", "m-1", 1_700_000_000_000, (MEMBER,))


def _s(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">h", len(data)) + data


def test_offset_commit_key_is_kafkas_version_1_layout() -> None:
    key = encode_offset_commit_key(OffsetCommitKey("grp", "topic", 5))
    assert key == b"\x00\x01" + _s("grp") + _s("topic") + b"\x00\x00\x00\x05"
    assert decode_key(key) == OffsetCommitKey("grp", "topic", 5)
    # Version 0 keys (old Kafka) have the same fields.
    assert decode_key(b"\x00\x00" + key[2:]) == OffsetCommitKey("grp", "topic", 5)


def test_group_metadata_key_is_kafkas_version_2_layout() -> None:
    key = encode_group_metadata_key(GroupMetadataKey("grp"))
    assert key == b"\x00\x02" + _s("grp")
    assert decode_key(key) == GroupMetadataKey("grp")


def test_offset_commit_value_is_v3() -> None:
    value = OffsetCommitValue(offset=42, leader_epoch=3, metadata="m", commit_timestamp_ms=99)
    data = encode_offset_commit_value(value)
    assert data == struct.pack(">hqi", 3, 42, 3) + _s("m") + struct.pack(">q", 99)
    assert decode_offset_commit_value(data) == value


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            struct.pack(">hq", 0, 5) + _s("x") + struct.pack(">q", 7),
            OffsetCommitValue(5, -1, "x", 7),
        ),
        (
            struct.pack(">hq", 1, 5) + _s("x") + struct.pack(">qq", 7, 8),
            OffsetCommitValue(5, -1, "x", 7, 8),
        ),
        (
            struct.pack(">hq", 2, 5) + _s("x") + struct.pack(">q", 7),
            OffsetCommitValue(5, -1, "x", 7),
        ),
    ],
    ids=["v0", "v1", "v2"],
)
def test_older_offset_commit_values_are_read(data: bytes, expected: OffsetCommitValue) -> None:
    assert decode_offset_commit_value(data) == expected


def test_group_metadata_value_is_v3_with_members() -> None:
    data = encode_group_metadata_value(GROUP)
    expected = (
        b"\x00\x03"
        + _s("consumer")
        + struct.pack(">i", 7)
        + _s("range")
        + _s("m-1")
        + struct.pack(">q", 1_700_000_000_000)
        + struct.pack(">i", 1)
        + _s("m-1")
        + _s("inst")
        + _s("client")
        + _s("/10.0.0.1")
        + struct.pack(">ii", 300_000, 10_000)
        + struct.pack(">i", 3)
        + b"sub"
        + struct.pack(">i", 3)
        + b"asg"
    )
    assert data == expected
    assert decode_group_metadata_value(data) == GROUP


def test_an_empty_group_has_null_protocol_and_leader() -> None:
    empty = GroupMetadataValue("consumer", 3, None, None, 5, ())
    data = encode_group_metadata_value(empty)
    assert data[2 + 10 + 4 :].startswith(b"\xff\xff\xff\xff")  # two null strings
    assert decode_group_metadata_value(data) == empty


def test_group_metadata_v0_reads_with_the_session_timeout_as_rebalance_timeout() -> None:
    data = (
        b"\x00\x00"
        + _s("consumer")
        + struct.pack(">i", 2)
        + _s("range")
        + _s("m")
        + struct.pack(">i", 1)
        + _s("m")
        + _s("c")
        + _s("h")
        + struct.pack(">i", 10_000)
        + struct.pack(">i", 0)
        + struct.pack(">i", 1)
        + b"a"
    )
    value = decode_group_metadata_value(data)
    assert value.current_state_timestamp_ms == -1
    assert value.members == (MemberMetadataValue("m", None, "c", "h", 10_000, 10_000, b"", b"a"),)


@pytest.mark.parametrize(
    ("decode", "data"),
    [
        (decode_key, encode_offset_commit_key(OffsetCommitKey("g", "t", 1))),
        (decode_key, encode_group_metadata_key(GroupMetadataKey("g"))),
        (decode_offset_commit_value, encode_offset_commit_value(OffsetCommitValue(1, 2, "md", 3))),
        (decode_group_metadata_value, encode_group_metadata_value(GROUP)),
    ],
    ids=["offset-key", "group-key", "offset-value", "group-value"],
)
def test_every_truncation_and_any_trailing_byte_is_corrupt(
    decode: Callable[[bytes], object], data: bytes
) -> None:
    for cut in range(len(data)):
        with pytest.raises(CorruptRecordError):
            decode(data[:cut])
    with pytest.raises(CorruptRecordError, match="trailing"):
        decode(data + b"\x00")


def test_unknown_versions_are_unsupported() -> None:
    with pytest.raises(UnsupportedVersionError):
        decode_key(b"\x00\x03" + _s("g"))  # a KIP-848 record type
    with pytest.raises(UnsupportedVersionError):
        decode_offset_commit_value(b"\x00\x04" + b"\x00" * 30)
    with pytest.raises(UnsupportedVersionError):
        decode_group_metadata_value(b"\xff\xff")


def test_bad_lengths_and_bad_text_are_corrupt() -> None:
    with pytest.raises(CorruptRecordError, match="negative"):
        decode_key(b"\x00\x02\xff\xfe")
    with pytest.raises(CorruptRecordError, match="null"):
        decode_key(b"\x00\x02\xff\xff")
    with pytest.raises(CorruptRecordError, match="UTF-8"):
        decode_key(b"\x00\x02\x00\x02\xc3\x28")
    huge_count = b"\x00\x03" + _s("c") + b"\x00\x00\x00\x01" + b"\xff\xff" * 2 + b"\x00" * 8
    with pytest.raises(CorruptRecordError, match="cannot fit"):
        decode_group_metadata_value(huge_count + b"\x7f\xff\xff\xff")
    bad_bytes = encode_group_metadata_value(GROUP)
    cut = bad_bytes.rindex(b"\x00\x00\x00\x03asg")
    with pytest.raises(CorruptRecordError, match="negative"):
        decode_group_metadata_value(bad_bytes[:cut] + b"\xff\xff\xff\xfd")


def test_values_that_do_not_fit_their_fields_are_refused_on_encode() -> None:
    with pytest.raises(InvalidRequestError):
        encode_group_metadata_key(GroupMetadataKey("g" * 40_000))
    with pytest.raises(InvalidRequestError):
        encode_offset_commit_value(OffsetCommitValue(2**63, -1, "", 0))
    with pytest.raises(InvalidRequestError):
        encode_offset_commit_key(OffsetCommitKey("g", "t", 2**31))


_text = st.text(max_size=20)
_members = st.builds(
    MemberMetadataValue,
    _text,
    st.none() | _text,
    _text,
    _text,
    st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**31), 2**31 - 1),
    st.binary(max_size=40),
    st.binary(max_size=40),
)


@settings(max_examples=200, derandomize=True, database=None)
@given(
    st.builds(
        GroupMetadataValue,
        _text,
        st.integers(-(2**31), 2**31 - 1),
        st.none() | _text,
        st.none() | _text,
        st.integers(-(2**63), 2**63 - 1),
        st.lists(_members, max_size=4).map(tuple),
    )
)
def test_group_metadata_round_trips(value: GroupMetadataValue) -> None:
    assert decode_group_metadata_value(encode_group_metadata_value(value)) == value


@settings(max_examples=200, derandomize=True, database=None)
@given(
    st.builds(
        OffsetCommitValue,
        st.integers(-(2**63), 2**63 - 1),
        st.integers(-(2**31), 2**31 - 1),
        _text,
        st.integers(-(2**63), 2**63 - 1),
    ),
    st.builds(OffsetCommitKey, _text, _text, st.integers(-(2**31), 2**31 - 1)),
)
def test_offset_commits_round_trip(value: OffsetCommitValue, key: OffsetCommitKey) -> None:
    assert decode_offset_commit_value(encode_offset_commit_value(value)) == value
    assert decode_key(encode_offset_commit_key(key)) == key


@settings(max_examples=500, derandomize=True, database=None)
@given(st.binary(max_size=80))
def test_arbitrary_bytes_decode_or_raise_a_typed_error(data: bytes) -> None:
    for decode in (decode_key, decode_offset_commit_value, decode_group_metadata_value):
        with contextlib.suppress(LogdError):
            decode(data)


def _reencode(value: object) -> bytes:
    if isinstance(value, GroupMetadataValue):
        return encode_group_metadata_value(value)
    if isinstance(value, OffsetCommitValue):
        return encode_offset_commit_value(value)
    assert isinstance(value, OffsetCommitKey)
    return encode_offset_commit_key(value)


@settings(max_examples=500, derandomize=True, database=None)
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), min_size=1, max_size=4))
def test_damaged_records_raise_a_typed_error_or_mean_exactly_their_bytes(
    damage: list[tuple[int, int]],
) -> None:
    cases: list[tuple[Callable[[bytes], object], bytes]] = [
        (decode_group_metadata_value, encode_group_metadata_value(GROUP)),
        (decode_offset_commit_value, encode_offset_commit_value(OffsetCommitValue(1, 2, "x", 3))),
        (decode_key, encode_offset_commit_key(OffsetCommitKey("g", "t", 1))),
    ]
    for decode, data in cases:
        damaged = bytearray(data)
        for position, byte in damage:
            damaged[position % len(damaged)] = byte
        try:
            value = decode(bytes(damaged))
        except LogdError:
            continue
        if damaged[:2] == data[:2]:  # same version: nothing may be lost or invented
            assert _reencode(value) == bytes(damaged)
