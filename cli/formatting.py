"""How ``logd consume`` prints a record: ``-f json`` (the default) or a ``%`` format.

JSON: one object a line with topic, partition, offset, timestamp, key, value, headers; key
and value as text when they are UTF-8, else as ``key_b64`` / ``value_b64`` (base64), and
null when absent; a key or value decoded from the schema registry's wire format is the JSON
value itself, with ``key_schema_id`` / ``value_schema_id``. Headers are a list of
``{"key": ..., "value": ...}`` (values likewise, with ``value_b64``): Kafka allows a header
key to repeat, so a JSON object would lose some.

Format strings: ``%t`` topic, ``%p`` partition, ``%o`` offset, ``%d`` timestamp (unix ms),
``%k`` key, ``%v`` value, ``%h`` headers (``k=v`` joined by commas), ``%%`` a percent sign;
escapes ``\\n``, ``\\t``, ``\\r``, ``\\\\``. Key and value are written as raw bytes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

__all__ = ["FormatError", "RecordLike", "compile_format"]


class FormatError(ValueError):
    """A ``-f`` format that does not parse."""


class RecordLike(Protocol):
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]]


Formatter = Callable[[RecordLike], bytes]

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def _text_or_b64(obj: dict[str, Any], name: str, data: bytes | None) -> None:
    if data is None:
        obj[name] = None
        return
    try:
        obj[name] = data.decode("utf-8")
    except UnicodeDecodeError:
        obj[f"{name}_b64"] = base64.b64encode(data).decode("ascii")


def as_json(record: RecordLike) -> bytes:
    obj: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
    }
    for name in ("key", "value"):
        data: bytes | None = getattr(record, name)
        schema_id = getattr(record, f"{name}_schema_id", None)
        if schema_id is None:
            _text_or_b64(obj, name, data)
        else:  # decoded from the registry's wire format (cli.registry.values): JSON text
            obj[name] = json.loads(data or b"null")
            obj[f"{name}_schema_id"] = schema_id
    headers = []
    for key, value in record.headers:
        header: dict[str, Any] = {"key": key}
        _text_or_b64(header, "value", value)
        headers.append(header)
    obj["headers"] = headers
    return json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n"


def _headers_text(record: RecordLike) -> bytes:
    return b",".join(k.encode() + b"=" + (v or b"") for k, v in record.headers)


_FIELDS: dict[str, Callable[[RecordLike], bytes]] = {
    "t": lambda r: r.topic.encode(),
    "p": lambda r: str(r.partition).encode(),
    "o": lambda r: str(r.offset).encode(),
    "d": lambda r: str(r.timestamp).encode(),
    "k": lambda r: r.key or b"",
    "v": lambda r: r.value or b"",
    "h": _headers_text,
}


def compile_format(spec: str) -> Formatter:
    """``json`` or a ``%``-format, compiled once into a list of parts."""
    if spec == "json":
        return as_json
    parts: list[bytes | Callable[[RecordLike], bytes]] = []
    literal: list[str] = []
    i = 0
    while i < len(spec):
        char = spec[i]
        if char in "%\\" and i + 1 < len(spec):
            code = spec[i + 1]
            if char == "\\" and code in _ESCAPES:
                literal.append(_ESCAPES[code])
            elif char == "%" and code == "%":
                literal.append("%")
            elif char == "%" and code in _FIELDS:
                if literal:
                    parts.append("".join(literal).encode())
                    literal = []
                parts.append(_FIELDS[code])
            else:
                raise FormatError(
                    f"unknown {char}{code} in format {spec!r}: use %t %p %o %d %k %v %h %% "
                    "and \\n \\t \\r \\\\"
                )
            i += 2
            continue
        if char == "%":
            raise FormatError(f"format {spec!r} ends with a lone %")
        literal.append(char)
        i += 1
    if literal:
        parts.append("".join(literal).encode())

    def render(record: RecordLike) -> bytes:
        return b"".join(p if isinstance(p, bytes) else p(record) for p in parts)

    return render
