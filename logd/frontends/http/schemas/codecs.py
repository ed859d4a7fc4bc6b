"""Keys and values in the ``avro``, ``jsonschema`` and ``protobuf`` embedded formats: JSON as
a REST client writes it, to and from the bytes a Kafka client with Confluent's serializers
reads and writes -- the wire format ``0x00``, the schema id (4 bytes, big-endian), the
payload.

- avro: the JSON is Avro's JSON encoding (a union's branch named: ``{"string": "x"}``;
  bytes as ``"\\u00ff"`` strings), as Confluent's proxy takes and gives it; the payload is
  Avro's binary encoding (fastavro: ``json_reader``/``json_writer`` for the JSON side,
  ``schemaless_writer``/``schemaless_reader`` for the bytes). Named types of referenced
  schemas are known to fastavro before the schema itself is parsed (``avro_codec``).
- jsonschema: the payload is the JSON text itself, checked against the schema (the
  ``jsonschema`` package, the draft the schema's ``$schema`` names; a ``$ref`` to a
  referenced schema found by the reference's name) before it is written, and not checked
  when read (``json_codec``).
- protobuf: see ``protobuf_codec``.

Each language's codec module (and its library) is imported the first time a schema of that
language is used, not when the HTTP front end starts.

A codec is built from a schema the registry's own parser took (``logd.registry``, so
references are resolved exactly as the registry resolves them). A value that does not fit
its schema raises :class:`ConversionError` with one line saying why. fastavro raises
assorted exception types on malformed input (AttributeError, KeyError, TypeError,
ValueError...), so its calls are guarded broadly.

Pure; a codec is immutable and shared by every request.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Final

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


def _codec_class(schema_type: SchemaType) -> Callable[[ParsedSchema], Codec]:
    """The codec of a schema language, imported the first time a schema of it is used: each
    language's library (fastavro, jsonschema, protobuf's json_format) loads only when a
    REST client produces or consumes in that format."""
    if schema_type is SchemaType.AVRO:
        from logd.frontends.http.schemas.avro_codec import AvroCodec

        return AvroCodec
    if schema_type is SchemaType.JSON:
        from logd.frontends.http.schemas.json_codec import JsonSchemaCodec

        return JsonSchemaCodec
    from logd.frontends.http.schemas.protobuf_codec import ProtobufCodec

    return ProtobufCodec


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
        return _codec_class(schema.schema_type)(schema)
    except ConversionError:
        raise
    except Exception as exc:  # fastavro/jsonschema/protobuf refusing what the registry took
        raise ConversionError(f"cannot use the {schema_type} schema: {exc}") from None
