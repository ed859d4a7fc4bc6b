"""Keys and values in the ``avro``, ``jsonschema`` and ``protobuf`` embedded formats: JSON as
a REST client writes it, to and from the bytes a Kafka client with Confluent's serializers
reads and writes -- the wire format ``0x00``, the schema id (4 bytes, big-endian), the
payload.

- avro: the JSON is Avro's JSON encoding (a union's branch named: ``{"string": "x"}``;
  bytes as ``"\\u00ff"`` strings), as Confluent's proxy takes and gives it; the payload is
  Avro's binary encoding (fastavro: ``json_reader``/``json_writer`` for the JSON side,
  ``schemaless_writer``/``schemaless_reader`` for the bytes). Named types of referenced
  schemas are known to fastavro before the schema itself is parsed.
- jsonschema: the payload is the JSON text itself, checked against the schema (the
  ``jsonschema`` package, the draft the schema's ``$schema`` names; a ``$ref`` to a
  referenced schema found by the reference's name) before it is written, and not checked
  when read.
- protobuf: see ``protobuf_codec``.

A codec is built from a schema the registry's own parser took (``logd.registry``, so
references are resolved exactly as the registry resolves them). A value that does not fit
its schema raises :class:`ConversionError` with one line saying why. fastavro raises
assorted exception types on malformed input (AttributeError, KeyError, TypeError,
ValueError...), so its calls are guarded broadly.

Pure; a codec is immutable and shared by every request.
"""

from __future__ import annotations

import io
import json
import struct
import urllib.parse
from collections.abc import Iterator
from typing import Any, Final

import fastavro
import jsonschema
import referencing
import referencing.jsonschema

from logd.frontends.http.schemas.protobuf_codec import ProtobufCodec
from logd.frontends.http.schemas.types import Codec, ConversionError
from logd.registry.errors import RegistryError
from logd.registry.model import SchemaType
from logd.registry.parsed import ParsedSchema
from logd.registry.schemas import Lookup, parse_schema

__all__ = ["Codec", "ConversionError", "codec_for", "pack", "parsed", "unpack"]

_MAGIC: Final = 0
_HEADER: Final = struct.Struct(">bI")


def pack(schema_id: int, payload: bytes) -> bytes:
    return _HEADER.pack(_MAGIC, schema_id) + payload


def unpack(data: bytes) -> tuple[int, bytes]:
    """(schema id, payload) of a record's key or value; ConversionError when it is not in
    the wire format."""
    if len(data) < _HEADER.size or data[0] != _MAGIC:
        raise ConversionError("not in the schema registry's wire format (no magic byte 0)")
    _, schema_id = _HEADER.unpack_from(data)
    return schema_id, data[_HEADER.size :]


def _dependencies_first(schema: ParsedSchema) -> Iterator[tuple[str, ParsedSchema]]:
    """(reference name, schema) of every schema ``schema`` refers to, depth first, each
    before the schemas that refer to it."""
    for dep in schema.dependencies:
        yield from _dependencies_first(dep.schema)
        yield dep.reference.name, dep.schema


class _Avro(Codec):
    def __init__(self, schema: ParsedSchema) -> None:
        named: dict[str, Any] = {}
        for _, dep in _dependencies_first(schema):
            fastavro.parse_schema(json.loads(dep.text), named_schemas=named)
        self._schema = fastavro.parse_schema(json.loads(schema.text), named_schemas=named)

    def encode(self, value: Any) -> bytes:
        text = json.dumps(value)
        try:
            (datum,) = fastavro.json_reader(io.StringIO(text), self._schema)
            out = io.BytesIO()
            fastavro.schemaless_writer(out, self._schema, datum)
        except Exception as exc:  # fastavro's types vary: see the module docstring
            raise ConversionError(f"the value does not fit the Avro schema: {exc}") from None
        return out.getvalue()

    def decode(self, payload: bytes) -> Any:
        try:
            datum = fastavro.schemaless_reader(io.BytesIO(payload), self._schema)
            out = io.StringIO()
            fastavro.json_writer(out, self._schema, [datum])
        except Exception as exc:  # as above
            raise ConversionError(f"the bytes are not Avro of their schema: {exc}") from None
        return json.loads(out.getvalue())


def _json_registry(schema: ParsedSchema, root: object) -> referencing.Registry[Any]:
    """Every referenced schema under its reference name (and that name resolved against
    the root's ``$id``, where a relative ``$ref`` leads)."""
    base = root.get("$id", "") if isinstance(root, dict) else ""
    resources = []
    for name, dep in _dependencies_first(schema):
        resource = referencing.jsonschema.DRAFT202012.create_resource(json.loads(dep.text))
        resources.append((name, resource))
        if isinstance(base, str) and base:
            resources.append((urllib.parse.urljoin(base, name), resource))
    return referencing.Registry().with_resources(resources)


class _JsonSchema(Codec):
    def __init__(self, schema: ParsedSchema) -> None:
        root = json.loads(schema.text)
        validator = jsonschema.validators.validator_for(root)
        validator.check_schema(root)
        self._validator = validator(root, registry=_json_registry(schema, root))

    def encode(self, value: Any) -> bytes:
        try:
            error = jsonschema.exceptions.best_match(self._validator.iter_errors(value))
        except referencing.exceptions.Unresolvable as exc:
            raise ConversionError(f"the JSON schema's $ref {exc} is not resolvable") from None
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "the value"
            raise ConversionError(f"{where} does not fit the JSON schema: {error.message}")
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    def decode(self, payload: bytes) -> Any:
        try:
            return json.loads(payload)
        except (ValueError, RecursionError):
            raise ConversionError("the bytes are not JSON") from None


_CODECS: Final[dict[SchemaType, type[_Avro | _JsonSchema | ProtobufCodec]]] = {
    SchemaType.AVRO: _Avro, SchemaType.JSON: _JsonSchema, SchemaType.PROTOBUF: ProtobufCodec,
}  # fmt: skip


def parsed(schema_type: str, text: str, references: Any = (), lookup: Lookup | None = None
           ) -> ParsedSchema:  # fmt: skip
    """The registry's parse of a schema (references resolved through ``lookup``);
    ConversionError when the registry's parser refuses it."""
    try:
        return parse_schema(SchemaType(schema_type), text, tuple(references), lookup)
    except (RegistryError, ValueError) as exc:
        raise ConversionError(f"cannot use the {schema_type} schema: {exc}") from None


def codec_for(schema_type: str, text: str, references: Any = (), lookup: Lookup | None = None
              ) -> Codec:  # fmt: skip
    """The codec of a registered schema (``schemaType`` AVRO, JSON or PROTOBUF, its
    references resolved through ``lookup``); ConversionError for a schema these libraries
    cannot use."""
    schema = parsed(schema_type, text, references, lookup)
    try:
        return _CODECS[schema.schema_type](schema)
    except ConversionError:
        raise
    except Exception as exc:  # fastavro/jsonschema/protobuf refusing what the registry took
        raise ConversionError(f"cannot use the {schema_type} schema: {exc}") from None
