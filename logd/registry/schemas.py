"""Parse a schema of any type, resolving its references (with cycle detection).

The caller passes a ``lookup`` that finds a registered (subject, version) — the registry's
applied state on a broker, or a test table — so this module stays pure.  References are
resolved depth first; a reference to a (subject, version) already on the path being
resolved is a cycle and is refused, as are chains deeper than ``MAX_REFERENCE_DEPTH``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

from logd.registry.errors import InvalidReferenceError, InvalidSchemaError
from logd.registry.model import Reference, SchemaType
from logd.registry.parsed import Dependency, ParsedSchema

__all__ = [
    "MAX_REFERENCES",
    "MAX_REFERENCE_DEPTH",
    "Lookup",
    "Stored",
    "parse_references",
    "parse_schema",
    "parse_schema_type",
]

MAX_REFERENCE_DEPTH = 32
MAX_REFERENCES = 256


@dataclasses.dataclass(frozen=True, slots=True)
class Stored:
    """What a lookup returns for a registered (subject, version)."""

    schema_type: SchemaType
    text: str
    references: tuple[Reference, ...]
    version: int


# (subject, version; -1 = latest) -> Stored, or raise a RegistryError
Lookup = Callable[[str, int], Stored]

#: A schema language's parser: (text, its references, their parses) -> the parse.
_Parser = Callable[[str, Sequence[Reference], Sequence[Dependency]], ParsedSchema]


def _parser(schema_type: SchemaType) -> _Parser:
    """The parser of ``schema_type``, imported the first time a schema of it is parsed: each
    language's library (fastavro, jsonschema, proto_schema_parser) is a good part of a
    broker's start-up, and a registry with no schema of a language never needs it."""
    if schema_type is SchemaType.AVRO:
        from logd.registry.avro_schema import parse_avro

        return parse_avro
    if schema_type is SchemaType.JSON:
        from logd.registry.json_schema import parse_json_schema

        return parse_json_schema
    from logd.registry.protobuf_schema import parse_protobuf

    return parse_protobuf


def parse_schema_type(value: object) -> SchemaType:
    """``schemaType`` from a request or a record; absent means AVRO."""
    if value is None:
        return SchemaType.AVRO
    if isinstance(value, str):
        try:
            return SchemaType(value.upper())
        except ValueError:
            pass
    raise InvalidSchemaError(f"Invalid schema type {value!r}: expected AVRO, JSON or PROTOBUF")


def parse_references(value: object) -> tuple[Reference, ...]:
    """Confluent's ``references`` list from JSON; one clear error for any bad item."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidSchemaError("Invalid references: expected a list")
    if len(value) > MAX_REFERENCES:
        raise InvalidSchemaError(f"Invalid references: more than {MAX_REFERENCES}")
    out = []
    for item in value:
        if not isinstance(item, Mapping):
            raise InvalidSchemaError("Invalid reference: expected an object")
        name, subject, version = item.get("name"), item.get("subject"), item.get("version")
        if not isinstance(name, str) or not name or not isinstance(subject, str) or not subject:
            raise InvalidSchemaError("Invalid reference: name and subject must be strings")
        if isinstance(version, bool) or not isinstance(version, int) or version == 0:
            raise InvalidSchemaError("Invalid reference: version must be a positive integer")
        out.append(Reference(name, subject, version))
    return tuple(out)


def parse_schema(
    schema_type: SchemaType,
    text: str,
    references: Sequence[Reference] = (),
    lookup: Lookup | None = None,
) -> ParsedSchema:
    """Parse ``text`` as ``schema_type`` with its references resolved through ``lookup``."""
    return _parse(schema_type, text, tuple(references), lookup, ())


def _parse(
    schema_type: SchemaType,
    text: str,
    references: tuple[Reference, ...],
    lookup: Lookup | None,
    path: tuple[tuple[str, int], ...],
) -> ParsedSchema:
    if len(path) > MAX_REFERENCE_DEPTH:
        raise InvalidReferenceError(f"Invalid references: deeper than {MAX_REFERENCE_DEPTH}")
    dependencies = []
    for ref in references:
        if lookup is None:
            raise InvalidReferenceError(f"Invalid reference {ref.name!r}: nothing to resolve it")
        stored = lookup(ref.subject, ref.version)
        here = (ref.subject, stored.version)
        if here in path:
            raise InvalidReferenceError(
                f"Invalid references: cycle through subject {ref.subject!r} "
                f"version {stored.version}"
            )
        if stored.schema_type is not schema_type:
            raise InvalidReferenceError(
                f"Invalid reference {ref.name!r}: a {stored.schema_type.value} schema "
                f"in a {schema_type.value} one"
            )
        inner = _parse(stored.schema_type, stored.text, stored.references, lookup, (*path, here))
        resolved = Reference(ref.name, ref.subject, stored.version)
        dependencies.append(Dependency(resolved, inner))
    if not isinstance(text, str) or not text.strip():
        raise InvalidSchemaError("Invalid schema: empty")
    return _parser(schema_type)(text, references, dependencies)
