"""A v2 produce's key and value encoders for the formats with schemas: each side's schema
resolved through the registry (by value: registered under ``{topic}-key`` or
``{topic}-value``; by id: fetched), then each JSON key or value encoded by its codec into
the wire format. A side with keys (values) but no schema: 422/42201 (42202); a value that
does not fit: 422/42203.

Ownership: one request, on the broker's event loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from logd.frontends.http.errors import (
    JSON_CONVERSION,
    KEY_SCHEMA_MISSING,
    VALUE_SCHEMA_MISSING,
    RestError,
)
from logd.frontends.http.schemas.codecs import Codec, ConversionError, pack
from logd.frontends.http.schemas.registry_link import RegistryLink

__all__ = ["Encoder", "schema_encoders"]

#: (a key or value of the request, where it is) -> its bytes (None: no key/value)
Encoder = Callable[[Any, str], bytes | None]


def _encoder(schema_id: int, codec: Codec) -> Encoder:
    def encode(value: Any, where: str) -> bytes | None:
        if value is None:
            return None
        try:
            return pack(schema_id, codec.encode(value))
        except ConversionError as exc:
            raise RestError(422, JSON_CONVERSION, f"{where}: {exc}") from None

    return encode


def _none(value: Any, where: str) -> bytes | None:
    if value is not None:  # only reached when the side has no schema and no value
        raise RestError(422, JSON_CONVERSION, f"{where}: a value without a schema")
    return None


async def _side(link: RegistryLink, body: dict[str, Any], fmt: str, topic: str, side: str,
                auth: str | None) -> tuple[Encoder, int | None]:  # fmt: skip
    schema, schema_id = body.get(f"{side}_schema"), body.get(f"{side}_schema_id")
    if schema is not None:
        if not isinstance(schema, str):
            schema = _json_text(schema, side)
        schema_id, codec = await link.register(fmt, f"{topic}-{side}", schema, auth)
        return _encoder(schema_id, codec), schema_id
    if schema_id is not None:
        if isinstance(schema_id, bool) or not isinstance(schema_id, int) or schema_id < 0:
            raise RestError(422, 422, f"{side}_schema_id: expected a schema id")
        return _encoder(schema_id, await link.codec(schema_id, auth, fmt)), schema_id
    if any(isinstance(r, dict) and r.get(side) is not None for r in body["records"]):
        code = KEY_SCHEMA_MISSING if side == "key" else VALUE_SCHEMA_MISSING
        raise RestError(422, code, f"Request includes {side}s and uses a format that requires"
                        f" schemas, but does not include the {side}_schema or"
                        f" {side}_schema_id fields")  # fmt: skip
    return _none, None


def _json_text(schema: object, side: str) -> str:
    """A schema given as a JSON object rather than a string (accepted, as Karapace does)."""
    if not isinstance(schema, dict | list):
        raise RestError(422, 42201, f"{side}_schema: expected the schema as a string")
    return json.dumps(schema)


async def schema_encoders(
    link: RegistryLink, body: dict[str, Any], fmt: str, topic: str, auth: str | None
) -> tuple[tuple[Encoder, Encoder], tuple[int | None, int | None]]:
    """(key encoder, value encoder), (key schema id, value schema id); ``body`` is a v2
    produce body whose shape was checked."""
    encode_key, key_id = await _side(link, body, fmt, topic, "key", auth)
    encode_value, value_id = await _side(link, body, fmt, topic, "value", auth)
    return (encode_key, encode_value), (key_id, value_id)
