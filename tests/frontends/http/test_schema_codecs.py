"""The avro, jsonschema and protobuf codecs of the REST proxy: Avro's JSON encoding in and
out, Protobuf's JSON mapping and message indexes, the wire format, referenced schemas (Avro
named types, JSON Schema $refs, Protobuf imports), what a schema refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logd.frontends.http.schemas.codecs import Codec, ConversionError, codec_for, pack, unpack
from logd.frontends.http.schemas.protobuf_codec import read_indexes, write_indexes
from logd.registry.model import Reference, SchemaType
from logd.registry.schemas import Lookup, Stored

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


# -- protobuf and references ------------------------------------------------------------

CUSTOMER = 'syntax = "proto3";\npackage shop;\nmessage Customer { string name = 1; }\n'
ORDER = """syntax = "proto3";
package shop;
import "customer.proto";
import "google/protobuf/timestamp.proto";
message Order {
  int64 id = 1;
  Customer who = 2;
  google.protobuf.Timestamp at = 3;
  message Line { string sku = 1; }
  repeated Line lines = 4;
}
message Other { string x = 1; }
"""


def _table(**stored: Stored) -> Lookup:
    def lookup(subject: str, version: int) -> Stored:
        return stored[subject]

    return lookup


def _order_codec() -> Codec:
    lookup = _table(customer=Stored(SchemaType.PROTOBUF, CUSTOMER, (), 1))
    return codec_for("PROTOBUF", ORDER, [Reference("customer.proto", "customer", 1)], lookup)


def test_protobuf_json_in_wire_bytes_out_with_an_import_and_a_well_known_type() -> None:
    codec = _order_codec()
    value = {"id": "5", "who": {"name": "ann"}, "at": "2026-01-01T00:00:00Z",
             "lines": [{"sku": "x"}]}  # fmt: skip
    payload = codec.encode(value)
    assert payload[0] == 0  # message index [0]: the file's first message
    assert codec.decode(payload) == value
    # the JSON mapping gives the message its fields give when set directly
    assert payload[1:] == _message_class(codec, [0])(id=5, who={"name": "ann"},
        at={"seconds": 1767225600}, lines=[{"sku": "x"}]).SerializeToString()  # fmt: skip


def _message_class(codec: Codec, indexes: list[int]) -> Any:
    return codec._class(indexes)  # type: ignore[attr-defined]


def test_protobuf_reads_the_message_its_indexes_name() -> None:
    codec = _order_codec()
    nested = write_indexes([0, 0]) + _message_class(codec, [0, 0])(sku="q").SerializeToString()
    assert codec.decode(nested) == {"sku": "q"}
    other = write_indexes([1]) + _message_class(codec, [1])(x="y").SerializeToString()
    assert codec.decode(other) == {"x": "y"}
    for bad in (write_indexes([7]), write_indexes([0, 3]), b"\xff\xff\xff\xff\xff\xff", b""):
        with pytest.raises(ConversionError):
            codec.decode(bad)


@given(st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=10))
def test_message_indexes_round_trip(indexes: list[int]) -> None:
    data = write_indexes(indexes) + b"rest"
    assert read_indexes(data) == (indexes, len(data) - 4)


@pytest.mark.parametrize("value", [{"id": "x"}, {"nope": 1}, [1], "text", {"who": 5}])
def test_a_value_that_does_not_fit_the_protobuf_schema_says_so_in_one_line(value: Any) -> None:
    with pytest.raises(ConversionError, match="Protobuf") as caught:
        _order_codec().encode(value)
    assert "\n" not in str(caught.value)


def test_protobuf_editions_and_message_less_files_are_refused() -> None:
    with pytest.raises(ConversionError, match="editions"):
        codec_for("PROTOBUF", 'edition = "2023";\nmessage M { string a = 1; }\n')
    with pytest.raises(ConversionError, match="no message"):
        codec_for("PROTOBUF", 'syntax = "proto3";\nenum E { A = 0; }\n')


def test_avro_named_types_of_a_referenced_schema() -> None:
    customer = json.dumps({"type": "record", "name": "Customer", "namespace": "shop",
                           "fields": [{"name": "name", "type": "string"}]})  # fmt: skip
    order = json.dumps({"type": "record", "name": "Order", "fields": [
        {"name": "who", "type": "shop.Customer"}]})  # fmt: skip
    lookup = _table(customer=Stored(SchemaType.AVRO, customer, (), 1))
    codec = codec_for("AVRO", order, [Reference("shop.Customer", "customer", 1)], lookup)
    assert codec.decode(codec.encode({"who": {"name": "ann"}})) == {"who": {"name": "ann"}}
    with pytest.raises(ConversionError, match=r"shop\.Customer"):
        codec_for("AVRO", order)  # without its reference the registry's parser refuses it


def test_json_schema_ref_to_a_referenced_schema() -> None:
    address = json.dumps({"type": "object", "required": ["zip"],
                          "properties": {"zip": {"type": "string"}}})  # fmt: skip
    person = json.dumps({"$id": "https://example.com/person.json", "type": "object",
                         "properties": {"home": {"$ref": "address.json"}}})  # fmt: skip
    lookup = _table(address=Stored(SchemaType.JSON, address, (), 1))
    codec = codec_for("JSON", person, [Reference("address.json", "address", 1)], lookup)
    assert codec.encode({"home": {"zip": "1"}}) == b'{"home":{"zip":"1"}}'
    with pytest.raises(ConversionError, match="home/zip does not fit"):
        codec.encode({"home": {"zip": 1}})
