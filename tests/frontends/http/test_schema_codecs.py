"""The avro and jsonschema codecs of the REST proxy: Avro's JSON encoding in and out, the
wire format, what a schema refuses."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logd.frontends.http.schemas.codecs import ConversionError, codec_for, pack, unpack

READING = json.dumps({"type": "record", "name": "R", "fields": [
    {"name": "s", "type": "string"}, {"name": "n", "type": ["null", "long"]},
    {"name": "b", "type": "bytes"},
]})  # fmt: skip


@given(st.text(), st.none() | st.integers(-(2**63), 2**63 - 1), st.binary(max_size=20))
def test_avro_json_encoding_round_trips(s: str, n: int | None, b: bytes) -> None:
    codec = codec_for("AVRO", READING)
    value = {"s": s, "n": None if n is None else {"long": n}, "b": b.decode("latin-1")}
    assert codec.decode(codec.encode(value)) == value


def test_the_wire_format_and_its_refusals() -> None:
    assert unpack(pack(7, b"x")) == (7, b"x")
    assert pack(258, b"")[:5] == b"\x00\x00\x00\x01\x02"
    for bad in (b"", b"\x01\x00\x00\x00\x01x", b"\x00\x00"):
        with pytest.raises(ConversionError, match="wire format"):
            unpack(bad)


@pytest.mark.parametrize(
    "value",
    [{"s": 1, "n": None, "b": ""}, {"s": "x", "n": 5, "b": ""}, {"s": "x"}, [1], "text"],
)
def test_a_value_that_does_not_fit_the_avro_schema_says_so(value: object) -> None:
    with pytest.raises(ConversionError, match="Avro schema"):
        codec_for("AVRO", READING).encode(value)


def test_bytes_that_are_not_avro_say_so() -> None:
    with pytest.raises(ConversionError, match="not Avro"):
        codec_for("AVRO", READING).decode(b"\x02")


def test_jsonschema_checks_what_it_writes_and_not_what_it_reads() -> None:
    codec = codec_for("JSON", json.dumps({"type": "object", "required": ["t"],
                                          "properties": {"t": {"type": "number"}}}))  # fmt: skip
    assert codec.encode({"t": 1.5}) == b'{"t":1.5}'
    with pytest.raises(ConversionError, match="t does not fit"):
        codec.encode({"t": "x"})
    assert codec.decode(b'{"t":"anything"}') == {"t": "anything"}


@pytest.mark.parametrize(
    ("kind", "text"),
    [("AVRO", "{nope"), ("AVRO", '{"type": "wat"}'), ("JSON", '{"type": 5}'),
     ("PROTOBUF", "{}")],
)  # fmt: skip
def test_schemas_these_codecs_cannot_use(kind: str, text: str) -> None:
    with pytest.raises(ConversionError):
        codec_for(kind, text)
