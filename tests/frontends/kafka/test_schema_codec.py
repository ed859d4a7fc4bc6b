"""The schema codec against kio, for every message of every version the listener serves:
the same bytes as kio's writer, the same values as kio's reader; and on bad bytes only
``SchemaDecodeError``, never an allocation of a claimed size."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import resource
import struct
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.index import load_request_schema, load_response_schema
from kio.schema.index import api_key_map, schema_name_map
from kio.schema.metadata.v4.request import MetadataRequest as MetadataRequestV4
from kio.schema.metadata.v12.request import MetadataRequest as MetadataRequestV12
from kio.schema.produce.v9.request import ProduceRequest as ProduceRequestV9
from kio.serial import entity_reader, entity_writer
from kio.static.primitive import Records, i64Timedelta

from logd.frontends.kafka.schema_codec import SchemaDecodeError, decode, encode
from logd.frontends.kafka.schema_write import SplitBuffer
from logd.frontends.kafka.table import API_TABLE

st.register_type_strategy(Records, st.binary(max_size=64))
# kio's own strategy draws durations near timedelta.max that overflow its conversion to
# milliseconds (OffsetCommit v2-4's retention_time); 2**50 ms is 35,000 years.
st.register_type_strategy(
    i64Timedelta,
    st.integers(-(2**50), 2**50).map(lambda ms: i64Timedelta.parse(dt.timedelta(milliseconds=ms))),
)


def _classes(every_version: bool) -> list[type[Any]]:
    """Request and response classes of each served API: of every version, or (``make test``)
    of its first, last and first flexible version -- where the encodings change shape;
    ``make soak`` covers every version at length."""
    out = []
    for key in API_TABLE:
        versions = sorted(schema_name_map[api_key_map[key]])
        if not every_version:
            flexible = [v for v in versions if load_request_schema(key, v).__flexible__]
            versions = sorted({versions[0], versions[-1], *flexible[:1]})
        for version in versions:
            out.append(load_request_schema(key, version))
            out.append(load_response_schema(key, version))
    return out


CLASSES = _classes(every_version=True)
BOUNDARY_CLASSES = _classes(every_version=False)


def _kio_bytes(cls: type[Any], value: Any) -> bytes:
    buf = io.BytesIO()
    entity_writer(cls)(buf, value)
    return buf.getvalue()


def _same_as_kio(cls: type[Any], examples: int) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(st.from_type(cls))
    def check(value: Any) -> None:
        expected = _kio_bytes(cls, value)
        assert bytes(encode(cls, value)) == expected
        got, end = decode(cls, expected)
        assert end == len(expected)
        assert got == entity_reader(cls)(expected, 0)[0]

    check()


_IDS = {"ids": lambda c: c.__module__.removeprefix("kio.schema.")}


@pytest.mark.parametrize("cls", BOUNDARY_CLASSES, **_IDS)  # type: ignore[arg-type]
def test_same_bytes_and_values_as_kio(cls: type[Any]) -> None:
    _same_as_kio(cls, examples=3)


@pytest.mark.soak
@pytest.mark.parametrize("cls", CLASSES, **_IDS)  # type: ignore[arg-type]
def test_same_bytes_and_values_as_kio_at_length(cls: type[Any]) -> None:
    _same_as_kio(cls, examples=300)


@pytest.mark.parametrize("cls", [MetadataRequestV4, MetadataRequestV12, ProduceRequestV9])
def test_a_lying_array_length_is_refused_without_reserving_it(cls: type[Any]) -> None:
    # kio's own reader asks for 32 GiB here and aborts the process.
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if cls is MetadataRequestV4:
        lying = struct.pack(">i", 2**31 - 1)
    elif cls is MetadataRequestV12:
        lying = b"\xff\xff\xff\xff\x0f"
    else:
        lying = b"\x00" + struct.pack(">hi", -1, 30000) + b"\xff\xff\xff\xff\x0f"
    with pytest.raises(SchemaDecodeError, match=r"past the end|varint"):
        decode(cls, lying)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 10_000  # KiB


REQUESTS = [c for c in CLASSES if c.__name__.endswith("Request")]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(cls=st.sampled_from(REQUESTS), data=st.binary(max_size=200))
def test_garbage_is_a_decode_error_or_a_value(cls: type[Any], data: bytes) -> None:
    with contextlib.suppress(SchemaDecodeError):
        decode(cls, data)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), cls=st.sampled_from(REQUESTS))
def test_damaged_valid_requests_are_a_decode_error_or_a_value(cls: type[Any], data: Any) -> None:
    value = data.draw(st.from_type(cls))
    raw = bytearray(_kio_bytes(cls, value))
    cut = data.draw(st.integers(min_value=0, max_value=len(raw)))
    if data.draw(st.booleans()) and raw:
        i = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        raw[i] = data.draw(st.integers(min_value=0, max_value=255))
    with contextlib.suppress(SchemaDecodeError):
        decode(cls, bytes(raw[:cut]))


@pytest.mark.parametrize("version", [4, 11, 12, 16])  # classic, KIP-320, first flexible, last
def test_a_split_fetch_answer_is_the_same_bytes_with_its_record_blobs_not_copied(
    version: int,
) -> None:
    """A Fetch answer encoded into a SplitBuffer (the listener's way: record batches of
    16 KiB or more go out as read, by writelines) joins to exactly the plain encoding."""
    cls = load_response_schema(1, version)
    big = [bytes([i]) * (40_000 + i) for i in range(3)]
    answer = {
        "throttle_time": 0, "error_code": 0, "session_id": 0, "node_endpoints": [],
        "responses": [
            {"topic": "t", "topic_id": None if version < 13 else uuid.uuid4(),
             "partitions": [
                 {"partition_index": i, "error_code": 0, "high_watermark": 9,
                  "last_stable_offset": 9, "log_start_offset": 0, "aborted_transactions": [],
                  "preferred_read_replica": -1, "records": records}
                 for i, records in enumerate([big[0], b"small", b"", big[1], big[2]])]},
        ],
    }  # fmt: skip
    split = encode(cls, answer, SplitBuffer())
    assert [blob for _, blob in split.blobs] == big  # the very objects, not copies
    assert all(a is b for (_, a), b in zip(split.blobs, big, strict=True))
    pieces = split.pieces()
    assert b"".join(pieces) == bytes(encode(cls, answer))
    assert split.total() == sum(len(p) for p in pieces)


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.from_type(ProduceRequestV9))
def test_produce_records_come_out_as_the_one_bytearray_the_core_keeps(value: Any) -> None:
    # Issue 22: the core stamps and keeps a bytearray as is; records read as bytes were
    # copied once more by it (two copies of every batch instead of one).
    got, _ = decode(ProduceRequestV9, _kio_bytes(ProduceRequestV9, value))
    for topic, expected in zip(got.topic_data, value.topic_data, strict=True):
        for part, sent in zip(topic.partition_data, expected.partition_data, strict=True):
            assert part.records == sent.records
            assert part.records is None or type(part.records) is bytearray
