"""The v3 streaming produce's pure parts: the concatenated-JSON splitter and v3 records."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logd.frontends.http.json_stream import JsonStream, NotAnObject, ValueTooLarge
from logd.frontends.http.produce_v3 import load_v3_record, parse_v3_record

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_OBJECTS = st.lists(st.dictionaries(st.text(), _JSON, max_size=4), min_size=1, max_size=8)


@given(_OBJECTS, st.lists(st.integers(min_value=1, max_value=40), max_size=50), st.booleans())
def test_any_split_of_the_stream_gives_the_same_objects(
    objects: list[dict[str, Any]], cuts: list[int], spaced: bool
) -> None:
    separator = "\n  " if spaced else ""
    data = separator.join(json.dumps(o) for o in objects).encode()
    stream = JsonStream(max_value_bytes=1 << 20)
    got: list[bytes] = []
    position = 0
    for size in cuts:
        got += stream.feed(data[position : position + size])
        position += size
    got += stream.feed(data[position:])
    stream.finish()
    assert [json.loads(text) for text in got] == objects


def test_an_object_is_handed_back_only_when_whole() -> None:
    stream = JsonStream(max_value_bytes=1024)
    assert stream.feed(b'{"a": "}\\"{", "b": [1, {') == []
    assert stream.feed(b'"c": 2}]}  {"d"') == [b'{"a": "}\\"{", "b": [1, {"c": 2}]}']
    assert stream.buffered == len(b'{"d"')
    with pytest.raises(NotAnObject):
        stream.finish()


@pytest.mark.parametrize("data", [b"[1, 2]", b'  "text"', b"42", b'{"a": 1} x'])
def test_anything_but_objects_at_the_top_is_refused(data: bytes) -> None:
    with pytest.raises(NotAnObject):
        JsonStream(max_value_bytes=1024).feed(data)


def test_one_value_longer_than_the_limit_is_refused_before_it_ends() -> None:
    stream = JsonStream(max_value_bytes=100)
    assert stream.feed(b'{"small": 1}') == [b'{"small": 1}']
    stream.feed(b'{"big": "' + b"x" * 80)
    with pytest.raises(ValueTooLarge):
        stream.feed(b"x" * 30)


def test_a_v3_record_with_every_field() -> None:
    record, sides = parse_v3_record(
        load_v3_record(
            json.dumps(
                {
                    "partition_id": 1,
                    "headers": [{"name": "h", "value": "aGk="}],
                    "key": {"type": "STRING", "data": "k1"},
                    "value": {"type": "JSON", "data": {"temp": 21.5}},
                    "timestamp": "2024-01-02T03:04:05.678Z",
                }
            ).encode()
        )
    )
    assert (record.key, record.value, record.partition) == (b"k1", b'{"temp":21.5}', 1)
    assert record.headers == (("h", b"hi"),)
    assert record.timestamp_ms == 1704164645678
    assert sides == ({"type": "STRING", "size": 2}, {"type": "JSON", "size": 13})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"value": {"type": "BINARY", "data": "not base64!"}}, "not a base64 string"),
        ({"value": {"type": "AVRO", "data": "x"}}, "not resolved"),
        ({"value": {"type": "BINRY", "data": "x"}}, "not resolved"),
        ({"partition_id": -1}, "partition_id"),
        ({"timestamp": "yesterday"}, "RFC 3339"),
        ({"value": "bare"}, "expected an object"),
    ],
)
def test_a_bad_v3_record_says_why(body: dict[str, Any], message: str) -> None:
    with pytest.raises(Exception, match=message):
        parse_v3_record(load_v3_record(json.dumps(body).encode()))
