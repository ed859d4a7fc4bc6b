"""Request headers v1/v2 and the response header rules (KIP-482, KIP-511)."""

from __future__ import annotations

import struct

import pytest
from kio.schema.metadata.v12.request import MetadataRequest
from kio.schema.request_header.v1.header import RequestHeader as HeaderV1
from kio.schema.request_header.v2.header import RequestHeader as HeaderV2

from logd.frontends.kafka.header import (
    encode_response_header,
    parse_request_header,
    request_is_flexible,
    response_is_flexible,
)
from logd.frontends.kafka.schema_codec import SchemaDecodeError, encode


def test_a_flexible_request_carries_header_v2_and_its_tagged_fields_are_skipped() -> None:
    head = encode(
        HeaderV2,
        {"request_api_key": 3, "request_api_version": 12, "correlation_id": 9, "client_id": "c"},
    )
    head[-1:] = b"\x01\x07\x02zz"  # one unknown tagged field in the header
    body = encode(MetadataRequest, {"topics": None, "include_topic_authorized_operations": False})
    header = parse_request_header(bytes(head + body))
    assert (header.api_key, header.api_version, header.correlation_id) == (3, 12, 9)
    assert header.client_id == "c"
    assert header.body_offset == len(head)


def test_a_non_flexible_request_carries_header_v1_with_a_null_client_id() -> None:
    head = encode(
        HeaderV1,
        {"request_api_key": 3, "request_api_version": 1, "correlation_id": 1, "client_id": None},
    )
    header = parse_request_header(bytes(head) + b"\xff\xff\xff\xff")
    assert header.client_id is None
    assert header.body_offset == len(head)


def test_api_versions_above_the_newest_schema_is_read_as_flexible() -> None:
    # KIP-511: a future client's ApiVersions v9 must still parse, to be told our range.
    assert request_is_flexible(18, 9)
    assert not request_is_flexible(18, 2)


def test_the_api_versions_response_header_is_always_v0() -> None:
    assert not response_is_flexible(18, 4)
    assert response_is_flexible(3, 9)
    assert not response_is_flexible(3, 8)
    assert encode_response_header(7, flexible=False) == struct.pack(">i", 7)
    assert encode_response_header(7, flexible=True) == struct.pack(">i", 7) + b"\x00"


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x00\x03\x00\x01\x00\x00",  # shorter than a header
        struct.pack(">hhih", 3, 1, 1, 50) + b"short",  # client id past the end
        struct.pack(">hhih", 3, 1, 1, -7),  # negative client id length
        struct.pack(">hhih", 999, 0, 1, -1),  # unknown API key
        struct.pack(">hhih", 3, 1, 1, 2) + b"\xff\xfe",  # client id not UTF-8
    ],
)
def test_bad_headers_are_typed_errors(frame: bytes) -> None:
    with pytest.raises(SchemaDecodeError):
        parse_request_header(frame)
