# ruff: noqa: E501 (tables of cases read best one per line)
"""The Avro specification's schema-resolution rules, one row each, through our checker.

Each row: (case, writer schema, reader schema, can the reader read the writer's data?).
The rules are the spec's "Schema Resolution" section (Avro 1.12).
"""

from __future__ import annotations

import json

import pytest

from logd.registry import CompatibilityLevel, SchemaType, check_compatibility, parse_schema


def rec(*fields: dict[str, object], name: str = "R", **extra: object) -> dict[str, object]:
    return {"type": "record", "name": name, "fields": list(fields), **extra}


def f(name: str, type_: object, **extra: object) -> dict[str, object]:
    return {"name": name, "type": type_, **extra}


def enum(*symbols: str, **extra: object) -> dict[str, object]:
    return {"type": "enum", "name": "E", "symbols": list(symbols), **extra}


CASES = [
    # records: fields matched by name
    ("identical record", rec(f("a", "int")), rec(f("a", "int")), True),
    ("reader adds field with default", rec(f("a", "int")), rec(f("a", "int"), f("b", "string", default="x")), True),
    ("reader adds field without default", rec(f("a", "int")), rec(f("a", "int"), f("b", "string")), False),
    ("reader drops a field (writer's is ignored)", rec(f("a", "int"), f("b", "int")), rec(f("a", "int")), True),
    ("field order differs", rec(f("a", "int"), f("b", "int")), rec(f("b", "int"), f("a", "int")), True),
    ("reader field renamed via alias", rec(f("old", "int")), rec(f("new", "int", aliases=["old"])), True),
    ("reader field renamed without alias", rec(f("old", "int")), rec(f("new", "int")), False),
    ("record renamed via alias", rec(f("a", "int"), name="Old"), rec(f("a", "int"), name="New", aliases=["Old"]), True),
    ("record renamed without alias", rec(f("a", "int"), name="Old"), rec(f("a", "int"), name="New"), False),
    # promotions
    ("int promoted to long", "int", "long", True),
    ("int promoted to float", "int", "float", True),
    ("int promoted to double", "int", "double", True),
    ("long promoted to float", "long", "float", True),
    ("long promoted to double", "long", "double", True),
    ("float promoted to double", "float", "double", True),
    ("string read as bytes", "string", "bytes", True),
    ("bytes read as string", "bytes", "string", True),
    ("long demoted to int", "long", "int", False),
    ("double demoted to float", "double", "float", False),
    ("int read as string", "int", "string", False),
    ("field promoted inside record", rec(f("a", "int")), rec(f("a", "long")), True),
    ("field demoted inside record", rec(f("a", "long")), rec(f("a", "int")), False),
    # enums
    ("enum symbol added in reader", enum("A", "B"), enum("A", "B", "C"), True),
    ("enum symbol removed in reader", enum("A", "B", "C"), enum("A", "B"), False),
    ("enum symbol removed, reader default", enum("A", "B", "C"), enum("A", "B", default="A"), True),
    # unions
    ("writer union, reader has all branches", ["null", "int"], ["null", "int", "string"], True),
    ("writer union, reader misses a branch", ["null", "int", "string"], ["null", "int"], False),
    ("reader union contains writer type", "int", ["null", "int"], True),
    ("reader union with promotable branch", "int", ["null", "long"], True),
    ("reader union without writer type", "string", ["null", "int"], False),
    ("writer union read by non-union", ["null", "int"], "int", False),
    ("optional field added with null default", rec(f("a", "int")), rec(f("a", "int"), f("b", ["null", "string"], default=None)), True),
    # arrays, maps, fixed
    ("array items promoted", {"type": "array", "items": "int"}, {"type": "array", "items": "long"}, True),
    ("array items demoted", {"type": "array", "items": "long"}, {"type": "array", "items": "int"}, False),
    ("map values promoted", {"type": "map", "values": "float"}, {"type": "map", "values": "double"}, True),
    ("array read as map", {"type": "array", "items": "int"}, {"type": "map", "values": "int"}, False),
    ("fixed same size", {"type": "fixed", "name": "F", "size": 4}, {"type": "fixed", "name": "F", "size": 4}, True),
    ("fixed size changed", {"type": "fixed", "name": "F", "size": 4}, {"type": "fixed", "name": "F", "size": 8}, False),
    # recursion
    (
        "recursive record gains defaulted field",
        rec(f("next", ["null", "R"])),
        rec(f("next", ["null", "R"]), f("n", "int", default=0)),
        True,
    ),
]  # fmt: skip


def parse(schema: object):
    return parse_schema(SchemaType.AVRO, json.dumps(schema))


@pytest.mark.parametrize(("case", "writer", "reader", "ok"), CASES, ids=[c[0] for c in CASES])
def test_avro_resolution_rules(case: str, writer: object, reader: object, ok: bool) -> None:
    problems = parse(reader).incompatibilities(parse(writer))
    assert (problems == []) is ok, problems


def test_levels_map_reader_and_writer() -> None:
    v1 = parse(rec(f("a", "int")))
    v2 = parse(rec(f("a", "int"), f("b", "string", default="x")))  # backward and forward
    v3 = parse(rec(f("a", "int"), f("c", "string")))  # new required field
    assert check_compatibility(CompatibilityLevel.BACKWARD, v2, [v1]) == []
    assert check_compatibility(CompatibilityLevel.FORWARD, v2, [v1]) == []
    assert check_compatibility(CompatibilityLevel.BACKWARD, v3, [v1]) != []
    # old readers ignore the new field: forward-compatible, not backward
    assert check_compatibility(CompatibilityLevel.FORWARD, v3, [v1]) == []
    assert check_compatibility(CompatibilityLevel.FULL, v3, [v1]) != []
    assert check_compatibility(CompatibilityLevel.NONE, v3, [v1]) == []


def test_transitive_levels_check_every_version() -> None:
    v1 = parse(rec(f("a", "int")))
    v2 = parse(rec(f("a", "int"), f("b", "string", default="x")))
    v3 = parse(rec(f("a", "int"), f("b", "string")))  # drops b's default
    # against v2 alone v3 reads everything (v2 always wrote b); v1 data lacks b
    assert check_compatibility(CompatibilityLevel.BACKWARD, v3, [v1, v2]) == []
    assert check_compatibility(CompatibilityLevel.BACKWARD_TRANSITIVE, v3, [v1, v2]) != []
    assert check_compatibility(CompatibilityLevel.FULL_TRANSITIVE, v2, [v1]) == []


def test_canonical_text_ignores_spacing_and_key_order() -> None:
    a = parse_schema(SchemaType.AVRO, '{"type": "record", "name": "R", "fields": []}')
    b = parse_schema(SchemaType.AVRO, '{"fields":[],"name":"R","type":"record"}')
    assert a.canonical == b.canonical
    assert a.identity() == b.identity()
