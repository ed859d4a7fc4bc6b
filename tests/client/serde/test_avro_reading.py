"""The AvroDeserializer's prepared decoder (fastavro's compiled ``_read_data`` with the
schemas' names prepared once) reads exactly what ``fastavro.schemaless_reader`` reads: the
same values for random records of a schema with named types, unions, arrays, maps, enums
and fixed, with and without a reader schema (Avro resolution: a field added with a default,
int promoted to long, a field dropped), and the same errors for bytes that are not the
schema's. Guards the private function against a fastavro upgrade."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest
from hypothesis import given
from hypothesis import strategies as st

from logd.client.serde import avro

WHO = {"type": "record", "name": "Who", "fields": [
    {"name": "name", "type": "string"},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
]}  # fmt: skip
SHARED = [
    {"name": "who", "type": WHO},
    {"name": "other", "type": ["null", "Who"], "default": None},
    {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B", "C"]}},
    {"name": "counts", "type": {"type": "map", "values": "long"}},
    {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 4}},
]
WRITER = {"type": "record", "name": "Event", "namespace": "t", "fields": [
    {"name": "id", "type": "int"}, *SHARED, {"name": "gone", "type": "double"}]}  # fmt: skip
READER = {"type": "record", "name": "Event", "namespace": "t", "fields": [
    {"name": "id", "type": "long"}, *SHARED,
    {"name": "added", "type": "string", "default": "d"}]}  # fmt: skip

_who = st.fixed_dictionaries({"name": st.text(max_size=8),
                              "tags": st.lists(st.text(max_size=4), max_size=3)})  # fmt: skip
_events = st.fixed_dictionaries({
    "id": st.integers(-(2**31), 2**31 - 1), "who": _who, "other": st.none() | _who,
    "kind": st.sampled_from(["A", "B", "C"]),
    "counts": st.dictionaries(st.text(max_size=4), st.integers(-(2**63), 2**63 - 1), max_size=3),
    "digest": st.binary(min_size=4, max_size=4),
    "gone": st.floats(allow_nan=False),
})  # fmt: skip


def _bytes(value: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(WRITER), value)
    return out.getvalue()


def test_the_compiled_reader_is_used() -> None:
    assert avro._READ_DATA is not None  # else the deserializer is on its slow path


@given(_events)
def test_the_same_values_as_schemaless_reader(value: dict[str, Any]) -> None:
    payload = _bytes(value)
    writer = fastavro.parse_schema(WRITER)
    expected = fastavro.schemaless_reader(io.BytesIO(payload), writer, None)
    assert avro._Reading(avro._parse_json(WRITER), None).read(payload) == expected == value
    resolved = fastavro.schemaless_reader(
        io.BytesIO(payload), writer, fastavro.parse_schema(READER)
    )
    reading = avro._Reading(avro._parse_json(WRITER), avro._parse_json(READER))
    assert reading.read(payload) == resolved
    assert resolved["added"] == "d" and "gone" not in resolved


@pytest.mark.parametrize("payload", [b"", b"\x02", b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80"])
def test_the_same_refusal_of_bytes_that_are_not_the_schemas(payload: bytes) -> None:
    with pytest.raises(Exception) as theirs:
        fastavro.schemaless_reader(io.BytesIO(payload), fastavro.parse_schema(WRITER), None)
    with pytest.raises(Exception) as ours:
        avro._Reading(avro._parse_json(WRITER), None).read(payload)
    assert type(ours.value) is type(theirs.value)
