# ruff: noqa: E501 (tables of cases read best one per line)
"""JSON Schema and Protobuf compatibility (reader = the new schema under BACKWARD)."""

from __future__ import annotations

import json

import pytest

from logd.registry import SchemaType, parse_schema
from logd.registry.errors import InvalidSchemaError


def obj(
    props: dict[str, object], *, required: tuple[str, ...] = (), extra: object = None
) -> dict[str, object]:
    out: dict[str, object] = {"type": "object", "properties": props}
    if required:
        out["required"] = list(required)
    if extra is not None:
        out["additionalProperties"] = extra
    return out


S, INT, N = {"type": "string"}, {"type": "integer"}, {"type": "number"}
JSON_CASES = [
    ("identical", obj({"a": S}), obj({"a": S}), True),
    ("integer widened to number", obj({"a": INT}), obj({"a": N}), True),
    ("number narrowed to integer", obj({"a": N}), obj({"a": INT}), False),
    ("type changed", obj({"a": S}), obj({"a": INT}), False),
    ("property became required", obj({"a": S}), obj({"a": S}, required=("a",)), False),
    ("required dropped", obj({"a": S}, required=("a",)), obj({"a": S}), True),
    ("property added to open content model", obj({"a": S}), obj({"a": S, "b": INT}), False),
    ("property added to closed content model", obj({"a": S}, extra=False), obj({"a": S, "b": INT}, extra=False), True),
    ("property removed from open model", obj({"a": S, "b": INT}), obj({"a": S}), True),
    ("property removed from closed model", obj({"a": S, "b": INT}, extra=False), obj({"a": S}, extra=False), False),
    ("content model closed", obj({"a": S}), obj({"a": S}, extra=False), False),
    ("content model opened", obj({"a": S}, extra=False), obj({"a": S}), True),
    ("enum value added", {"enum": ["x", "y"]}, {"enum": ["x", "y", "z"]}, True),
    ("enum value removed", {"enum": ["x", "y"]}, {"enum": ["x"]}, False),
    ("maxLength loosened", {"type": "string", "maxLength": 5}, {"type": "string", "maxLength": 9}, True),
    ("maxLength tightened", {"type": "string", "maxLength": 5}, {"type": "string", "maxLength": 3}, False),
    ("minimum added", INT, {"type": "integer", "minimum": 0}, False),
    ("minimum dropped", {"type": "integer", "minimum": 0}, INT, True),
    ("items widened", {"type": "array", "items": INT}, {"type": "array", "items": N}, True),
    ("items narrowed", {"type": "array", "items": N}, {"type": "array", "items": INT}, False),
    ("anyOf branch added", {"anyOf": [S, INT]}, {"anyOf": [S, INT, {"type": "null"}]}, True),
    ("anyOf branch removed", {"anyOf": [S, INT]}, {"anyOf": [S]}, False),
    ("local $ref followed", {"$defs": {"x": INT}, "$ref": "#/$defs/x"}, {"$defs": {"x": N}, "$ref": "#/$defs/x"}, True),
]  # fmt: skip


def js(doc: object):
    return parse_schema(SchemaType.JSON, json.dumps(doc))


@pytest.mark.parametrize(
    ("case", "writer", "reader", "ok"), JSON_CASES, ids=[c[0] for c in JSON_CASES]
)
def test_json_schema_rules(case: str, writer: object, reader: object, ok: bool) -> None:
    problems = js(reader).incompatibilities(js(writer))
    assert (problems == []) is ok, problems


def test_recursive_json_schema_terminates() -> None:
    doc = {"type": "object", "properties": {"next": {"$ref": "#"}, "v": INT}}
    assert js(doc).incompatibilities(js(doc)) == []


def test_invalid_json_schema_is_refused() -> None:
    with pytest.raises(InvalidSchemaError, match="Invalid JSON schema"):
        js({"type": "nonsense"})
    with pytest.raises(InvalidSchemaError):
        js([1, 2])


def proto(body: str, package: str = "p") -> str:
    return f'syntax = "proto3";\npackage {package};\n{body}'


M1 = "message M { string a = 1; int32 b = 2; }"
PROTO_CASES = [
    ("identical", M1, M1, True),
    ("field added", M1, "message M { string a = 1; int32 b = 2; bool c = 3; }", True),
    ("field removed", M1, "message M { string a = 1; }", True),
    ("field renamed", M1, "message M { string a = 1; int32 bee = 2; }", True),
    ("int32 to int64 (same wire group)", M1, "message M { string a = 1; int64 b = 2; }", True),
    ("string to bytes", M1, "message M { bytes a = 1; int32 b = 2; }", True),
    ("int32 to sint32 (wire change)", M1, "message M { string a = 1; sint32 b = 2; }", False),
    ("scalar to message", M1, "message M { string a = 1; N b = 2; } message N {}", False),
    ("message removed", M1 + " message X {}", M1, False),
    ("message added", M1, M1 + " message X {}", True),
    ("package changed", M1, M1, False),
    ("numeric made repeated", M1, "message M { string a = 1; repeated int32 b = 2; }", False),
    ("string made repeated", M1, "message M { repeated string a = 1; int32 b = 2; }", True),
    ("field moved into new oneof", M1, "message M { string a = 1; oneof o { int32 b = 2; } }", True),
    ("two fields moved into oneof", M1, "message M { oneof o { string a = 1; int32 b = 2; } }", False),
    ("oneof field removed", "message M { oneof o { string a = 1; int32 b = 2; } }", "message M { oneof o { string a = 1; } }", False),
    ("enum constant added", "enum E { A = 0; }", "enum E { A = 0; B = 1; }", True),
    ("named type changed", "message M { N n = 1; } message N {} message O {}", "message M { O n = 1; } message N {} message O {}", False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "writer", "reader", "ok"), PROTO_CASES, ids=[c[0] for c in PROTO_CASES]
)
def test_protobuf_rules(case: str, writer: str, reader: str, ok: bool) -> None:
    package = "q" if case == "package changed" else "p"
    w = parse_schema(SchemaType.PROTOBUF, proto(writer))
    r = parse_schema(SchemaType.PROTOBUF, proto(reader, package))
    problems = r.incompatibilities(w)
    assert (problems == []) is ok, problems


@pytest.mark.parametrize(
    "text",
    [
        "message { broken",
        'syntax = "proto3"; message M { Unknown u = 1; }',
        'syntax = "proto3"; message M { int32 a = 1; int32 b = 1; }',
        'syntax = "proto3"; import "missing.proto"; message M {}',
    ],
)
def test_invalid_protobuf_is_refused(text: str) -> None:
    with pytest.raises(InvalidSchemaError, match="Invalid Protobuf schema"):
        parse_schema(SchemaType.PROTOBUF, text)


def test_protobuf_canonical_ignores_formatting() -> None:
    a = parse_schema(SchemaType.PROTOBUF, proto(M1))
    b = parse_schema(SchemaType.PROTOBUF, proto("message M {\n  string a = 1;\n\n int32 b = 2;}"))
    assert a.canonical == b.canonical
    assert a.message_names == ["p.M"]
