"""The REST Proxy's pure parts: content types, embedded formats, v2 bodies, settings, mounts."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logd.errors import (
    InvalidConfigError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
from logd.frontends.http.errors import RestError, from_logd, record_error
from logd.frontends.http.media import (
    decode_binary,
    decode_json,
    embedded_format,
    encode_binary,
    encode_json,
    require_accept,
    response_type,
)
from logd.frontends.http.mounts import HttpMounts
from logd.frontends.http.produce_v2 import parse_records
from logd.frontends.http.settings import HttpSettings, parse_settings


@pytest.mark.parametrize(
    ("content_type", "fmt"),
    [
        ("application/vnd.kafka.json.v2+json", "json"),
        ("application/vnd.kafka.binary.v2+json", "binary"),
        ("application/vnd.kafka.avro.v2+json", "avro"),
        ("application/vnd.kafka.jsonschema.v2+json", "jsonschema"),
        ("application/vnd.kafka.v2+json", "binary"),
        ("application/json", "binary"),
        ("Application/VND.Kafka.JSON.v2+json", "json"),
    ],
)
def test_embedded_format_of_a_content_type(content_type: str, fmt: str) -> None:
    assert embedded_format(content_type) == fmt


@pytest.mark.parametrize(
    "content_type", ["", "text/plain", "application/vnd.kafka.xml.v2+json",
                     "application/vnd.kafka.json.v1+json", "application/vnd.kafka.json.v2+xml"]
)  # fmt: skip
def test_other_content_types_are_415(content_type: str) -> None:
    with pytest.raises(RestError) as caught:
        embedded_format(content_type)
    assert (caught.value.status, caught.value.error_code) == (415, 415)


def test_answers_in_the_type_the_client_accepts() -> None:
    assert response_type("") == "application/vnd.kafka.v2+json"
    assert response_type("application/json") == "application/json"
    assert response_type("application/vnd.kafka.v2+json, application/json") == (
        "application/vnd.kafka.v2+json"
    )
    require_accept("application/vnd.kafka.json.v2+json", "json")
    require_accept("", "json")
    require_accept("application/vnd.kafka.v2+json", "binary")
    with pytest.raises(RestError) as caught:
        require_accept("application/vnd.kafka.binary.v2+json", "json")
    assert (caught.value.status, caught.value.error_code) == (406, 40601)


@given(st.binary(max_size=64) | st.none())
def test_binary_round_trips(data: bytes | None) -> None:
    assert encode_binary(decode_binary(data), "v") == data


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=4),
    max_leaves=10,
)  # fmt: skip


@given(JSON_VALUES)
def test_json_round_trips(value: Any) -> None:
    assert decode_json(encode_json(value, "v"), "v") == value


def test_binary_that_is_not_base64_is_42203() -> None:
    for bad in ("not base64!", 12, {"a": 1}, "YQ"):
        with pytest.raises(RestError) as caught:
            encode_binary(bad, "records[0].value")
        assert caught.value.error_code == 42203 and "records[0].value" in caught.value.message


def test_stored_bytes_that_are_not_json_fail_the_read_with_50002() -> None:
    with pytest.raises(RestError) as caught:
        decode_json(b"\xff\x00", "test/0@5 value")
    assert (caught.value.status, caught.value.error_code) == (500, 50002)


def test_v2_records_parsed() -> None:
    body = {"records": [{"key": "somekey", "value": {"foo": "bar"}},
                        {"value": [1], "partition": 1,
                         "headers": [{"name": "h", "value": base64.b64encode(b"x").decode()}]},
                        {"value": None}]}  # fmt: skip
    records = parse_records(body, "json", None)
    assert [(r.key, r.value, r.partition, r.headers) for r in records] == [
        (b'"somekey"', b'{"foo":"bar"}', None, ()),
        (None, b"[1]", 1, (("h", b"x"),)),
        (None, None, None, ()),
    ]
    assert {r.partition for r in parse_records(body, "json", 4)} == {4}


@given(
    st.recursive(
        st.none() | st.integers() | st.text(max_size=4),
        lambda i: st.lists(i, max_size=3) | st.dictionaries(st.text(max_size=8), i, max_size=3),
    )
)
def test_any_json_body_parses_or_is_refused_with_a_rest_error(body: Any) -> None:
    for fmt in ("json", "binary"):
        try:
            parse_records(json.loads(json.dumps(body)), fmt, None)
        except RestError as exc:
            assert exc.status == 422 and "\n" not in exc.message


def test_errors_as_confluent_maps_them() -> None:
    assert from_logd(UnknownTopicOrPartitionError("x"), "t").error_code == 40401
    assert from_logd(TopicAuthorizationFailedError("x"), "t").status == 403
    assert record_error(UnknownTopicOrPartitionError("x"))[0] == 2
    assert record_error(TopicAuthorizationFailedError("x"))[0] == 1


def test_settings() -> None:
    assert parse_settings({}) == HttpSettings()
    parsed = parse_settings({"consumer.instance.timeout.ms": 1000, "producer.acks": "1",
                             "access.control.allow.origin": "https://a, https://b",
                             "stomp.heartbeat.ms": 0})  # fmt: skip
    assert parsed.consumer_instance_timeout_ms == 1000 and parsed.producer_acks == 1
    assert parsed.allow_origins == ("https://a", "https://b")
    assert parsed.stomp.heartbeat_ms == 0
    for bad in ({"max.connections": 0}, {"nope": 1}, {"producer.acks": "2"},
                {"auto.create.topics": "yes"}, {"max.request.bytes": True}):  # fmt: skip
        with pytest.raises(InvalidConfigError, match=r"http\."):
            parse_settings(bad)


def test_mounts() -> None:
    async def handler(request: Any) -> Any:
        return None

    mounts = HttpMounts()
    mounts.mount("/mqtt", handler)
    assert mounts.handler("/mqtt") is handler and mounts.paths == ("/mqtt",)
    for path in ("/mqtt", "/topics", "/stomp", "/v3/x", "mqtt", "/"):
        with pytest.raises(ValueError):
            mounts.mount(path, handler)
    mounts.unmount("/mqtt")
    assert mounts.handler("/mqtt") is None
