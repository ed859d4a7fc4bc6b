"""The ``avro`` embedded format (``codecs``' module doc): the JSON is Avro's JSON encoding,
the payload Avro's binary encoding, both by fastavro. Imported by ``codecs`` the first time
an Avro schema is used, so a broker that never serves one does not load fastavro.

Pure; a codec is immutable and shared by every request.
"""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro

from logd.frontends.http.schemas.types import Codec, ConversionError, dependencies_first
from logd.registry.parsed import ParsedSchema

__all__ = ["AvroCodec"]


class AvroCodec(Codec):
    """Avro's JSON encoding <-> Avro's binary encoding, by fastavro."""

    def __init__(self, schema: ParsedSchema) -> None:
        named: dict[str, Any] = {}
        for _, dep in dependencies_first(schema):
            fastavro.parse_schema(json.loads(dep.text), named_schemas=named)
        self._schema = fastavro.parse_schema(json.loads(schema.text), named_schemas=named)

    def encode(self, value: Any) -> bytes:
        text = json.dumps(value)
        try:
            (datum,) = fastavro.json_reader(io.StringIO(text), self._schema)
            out = io.BytesIO()
            fastavro.schemaless_writer(out, self._schema, datum)
        except Exception as exc:  # fastavro's types vary: see codecs' module doc
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
