"""Content types of the REST Proxy v2 and its embedded formats (Confluent's
``application/vnd.kafka[.embedded_format].v2+json``), and the embedded formats that need no
schema: ``binary`` (base64 strings) and ``json`` (JSON values as UTF-8 JSON text).

A request names its embedded format in ``Content-Type``; ``application/vnd.kafka.v2+json``,
``application/vnd.kafka+json`` and ``application/json`` name none, and Confluent's rule
"if the embedded format is omitted, binary is assumed" applies. A response is
``application/vnd.kafka.v2+json`` unless the client accepts only ``application/json``.
Records read by a consumer are in the format the consumer instance was created with, and
the ``Accept`` header must name it (else 406, 40601).

Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Final

from logd.frontends.http.errors import CONSUMER_FORMAT_MISMATCH, JSON_CONVERSION, RestError

__all__ = [
    "EMBEDDED_FORMATS",
    "SCHEMA_FORMATS",
    "V2",
    "V2_TYPES",
    "decode_binary",
    "decode_json",
    "embedded_format",
    "encode_binary",
    "encode_json",
    "format_content_type",
    "require_accept",
    "response_type",
]

V2: Final = "application/vnd.kafka.v2+json"
JSON: Final = "application/json"
EMBEDDED_FORMATS: Final = ("binary", "json", "avro", "jsonschema", "protobuf")
#: Formats whose data needs a schema from the registry.
SCHEMA_FORMATS: Final = frozenset({"avro", "jsonschema", "protobuf"})
#: Content types that carry no embedded format (binary is assumed).
V2_TYPES: Final = frozenset({V2, "application/vnd.kafka+json", JSON})
_VND = re.compile(r"application/vnd\.kafka\.([a-z]+)\.v2\+json")


def embedded_format(content_type: str) -> str:
    """The embedded format a request's ``Content-Type`` (without parameters) names; 415 with
    error code 415 for a type that is not the REST Proxy's."""
    content_type = content_type.strip().lower()
    if content_type in V2_TYPES:
        return "binary"
    match = _VND.fullmatch(content_type)
    if match is None or match.group(1) not in EMBEDDED_FORMATS:
        raise RestError(
            415,
            415,
            f"HTTP 415 Unsupported Media Type: {content_type or 'no Content-Type'} (use "
            "application/vnd.kafka.{binary,json,avro,jsonschema,protobuf}.v2+json)",
        )
    return match.group(1)


def format_content_type(fmt: str) -> str:
    return f"application/vnd.kafka.{fmt}.v2+json"


def response_type(accept: str) -> str:
    """The content type of a v2 answer without embedded data: Confluent's own, unless the
    client accepts only plain JSON."""
    if not accept or "vnd.kafka" in accept or "*/*" in accept:
        return V2
    return JSON if JSON in accept else V2


def require_accept(accept: str, fmt: str) -> None:
    """Records of a consumer created with ``fmt`` need an Accept header that takes them."""
    wanted = format_content_type(fmt)
    accepted = [a.split(";", 1)[0].strip().lower() for a in accept.split(",") if a.strip()]
    if not accepted or wanted in accepted or "*/*" in accepted:
        return
    if fmt == "binary" and any(a in V2_TYPES for a in accepted):
        return
    raise RestError(
        406,
        CONSUMER_FORMAT_MISMATCH,
        "The requested embedded data format does not match the deserializer for this consumer"
        f" instance (it reads {fmt}: Accept: {wanted})",
    )


# -- the embedded formats without schemas --------------------------------------------------


def encode_binary(value: Any, where: str) -> bytes | None:
    """A JSON value of the binary format: null or a base64 string."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise RestError(422, JSON_CONVERSION, f"{where}: expected a base64 string or null")
    try:  # strict: what base64.b64decode(validate=True) refuses, without its regex per call
        return binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError):
        raise RestError(422, JSON_CONVERSION, f"{where}: {value[:40]!r} is not base64") from None


def decode_binary(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def encode_json(value: Any, where: str) -> bytes | None:
    """A JSON value of the json format, as compact UTF-8 JSON text (null: no key/value)."""
    del where  # any JSON value is valid
    if value is None:
        return None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def decode_json(data: bytes | None, where: str) -> Any:
    """A stored key or value of the json format as a JSON value; 500/50002 when it is not
    JSON (as Confluent's proxy fails a read it cannot deserialize)."""
    if data is None:
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise RestError(
            500, 50002, f"Kafka error: {where} is not JSON; read it with the binary format"
        ) from None
