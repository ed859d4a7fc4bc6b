"""The produce stream's ``ProduceRequest`` reader (``produce_frame.py``, issue 22) gives
protobuf's answer for every input -- checked against ``ProduceRequest.FromString`` on
well-formed messages (with unknown fields mixed in) and on arbitrary bytes -- and hands
``records`` out as a view of the frame, not a copy."""

from __future__ import annotations

import pytest
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logd.frontends.grpc.handlers import Malformed
from logd.frontends.grpc.produce_frame import ProduceFrame, parse_produce_request
from logd.v1 import broker_pb2

FIELDS = ("correlation_id", "topic", "partition", "acks", "timeout_ms", "records")
I32 = st.integers(-(2**31), 2**31 - 1)


def agree(data: bytes) -> None:
    try:
        expected = broker_pb2.ProduceRequest.FromString(data)
    except DecodeError:
        expected = None
    got = parse_produce_request(data)
    if expected is None:
        assert isinstance(got, Malformed), (data, got)
        assert "ProduceRequest" in str(got.error())
        return
    assert isinstance(got, ProduceFrame), (data, got)
    for name in FIELDS:
        mine = getattr(got, name)
        assert (bytes(mine) if name == "records" else mine) == getattr(expected, name), name


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


unknown = st.one_of(
    st.tuples(st.integers(7, 1000), st.integers(0, 2**64 - 1)).map(
        lambda t: varint(t[0] << 3) + varint(t[1])
    ),
    st.tuples(st.integers(1, 1000), st.binary(max_size=20)).map(
        lambda t: varint(t[0] << 3 | 5) + t[1][:4].ljust(4, b"\0")
    ),
    st.tuples(st.integers(1, 1000), st.binary(max_size=20)).map(
        lambda t: varint(t[0] << 3 | 1) + t[1][:8].ljust(8, b"\0")
    ),
    st.tuples(st.integers(7, 1000), st.binary(max_size=20)).map(  # a group, nothing inside
        lambda t: varint(t[0] << 3 | 3) + varint(t[0] << 3 | 4)
    ),
    st.tuples(st.integers(1, 6), st.integers(0, 2**64 - 1)).map(  # a known field, wrong type
        lambda t: varint(t[0] << 3 | (5 if t[0] in (2, 6) else 2)) + b"\x04abcd"
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.integers(0, 2**64 - 1), st.text(max_size=20), I32, I32, I32, st.binary(max_size=200),
    st.lists(unknown, max_size=4), st.randoms(use_true_random=False),
)  # fmt: skip
def test_a_well_formed_request_reads_as_protobuf_reads_it(
    correlation_id: int, topic: str, partition: int, acks: int, timeout_ms: int,
    records: bytes, extra: list[bytes], rng: object,
) -> None:  # fmt: skip
    message = broker_pb2.ProduceRequest(
        correlation_id=correlation_id, topic=topic, partition=partition, acks=acks,
        timeout_ms=timeout_ms, records=records,
    ).SerializeToString()  # fmt: skip
    agree(message)
    agree(message + b"".join(extra))
    agree(b"".join(extra) + message + message)  # the last occurrence of a field wins


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=64))
def test_arbitrary_bytes_read_as_protobuf_reads_them(data: bytes) -> None:
    agree(data)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(min_size=1, max_size=40), st.data())
def test_a_cut_or_damaged_request_reads_as_protobuf_reads_it(
    records: bytes, data: st.DataObject
) -> None:
    message = bytearray(
        broker_pb2.ProduceRequest(correlation_id=7, topic="t", acks=-1, records=records)
        .SerializeToString()
    )  # fmt: skip
    agree(bytes(message[: data.draw(st.integers(0, len(message)))]))
    at = data.draw(st.integers(0, len(message) - 1))
    message[at] = data.draw(st.integers(0, 255))
    agree(bytes(message))


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x32\xff\xff\xff\x0f", "truncated"),
        (b"\x08" + b"\xff" * 11, "varint"),
        (b"\x12\x02\xff\xfe", "UTF-8"),
        (b"\x1c", "invalid tag"),
        (b"\x1b\x24", "unmatched"),
        (b"\x07", "invalid tag"),
    ],
)
def test_a_malformed_request_gets_one_clear_reason(data: bytes, why: str) -> None:
    got = parse_produce_request(data)
    assert isinstance(got, Malformed) and why in got.reason


def test_records_are_a_view_of_the_frame_not_a_copy() -> None:
    batch = bytes(range(256)) * 4096  # 1 MiB
    frame = broker_pb2.ProduceRequest(topic="t", records=batch).SerializeToString()
    got = parse_produce_request(frame)
    assert isinstance(got, ProduceFrame) and isinstance(got.records, memoryview)
    assert got.records.obj is frame and got.records == batch
