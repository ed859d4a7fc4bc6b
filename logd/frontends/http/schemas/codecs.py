"""Keys and values in the ``avro`` and ``jsonschema`` embedded formats: JSON as a REST
client writes it, to and from the bytes a Kafka client with Confluent's serializers reads
and writes -- the wire format ``0x00``, the schema id (4 bytes, big-endian), the payload.

- avro: the JSON is Avro's JSON encoding (a union's branch named: ``{"string": "x"}``;
  bytes as ``"\\u00ff"`` strings), as Confluent's proxy takes and gives it; the payload is
  Avro's binary encoding (fastavro: ``json_reader``/``json_writer`` for the JSON side,
  ``schemaless_writer``/``schemaless_reader`` for the bytes).
- jsonschema: the payload is the JSON text itself, checked against the schema (the
  ``jsonschema`` package, the draft the schema's ``$schema`` names) before it is written,
  and not checked when read.

A value that does not fit its schema raises :class:`ConversionError` with one line saying
why. fastavro raises assorted exception types on malformed input (AttributeError,
KeyError, TypeError, ValueError...), so its calls are guarded broadly.

Pure; a codec is immutable and shared by every request.
"""

from __future__ import annotations

import abc
import io
import json
import struct
from typing import Any, Final

import fastavro
import jsonschema

__all__ = ["Codec", "ConversionError", "codec_for", "pack", "unpack"]

_MAGIC: Final = 0
_HEADER: Final = struct.Struct(">bI")


class ConversionError(ValueError):
    """A JSON value that its schema does not take, or bytes that are not the format's."""


def pack(schema_id: int, payload: bytes) -> bytes:
    return _HEADER.pack(_MAGIC, schema_id) + payload


def unpack(data: bytes) -> tuple[int, bytes]:
    """(schema id, payload) of a record's key or value; ConversionError when it is not in
    the wire format."""
    if len(data) < _HEADER.size or data[0] != _MAGIC:
        raise ConversionError("not in the schema registry's wire format (no magic byte 0)")
    _, schema_id = _HEADER.unpack_from(data)
    return schema_id, data[_HEADER.size :]


class Codec(abc.ABC):
    """One schema's way between JSON and bytes."""

    @abc.abstractmethod
    def encode(self, value: Any) -> bytes:
        """The payload for a JSON value (ConversionError)."""

    @abc.abstractmethod
    def decode(self, payload: bytes) -> Any:
        """The JSON value of a payload (ConversionError)."""


class _Avro(Codec):
    def __init__(self, schema: Any) -> None:
        self._schema = fastavro.parse_schema(schema)

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


class _JsonSchema(Codec):
    def __init__(self, schema: object) -> None:
        validator = jsonschema.validators.validator_for(schema)
        validator.check_schema(schema)
        self._validator = validator(schema)

    def encode(self, value: Any) -> bytes:
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(value))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "the value"
            raise ConversionError(f"{where} does not fit the JSON schema: {error.message}")
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    def decode(self, payload: bytes) -> Any:
        try:
            return json.loads(payload)
        except (ValueError, RecursionError):
            raise ConversionError("the bytes are not JSON") from None


def codec_for(schema_type: str, text: str) -> Codec:
    """The codec of a registered schema (``schemaType`` AVRO or JSON; ConversionError for
    another, or a schema these libraries cannot use)."""
    try:
        schema = json.loads(text)
    except ValueError:
        raise ConversionError("the schema is not JSON") from None
    try:
        if schema_type == "AVRO":
            return _Avro(schema)
        if schema_type == "JSON":
            return _JsonSchema(schema)
    except Exception as exc:  # fastavro/jsonschema refusing a schema the registry took
        raise ConversionError(f"cannot use the {schema_type} schema: {exc}") from None
    raise ConversionError(f"{schema_type} schemas are not served by the REST proxy")
