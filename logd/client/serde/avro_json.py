"""Plain JSON to Avro values and back, for people typing records (``logd produce
--value-schema``) and reading them (``logd consume``).

Plain JSON, not Avro's JSON encoding: a union's value is written as itself, not wrapped in
``{"type": value}`` (fastavro picks the branch it fits, as confluent-kafka's Python
serializer does with dicts). The one thing JSON cannot say is bytes: ``bytes`` and
``fixed`` values are strings whose code points are 0-255, as in Avro's JSON encoding (so
``"\\u00ff"`` is the byte 0xff), converted here by walking the schema. Logical types come
out as their natural text (decimals, dates, times, UUIDs).

Hand-written because fastavro's ``json_reader``/``json_writer`` speak Avro's JSON encoding
(tagged unions), which no one types by hand.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Mapping
from typing import Any

from logd.client.serde.wire import SerializationError

__all__ = ["from_json", "jsonable"]

_PRIMITIVE_FITS: dict[str, tuple[type, ...]] = {
    "null": (type(None),),
    "boolean": (bool,),
    "int": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "string": (str,),
    "bytes": (str, bytes),
    "enum": (str,),
    "fixed": (str, bytes),
    "record": (dict,),
    "map": (dict,),
    "array": (list,),
}


def from_json(schema: Any, value: Any) -> Any:
    """``value`` (from ``json.loads``) with the strings of bytes and fixed fields made
    bytes, as fastavro's writer wants them; ``schema`` is fastavro's parsed schema."""
    named = schema.get("__named_schemas", {}) if isinstance(schema, dict) else {}
    return _convert(schema, value, named)


def _convert(schema: Any, value: Any, named: Mapping[str, Any]) -> Any:
    if isinstance(schema, str):
        if schema in named:
            return _convert(named[schema], value, named)
        return _latin1(value) if schema == "bytes" else value
    if isinstance(schema, list):
        for branch in schema:
            if _fits(branch, value, named):
                return _convert(branch, value, named)
        return value  # fits no branch: fastavro's writer says so
    kind = schema.get("type")
    if kind == "record" and isinstance(value, dict):
        return _record(schema, value, named)
    if kind == "array" and isinstance(value, list):
        return [_convert(schema["items"], v, named) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _convert(schema["values"], v, named) for k, v in value.items()}
    if kind in ("bytes", "fixed"):
        if schema.get("logicalType") == "decimal" and isinstance(value, int | float | str):
            return decimal.Decimal(str(value))
        return _latin1(value)
    if isinstance(kind, str | list | dict) and kind not in _PRIMITIVE_FITS:
        return _convert(kind, value, named)
    return value


def _record(schema: Any, value: dict[str, Any], named: Mapping[str, Any]) -> dict[str, Any]:
    """Fields converted; a missing field with a default gets it (a default is in Avro's
    JSON encoding, of the union's first branch: fastavro would write it unconverted)."""
    out = dict(value)
    for field in schema["fields"]:
        name, kind = field["name"], field["type"]
        if name in value:
            out[name] = _convert(kind, value[name], named)
        elif "default" in field:
            first = kind[0] if isinstance(kind, list) and kind else kind
            out[name] = _convert(first, field["default"], named)
    return out


def _fits(schema: Any, value: Any, named: Mapping[str, Any]) -> bool:
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    kind = schema if isinstance(schema, str) else schema.get("type")
    if isinstance(value, bool) and kind != "boolean":
        return False
    return isinstance(value, _PRIMITIVE_FITS.get(kind, (object,)))


def _latin1(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise SerializationError(
            "a bytes value is a string of code points 0-255 (\\u00ff is the byte 0xff)"
        ) from exc


def jsonable(value: Any) -> Any:
    """``json.dumps``'s ``default`` for what fastavro's reader returns beside JSON types."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")
