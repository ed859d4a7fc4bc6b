"""Fuzz the registry's input parsing: any text as a schema of any type, any bytes as a
`_schemas` record. Each must be accepted or refused with a RegistryError — never another
exception, a hang or a half-applied state."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from logd.registry import RegistryState, SchemaType, parse_schema
from logd.registry.errors import RegistryError

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["type", "name", "fields", "items", "values", "symbols", "properties",
                         "required", "default", "anyOf", "$ref", "size", "aliases", "namespace"]),
        inner, max_size=5),
    max_leaves=20,
)  # fmt: skip
_proto_words = st.lists(
    st.sampled_from(['syntax = "proto3";', "message", "M", "{", "}", "int32", "a", "=", "1",
                     ";", "oneof", "enum", "repeated", "map<string,int32>", "package p;",
                     "import", '"x.proto"', "N", "2"]),
    max_size=30,
).map(" ".join)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    schema_type=st.sampled_from(list(SchemaType)),
    text=st.one_of(_json.map(json.dumps), st.text(max_size=64), _proto_words),
)
def test_any_schema_text_parses_or_is_refused(schema_type: SchemaType, text: str) -> None:
    try:
        parsed = parse_schema(schema_type, text)
    except RegistryError as exc:
        assert exc.message
        return
    assert parsed.canonical
    assert parsed.incompatibilities(parsed) == []  # a schema reads its own data


@settings(max_examples=400, deadline=None)
@given(
    records=st.lists(
        st.tuples(
            st.one_of(
                st.none(), st.binary(max_size=40), _json.map(lambda j: json.dumps(j).encode())
            ),
            st.one_of(
                st.none(), st.binary(max_size=40), _json.map(lambda j: json.dumps(j).encode())
            ),
        ),
        max_size=8,
    )
)
def test_any_record_applies_or_is_skipped(records: list[tuple[bytes | None, bytes | None]]) -> None:
    state = RegistryState()
    for key, value in records:
        state.apply(key, value)
    for name in state.subject_names(deleted=True):
        assert state.versions(name, deleted=True)
