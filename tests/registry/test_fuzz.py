"""Fuzz the registry's input parsing: any text as a schema of any type, any bytes as a
`_schemas` record. Each must be accepted or refused with a RegistryError — never another
exception, a hang or a half-applied state."""

from __future__ import annotations

import base64
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from logd.registry import RegistryState, SchemaType, parse_schema
from logd.registry.errors import RegistryError
from logd.registry.protobuf_schema import ProtobufSchema

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


_SEED = parse_schema(
    SchemaType.PROTOBUF,
    'syntax = "proto3"; package p; message M { int32 a = 1; map<string, M> m = 2;'
    " oneof o { string s = 3; } optional E e = 4; enum E { Z = 0; } }",
)


@settings(max_examples=400, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=80),
        st.tuples(st.integers(0, 200), st.binary(min_size=1, max_size=4)).map(
            lambda cut: _mutated(cut[0], cut[1])
        ),
    )
)
def test_any_descriptor_parses_or_is_refused(data: bytes) -> None:
    """What confluent-kafka's Protobuf serializer sends: base64 of a FileDescriptorProto --
    here random bytes and mutations of a real one."""
    try:
        parsed = parse_schema(SchemaType.PROTOBUF, base64.b64encode(data).decode())
    except RegistryError as exc:
        assert exc.message
        return
    assert parsed.canonical
    assert parsed.incompatibilities(parsed) == []


def _mutated(at: int, patch: bytes) -> bytes:
    assert isinstance(_SEED, ProtobufSchema)
    real = base64.b64decode(_SEED.serialized())
    at %= len(real)
    return real[:at] + patch + real[at + len(patch) :]
